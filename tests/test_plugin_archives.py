"""Archive safety: escaping entries, links, limits, corrupt data and payload compressions, in every format."""

from __future__ import annotations

import io
import lzma
import shutil
import subprocess
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from bundles import GOOD_VERSION, publish, stand_in_plugin
from bundles import bundle_server as bundle_server
from bundles import plugin_site as plugin_site
from bundles import test_signing_key as test_signing_key
from bundles import trusted_keys as trusted_keys

from onboard.errors import VerificationError
from onboard.lab import bundles, rpmbundle
from onboard.lab.bundles import PayloadFile
from onboard.platform import Platform
from onboard.plugin import archives, formats
from onboard.plugin.archives import Limits, extract_plugin_binary
from onboard.plugin.install import install_plugin

needs_zstd = pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd program is not installed")


def _deb_with_data_tar(path: Path, add_members) -> Path:
    """A .deb whose data.tar.gz holds the real binary plus whatever ``add_members(tar)`` adds."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        binary = tarfile.TarInfo(f"./{formats.PACKAGE_BINARY}")
        binary.size, binary.mode = len(stand_in_plugin()), 0o755
        tar.addfile(binary, io.BytesIO(stand_in_plugin()))
        add_members(tar)
    deb = (
        formats.AR_MAGIC
        + bundles.ar_member("debian-binary", b"2.0\n", 0)
        + bundles.ar_member("data.tar.gz", raw.getvalue(), 0)
    )
    path.write_bytes(deb)
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE):
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)

    return add


def _file(name: str, data: bytes = b"x"):
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    return add


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_link("./usr/local/bin/session-manager-plugin", "/etc/passwd"), "is a link"),
        (_link("./usr/local/hard", "./etc/shadow", tarfile.LNKTYPE), "is a link"),
        (_file("/etc/cron.d/evil"), "outside the target folder"),
        (_file("./usr/../../evil"), "outside the target folder"),
        (_link("./dev/sda", "", tarfile.BLKTYPE), "special file"),
    ],
)
def test_deb_with_an_unsafe_entry_is_refused(tmp_path, member, message):
    deb = _deb_with_data_tar(tmp_path / "evil.deb", member)
    with pytest.raises(VerificationError, match=message):
        extract_plugin_binary(deb, "deb", tmp_path / "out" / "session-manager-plugin")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_deb_limits_on_entries_and_sizes(tmp_path):
    zeros = b"\0" * 1000  # compresses well: a small archive that unpacks large, like a bomb
    deb = _deb_with_data_tar(
        tmp_path / "many.deb", lambda tar: [_file(f"./f{i}", zeros)(tar) for i in range(10)]
    )
    assert deb.stat().st_size < 2000
    with pytest.raises(VerificationError, match="more than 5 entries"):
        extract_plugin_binary(deb, "deb", tmp_path / "a", Limits(max_members=5))
    with pytest.raises(VerificationError, match="over the 500 limit"):
        extract_plugin_binary(deb, "deb", tmp_path / "b", Limits(max_file_bytes=500))
    with pytest.raises(VerificationError, match="more than 5000 bytes uncompressed"):
        extract_plugin_binary(deb, "deb", tmp_path / "c", Limits(max_total_bytes=5000))
    extract_plugin_binary(deb, "deb", tmp_path / "d")


def test_a_large_deb_is_streamed_not_loaded_into_memory(tmp_path):
    # An uncompressed data.tar (dpkg accepts one) with 48 MB in it besides the plugin.
    deb = tmp_path / "large.deb"
    with tarfile.open(tmp_path / "data.tar", "w") as tar:
        binary = tarfile.TarInfo(f"./{formats.PACKAGE_BINARY}")
        binary.size, binary.mode = len(stand_in_plugin()), 0o755
        tar.addfile(binary, io.BytesIO(stand_in_plugin()))
        filler = tarfile.TarInfo("./usr/local/sessionmanagerplugin/filler")
        filler.size = 48 << 20
        tar.addfile(filler, io.BytesIO(bytes(filler.size)))
    data_tar = (tmp_path / "data.tar").read_bytes()
    deb.write_bytes(
        formats.AR_MAGIC
        + bundles.ar_member("debian-binary", b"2.0\n", 0)
        + bundles.ar_member("data.tar", data_tar, 0)
    )
    del data_tar
    tracemalloc.start()
    try:
        extract_plugin_binary(deb, "deb", tmp_path / "out" / "session-manager-plugin")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (tmp_path / "out" / "session-manager-plugin").read_bytes() == stand_in_plugin()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB while reading a 48 MB package"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda deb: deb[:-100], "truncated|corrupt"),
        (lambda deb: deb.replace(b"`\n", b"xx", 1), "truncated or corrupt"),
        (lambda deb: b"!<arch>\n", "no data.tar member"),
    ],
    ids=["truncated", "bad-header", "empty"],
)
def test_a_damaged_deb_container_is_refused(tmp_path, damage, message):
    good = bundles.write_deb(tmp_path / "good.deb", stand_in_plugin(), GOOD_VERSION)
    damaged = tmp_path / "damaged.deb"
    damaged.write_bytes(damage(good.read_bytes()))
    with pytest.raises(VerificationError, match=message):
        extract_plugin_binary(damaged, "deb", tmp_path / "out" / "session-manager-plugin")


def _rpm_with_payload(tmp_path: Path, compressor: str, payload: bytes) -> Path:
    """A real rpm's lead and signature header, then a header naming ``compressor`` and ``payload``."""
    good = rpmbundle.write_rpm(tmp_path / "good.rpm", stand_in_plugin(), GOOD_VERSION)
    with good.open("rb") as data:
        data.seek(formats.RPM_LEAD_SIZE)
        signature_end = archives.read_rpm_header(good, data, pad=True).end
    header = rpmbundle.rpm_header(
        {
            rpmbundle.RPMTAG_NAME: (rpmbundle.RPM_STRING, "session-manager-plugin"),
            formats.RPMTAG_PAYLOADFORMAT: (rpmbundle.RPM_STRING, "cpio"),
            formats.RPMTAG_PAYLOADCOMPRESSOR: (rpmbundle.RPM_STRING, compressor),
        },
        rpmbundle.RPMTAG_HEADERIMMUTABLE,
    )
    rpm = tmp_path / f"{compressor}.rpm"
    rpm.write_bytes(good.read_bytes()[:signature_end] + header + payload)
    return rpm


def _plugin_cpio(*extra: PayloadFile) -> bytes:
    return rpmbundle.cpio_newc([PayloadFile(formats.PACKAGE_BINARY, stand_in_plugin(), 0o755), *extra], 0)


def test_rpm_with_an_escaping_cpio_entry_is_refused(tmp_path):
    rpm = _rpm_with_payload(tmp_path, "xz", lzma.compress(_plugin_cpio(PayloadFile("../../etc/evil", b"x"))))
    with pytest.raises(VerificationError, match="outside the target folder"):
        extract_plugin_binary(rpm, "rpm", tmp_path / "out")


def test_truncated_and_corrupt_rpm_payloads_are_refused(tmp_path):
    payload = lzma.compress(_plugin_cpio())
    truncated = _rpm_with_payload(tmp_path, "xz", payload[: len(payload) // 2])
    with pytest.raises(VerificationError, match=r"corrupt|truncated"):
        extract_plugin_binary(truncated, "rpm", tmp_path / "a")
    garbage = _rpm_with_payload(tmp_path, "gzip", b"not gzip at all")
    with pytest.raises(VerificationError, match="corrupt"):
        extract_plugin_binary(garbage, "rpm", tmp_path / "b")


@needs_zstd
def test_rpm_with_a_zstd_payload_is_read_with_the_zstd_program(tmp_path):
    payload = subprocess.run(
        ["zstd", "-q", "-c"], input=_plugin_cpio(), capture_output=True, check=True
    ).stdout
    rpm = _rpm_with_payload(tmp_path, "zstd", payload)
    assert extract_plugin_binary(rpm, "rpm", tmp_path / "out").read_bytes() == stand_in_plugin()


@needs_zstd
def test_a_zstd_payload_is_streamed_through_the_program_not_held_in_memory(tmp_path):
    filler = bundles.PayloadFile("usr/local/sessionmanagerplugin/filler", bytes(48 << 20))
    cpio = rpmbundle.cpio_newc(
        [bundles.PayloadFile(formats.PACKAGE_BINARY, stand_in_plugin(), 0o755), filler], 0
    )
    payload = subprocess.run(["zstd", "-q", "-c"], input=cpio, capture_output=True, check=True).stdout
    del cpio, filler
    rpm = _rpm_with_payload(tmp_path, "zstd", payload)
    tracemalloc.start()
    try:
        binary = extract_plugin_binary(rpm, "rpm", tmp_path / "out")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert binary.read_bytes() == stand_in_plugin()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB while unpacking 48 MB of zstd payload"


@needs_zstd
def test_a_deb_with_a_zstd_data_tar_is_read(tmp_path):
    # Ubuntu's dpkg has written data.tar.zst since 21.10.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        binary = tarfile.TarInfo(f"./{formats.PACKAGE_BINARY}")
        binary.size, binary.mode = len(stand_in_plugin()), 0o755
        tar.addfile(binary, io.BytesIO(stand_in_plugin()))
    zst = subprocess.run(["zstd", "-q", "-c"], input=raw.getvalue(), capture_output=True, check=True).stdout
    deb = tmp_path / "zstd.deb"
    deb.write_bytes(
        formats.AR_MAGIC
        + bundles.ar_member("debian-binary", b"2.0\n", 0)
        + bundles.ar_member("data.tar.zst", zst, 0)
    )
    assert extract_plugin_binary(deb, "deb", tmp_path / "out").read_bytes() == stand_in_plugin()


@needs_zstd
def test_a_corrupt_zstd_payload_is_refused_with_what_zstd_said(tmp_path):
    payload = subprocess.run(
        ["zstd", "-q", "-c"], input=_plugin_cpio(), capture_output=True, check=True
    ).stdout
    rpm = _rpm_with_payload(tmp_path, "zstd", payload[:8] + b"garbage" * 20)
    with pytest.raises(VerificationError, match=r"the rpm payload is corrupt \(zstd: .+\)"):
        extract_plugin_binary(rpm, "rpm", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_zstd
def test_without_zstd_the_installer_falls_back_to_the_deb_payload(
    plugin_site, trusted_keys, test_signing_key, tmp_path, monkeypatch
):
    payload = subprocess.run(
        ["zstd", "-q", "-c"], input=_plugin_cpio(), capture_output=True, check=True
    ).stdout
    zstd_rpm = _rpm_with_payload(tmp_path, "zstd", payload)
    target = plugin_site.site.root / "plugin/latest/linux_64bit/session-manager-plugin.rpm"
    target.write_bytes(zstd_rpm.read_bytes())
    Path(f"{target}.sig").write_bytes(test_signing_key.sign_detached(target))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no zstd program on PATH
    result = install_plugin(
        platform=Platform(os="linux", arch="x86_64", distro_id="amzn", package_format="rpm"),
        download_url=plugin_site.base,
        extra_trusted_keys=trusted_keys,
        progress=False,
    )
    assert result.bundle_kind == "deb" and result.version == GOOD_VERSION
    assert any("zstd" in note for note in result.notes)


def test_zip_limits_corruption_and_missing_binary(tmp_path):
    bundle = bundles.write_mac_bundle_zip(tmp_path / "b.zip", stand_in_plugin(), GOOD_VERSION)
    with pytest.raises(VerificationError, match="more than 3 entries"):
        extract_plugin_binary(bundle, "mac-zip", tmp_path / "a", Limits(max_members=3))
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bundle.read_bytes()[:200])
    with pytest.raises(VerificationError, match="not a readable zip"):
        extract_plugin_binary(corrupt, "mac-zip", tmp_path / "b")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("README.md", "nothing here")
    with pytest.raises(VerificationError, match="no sessionmanager-bundle/bin/session-manager-plugin inside"):
        extract_plugin_binary(empty, "mac-zip", tmp_path / "c")


def test_windows_inner_zip_is_checked_too(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("bin/session-manager-plugin.exe", b"MZ")
        archive.writestr("C:/Windows/System32/evil.dll", b"MZ")
    outer = tmp_path / "SessionManagerPlugin.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("package.zip", inner.getvalue())
    with pytest.raises(VerificationError, match=r"package\.zip.*outside the target folder"):
        extract_plugin_binary(outer, "windows-zip", tmp_path / "out")


def test_unknown_files_are_not_taken_for_bundles(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(VerificationError, match="not a Session Manager plugin bundle"):
        archives.sniff_kind(text)
    deb = bundles.write_deb(tmp_path / "p.deb", stand_in_plugin(), GOOD_VERSION)
    rpm = rpmbundle.write_rpm(tmp_path / "p.rpm", stand_in_plugin(), GOOD_VERSION)
    mac = bundles.write_mac_bundle_zip(tmp_path / "m.zip", stand_in_plugin(), GOOD_VERSION)
    assert [archives.sniff_kind(path) for path in (deb, rpm, mac)] == ["deb", "rpm", "mac-zip"]


def test_published_site_bundles_all_extract(tmp_path, test_signing_key):
    for path in publish(tmp_path, test_signing_key):
        if path.suffix in (".deb", ".rpm", ".zip"):
            kind = archives.sniff_kind(path)
            out = extract_plugin_binary(path, kind, tmp_path / "out" / kind / path.parent.name / "plugin")
            assert out.read_bytes() == stand_in_plugin()
