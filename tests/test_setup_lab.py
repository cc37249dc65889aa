"""`onboard setup` against the practice lab, as a learner does on the first day: the lab's team file,
the learner's credentials CSV, the lab's plugin mirror; then the real AWS CLI works with the profile."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_lab import lab, lab_server  # noqa: F401
from fixtures_moto import aws_files, read_profile

from helpers import run_onboard
from onboard.errors import ExitCode
from onboard.team import load_team

pytestmark = pytest.mark.slow


def test_a_learner_sets_up_against_the_lab_and_a_second_run_changes_nothing(isolated_home, lab):
    team = load_team(lab.team_file)
    assert team.plugin is not None and team.plugin.signing_key is not None, "the lab publishes its plugin"
    csv = lab.paths.credentials_csv("alice")
    args = ("setup", "--team", str(lab.team_file), "--credentials-csv", str(csv), "--no-aws-cli", "--yes")

    first = run_onboard(*args, "--json")
    assert first.exit_code == 0, first.output
    data = first.json()["data"]
    assert data["plugin"]["action"] == "installed"
    assert data["plugin"]["signature_key"] == team.plugin.signing_key_fingerprint
    assert data["identity"]["arn"] == f"arn:aws:iam::{lab.account}:user/alice"
    profile = read_profile("ssm")
    assert (profile["region"], profile["endpoint_url"]) == (lab.region, lab.endpoint_url)
    key_id, secret = lab.keys("alice")
    assert profile["aws_access_key_id"] == key_id
    assert secret.reveal() not in first.output

    done = subprocess.run(
        [str(Path(sys.executable).with_name("aws")), "sts", "get-caller-identity", "--profile", "ssm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"] == data["identity"]["arn"]

    # The user follows the PATH hint setup gave, then runs the first next step as printed: all is well.
    assert "$HOME/.local/bin" in data["plugin"]["path_hint"]["line"]
    path = f"{isolated_home / '.local' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    doctor = shlex.split(data["next_steps"][0])
    assert doctor[:2] == ["onboard", "doctor"]
    checked = run_onboard(*doctor[1:], "--json", env={"PATH": path})
    assert checked.exit_code in (ExitCode.OK, ExitCode.WARNINGS), checked.output

    files = aws_files(isolated_home)
    second = run_onboard(*args)
    assert second.exit_code == 0, second.output
    assert "Nothing changed: profile ssm was already set up, and works." in second.stdout
    assert aws_files(isolated_home) == files
