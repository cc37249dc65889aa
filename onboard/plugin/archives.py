"""Safe readers for the plugin's bundles: the macOS zip, the deb, the rpm and the Windows zip.

Every reader walks the WHOLE archive before trusting it: an entry that would land outside the target
(``../``, an absolute path), a link (symbolic or hard), a device, too many entries or too many bytes make
the bundle refused with a :class:`~onboard.errors.VerificationError`, even when the entry is not the one
being extracted, because a bundle shaped like that is not what AWS ships. Only then is the one file the
installer needs written, to a temporary name first.

The containers are read by libraries: zipfile and tarfile, and ``arpy`` for the deb's ar container. The
rpm's lead, headers and cpio payload are read here: ``rpmfile`` lists every cpio entry (decompressing the
whole payload, into memory for zstd) before a caller can check one, so a bomb of many entries or bytes
would be paid for in full before it could be refused; this reader counts entries and bytes as it goes and
stops at the first over the limits. ``python-debian``'s DebFile opens data.tar for random access (all of it
decompressed into memory for zstd) and needs the same tar checks on top, so it would add nothing here.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from onboard.errors import VerificationError
from onboard.fileio import atomic_writer
from onboard.plugin import decompress
from onboard.plugin.formats import (
    AR_MAGIC,
    MAC_BUNDLE_BINARY,
    PACKAGE_BINARY,
    RPM_HEADER_MAGIC,
    RPM_LEAD_MAGIC,
    RPM_LEAD_SIZE,
    RPMTAG_PAYLOADCOMPRESSOR,
    RPMTAG_PAYLOADFORMAT,
    WINDOWS_BINARY,
    WINDOWS_INNER_ZIP,
)

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much an archive may hold before it is refused (a decompression bomb, or not a plugin bundle)."""

    #: One file, uncompressed (the real plugin binary is about 20 MB; the AWS CLI's largest file ~100 MB).
    max_file_bytes: int = 512 * 1024 * 1024
    #: Every file together, uncompressed.
    max_total_bytes: int = 1024 * 1024 * 1024
    #: Entries of one archive (the AWS CLI v2 zip has about 4,000).
    max_members: int = 20_000


DEFAULT_LIMITS = Limits()

#: Bundle kinds (catalog Bundle.kind) this module can take the plugin binary out of.
READABLE_KINDS = ("mac-zip", "deb", "rpm", "windows-zip", "linux-binary")


def refuse(archive: Path | str, why: str) -> VerificationError:
    """The error for a bundle that is damaged, unsafe or not a plugin bundle."""
    return VerificationError(
        f"{archive}: {why}; nothing was installed",
        "The file is damaged or is not a Session Manager plugin bundle: download it again, or check "
        "the mirror.",
    )


class _Budget:
    """Counts entries and bytes of one archive against :class:`Limits`."""

    def __init__(self, archive: Path | str, limits: Limits):
        self.archive, self.limits = archive, limits
        self.members = 0
        self.total = 0

    def take(self, name: str, size: int) -> None:
        self.members += 1
        self.total += size
        if self.members > self.limits.max_members:
            raise refuse(self.archive, f"more than {self.limits.max_members} entries")
        if size > self.limits.max_file_bytes:
            raise refuse(
                self.archive, f"entry {name!r} is {size} bytes, over the {self.limits.max_file_bytes} limit"
            )
        if self.total > self.limits.max_total_bytes:
            raise refuse(self.archive, f"more than {self.limits.max_total_bytes} bytes uncompressed")


def safe_member_path(archive: Path | str, name: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside the extraction folder; refuse anything else."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":") or ".." in path.parts:
        raise refuse(archive, f"entry {name!r} would be written outside the target folder")
    parts = [part for part in path.parts if part not in (".", "")]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _copy_limited(source: IO[bytes], dest: Path, size_limit: int, archive: Path | str, name: str) -> None:
    """Stream ``source`` into ``dest`` (mode 0755, atomically), refusing more than ``size_limit`` bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with atomic_writer(dest, 0o755) as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > size_limit:
                raise refuse(archive, f"entry {name!r} is larger than it claims")
            out.write(chunk)


# --- zip ------------------------------------------------------------------------------------------


def _checked_zip(archive: Path | str, source: Path | BinaryIO, limits: Limits) -> zipfile.ZipFile:
    """Open a zip and check every entry; the caller closes it."""
    try:
        bundle = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise refuse(archive, f"not a readable zip ({error})") from None
    try:
        budget = _Budget(archive, limits)
        for info in bundle.infolist():
            safe_member_path(archive, info.filename)
            # Zips made by some tools carry no file type bits at all: only a type that is there counts.
            file_type = stat.S_IFMT(info.external_attr >> 16)
            if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise refuse(archive, f"entry {info.filename!r} is a link or a special file")
            budget.take(info.filename, info.file_size)
    except BaseException:
        bundle.close()
        raise
    return bundle


def _zip_extract_one(
    archive: Path | str, bundle: zipfile.ZipFile, name: str, dest: Path, limits: Limits
) -> Path:
    try:
        info = bundle.getinfo(name)
    except KeyError:
        names = ", ".join(bundle.namelist()[:8])
        raise refuse(archive, f"no {name} inside (it holds: {names})") from None
    try:
        with bundle.open(info) as source:
            _copy_limited(source, dest, min(info.file_size, limits.max_file_bytes), archive, name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise refuse(archive, f"entry {name!r} is corrupt ({error})") from None
    return dest


def extract_zip(archive: Path, dest_dir: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Extract a whole zip (the macOS bundle, the AWS CLI zip) safely into ``dest_dir``, keeping exec bits."""
    with _checked_zip(archive, archive, limits) as bundle:
        for info in bundle.infolist():
            relative = safe_member_path(archive, info.filename)
            target = dest_dir / relative
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            _zip_extract_one(archive, bundle, info.filename, target, limits)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode or 0o644)
    return dest_dir


class _HeldBack:
    """The wanted file, kept under a temporary name until the whole archive has passed its checks."""

    def __init__(self, archive: Path | str, dest: Path, wanted: str):
        self.archive, self.dest, self.wanted = archive, dest, wanted
        self.staging = dest.with_name(f".{dest.name}.unchecked")
        self.found = False

    def __enter__(self) -> _HeldBack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.staging.unlink(missing_ok=True)

    def take(self, name: str, source: IO[bytes], size: int) -> bool:
        """Keep ``source`` if it is the wanted entry (the first of that name); whether it was."""
        if self.found or str(safe_member_path(self.archive, name)) != self.wanted:
            return False
        _copy_limited(source, self.staging, size, self.archive, name)
        self.found = True
        return True

    def finish(self) -> Path:
        if not self.found:
            raise refuse(self.archive, f"no {self.wanted} inside")
        os.replace(self.staging, self.dest)
        return self.dest


def _tar_extract_binary(archive: Path, tar_stream: BinaryIO, wanted: str, dest: Path, limits: Limits) -> Path:
    budget = _Budget(archive, limits)
    with _HeldBack(archive, dest, wanted) as held:
        try:
            with tarfile.open(fileobj=tar_stream, mode="r|") as tar:
                for member in tar:
                    safe_member_path(archive, member.name)
                    if member.issym() or member.islnk():
                        raise refuse(archive, f"entry {member.name!r} is a link")
                    if not (member.isfile() or member.isdir()):
                        raise refuse(archive, f"entry {member.name!r} is a special file")
                    budget.take(member.name, member.size)
                    if member.isfile():
                        source = tar.extractfile(member)
                        assert source is not None  # a regular file always has content
                        held.take(member.name, source, member.size)
        except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as error:
            raise refuse(archive, f"the package's data archive is corrupt ({error})") from None
        return held.finish()


def _decompressing(archive: Path, raw: BinaryIO, compressor: str) -> BinaryIO:
    if compressor not in decompress.KNOWN:
        raise refuse(archive, f"unsupported compression {compressor!r}")
    return decompress.decompressing(archive, raw, compressor)


def extract_deb_binary(archive: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Take usr/local/sessionmanagerplugin/bin/session-manager-plugin out of a .deb into ``dest``.

    ``arpy`` reads the ar container and gives the data.tar member as a stream bounded to its size, so the
    package is never loaded into memory; the tar inside gets every check of :func:`_tar_extract_binary`.
    """
    import arpy

    with archive.open("rb") as data:
        if data.read(len(AR_MAGIC)) != AR_MAGIC:
            raise refuse(archive, "not a Debian package (no ar header)")
        data.seek(0)
        try:
            for member in arpy.Archive(fileobj=data):
                name = member.header.name.decode("ascii", "replace")
                size = member.header.size
                if not name.startswith("data.tar"):
                    continue
                if not 0 <= size <= limits.max_total_bytes:
                    raise refuse(archive, f"{name} is {size} bytes, over the limit")
                compression = name[len("data.tar") :].lstrip(".")
                with contextlib.closing(_decompressing(archive, member, compression or "none")) as stream:
                    return _tar_extract_binary(archive, stream, PACKAGE_BINARY, dest, limits)
        except arpy.ArchiveFormatError as error:
            raise refuse(archive, f"the ar archive is truncated or corrupt ({error})") from None
        except arpy.ArchiveAccessError:
            raise refuse(archive, "the ar archive is truncated") from None
    raise refuse(archive, "no data.tar member in the Debian package")


# --- rpm ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpmHeader:
    """The tags of an rpm header that matter here (strings only), and where the header ended."""

    strings: dict[int, str]
    end: int


def read_rpm_header(archive: Path, data: BinaryIO, *, pad: bool) -> RpmHeader:
    """Read one header structure at the current position (the signature header is padded to 8 bytes)."""
    start = data.tell()
    intro = data.read(16)
    if len(intro) < 16 or intro[:8] != RPM_HEADER_MAGIC:
        raise refuse(archive, "the rpm header is missing or corrupt")
    count, store_size = struct.unpack(">II", intro[8:])
    if count > 65536 or store_size > 64 * 1024 * 1024:
        raise refuse(archive, "the rpm header is implausibly large")
    index = data.read(16 * count)
    store = data.read(store_size)
    if len(index) < 16 * count or len(store) < store_size:
        raise refuse(archive, "the rpm header is truncated")
    strings: dict[int, str] = {}
    for position in range(count):
        tag, tag_type, offset, _count = struct.unpack(">IIiI", index[16 * position : 16 * position + 16])
        if tag_type == 6 and 0 <= offset < store_size:  # RPM_STRING
            strings[tag] = store[offset : store.index(b"\0", offset)].decode("utf-8", "replace")
    end = start + 16 + 16 * count + store_size
    if pad:
        end += -end % 8
    data.seek(end)
    return RpmHeader(strings, end)


def _cpio_entries(archive: Path, stream: BinaryIO, limits: Limits) -> Iterator[tuple[str, int, int]]:
    """Yield (name, mode, size) of each "newc" cpio entry, leaving ``stream`` at its content."""
    budget = _Budget(archive, limits)
    consumed = 0

    def read_exactly(size: int) -> bytes:
        nonlocal consumed
        chunk = stream.read(size)
        if len(chunk) != size:
            raise refuse(archive, "the rpm payload is truncated")
        consumed += size
        return chunk

    while True:
        header = read_exactly(110)
        if header[:6] not in (b"070701", b"070702"):
            raise refuse(archive, "the rpm payload is not a newc cpio archive")
        try:
            fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise refuse(archive, "the rpm payload has a corrupt cpio header") from None
        mode, size, name_size = fields[1], fields[6], fields[11]
        name = read_exactly(name_size).rstrip(b"\0").decode("utf-8", "replace")
        read_exactly(-consumed % 4)
        if name == "TRAILER!!!":
            return
        safe_member_path(archive, name)
        if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise refuse(archive, f"entry {name!r} is a link or a special file")
        budget.take(name, size)
        yield name, mode, size
        consumed += size
        read_exactly(-consumed % 4)


class _Bounded(io.RawIOBase):
    """A reader that yields exactly ``size`` bytes of ``source`` (one cpio entry's content)."""

    def __init__(self, source: BinaryIO, size: int):
        self.source, self.left = source, size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        chunk = self.source.read(size)
        self.left -= len(chunk)
        return chunk


def extract_rpm_binary(archive: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Take the binary out of an .rpm: lead, signature header, header, then the compressed cpio payload."""
    with archive.open("rb") as data:
        lead = data.read(RPM_LEAD_SIZE)
        if len(lead) < RPM_LEAD_SIZE or lead[:4] != RPM_LEAD_MAGIC:
            raise refuse(archive, "not an rpm (no lead)")
        read_rpm_header(archive, data, pad=True)
        header = read_rpm_header(archive, data, pad=False)
        payload_format = header.strings.get(RPMTAG_PAYLOADFORMAT, "cpio")
        if payload_format != "cpio":
            raise refuse(archive, f"its payload format is {payload_format!r}, not cpio")
        compressor = header.strings.get(RPMTAG_PAYLOADCOMPRESSOR, "gzip")
        with _HeldBack(archive, dest, PACKAGE_BINARY) as held:
            try:
                with contextlib.closing(_decompressing(archive, data, compressor)) as stream:
                    for name, _mode, size in _cpio_entries(archive, stream, limits):
                        entry = _Bounded(stream, size)
                        if not held.take(name, entry, size):  # type: ignore[arg-type]
                            while entry.read(_CHUNK):
                                pass
                        if entry.left:
                            raise refuse(archive, "the rpm payload is truncated")
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
                raise refuse(archive, f"the rpm payload is corrupt ({error})") from None
            return held.finish()


# --- one entry point per bundle kind ---------------------------------------------------------------


def plugin_binary_name(kind: str) -> str:
    """The file name the binary keeps once extracted."""
    return "session-manager-plugin.exe" if kind.startswith("windows") else "session-manager-plugin"


def extract_plugin_binary(archive: Path, kind: str, dest: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Write the plugin executable found in the bundle ``archive`` (of ``kind``) to ``dest`` (mode 0755)."""
    archive = Path(archive)
    if kind == "mac-zip":
        with _checked_zip(archive, archive, limits) as bundle:
            return _zip_extract_one(archive, bundle, MAC_BUNDLE_BINARY, dest, limits)
    if kind == "windows-zip":
        with _checked_zip(archive, archive, limits) as outer:
            inner_name = next(
                (name for name in outer.namelist() if PurePosixPath(name).name == WINDOWS_INNER_ZIP), None
            )
            if inner_name is None:
                raise refuse(archive, f"no {WINDOWS_INNER_ZIP} inside")
            inner_bytes = outer.read(inner_name)
        with _checked_zip(f"{archive}!{inner_name}", io.BytesIO(inner_bytes), limits) as inner:
            return _zip_extract_one(f"{archive}!{inner_name}", inner, WINDOWS_BINARY, dest, limits)
    if kind == "deb":
        return extract_deb_binary(archive, dest, limits)
    if kind == "rpm":
        return extract_rpm_binary(archive, dest, limits)
    if kind == "linux-binary":
        with archive.open("rb") as source:
            _copy_limited(source, dest, limits.max_file_bytes, archive, archive.name)
        return dest
    raise refuse(archive, f"onboard cannot unpack a {kind!r} bundle without the system installer")


def sniff_kind(path: Path) -> str:
    """The bundle kind of a file on disk, from its first bytes (for ``--bundle-file``)."""
    with Path(path).open("rb") as data:
        head = data.read(8)
    if head.startswith(AR_MAGIC):
        return "deb"
    if head.startswith(RPM_LEAD_MAGIC):
        return "rpm"
    if head.startswith(b"xar!"):
        return "mac-pkg"
    if head.startswith(b"MZ"):
        return "windows-exe"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as bundle:
                names = bundle.namelist()
        except zipfile.BadZipFile:
            raise refuse(path, "not a readable zip") from None
        if MAC_BUNDLE_BINARY in names:
            return "mac-zip"
        if any(PurePosixPath(name).name == WINDOWS_INNER_ZIP for name in names):
            return "windows-zip"
        raise refuse(path, "a zip, but neither the macOS bundle nor the Windows plugin zip")
    if head.startswith((b"\x7fELF", b"#!", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")):
        return "linux-binary"
    raise refuse(path, "not a Session Manager plugin bundle this installer knows")
