"""`onboard setup` as a new user runs it with a trainer's team file: the plugin from the team's mirror
(signed with the team's pinned key), both files, the identity check; and a second run changes nothing."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bundles import GOOD_VERSION, bundle_server, other_signing_key, plugin_site, test_signing_key  # noqa: F401
from fixtures_moto import access_key_csv, authenticated_user, aws_files, moto_server, read_profile  # noqa: F401

from helpers import run_onboard
from onboard.errors import ExitCode


def write_team(folder: Path, *, site_url: str, endpoint: str, pinned_key) -> Path:
    """A team file naming the mirror, the lab endpoint, and ``pinned_key`` as the trusted signer."""
    key_file = folder / "lab-signing-key.asc"
    key_file.write_bytes(pinned_key.public_key_armored())
    team = folder / "team.toml"
    team.write_text(
        'version = 1\nteam = "data-team"\nregion = "eu-west-1"\n\n'
        f'[plugin]\ndownload_url = "{site_url}"\nsigning_key = "{key_file.name}"\n'
        f'signing_key_fingerprint = "{pinned_key.fingerprint}"\n\n'
        f'[endpoint]\nurl = "{endpoint}"\n',
        encoding="utf-8",
    )
    return team


def test_setup_installs_the_plugin_from_the_team_mirror_then_changes_nothing(
    isolated_home, tmp_path, moto_server, authenticated_user, plugin_site, test_signing_key
):
    team = write_team(
        tmp_path, site_url=plugin_site.base, endpoint=moto_server.url, pinned_key=test_signing_key
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    args = ("setup", "--team", str(team), "--credentials-csv", str(csv), "--no-aws-cli", "--yes")

    first = run_onboard(*args, "--json")
    assert first.exit_code == 0, first.output
    data = first.json()["data"]
    assert data["plugin"]["action"] == "installed"
    assert data["plugin"]["verified_by"] == "gpg"
    assert data["plugin"]["signature_key"] == test_signing_key.fingerprint
    link = Path(data["plugin"]["link"])
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == GOOD_VERSION
    assert data["identity"]["arn"] == authenticated_user.arn
    assert read_profile("ssm")["region"] == "eu-west-1"

    files = aws_files(isolated_home)
    plugin_folder = sorted(os.listdir(link.resolve().parent.parent))
    second = run_onboard(*args)
    assert second.exit_code == 0, second.output
    assert f"Version {GOOD_VERSION} is installed" in second.stdout
    assert "Nothing changed: profile ssm was already set up, and works." in second.stdout
    assert aws_files(isolated_home) == files
    assert sorted(os.listdir(link.resolve().parent.parent)) == plugin_folder


def test_a_bundle_signed_by_another_key_is_refused_and_nothing_is_written(
    isolated_home, tmp_path, moto_server, authenticated_user, plugin_site, test_signing_key, other_signing_key
):
    # The team pins another key than the one that signed the mirror's bundles.
    team = write_team(
        tmp_path, site_url=plugin_site.base, endpoint=moto_server.url, pinned_key=other_signing_key
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard("setup", "--team", str(team), "--credentials-csv", str(csv), "--no-aws-cli", "--yes")
    assert ran.exit_code == ExitCode.VERIFICATION, ran.output
    assert "does not come from the publisher onboard trusts" in ran.stderr
    assert aws_files(isolated_home) == {"config": None, "credentials": None}
    assert not (isolated_home / ".local" / "bin" / "session-manager-plugin").exists()
