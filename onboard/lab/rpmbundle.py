"""The RPM of the lab's and the tests' fake plugin bundles: lead, signature header, header, compressed cpio.

Written in pure Python in the layout rpm reads (each header an index and a data store behind an
immutable region), so :mod:`onboard.plugin.archives` reads a real RPM; the other kinds are in
:mod:`onboard.lab.bundles`.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Sequence
from pathlib import Path

from onboard.lab.bundles import POSTINST, PayloadFile, bundle_arch, compress, payload_files, write_file
from onboard.plugin.formats import (
    PLUGIN_NAME,
    RPM_ARCH,
    RPM_HEADER_MAGIC,
    RPM_LEAD_MAGIC,
    RPMTAG_PAYLOADCOMPRESSOR,
    RPMTAG_PAYLOADFORMAT,
)

# Header data types (rpm's rpmTagType).
RPM_INT16, RPM_INT32, RPM_STRING, RPM_BIN, RPM_STRING_ARRAY, RPM_I18NSTRING = 3, 4, 6, 7, 8, 9
# Region tags: the first entry of a header, pointing at a trailer that delimits the immutable region.
RPMTAG_HEADERSIGNATURES, RPMTAG_HEADERIMMUTABLE = 62, 63
# Signature header tags.
RPMSIGTAG_SHA1, RPMSIGTAG_SHA256, RPMSIGTAG_SIZE, RPMSIGTAG_MD5 = 269, 273, 1000, 1004
# Main header tags.
RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE = 1000, 1001, 1002
RPMTAG_SUMMARY, RPMTAG_DESCRIPTION, RPMTAG_BUILDTIME, RPMTAG_SIZE = 1004, 1005, 1006, 1009
RPMTAG_LICENSE, RPMTAG_GROUP, RPMTAG_OS, RPMTAG_ARCH = 1014, 1016, 1021, 1022
RPMTAG_FILESIZES, RPMTAG_FILEMODES, RPMTAG_FILEMTIMES = 1028, 1030, 1034
RPMTAG_FILEDIGESTS, RPMTAG_FILELINKTOS, RPMTAG_FILEFLAGS = 1035, 1036, 1037
RPMTAG_FILEUSERNAME, RPMTAG_FILEGROUPNAME = 1039, 1040
RPMTAG_POSTTRANS, RPMTAG_POSTTRANSPROG = 1152, 1154
RPMTAG_DIRINDEXES, RPMTAG_BASENAMES, RPMTAG_DIRNAMES = 1116, 1117, 1118
RPMTAG_PAYLOADFLAGS = 1126
RPMTAG_FILEDIGESTALGO = 5011
RPMTAG_PAYLOADDIGEST, RPMTAG_PAYLOADDIGESTALGO = 5092, 5093
_PGPHASHALGO_SHA256 = 8

#: rpm's name for each payload compression onboard writes (the reader also knows zstd).
RPM_COMPRESSORS = {"gz": "gzip", "xz": "xz"}

_ALIGNMENT = {RPM_INT16: 2, RPM_INT32: 4}


def _rpm_value(tag_type: int, value: object) -> tuple[bytes, int]:
    """The encoded bytes of one header value, and its count."""
    if tag_type in (RPM_STRING, RPM_I18NSTRING):
        return str(value).encode() + b"\0", 1
    if tag_type == RPM_STRING_ARRAY:
        items = list(value)  # type: ignore[call-overload]
        return b"".join(str(item).encode() + b"\0" for item in items), len(items)
    if tag_type == RPM_BIN:
        data = bytes(value)  # type: ignore[call-overload]
        return data, len(data)
    fmt = {RPM_INT16: ">H", RPM_INT32: ">I"}[tag_type]
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return b"".join(struct.pack(fmt, item) for item in items), len(items)


def rpm_header(entries: dict[int, tuple[int, object]], region_tag: int) -> bytes:
    """An rpm header structure: magic, index, data store; the first entry is the immutable region."""
    index: list[bytes] = []
    store = bytearray()
    for tag in sorted(entries):
        tag_type, value = entries[tag]
        data, count = _rpm_value(tag_type, value)
        align = _ALIGNMENT.get(tag_type, 1)
        store += b"\0" * (-len(store) % align)
        index.append(struct.pack(">IIiI", tag, tag_type, len(store), count))
        store += data
    entry_count = len(index) + 1
    # The trailer: an index entry whose negative offset spans the whole index (rpm's "region").
    trailer = struct.pack(">IIiI", region_tag, RPM_BIN, -entry_count * 16, 16)
    region = struct.pack(">IIiI", region_tag, RPM_BIN, len(store), 16)
    store += trailer
    return RPM_HEADER_MAGIC + struct.pack(">II", entry_count, len(store)) + region + b"".join(index) + store


def cpio_newc(members: Sequence[PayloadFile], mtime: float) -> bytes:
    """A cpio archive in the SVR4 "newc" format (as rpm payloads are), folders omitted as rpm does."""
    out = bytearray()

    def entry(name: str, data: bytes, mode: int, inode: int) -> None:
        encoded = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 1, int(mtime), len(data), 0, 0, 0, 0, len(encoded), 0)
        out.extend(b"070701" + "".join(f"{field:08X}" for field in fields).encode("ascii"))
        out.extend(encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for inode, member in enumerate(members, start=1):
        entry(f"./{member.path}", member.data, 0o100000 | member.mode, inode)
    entry("TRAILER!!!", b"", 0, 0)
    return bytes(out)


def write_rpm(
    dest: Path, executable: bytes, version: str, arch: str = "x86_64", *, compression: str = "xz"
) -> Path:
    """``session-manager-plugin.rpm``: lead, signature header, header, then a gz/xz-compressed cpio."""
    mtime = time.time()
    rpm_arch = bundle_arch(RPM_ARCH, arch)
    compressor = RPM_COMPRESSORS.get(compression)
    if compressor is None:
        raise ValueError(f"unsupported rpm payload compression {compression!r}; expected one of gz, xz")
    payload = payload_files(executable, version)
    compressed = compress(cpio_newc(payload, mtime), compression)
    paths = [f"/{member.path}" for member in payload]
    dirnames = sorted({path.rsplit("/", 1)[0] + "/" for path in paths})
    header = rpm_header(
        {
            RPMTAG_NAME: (RPM_STRING, PLUGIN_NAME),
            RPMTAG_VERSION: (RPM_STRING, version),
            RPMTAG_RELEASE: (RPM_STRING, "1"),
            RPMTAG_SUMMARY: (RPM_I18NSTRING, "Manage shell experience using AWS SSM Session Manager"),
            RPMTAG_DESCRIPTION: (RPM_I18NSTRING, "The Session Manager plugin for the AWS CLI."),
            RPMTAG_BUILDTIME: (RPM_INT32, int(mtime)),
            RPMTAG_SIZE: (RPM_INT32, sum(len(member.data) for member in payload)),
            RPMTAG_LICENSE: (RPM_STRING, "Apache License, Version 2.0"),
            RPMTAG_GROUP: (RPM_I18NSTRING, "Amazon/Tools"),
            RPMTAG_OS: (RPM_STRING, "linux"),
            RPMTAG_ARCH: (RPM_STRING, rpm_arch),
            RPMTAG_FILESIZES: (RPM_INT32, [len(member.data) for member in payload]),
            RPMTAG_FILEMODES: (RPM_INT16, [0o100000 | member.mode for member in payload]),
            RPMTAG_FILEMTIMES: (RPM_INT32, [int(mtime)] * len(payload)),
            RPMTAG_FILEDIGESTS: (RPM_STRING_ARRAY, [hashlib.sha256(m.data).hexdigest() for m in payload]),
            RPMTAG_FILELINKTOS: (RPM_STRING_ARRAY, [""] * len(payload)),
            RPMTAG_FILEFLAGS: (RPM_INT32, [0] * len(payload)),
            RPMTAG_FILEUSERNAME: (RPM_STRING_ARRAY, ["root"] * len(payload)),
            RPMTAG_FILEGROUPNAME: (RPM_STRING_ARRAY, ["root"] * len(payload)),
            RPMTAG_POSTTRANS: (RPM_STRING, POSTINST.split("\n", 1)[1]),
            RPMTAG_POSTTRANSPROG: (RPM_STRING, "/bin/sh"),
            RPMTAG_DIRINDEXES: (RPM_INT32, [dirnames.index(p.rsplit("/", 1)[0] + "/") for p in paths]),
            RPMTAG_BASENAMES: (RPM_STRING_ARRAY, [path.rsplit("/", 1)[1] for path in paths]),
            RPMTAG_DIRNAMES: (RPM_STRING_ARRAY, dirnames),
            RPMTAG_PAYLOADFORMAT: (RPM_STRING, "cpio"),
            RPMTAG_PAYLOADCOMPRESSOR: (RPM_STRING, compressor),
            RPMTAG_PAYLOADFLAGS: (RPM_STRING, "6" if compression == "xz" else "9"),
            RPMTAG_FILEDIGESTALGO: (RPM_INT32, _PGPHASHALGO_SHA256),
            RPMTAG_PAYLOADDIGEST: (RPM_STRING_ARRAY, [hashlib.sha256(compressed).hexdigest()]),
            RPMTAG_PAYLOADDIGESTALGO: (RPM_INT32, _PGPHASHALGO_SHA256),
        },
        RPMTAG_HEADERIMMUTABLE,
    )
    signature = rpm_header(
        {
            RPMSIGTAG_SHA1: (RPM_STRING, hashlib.sha1(header).hexdigest()),  # noqa: S324 - rpm's own field
            RPMSIGTAG_SHA256: (RPM_STRING, hashlib.sha256(header).hexdigest()),
            RPMSIGTAG_SIZE: (RPM_INT32, len(header) + len(compressed)),
            RPMSIGTAG_MD5: (RPM_BIN, hashlib.md5(header + compressed).digest()),  # noqa: S324 - rpm's field
        },
        RPMTAG_HEADERSIGNATURES,
    )
    lead_name = f"{PLUGIN_NAME}-{version}-1".encode()[:65]
    lead = (
        RPM_LEAD_MAGIC
        + struct.pack(">BBhh", 3, 0, 0, 1 if rpm_arch == "x86_64" else 19)
        + lead_name.ljust(66, b"\0")
        + struct.pack(">hh", 1, 5)  # os: Linux; signature type: a header structure
        + b"\0" * 16
    )
    padded_signature = signature + b"\0" * (-len(signature) % 8)
    return write_file(dest, lead + padded_signature + header + compressed)
