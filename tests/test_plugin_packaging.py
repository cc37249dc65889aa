"""The bundle writers produce the real formats: checked with dpkg-deb, the readers and the catalogue."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from bundles import GOOD_VERSION, stand_in_plugin
from bundles import test_signing_key as test_signing_key

from onboard.lab import bundles, downloads, rpmbundle
from onboard.pgp import load_public_keys, verify_detached
from onboard.platform import Platform
from onboard.plugin import archives, catalog, formats

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


@needs_dpkg
@pytest.mark.parametrize("compression", ["gz", "xz"])
def test_dpkg_deb_reads_the_pure_python_deb(tmp_path, compression):
    deb = bundles.write_deb(
        tmp_path / "p.deb", stand_in_plugin(), GOOD_VERSION, "arm64", compression=compression
    )
    info = subprocess.run(
        ["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "Package: session-manager-plugin" in info
    assert f"Version: {GOOD_VERSION}-1" in info and "Architecture: arm64" in info
    subprocess.run(["dpkg-deb", "--extract", str(deb), str(tmp_path / "root")], check=True)
    binary = tmp_path / "root" / formats.PACKAGE_BINARY
    assert (
        subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        == GOOD_VERSION
    )
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"postinst" in control


@needs_dpkg
def test_the_reader_takes_the_binary_out_of_a_deb_built_by_dpkg_deb(tmp_path):
    tree = tmp_path / "pkg"
    binary = tree / formats.PACKAGE_BINARY
    binary.parent.mkdir(parents=True)
    binary.write_bytes(stand_in_plugin())
    binary.chmod(0o755)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text(
        f"Package: session-manager-plugin\nVersion: {GOOD_VERSION}-1\nArchitecture: amd64\n"
        "Maintainer: tests <tests@example.invalid>\nDescription: stand-in\n"
    )
    deb = tmp_path / "built.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    assert archives.sniff_kind(deb) == "deb"
    out = archives.extract_plugin_binary(deb, "deb", tmp_path / "out" / "session-manager-plugin")
    assert out.read_bytes() == stand_in_plugin()


@pytest.mark.parametrize(
    ("compression", "arch", "rpm_arch"), [("xz", "x86_64", "x86_64"), ("gz", "arm64", "aarch64")]
)
def test_rpm_lead_headers_and_payload(tmp_path, compression, arch, rpm_arch):
    rpm = rpmbundle.write_rpm(
        tmp_path / "p.rpm", stand_in_plugin(), GOOD_VERSION, arch, compression=compression
    )
    with rpm.open("rb") as data:
        lead = data.read(formats.RPM_LEAD_SIZE)
        assert lead[:4] == formats.RPM_LEAD_MAGIC and lead[4:6] == b"\x03\x00"
        assert lead[10:].split(b"\0")[0] == f"session-manager-plugin-{GOOD_VERSION}-1".encode()
        signature = archives.read_rpm_header(rpm, data, pad=True)
        assert signature.end % 8 == 0
        header_start = data.tell()
        header = archives.read_rpm_header(rpm, data, pad=False)
        payload = data.read()
    assert header.strings[rpmbundle.RPMTAG_NAME] == "session-manager-plugin"
    assert header.strings[rpmbundle.RPMTAG_VERSION] == GOOD_VERSION
    assert header.strings[rpmbundle.RPMTAG_ARCH] == rpm_arch
    assert header.strings[formats.RPMTAG_PAYLOADCOMPRESSOR] == rpmbundle.RPM_COMPRESSORS[compression]
    # The signature header's SIZE tag covers header + payload, as rpm checks it.
    raw = rpm.read_bytes()
    count, _store_size = struct.unpack(">II", raw[formats.RPM_LEAD_SIZE + 8 : formats.RPM_LEAD_SIZE + 16])
    index_start = formats.RPM_LEAD_SIZE + 16
    store_start = index_start + 16 * count
    entries = [
        struct.unpack(">IIiI", raw[index_start + 16 * i : index_start + 16 * i + 16]) for i in range(count)
    ]
    offset = next(offset for tag, _type, offset, _n in entries if tag == rpmbundle.RPMSIGTAG_SIZE)
    (signed_size,) = struct.unpack(">I", raw[store_start + offset : store_start + offset + 4])
    assert signed_size == len(raw) - header_start == header.end - header_start + len(payload)
    out = archives.extract_plugin_binary(rpm, "rpm", tmp_path / "bin" / "session-manager-plugin")
    assert out.read_bytes() == stand_in_plugin()


def test_mac_bundle_zip_layout_and_its_install_script(tmp_path):
    bundle = bundles.write_mac_bundle_zip(
        tmp_path / "sessionmanager-bundle.zip", stand_in_plugin(), GOOD_VERSION
    )
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    expected = {
        "install",
        "bin/session-manager-plugin",
        "VERSION",
        "LICENSE",
        "NOTICE",
        "THIRD-PARTY",
        "README.md",
    }
    assert {f"sessionmanager-bundle/{name}" for name in expected} <= names
    assert modes["sessionmanager-bundle/install"] == modes[formats.MAC_BUNDLE_BINARY] == 0o755
    archives.extract_zip(bundle, tmp_path / "x")
    script = tmp_path / "x" / "sessionmanager-bundle" / "install"
    link = tmp_path / "bin" / "session-manager-plugin"
    done = subprocess.run(
        [sys.executable, str(script), "-i", str(tmp_path / "smp"), "-b", str(link)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Installation successful" in done.stdout
    assert (
        subprocess.run([str(link), "--version"], capture_output=True, text=True).stdout.strip()
        == GOOD_VERSION
    )
    # Like AWS's script, a failure is printed but the exit code is still 0.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    failed = subprocess.run(
        [sys.executable, str(script), "-i", str(tmp_path / "smp2"), "-b", str(blocker / "link")],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 0 and "Installation failed" in failed.stdout


def test_windows_zip_holds_package_zip_with_the_exe(tmp_path):
    bundle = bundles.write_windows_zip(tmp_path / "SessionManagerPlugin.zip", b"MZ fake exe", GOOD_VERSION)
    with zipfile.ZipFile(bundle) as outer:
        assert {"package.zip", "install.bat", "uninstall.bat"} <= set(outer.namelist())
        inner = zipfile.ZipFile(outer.open("package.zip"))
        assert inner.read("bin/session-manager-plugin.exe") == b"MZ fake exe"
    assert archives.sniff_kind(bundle) == "windows-zip"


def test_linux_binary_is_written_executable(tmp_path):
    binary = bundles.write_linux_binary(tmp_path / "session-manager-plugin", stand_in_plugin())
    assert (
        subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        == GOOD_VERSION
    )


def test_publish_tree_matches_the_catalogue_and_its_signatures_verify(tmp_path, test_signing_key):
    written = downloads.publish_tree(tmp_path / "plugin", stand_in_plugin(), GOOD_VERSION, test_signing_key)
    keys = load_public_keys(test_signing_key.public_key_armored())
    platforms = [
        Platform(os="macos", arch="x86_64"),
        Platform(os="macos", arch="arm64"),
        Platform(os="linux", arch="x86_64", package_format="deb"),
        Platform(os="linux", arch="arm64", package_format="rpm"),
        Platform(os="windows", arch="x86_64"),
    ]
    for platform in platforms:
        for bundle in catalog.bundles_for(platform):
            if bundle.kind not in bundles.WRITABLE_KINDS:
                continue
            for version in ("latest", GOOD_VERSION):
                url = catalog.bundle_url(bundle, version=version, base=(tmp_path / "plugin").as_uri())
                path = Path(url.removeprefix("file://"))
                assert path in written and path.is_file()
                assert archives.sniff_kind(path) == bundle.kind
                if bundle.signature:
                    signature = (tmp_path / "plugin" / version / bundle.signature).read_bytes()
                    signed = verify_detached(path, signature, keys)
                    assert signed.primary_fingerprint == test_signing_key.fingerprint
                if bundle.binary_signature:
                    signature = (tmp_path / "plugin" / version / bundle.binary_signature).read_bytes()
                    verify_detached(stand_in_plugin(), signature, keys)


def test_publish_tree_for_some_folders_only(tmp_path):
    written = downloads.publish_tree(
        tmp_path, stand_in_plugin(), GOOD_VERSION, None, platforms=["ubuntu_64bit"]
    )
    assert sorted(str(path.relative_to(tmp_path)) for path in written) == [
        f"{GOOD_VERSION}/ubuntu_64bit/session-manager-plugin.deb",
        "latest/ubuntu_64bit/session-manager-plugin.deb",
    ]
    with pytest.raises(ValueError, match="unknown download folders"):
        downloads.publish_tree(tmp_path, stand_in_plugin(), GOOD_VERSION, None, platforms=["freebsd"])


def test_the_lab_keeps_one_private_signing_key_and_signs_its_site_with_it(tmp_path):
    from onboard.lab import downloads as lab_downloads
    from onboard.lab.state import LabPaths

    paths = LabPaths(tmp_path / "lab")
    old = paths.signing_key_dir / "lab-signing-key.pem"  # where labs kept the key before Sequoia
    old.parent.mkdir(parents=True)
    old.write_bytes(b"-----BEGIN PRIVATE KEY-----\nold\n-----END PRIVATE KEY-----\n")
    first = lab_downloads.publish_lab_plugin(paths)
    secret = paths.signing_key_dir / lab_downloads.SECRET_KEY_FILE
    assert secret.stat().st_mode & 0o777 == 0o600
    assert b"BEGIN PGP PRIVATE KEY BLOCK" in secret.read_bytes()
    assert not old.exists(), "no stale secret key is left behind"
    keys = load_public_keys(first.public_key.read_bytes())
    assert {key.primary_fingerprint for key in keys} == {first.fingerprint}
    deb = first.root / "latest" / "ubuntu_64bit" / "session-manager-plugin.deb"
    signature = deb.with_name(deb.name + ".sig").read_bytes()
    assert verify_detached(deb, signature, keys).primary_fingerprint == first.fingerprint
    # A restarted lab keeps its key (the team file pins its fingerprint).
    assert lab_downloads.publish_lab_plugin(paths).fingerprint == first.fingerprint
