"""`onboard doctor` as users run it: against the practice lab, healthy and not; its JSON envelope, exit codes,
time limits, fixes through the command line, and no secret in any output."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from bundles import GOOD_VERSION, stand_in_plugin
from fixtures_doctor import (
    VENV_BIN,
    lab_profile,
    mode_of,
    mute_port,  # noqa: F401
    plain_profile,
    put_executable,
    run_checks_for,
)
from fixtures_lab import lab, lab_server  # noqa: F401

from helpers import run_onboard
from onboard.doctor import Status
from onboard.doctor.checks.network import PROBE_SECONDS
from onboard.doctor.model import GROUPS
from onboard.errors import ExitCode


@pytest.fixture
def healthy(lab, isolated_home: Path, tmp_path: Path) -> dict[str, str]:
    """A learner set up for the lab as `onboard setup --team` leaves them: profile, plugin on PATH, aws."""
    lab_profile(isolated_home, lab, "alice")
    bin_dir = put_executable(tmp_path / "bin", "session-manager-plugin", stand_in_plugin(GOOD_VERSION)).parent
    return {
        "ONBOARD_TEAM": str(lab.team_file),
        "PATH": os.pathsep.join([str(bin_dir), str(VENV_BIN), "/usr/bin", "/bin"]),
    }


def test_a_healthy_setup_passes_every_check_with_a_versioned_envelope(healthy, lab):
    ran = run_onboard("doctor", "--json", env=healthy)
    assert ran.exit_code == 0, ran.output
    body = ran.json()
    assert (body["schema_version"], body["command"], body["ok"], body["exit_code"]) == (1, "doctor", True, 0)
    data = body["data"]
    assert data["report_version"] == 1
    assert data["profile"] == "ssm" and data["status"] == "ok"
    assert [group["name"] for group in data["groups"]] == list(GROUPS)
    assert {target["id"] for target in data["targets"]} == set(lab.instances.values())
    statuses = {finding["id"]: finding["status"] for finding in data["findings"]}
    assert statuses["credentials.key-age"] == "skipped"  # learners may not read their keys: not a problem
    assert {status for check, status in statuses.items() if check != "credentials.key-age"} == {"ok"}
    for finding in data["findings"]:
        assert set(finding) >= {"id", "group", "title", "status", "summary", "evidence", "next", "doc", "fix"}
    identity = next(f for f in data["findings"] if f["id"] == "credentials.identity")
    assert identity["data"]["arn"].endswith(":user/alice")
    assert lab.keys("alice")[1].reveal() not in ran.output


def test_warnings_only_exit_with_3_and_fix_yes_repairs_them(healthy, isolated_home):
    credentials = isolated_home / ".aws" / "credentials"
    credentials.chmod(0o644)
    ran = run_onboard("doctor", env=healthy)
    assert ran.exit_code == int(ExitCode.WARNINGS), ran.output
    assert "Config files  warn" in ran.stdout
    assert "chmod 600" in ran.stdout
    assert "(exit code 3)" in ran.stdout

    fixed = run_onboard("doctor", "--fix", "--yes", "--json", env=healthy)
    assert fixed.exit_code == 0, fixed.output
    data = fixed.json()["data"]
    assert [(fix["fix"], fix["outcome"]) for fix in data["fixes"]] == [
        ("config.tighten-permissions", "applied")
    ]
    before = {f["id"]: f["status"] for f in data["before"]}
    after = {f["id"]: f["status"] for f in data["findings"]}
    assert (before["config.permissions"], after["config.permissions"]) == ("warn", "ok")
    assert mode_of(credentials) == 0o600
    assert all(Path(backup).exists() for backup in data["fixes"][0]["backups"])


def test_without_a_terminal_and_without_yes_nothing_is_changed(healthy, isolated_home):
    credentials = isolated_home / ".aws" / "credentials"
    credentials.chmod(0o644)
    ran = run_onboard("doctor", "--fix", env=healthy, input="")
    assert ran.exit_code == int(ExitCode.WARNINGS), ran.output
    assert "use --yes" in ran.stderr
    assert mode_of(credentials) == 0o644
    assert not list(credentials.parent.glob("credentials.onboard-backup-*"))


def test_verbose_shows_every_check_and_its_evidence_without_secrets(healthy, lab):
    secret = lab.keys("alice")[1].reveal()
    env = {**healthy, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ACCESS_KEY_ID": lab.keys("alice")[0]}
    ran = run_onboard("doctor", "-v", env=env)
    assert ran.exit_code == int(ExitCode.WARNINGS), ran.output  # the environment keys are worth a warning
    assert "ok Tools / AWS CLI" in ran.stdout
    assert "access_key" in ran.stdout and "shared-credentials-file" in ran.stdout
    assert "GetConnectionStatus: connected" in ran.stdout
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY set in the environment" in ran.stdout
    assert secret not in ran.output
    assert secret not in run_onboard("doctor", "--json", env=env).output


def test_a_failure_exits_1_and_names_the_first_thing_to_fix(healthy, lab):
    lab.fault("agent-offline", "redash")
    ran = run_onboard("doctor", "--target", "redash", env=healthy)
    assert ran.exit_code == 1, ran.output
    assert "Targets       FAIL" in ran.stdout
    assert "TargetNotConnected" in ran.stdout
    assert "Target redash" in ran.stdout and "jupyter" not in ran.stdout


def test_an_unknown_target_is_a_usage_error_listing_the_known_ones(healthy):
    ran = run_onboard("doctor", "--target", "jupiter", env=healthy)
    assert ran.exit_code == int(ExitCode.USAGE), ran.output
    assert "Did you mean 'jupyter'?" in ran.stderr
    assert "redash" in ran.stderr


def test_an_endpoint_that_never_answers_is_reported_within_seconds(isolated_home, mute_port):
    plain_profile(isolated_home, f"http://127.0.0.1:{mute_port}")
    started = time.monotonic()
    report = run_checks_for("credentials.identity", "network")
    elapsed = time.monotonic() - started
    found = {f.check_id: f for f in report.findings}
    assert found["network.endpoints"].status is Status.FAIL
    assert "no answer within" in found["network.endpoints"].summary
    assert found["credentials.identity"].status is Status.SKIPPED
    assert "'Endpoints (DNS, TLS)' failed" in found["credentials.identity"].summary
    assert elapsed < PROBE_SECONDS + 3


def test_the_whole_command_against_an_endpoint_that_never_answers_ends_in_time(isolated_home, mute_port):
    plain_profile(isolated_home, f"http://127.0.0.1:{mute_port}")
    started = time.monotonic()
    ran = run_onboard("doctor", "--json", "--target", "i-0123456789abcdef0")
    elapsed = time.monotonic() - started
    assert ran.exit_code == 1, ran.output
    statuses = {f["id"]: f["status"] for f in ran.json()["data"]["findings"]}
    assert statuses["network.endpoints"] == "fail"
    assert statuses["targets.i-0123456789abcdef0"] == "skipped"
    assert elapsed < 20  # the goal (6 s on an idle machine) is measured by bench/bench_doctor.py


def test_fix_asks_before_each_change_at_a_terminal(isolated_home, tmp_path):
    import sys

    import pexpect
    from fixtures_moto import closed_port

    _, credentials = plain_profile(isolated_home, f"http://127.0.0.1:{closed_port()}")
    credentials.chmod(0o644)
    bin_dir = put_executable(tmp_path / "bin", "session-manager-plugin", stand_in_plugin(GOOD_VERSION)).parent
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), str(VENV_BIN), "/usr/bin", "/bin"]),
        # Nothing here may reach AWS's download site, whatever is answered.
        "ONBOARD_PLUGIN_DOWNLOAD_URL": f"http://127.0.0.1:{closed_port()}/plugin/",
    }
    child = pexpect.spawn(
        sys.executable, ["-m", "onboard", "doctor", "--fix"], env=env, encoding="utf-8", timeout=60
    )
    try:
        child.expect(r"readable by you only \(chmod 600\)\? \[y/N\]: ")
        assert mode_of(credentials) == 0o644  # nothing changes before the answer
        child.sendline("y")
        child.expect("applied: Make")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert mode_of(credentials) == 0o600
    assert list(credentials.parent.glob("credentials.onboard-backup-*"))
