"""The rootless installer end to end: real bundles from a local site, signatures, faults, PATH, no-ops."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from bundles import (
    GOOD_VERSION,
    OLD_VERSION,
    BundleServer,
    broken_plugin,
    publish,
    stand_in_plugin,
)
from bundles import bundle_server as bundle_server
from bundles import other_signing_key as other_signing_key
from bundles import plugin_site as plugin_site
from bundles import test_signing_key as test_signing_key
from bundles import trusted_keys as trusted_keys

from onboard.errors import EnvironmentProblem, ExitCode, OnboardError, VerificationError
from onboard.lab import bundles, rpmbundle
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin import download as downloads
from onboard.plugin.download import NetworkSettings, NotFound
from onboard.plugin.install import install_plugin
from onboard.plugin.layout import plugin_root

UBUNTU = Platform(os="linux", arch="x86_64", distro_id="ubuntu", package_format="deb")
AMAZON_LINUX = Platform(os="linux", arch="arm64", distro_id="amzn", package_format="rpm")
MAC_ARM = Platform(os="macos", arch="arm64")
WINDOWS = Platform(os="windows", arch="x86_64")
NEW_VERSION = "1.2.800.0"
QUICK = NetworkSettings(connect_timeout=2, read_timeout=1, retries=0, backoff=0)


def _install(site: BundleServer, keys, platform: Platform = UBUNTU, **options):
    options.setdefault("network", QUICK)
    return install_plugin(
        platform=platform, download_url=site.base, extra_trusted_keys=keys, progress=False, **options
    )


def _runs(executable: Path) -> str:
    return subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _link() -> Path:
    return AppDirs().bin / "session-manager-plugin"


@pytest.mark.parametrize(
    ("platform", "kind", "verified_by"),
    [
        (UBUNTU, "deb", "gpg"),
        (AMAZON_LINUX, "rpm", "gpg"),
        (MAC_ARM, "mac-zip", "unverified"),
        (WINDOWS, "windows-zip", "unverified"),
    ],
)
def test_rootless_install_from_each_format(
    plugin_site, trusted_keys, test_signing_key, platform, kind, verified_by
):
    result = _install(plugin_site, trusted_keys, platform)
    assert (result.version, result.bundle_kind, result.verified_by) == (GOOD_VERSION, kind, verified_by)
    assert result.signature_key == (test_signing_key.fingerprint if verified_by == "gpg" else "unverified")
    if verified_by == "unverified":
        assert any("not verified" in note for note in result.notes)
    assert result.link == _link() and result.link.is_symlink()
    assert result.path.parent == plugin_root() / GOOD_VERSION
    assert _runs(result.link) == GOOD_VERSION
    assert not list(AppDirs().cache.glob("plugin-install-*")), "the work folder is removed"


def test_path_hint_names_the_shell_file_when_the_bin_folder_is_not_on_path(
    plugin_site, trusted_keys, monkeypatch
):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    result = _install(plugin_site, trusted_keys)
    assert not result.on_path_first
    assert result.path_hint is not None
    assert result.path_hint.file == "~/.zshrc"
    assert result.path_hint.line == 'export PATH="$HOME/.local/bin:$PATH"'


def test_first_on_path_needs_no_hint_and_a_shadowing_copy_is_named(
    plugin_site, trusted_keys, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", f"{AppDirs().bin}:/usr/bin:/bin")
    result = _install(plugin_site, trusted_keys)
    assert result.on_path_first and result.path_hint is None and result.shadowed_by == ()

    old = tmp_path / "old-bin"
    old.mkdir()
    (old / "session-manager-plugin").write_bytes(stand_in_plugin(OLD_VERSION))
    (old / "session-manager-plugin").chmod(0o755)
    monkeypatch.setenv("PATH", f"{old}:{AppDirs().bin}:/usr/bin:/bin")
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    again = _install(plugin_site, trusted_keys)
    assert again.shadowed_by == (old / "session-manager-plugin",)
    assert not again.on_path_first
    assert again.path_hint.line == "fish_add_path --move --path ~/.local/bin"


def test_same_version_twice_is_a_no_op(plugin_site, trusted_keys):
    first = _install(plugin_site, trusted_keys, version=GOOD_VERSION)
    link_stat = os.lstat(first.link)
    requests = len(plugin_site.site.requests)
    second = _install(plugin_site, trusted_keys, version=GOOD_VERSION)
    assert second.changed is False and second.version == GOOD_VERSION
    assert len(plugin_site.site.requests) == requests, "nothing downloaded for an installed version"
    latest = _install(plugin_site, trusted_keys)
    assert latest.changed is False
    assert os.lstat(first.link).st_ino == link_stat.st_ino


def test_upgrade_switches_the_link_and_removes_the_old_version(plugin_site, trusted_keys, test_signing_key):
    _install(plugin_site, trusted_keys)
    publish(plugin_site.site.root, test_signing_key, NEW_VERSION)
    result = _install(plugin_site, trusted_keys)
    assert (result.version, result.previous_version, result.changed) == (NEW_VERSION, GOOD_VERSION, True)
    assert _runs(_link()) == NEW_VERSION
    assert sorted(p.name for p in plugin_root().iterdir() if p.is_dir()) == [NEW_VERSION]


# --- faults: each ends with a clear error and the previous install intact ---------------------------


@pytest.fixture
def installed(plugin_site, trusted_keys, test_signing_key):
    """1.2.764.0 installed; 1.2.800.0 published as latest, for the faulty upgrade to break."""
    _install(plugin_site, trusted_keys)
    publish(plugin_site.site.root, test_signing_key, NEW_VERSION)
    return plugin_site


def _previous_install_intact() -> None:
    assert _runs(_link()) == GOOD_VERSION
    assert sorted(p.name for p in plugin_root().iterdir() if p.is_dir()) == [GOOD_VERSION]


DEB = "latest/ubuntu_64bit/session-manager-plugin.deb"


def test_truncated_download(installed, trusted_keys):
    installed.fault(DEB, "truncate")
    with pytest.raises(EnvironmentProblem, match="cut short"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_stalled_server(installed, trusted_keys):
    installed.fault(DEB, "stall")
    with pytest.raises(EnvironmentProblem, match="stalled"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_version_missing_on_the_server(installed, trusted_keys):
    with pytest.raises(NotFound, match=r"9\.9\.9\.9"):
        _install(installed, trusted_keys, version="9.9.9.9")
    _previous_install_intact()


def test_signature_by_an_untrusted_key(installed, trusted_keys, other_signing_key):
    deb = installed.site.root / "plugin" / DEB
    Path(f"{deb}.sig").write_bytes(other_signing_key.sign_detached(deb))
    with pytest.raises(VerificationError, match="not a trusted key"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_tampered_bundle_fails_its_signature(installed, trusted_keys):
    deb = installed.site.root / "plugin" / DEB
    data = bytearray(deb.read_bytes())
    data[-100] ^= 0xFF
    deb.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="BAD signature"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_missing_signature_refuses_to_install(installed, trusted_keys):
    installed.fault(f"{DEB}.sig", "missing")
    with pytest.raises(VerificationError, match="cannot be verified"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_aws_key_alone_does_not_trust_the_test_key(installed):
    with pytest.raises(VerificationError, match="not a trusted key"):
        _install(installed, ())
    _previous_install_intact()


def test_corrupt_archive_with_a_valid_signature(installed, trusted_keys, test_signing_key):
    deb = installed.site.root / "plugin" / DEB
    deb.write_bytes(b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\ngarbage")
    Path(f"{deb}.sig").write_bytes(test_signing_key.sign_detached(deb))
    with pytest.raises(VerificationError, match="the ar archive is truncated or corrupt"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_zip_slip_entry_is_refused(plugin_site, trusted_keys, tmp_path):
    _install(plugin_site, trusted_keys, MAC_ARM)
    bundle = plugin_site.site.root / "plugin/latest/mac_arm64/sessionmanager-bundle.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(bundle) as good, zipfile.ZipFile(buffer, "w") as evil:
        for info in good.infolist():
            evil.writestr(info, good.read(info))
        evil.writestr("../../../../escaped.txt", "owned")
    bundle.write_bytes(buffer.getvalue())
    with pytest.raises(VerificationError, match="outside the target folder"):
        _install(plugin_site, trusted_keys, MAC_ARM)
    _previous_install_intact()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_symlink_entry_is_refused(plugin_site, trusted_keys):
    bundle = plugin_site.site.root / "plugin/latest/mac/sessionmanager-bundle.zip"
    with zipfile.ZipFile(bundle, "a") as archive:
        link = zipfile.ZipInfo("sessionmanager-bundle/bin/evil")
        link.create_system = 3
        link.external_attr = (0o120777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(VerificationError, match="link"):
        _install(plugin_site, trusted_keys, Platform(os="macos", arch="x86_64"))
    assert not _link().exists()


def test_too_old_a_plugin_is_refused(installed, trusted_keys, test_signing_key):
    publish(installed.site.root, test_signing_key, OLD_VERSION)
    with pytest.raises(VerificationError, match=f"{OLD_VERSION}, older than {GOOD_VERSION}"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_a_plugin_that_does_not_run_is_refused(installed, trusted_keys, test_signing_key):
    publish(installed.site.root, test_signing_key, NEW_VERSION, executable=broken_plugin())
    with pytest.raises(VerificationError, match="--version failed"):
        _install(installed, trusted_keys)
    _previous_install_intact()


def test_unwritable_bin_folder(installed, trusted_keys, tmp_path):
    # Tests run as root, which ignores permission bits: a path under a regular file fails for root too.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    with pytest.raises(EnvironmentProblem, match="cannot write to") as caught:
        _install(installed, trusted_keys, bin_dir=blocker / "bin")
    assert "--bin-dir" in caught.value.hint
    _previous_install_intact()


# --- bundle files on disk --------------------------------------------------------------------------


def test_bundle_file_with_its_signature_is_verified(tmp_path, trusted_keys, test_signing_key):
    deb = bundles.write_deb(tmp_path / "plugin.deb", stand_in_plugin(), GOOD_VERSION, compression="xz")
    Path(f"{deb}.sig").write_bytes(test_signing_key.sign_detached(deb))
    result = install_plugin(platform=UBUNTU, bundle_file=deb, extra_trusted_keys=trusted_keys, progress=False)
    assert (result.verified_by, result.signature_key) == ("gpg", test_signing_key.fingerprint)
    assert _runs(result.link) == GOOD_VERSION


def test_bundle_file_without_signature_is_refused(tmp_path):
    rpm = rpmbundle.write_rpm(
        tmp_path / "plugin.rpm", stand_in_plugin(), GOOD_VERSION, "arm64", compression="gz"
    )
    with pytest.raises(VerificationError, match="no signature file") as caught:
        install_plugin(platform=UBUNTU, bundle_file=rpm, progress=False)
    assert caught.value.exit_code == ExitCode.VERIFICATION
    assert f"{rpm}.sig" in caught.value.message
    assert "--allow-unverified" in caught.value.hint
    assert not _link().exists() and not _link().is_symlink(), "nothing was installed"


def test_bundle_file_without_signature_installs_only_when_allowed_and_says_so(tmp_path):
    rpm = rpmbundle.write_rpm(
        tmp_path / "plugin.rpm", stand_in_plugin(), GOOD_VERSION, "arm64", compression="gz"
    )
    result = install_plugin(platform=UBUNTU, bundle_file=rpm, progress=False, allow_unverified=True)
    assert result.verified_by == "unverified"
    assert any("NOT VERIFIED" in note and "--allow-unverified" in note for note in result.notes)
    assert _runs(result.link) == GOOD_VERSION


def test_a_huge_signature_beside_a_bundle_file_is_never_read(tmp_path, trusted_keys):
    deb = bundles.write_deb(tmp_path / "plugin.deb", stand_in_plugin(), GOOD_VERSION)
    with Path(f"{deb}.sig").open("wb") as huge:
        huge.truncate(4 << 30)  # 4 GiB, sparse: reading it would take seconds and gigabytes
    started = time.monotonic()
    with pytest.raises(VerificationError, match="is not a signature") as caught:
        install_plugin(platform=UBUNTU, bundle_file=deb, extra_trusted_keys=trusted_keys, progress=False)
    assert time.monotonic() - started < 5
    assert "4.3 GB" in caught.value.message
    assert not _link().exists()


def test_a_huge_signature_on_the_site_is_refused_without_downloading_it(plugin_site, trusted_keys):
    signature = (
        plugin_site.site.root / "plugin" / "latest" / "ubuntu_64bit" / "session-manager-plugin.deb.sig"
    )
    signature.write_bytes(b"A" * (1 << 20))
    with pytest.raises(VerificationError, match="larger than"):
        _install(plugin_site, trusted_keys)
    assert not _link().exists()


def test_a_bundle_over_the_size_cap_is_refused(plugin_site, trusted_keys, monkeypatch):
    deb = plugin_site.site.root / "plugin" / "latest" / "ubuntu_64bit" / "session-manager-plugin.deb"
    # The real cap is 256 MB; a test site serving that much would only be slow, so the cap shrinks.
    assert downloads.MAX_BUNDLE_BYTES >= 100 * 1000 * 1000
    monkeypatch.setattr(downloads, "MAX_BUNDLE_BYTES", deb.stat().st_size - 1)
    with pytest.raises(VerificationError, match="larger than"):
        _install(plugin_site, trusted_keys)
    assert not list(AppDirs().cache.rglob("*.deb")), "nothing of it kept in the cache"


def test_a_copy_already_at_the_link_is_kept_aside(plugin_site, trusted_keys):
    _link().parent.mkdir(parents=True)
    _link().write_bytes(stand_in_plugin(OLD_VERSION, marker="hand-installed"))
    _link().chmod(0o755)
    result = _install(plugin_site, trusted_keys)
    assert result.backed_up == _link().with_name("session-manager-plugin.before-onboard")
    assert b"hand-installed" in result.backed_up.read_bytes()
    assert _runs(_link()) == GOOD_VERSION


def test_a_second_install_at_the_same_time_is_refused(plugin_site, trusted_keys):
    # Another process (another onboard) holds the install lock, as a running install does.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from onboard.fileio import file_lock\n"
            "from onboard.plugin.layout import MANIFEST_NAME, plugin_root\n"
            "with file_lock(plugin_root() / MANIFEST_NAME):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OnboardError, match="Another program has been writing the plugin install record"):
            _install(plugin_site, trusted_keys)
    finally:
        holder.communicate("", timeout=30)
    assert _install(plugin_site, trusted_keys).version == GOOD_VERSION


def test_unwritable_data_folder(plugin_site, trusted_keys, tmp_path, monkeypatch):
    blocker = tmp_path / "data-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    with pytest.raises(EnvironmentProblem, match="cannot write to") as caught:
        _install(plugin_site, trusted_keys)
    assert "plugin versions" in caught.value.hint
    assert not _link().exists()
