"""Status, uninstall, PATH hints, and the --system route (AWS's bundle script, checked afterwards)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from bundles import GOOD_VERSION, OLD_VERSION, BundleServer, stand_in_plugin
from bundles import bundle_server as bundle_server
from bundles import plugin_site as plugin_site
from bundles import test_signing_key as test_signing_key
from bundles import trusted_keys as trusted_keys

from onboard.errors import EnvironmentProblem
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin.install import install_plugin
from onboard.plugin.layout import SystemLayout
from onboard.plugin.pathcheck import path_hint
from onboard.plugin.status import plugin_status, uninstall_plugin

UBUNTU = Platform(os="linux", arch="x86_64", distro_id="ubuntu", package_format="deb")
MAC = Platform(os="macos", arch="x86_64")


def _install(site: BundleServer, keys, **options):
    return install_plugin(
        platform=UBUNTU, download_url=site.base, extra_trusted_keys=keys, progress=False, **options
    )


def _copy_in(folder: Path, version: str, marker: str = "other") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "session-manager-plugin"
    copy.write_bytes(stand_in_plugin(version, marker=marker))
    copy.chmod(0o755)
    return copy


@pytest.fixture
def user_path(monkeypatch) -> Path:
    """PATH = the per-user bin folder, then the system folders (none of which has the plugin here)."""
    bin_dir = AppDirs().bin
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bin_dir


def test_status_with_nothing_installed(user_path):
    status = plugin_status()
    assert not status.ok and status.installed_version is None and status.active_path is None
    assert status.problems == ("no session-manager-plugin on PATH: the AWS CLI cannot start sessions",)


def test_status_after_install_is_ok(plugin_site, trusted_keys, user_path):
    _install(plugin_site, trusted_keys)
    status = plugin_status()
    assert status.ok, status.problems
    assert (status.installed_version, status.active_version) == (GOOD_VERSION, GOOD_VERSION)
    assert status.active_path == user_path / "session-manager-plugin" and status.link_ok


def test_status_names_an_outdated_copy_that_comes_first(plugin_site, trusted_keys, tmp_path, monkeypatch):
    _install(plugin_site, trusted_keys)
    old = _copy_in(tmp_path / "usr-local-bin", OLD_VERSION)
    monkeypatch.setenv("PATH", f"{old.parent}{os.pathsep}{AppDirs().bin}")
    status = plugin_status()
    assert status.active_path == old and status.active_version == OLD_VERSION
    assert status.shadowed_by == (old,)
    assert any("older than 1.2.764.0" in problem for problem in status.problems)
    assert any("not the first on PATH" in problem for problem in status.problems)


def test_status_notices_a_removed_link(plugin_site, trusted_keys, user_path):
    result = _install(plugin_site, trusted_keys)
    result.link.unlink()
    status = plugin_status()
    assert not status.link_ok
    assert any("missing or points elsewhere" in problem for problem in status.problems)


def test_uninstall_removes_only_onboards_files_and_restores_what_it_set_aside(
    plugin_site, trusted_keys, user_path, tmp_path, monkeypatch
):
    original = _copy_in(user_path, OLD_VERSION, marker="hand-installed")
    other = _copy_in(tmp_path / "opt-bin", OLD_VERSION)
    monkeypatch.setenv("PATH", f"{user_path}{os.pathsep}{other.parent}")
    installed = _install(plugin_site, trusted_keys)
    assert installed.backed_up is not None

    result = uninstall_plugin()
    assert installed.link in result.removed and installed.path.parent in result.removed
    assert result.restored == original and b"hand-installed" in original.read_bytes()
    assert result.left_alone == (original, other)
    assert not installed.path.parent.exists()
    assert other.read_bytes() == stand_in_plugin(OLD_VERSION, marker="other")

    again = uninstall_plugin()
    assert (again.removed, again.restored) == ((), None)
    assert original.exists()


def test_uninstall_leaves_a_link_it_did_not_make(plugin_site, trusted_keys, user_path):
    result = _install(plugin_site, trusted_keys)
    result.link.unlink()
    mine = _copy_in(user_path, GOOD_VERSION, marker="mine")
    removed = uninstall_plugin()
    assert mine not in removed.removed and mine.read_bytes() == stand_in_plugin(GOOD_VERSION, marker="mine")


@pytest.mark.parametrize(
    ("shell", "file", "line"),
    [
        ("/bin/bash", "~/.bashrc", 'export PATH="$HOME/.local/bin:$PATH"'),
        ("/usr/bin/zsh", "~/.zshrc", 'export PATH="$HOME/.local/bin:$PATH"'),
        ("/usr/bin/fish", "~/.config/fish/config.fish", "fish_add_path --move --path ~/.local/bin"),
        ("/bin/dash", "~/.profile", 'export PATH="$HOME/.local/bin:$PATH"'),
    ],
)
def test_path_hint_per_shell(shell, file, line):
    hint = path_hint(Path.home() / ".local" / "bin", login_shell=shell, windows=False)
    assert (hint.file, hint.line) == (file, line)
    assert line in str(hint) and file in str(hint)


def test_path_hint_outside_home_and_on_windows(tmp_path):
    assert path_hint(Path("/opt/tools/bin"), login_shell="/bin/bash", windows=False).line == (
        'export PATH="/opt/tools/bin:$PATH"'
    )
    windows = path_hint(Path(r"C:\Users\ana\AppData\Local\onboard\bin"), windows=True)
    assert windows.file == "$PROFILE"
    assert windows.line == '$env:Path = "C:\\Users\\ana\\AppData\\Local\\onboard\\bin;" + $env:Path'


def test_the_path_hint_line_really_puts_the_plugin_first(plugin_site, trusted_keys, monkeypatch, tmp_path):
    old = _copy_in(tmp_path / "system-bin", OLD_VERSION)
    monkeypatch.setenv("PATH", f"{old.parent}{os.pathsep}/usr/bin{os.pathsep}/bin")
    result = _install(plugin_site, trusted_keys)
    assert not result.on_path_first and result.shadowed_by == (old,)
    shell = subprocess.run(
        ["bash", "-c", f"{result.path_hint.line}; session-manager-plugin --version"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(Path.home())},
    )
    assert shell.stdout.strip() == GOOD_VERSION


# --- --system: AWS's own installer, then onboard's own check ------------------------------------


def test_system_install_runs_the_bundle_script_and_checks_the_result(plugin_site, tmp_path):
    layout = SystemLayout(
        tmp_path / "usr-local" / "sessionmanagerplugin", tmp_path / "usr-local" / "bin" / "smp"
    )
    result = install_plugin(
        platform=MAC, download_url=plugin_site.base, system=True, progress=False, system_layout=layout
    )
    assert result.system and result.version == GOOD_VERSION and result.verified_by == "unverified"
    assert result.link == layout.link
    assert result.path == (layout.install_dir / "bin" / "session-manager-plugin").resolve()
    out = subprocess.run([str(layout.link), "--version"], capture_output=True, text=True).stdout
    assert out.strip() == GOOD_VERSION


def test_system_install_failure_is_caught_although_the_script_exits_0(plugin_site, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    layout = SystemLayout(tmp_path / "smp", blocker / "bin" / "session-manager-plugin")
    with pytest.raises(EnvironmentProblem, match="exited 0, but") as caught:
        install_plugin(
            platform=MAC, download_url=plugin_site.base, system=True, progress=False, system_layout=layout
        )
    assert "Installation failed" in caught.value.hint


# --- the macOS pkg: pkgutil's verdict (pkgutil exists only on macOS: a fixture prints its real output) ---

PKGUTIL_SIGNED = """Package "session-manager-plugin.pkg":
   Status: signed by a developer certificate issued by Apple for distribution
   Notarization: trusted by the Apple notary service
   Signed with a trusted timestamp on: 2025-02-03 18:21:44 +0000
   Certificate Chain:
    1. Developer ID Installer: AMZN Mobile LLC (94KV3E626L)
       Expires: 2027-03-02 22:30:20 +0000
    2. Developer ID Certification Authority
    3. Apple Root CA
"""
PKGUTIL_UNSIGNED = 'Package "session-manager-plugin.pkg":\n   Status: no signature\n'


def _pkgutil(folder: Path, output: str, code: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pkgutil").write_text(f"#!/bin/sh\ncat <<'OUT'\n{output}OUT\nexit {code}\n")
    (folder / "pkgutil").chmod(0o755)


def test_pkgutil_verdicts(tmp_path, monkeypatch):
    from onboard.errors import VerificationError
    from onboard.plugin.fetch import verify_pkg

    pkg = tmp_path / "session-manager-plugin.pkg"
    pkg.write_bytes(b"xar!fixture")
    _pkgutil(tmp_path / "signed", PKGUTIL_SIGNED, 0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'signed'}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert verify_pkg(pkg) == "Developer ID Installer: AMZN Mobile LLC (94KV3E626L)"
    _pkgutil(tmp_path / "unsigned", PKGUTIL_UNSIGNED, 1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'unsigned'}{os.pathsep}/usr/bin{os.pathsep}/bin")
    with pytest.raises(VerificationError, match="not signed by a trusted developer"):
        verify_pkg(pkg)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(EnvironmentProblem, match="pkgutil is not available"):
        verify_pkg(pkg)
