"""`onboard plugin install|status|uninstall` as a user runs them: a subprocess, a team file, a local site."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from bundles import GOOD_VERSION, BundleServer, stand_in_plugin
from bundles import bundle_server as bundle_server
from bundles import plugin_site as plugin_site
from bundles import test_signing_key as test_signing_key

from helpers import run_onboard
from onboard.errors import ExitCode
from onboard.lab import rpmbundle


@pytest.fixture
def team_file(plugin_site: BundleServer, test_signing_key, tmp_path: Path) -> Path:
    """A team file naming the local site and the test key, as a trainer would hand out."""
    (tmp_path / "lab-signing-key.asc").write_bytes(test_signing_key.public_key_armored())
    team = tmp_path / "team.toml"
    team.write_text(
        "version = 1\n"
        'team = "plugin-tests"\n'
        'region = "eu-west-1"\n'
        "\n[plugin]\n"
        f'download_url = "{plugin_site.base}"\n'
        'signing_key = "lab-signing-key.asc"\n'
        f'signing_key_fingerprint = "{test_signing_key.fingerprint}"\n'
    )
    return team


@pytest.fixture
def user_path(isolated_home: Path) -> dict[str, str]:
    """PATH with the per-user bin folder first, as most shells set it up."""
    return {"PATH": f"{isolated_home / '.local' / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def test_install_json_then_status_then_uninstall(team_file, user_path, test_signing_key, isolated_home):
    ran = run_onboard("plugin", "install", "--team", str(team_file), "--json", env=user_path)
    assert ran.exit_code == 0, ran.output
    body = ran.json()
    assert body["command"] == "plugin.install" and body["ok"] is True
    data = body["data"]
    assert data["version"] == GOOD_VERSION
    assert (data["verified_by"], data["signature_key"]) == ("gpg", test_signing_key.fingerprint)
    assert data["on_path_first"] is True and data["path_hint"] is None
    assert ran.stderr == "", "--json prints no progress"
    plugin = isolated_home / ".local" / "bin" / "session-manager-plugin"
    done = subprocess.run(
        ["session-manager-plugin", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, **user_path},
    )
    assert done.stdout.strip() == GOOD_VERSION

    status = run_onboard("plugin", "status", "--json", env=user_path)
    assert status.exit_code == 0, status.output
    assert status.json()["data"]["active_path"] == str(plugin)
    assert status.json()["data"]["problems"] == []

    removed = run_onboard("plugin", "uninstall", "--json", env=user_path)
    assert removed.exit_code == 0
    assert str(plugin) in removed.json()["data"]["removed"]
    assert not plugin.exists() and not plugin.is_symlink()

    after = run_onboard("plugin", "status", env=user_path)
    assert after.exit_code == ExitCode.FAILURE
    assert "onboard installed: nothing" in after.stdout


def test_install_text_shows_the_path_line_and_a_rerun_changes_nothing(team_file):
    env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/bash"}
    ran = run_onboard("plugin", "install", "--team", str(team_file), "--version", GOOD_VERSION, env=env)
    assert ran.exit_code == 0, ran.output
    assert f"Installed session-manager-plugin {GOOD_VERSION}." in ran.stdout
    assert "gpg signature by" in ran.stdout
    assert "add this line to ~/.bashrc" in ran.stdout
    assert 'export PATH="$HOME/.local/bin:$PATH"' in ran.stdout
    assert "Downloaded " in ran.stderr and "is not on PATH" in ran.stderr

    again = run_onboard("plugin", "install", "--team", str(team_file), "--version", GOOD_VERSION, env=env)
    assert again.exit_code == 0
    assert "already installed; nothing changed" in again.stdout
    assert "Downloaded " not in again.stderr


def test_untrusted_signature_exits_with_the_verification_code(plugin_site):
    # Without the team file only AWS's key is trusted, and the local site is signed by the test key.
    ran = run_onboard("plugin", "install", "--download-url", plugin_site.base, "--json")
    assert ran.exit_code == ExitCode.VERIFICATION
    error = ran.json()["error"]
    assert "not a trusted key" in error["message"]
    assert ran.json()["command"] == "plugin.install"


def test_unknown_version_is_a_404_naming_the_url(team_file, plugin_site):
    ran = run_onboard("plugin", "install", "--team", str(team_file), "--version", "1.2.3.4")
    assert ran.exit_code == ExitCode.FAILURE
    assert f"{plugin_site.base}1.2.3.4/" in ran.stderr and "404" in ran.stderr


def test_bad_version_label_is_a_usage_error():
    ran = run_onboard("plugin", "install", "--version", "newest", "--json")
    assert ran.exit_code == ExitCode.USAGE
    assert "Not a plugin version" in ran.json()["error"]["message"]


def test_system_install_needs_confirmation_when_unattended(team_file):
    ran = run_onboard("plugin", "install", "--team", str(team_file), "--system", "--json")
    assert ran.exit_code == ExitCode.USAGE
    assert "--yes" in ran.json()["error"]["message"]


def test_a_bundle_file_without_its_signature_is_refused_unless_allowed(tmp_path):
    rpm = rpmbundle.write_rpm(tmp_path / "session-manager-plugin.rpm", stand_in_plugin(), GOOD_VERSION)
    install = ("plugin", "install", "--bundle-file", str(rpm), "--bin-dir", str(tmp_path / "bin"))
    refused = run_onboard(*install)
    assert refused.exit_code == ExitCode.VERIFICATION, refused.output
    assert "no signature file" in refused.stderr and "--allow-unverified" in refused.stderr
    assert not (tmp_path / "bin" / "session-manager-plugin").exists()

    allowed = run_onboard(*install, "--allow-unverified")
    assert allowed.exit_code == 0, allowed.output
    assert "NOT VERIFIED" in allowed.stdout
    assert "NOT VERIFIED" in allowed.stderr, "a warning too, where warnings go"

    ran = run_onboard(*install, "--allow-unverified", "--json")
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    assert (data["bundle_kind"], data["verified_by"]) == ("rpm", "unverified")
    assert data["link"] == str(tmp_path / "bin" / "session-manager-plugin")
    assert any("NOT VERIFIED" in warning for warning in ran.json()["warnings"])
