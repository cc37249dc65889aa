"""Writers for every format AWS ships the Session Manager plugin in: the lab's and the tests' fake bundles.

The practice lab serves its own client plugin in these (:mod:`onboard.lab.downloads`), and the tests build
their bundles with the same writers, so the installer always reads archives in the real formats: the macOS
bundle zip (with its ``install`` script), the Debian package (ar + tar), the RPM (lead, signature header,
header, compressed cpio), the Windows zip (``package.zip`` inside) and the bare Linux binary. Everything
is pure Python: neither dpkg-deb nor rpmbuild is needed. The production installer never imports this
module (tests/test_plugin_layers.py walks its imports); the facts both sides share are in
:mod:`onboard.plugin.formats`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import struct
import tarfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onboard.fileio import atomic_write
from onboard.plugin.formats import (
    AR_MAGIC,
    DEB_ARCH,
    MAC_BUNDLE_BINARY,
    MAC_BUNDLE_DIR,
    PACKAGE_BINARY,
    PACKAGE_PREFIX,
    PLUGIN_NAME,
    RPM_ARCH,
    RPM_HEADER_MAGIC,
    RPM_LEAD_MAGIC,
    RPMTAG_PAYLOADCOMPRESSOR,
    RPMTAG_PAYLOADFORMAT,
    SYSTEM_LINK,
    WINDOWS_BINARY,
    WINDOWS_INNER_ZIP,
)

_EXECUTABLE_MODE = 0o755
_FILE_MODE = 0o644
_DIR_MODE = 0o755

# The stand-in for AWS's bundle `install` script. Like AWS's, it reports a failure but still exits 0,
# which is exactly why onboard checks the installed files instead of trusting the exit code.
MAC_INSTALL_SCRIPT = '''#!/usr/bin/env python3
"""Install the Session Manager plugin from this bundle: install -i INSTALL_DIR -b LINK."""
import argparse
import os
import shutil

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("-i", "--install-dir", default="/usr/local/sessionmanagerplugin")
parser.add_argument("-b", "--bin-location", default="/usr/local/bin/session-manager-plugin")
options = parser.parse_args()
try:
    print("Creating install directories: %s" % options.install_dir)
    if os.path.isdir(options.install_dir):
        shutil.rmtree(options.install_dir)
    shutil.copytree(here, options.install_dir)
    target = os.path.join(options.install_dir, "bin", "session-manager-plugin")
    print("Creating Symlink from %s to %s" % (target, options.bin_location))
    os.makedirs(os.path.dirname(options.bin_location), exist_ok=True)
    if os.path.lexists(options.bin_location):
        os.remove(options.bin_location)
    os.symlink(target, options.bin_location)
    print("Installation successful!")
except Exception as error:
    print("Installation failed: %s" % error)
'''

_POSTINST = f"""#!/bin/sh
set -e
mkdir -p /usr/local/bin
ln -sf /{PACKAGE_BINARY} {SYSTEM_LINK}
"""
_PRERM = f"""#!/bin/sh
rm -f {SYSTEM_LINK}
"""

_SEELOG_TEMPLATE = """<seelog type="adaptive" mininterval="2000000" maxinterval="100000000" critmsgcount="500"
 minlevel="off">
    <outputs formatid="fmtinfo"><console formatid="fmtinfo"/></outputs>
    <formats><format id="fmtinfo" format="%Date %Time %LEVEL %Msg%n"/></formats>
</seelog>
"""


def _notice_files(version: str) -> dict[str, bytes]:
    """The text files that travel with the binary in every package."""
    return {
        "VERSION": f"{version}\n".encode(),
        "LICENSE": b"Apache License, Version 2.0\n",
        "NOTICE": b"Session Manager Plugin\n",
        "THIRD-PARTY": b"Third-party notices.\n",
        "README.md": b"# Session Manager Plugin\n",
        "RELEASENOTES.md": f"Latest release: {version}\n".encode(),
        "seelog.xml.template": _SEELOG_TEMPLATE.encode(),
    }


# --- helpers ------------------------------------------------------------------------------------


def write_file(dest: Path, data: bytes, mode: int = _FILE_MODE) -> Path:
    """``data`` at ``dest`` (its folders made), written atomically with ``mode``; returns ``dest``.

    Not fsync'd: these are made again whenever they are lost (and fsyncs were most of ``lab up``'s
    publishing time).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, data, mode, durable=False)
    return dest


def _zip_add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int, mtime: float) -> None:
    info = zipfile.ZipInfo(name, date_time=time.gmtime(max(mtime, 315532800))[:6])
    info.create_system = 3  # Unix, so that unzip and Python honour the mode bits below
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _zip_bytes(entries: Iterable[tuple[str, bytes, int]], mtime: float) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            _zip_add(archive, name, data, mode, mtime)
    return buffer.getvalue()


def _arch(table: dict[str, str], arch: str) -> str:
    try:
        return table[arch]
    except KeyError:
        raise ValueError(f"unsupported architecture {arch!r}; expected one of {sorted(table)}") from None


@dataclass(frozen=True)
class PayloadFile:
    """One file of a package payload: path relative to the package root, without a leading "./"."""

    path: str
    data: bytes
    mode: int = _FILE_MODE


def _payload(executable: bytes, version: str) -> list[PayloadFile]:
    """The files the deb and the rpm install under /usr/local/sessionmanagerplugin."""
    members = [PayloadFile(PACKAGE_BINARY, executable, _EXECUTABLE_MODE)]
    for name in ("LICENSE", "NOTICE", "THIRD-PARTY", "RELEASENOTES.md", "VERSION", "seelog.xml.template"):
        members.append(PayloadFile(f"{PACKAGE_PREFIX}/{name}", _notice_files(version)[name]))
    return members


def _parent_dirs(paths: Iterable[str]) -> list[str]:
    """Every folder above ``paths``, parents first ("usr", "usr/local", ...)."""
    found: list[str] = []
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in found:
                found.append(folder)
    return found


def _tar_bytes(members: Sequence[PayloadFile], compression: str, mtime: float) -> bytes:
    """A tar as dpkg-deb makes one: "./" names, root-owned, folders before their files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for folder in ["", *_parent_dirs(member.path for member in members)]:
            info = tarfile.TarInfo(f"./{folder}")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, _DIR_MODE, int(mtime)
            info.uname = info.gname = "root"
            archive.addfile(info)
        for member in members:
            info = tarfile.TarInfo(f"./{member.path}")
            info.size, info.mode, info.mtime = len(member.data), member.mode, int(mtime)
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(member.data))
    return _compress(raw.getvalue(), compression)


def _compress(data: bytes, compression: str) -> bytes:
    if compression == "gz":
        return gzip.compress(data, mtime=0)
    if compression == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    raise ValueError(f"unsupported compression {compression!r}; expected 'gz' or 'xz'")


# --- the macOS bundle zip -------------------------------------------------------------------------


def write_mac_bundle_zip(dest: Path, executable: bytes, version: str) -> Path:
    """``sessionmanager-bundle.zip``: ``sessionmanager-bundle/`` with ``install``, ``bin/``, ``VERSION``..."""
    mtime = time.time()
    entries = [
        (f"{MAC_BUNDLE_DIR}/install", MAC_INSTALL_SCRIPT.encode(), _EXECUTABLE_MODE),
        (MAC_BUNDLE_BINARY, executable, _EXECUTABLE_MODE),
        *((f"{MAC_BUNDLE_DIR}/{name}", data, _FILE_MODE) for name, data in _notice_files(version).items()),
    ]
    return write_file(dest, _zip_bytes(entries, mtime))


# --- the Windows zip ------------------------------------------------------------------------------


def write_windows_zip(dest: Path, executable: bytes, version: str) -> Path:
    """``SessionManagerPlugin.zip``: ``package.zip`` (``bin/session-manager-plugin.exe``) + install.bat."""
    mtime = time.time()
    inner = _zip_bytes(
        [
            (WINDOWS_BINARY, executable, _EXECUTABLE_MODE),
            ("VERSION", f"{version}\n".encode(), _FILE_MODE),
            ("LICENSE", _notice_files(version)["LICENSE"], _FILE_MODE),
        ],
        mtime,
    )
    install_bat = (
        b"@echo off\r\n"
        b'set "target=%ProgramFiles%\\Amazon\\SessionManagerPlugin"\r\n'
        b"powershell -Command \"Expand-Archive -Force package.zip '%target%'\"\r\n"
        b'setx /M PATH "%PATH%;%target%\\bin"\r\n'
    )
    uninstall_bat = b'@echo off\r\nrmdir /S /Q "%ProgramFiles%\\Amazon\\SessionManagerPlugin"\r\n'
    outer = _zip_bytes(
        [
            (WINDOWS_INNER_ZIP, inner, _FILE_MODE),
            ("install.bat", install_bat, _FILE_MODE),
            ("uninstall.bat", uninstall_bat, _FILE_MODE),
        ],
        mtime,
    )
    return write_file(dest, outer)


# --- the bare Linux binary ------------------------------------------------------------------------


def write_linux_binary(dest: Path, executable: bytes) -> Path:
    return write_file(dest, executable, _EXECUTABLE_MODE)


# --- the Debian package ---------------------------------------------------------------------------


def ar_member(name: str, data: bytes, mtime: float, mode: int = 0o100644) -> bytes:
    """One member of a System V / GNU ar archive (as in a .deb), padded to an even length."""
    header = f"{name:<16}{int(mtime):<12}{0:<6}{0:<6}{mode:<8o}{len(data):<10}".encode("ascii") + b"`\n"
    return header + data + (b"\n" if len(data) % 2 else b"")


def write_deb(
    dest: Path, executable: bytes, version: str, arch: str = "x86_64", *, compression: str = "gz"
) -> Path:
    """``session-manager-plugin.deb``: ar of debian-binary, control.tar.gz and data.tar.{gz,xz}."""
    mtime = time.time()
    payload = _payload(executable, version)
    installed_kib = (sum(len(member.data) for member in payload) + 1023) // 1024
    control = (
        f"Package: {PLUGIN_NAME}\n"
        f"Version: {version}-1\n"
        f"Architecture: {_arch(DEB_ARCH, arch)}\n"
        "Maintainer: Amazon.com, Inc. <ec2-ssm-feedback@amazon.com>\n"
        f"Installed-Size: {installed_kib}\n"
        "Section: admin\n"
        "Priority: optional\n"
        "Homepage: https://aws.amazon.com/\n"
        "Description: Manage shell experience using AWS SSM Session Manager\n"
        " The Session Manager plugin for the AWS CLI.\n"
    )
    control_tar = _tar_bytes(
        [
            PayloadFile("control", control.encode()),
            PayloadFile("postinst", _POSTINST.encode(), _EXECUTABLE_MODE),
            PayloadFile("prerm", _PRERM.encode(), _EXECUTABLE_MODE),
        ],
        "gz",
        mtime,
    )
    data_tar = _tar_bytes(payload, compression, mtime)
    deb = (
        AR_MAGIC
        + ar_member("debian-binary", b"2.0\n", mtime)
        + ar_member("control.tar.gz", control_tar, mtime)
        + ar_member(f"data.tar.{compression}", data_tar, mtime)
    )
    return write_file(dest, deb)


# --- the RPM --------------------------------------------------------------------------------------

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
    rpm_arch = _arch(RPM_ARCH, arch)
    compressor = RPM_COMPRESSORS.get(compression)
    if compressor is None:
        raise ValueError(f"unsupported rpm payload compression {compression!r}; expected one of gz, xz")
    payload = _payload(executable, version)
    compressed = _compress(cpio_newc(payload, mtime), compression)
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
            RPMTAG_POSTTRANS: (RPM_STRING, _POSTINST.split("\n", 1)[1]),
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


# --- any kind ---------------------------------------------------------------------------------------


#: The bundle kinds :func:`write_bundle` can build (the macOS pkg and the Windows setup exe cannot be
#: built here, so a published tree leaves them out).
WRITABLE_KINDS = ("mac-zip", "deb", "rpm", "windows-zip")


def write_bundle(dest: Path, kind: str, executable: bytes, version: str, arch: str = "x86_64") -> Path:
    """Write the bundle of ``kind`` (a catalog Bundle.kind) holding ``executable``."""
    if kind == "mac-zip":
        return write_mac_bundle_zip(dest, executable, version)
    if kind == "deb":
        return write_deb(dest, executable, version, arch)
    if kind == "rpm":
        return write_rpm(dest, executable, version, arch)
    if kind == "windows-zip":
        return write_windows_zip(dest, executable, version)
    raise ValueError(f"cannot write a {kind!r} bundle; writable kinds: {', '.join(WRITABLE_KINDS)}")
