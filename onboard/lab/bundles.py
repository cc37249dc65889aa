"""Writers for every format AWS ships the Session Manager plugin in: the lab's and the tests' fake bundles.

The practice lab serves its own client plugin in these (:mod:`onboard.lab.downloads`), and the tests build
their bundles with the same writers, so the installer always reads archives in the real formats: the macOS
bundle zip (with its ``install`` script), the Debian package (ar + tar), the RPM (lead, signature header,
header, compressed cpio: :mod:`onboard.lab.rpmbundle`), the Windows zip (``package.zip`` inside) and the
bare Linux binary. Everything is pure Python: neither dpkg-deb nor rpmbuild is needed. The production
installer never imports this module (tests/test_plugin_layers.py walks its imports); the facts both sides
share are in :mod:`onboard.plugin.formats`.
"""

from __future__ import annotations

import gzip
import io
import lzma
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

POSTINST = f"""#!/bin/sh
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


def bundle_arch(table: dict[str, str], arch: str) -> str:
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


def payload_files(executable: bytes, version: str) -> list[PayloadFile]:
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
    return compress(raw.getvalue(), compression)


def compress(data: bytes, compression: str) -> bytes:
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
    payload = payload_files(executable, version)
    installed_kib = (sum(len(member.data) for member in payload) + 1023) // 1024
    control = (
        f"Package: {PLUGIN_NAME}\n"
        f"Version: {version}-1\n"
        f"Architecture: {bundle_arch(DEB_ARCH, arch)}\n"
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
            PayloadFile("postinst", POSTINST.encode(), _EXECUTABLE_MODE),
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
        from onboard.lab.rpmbundle import write_rpm

        return write_rpm(dest, executable, version, arch)
    if kind == "windows-zip":
        return write_windows_zip(dest, executable, version)
    raise ValueError(f"cannot write a {kind!r} bundle; writable kinds: {', '.join(WRITABLE_KINDS)}")
