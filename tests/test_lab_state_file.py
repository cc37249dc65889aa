"""lab.json and `onboard lab status --json` / `lab up --detach --json`: the bytes users' scripts read stay
what they are, older state files still read, and a garbled one gets the same clear answer as a missing one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import textwrap
from pathlib import Path
from string import Template

import pytest

from helpers import run_onboard
from onboard.lab.sandbox import isolation
from onboard.lab.state import LabPaths, read_state
from onboard.lab.status import LabStatus

pytestmark = pytest.mark.slow

#: lab.json as a default-world lab writes it (the `$names` differ from lab to lab).
LAB_JSON = Template("""\
{
  "pid": $pid,
  "lab_id": "$lab_id",
  "endpoint_url": "http://127.0.0.1:$port",
  "port": $port,
  "moved_from": null,
  "data_channel_port": $data_channel_port,
  "started_at": $started_at,
  "state_dir": "$state_dir",
  "team_file": "$state_dir/team.toml",
  "credentials": {
    "lab-admin": "$state_dir/credentials/lab-admin_accessKeys.csv",
    "trainer": "$state_dir/credentials/trainer_accessKeys.csv",
    "alice": "$state_dir/credentials/alice_accessKeys.csv",
    "bob": "$state_dir/credentials/bob_accessKeys.csv",
    "carol": "$state_dir/credentials/carol_accessKeys.csv"
  },
  "world": {
    "team": "data-team",
    "region": "ap-northeast-1",
    "account": "123456789012",
    "learners": [
      "alice",
      "bob",
      "carol"
    ],
    "trainer": "trainer",
    "instances": {
      "jupyter": "i-0a1b2c3d4e5f60001",
      "airflow": "i-0a1b2c3d4e5f60002",
      "redash": "i-0a1b2c3d4e5f60003"
    },
    "transfer_bucket": "data-team-transfer",
    "session_log_bucket": "data-team-session-logs"
  },
  "faults": [],
  "plugin": {
    "mode": "lab",
    "download_url": "http://127.0.0.1:$port/_onboard/downloads/plugin/",
    "version": "1.2.764.0",
    "signing_key": "$state_dir/signing/lab-signing-key.asc",
    "fingerprint": "$fingerprint"
  },
  "sessions": {
    "active": 0,
    "total": 0
  },
  "isolation": {
    "mode": $isolation_mode,
    "detail": $isolation_detail
  },
  "status": "ready",
  "class_lab": null
}
""")


def _envelope(command: str, state_text: str, tail: str = "") -> str:
    """The --json envelope around ``{"running": true, <lab.json's fields>, <tail>}``."""
    fields = textwrap.indent(state_text.strip()[1:-1].strip("\n"), "  ")
    return (
        "{\n"
        '  "schema_version": 1,\n'
        f'  "command": "{command}",\n'
        '  "ok": true,\n'
        '  "exit_code": 0,\n'
        '  "data": {\n'
        '    "running": true,\n'
        f"{fields}{tail}\n"
        "  }\n"
        "}\n"
    )


@pytest.fixture
def lab_home(isolated_home: Path):
    """A default-world lab of this test's own (learners alice, bob, carol), started as a user does; stopped
    (or killed) afterwards."""
    up = run_onboard("lab", "up", "--detach", "--json", "--learners", "alice,bob,carol")
    assert up.exit_code == 0, up.output
    pid = json.loads(up.stdout)["data"]["pid"]
    try:
        yield isolated_home, up.stdout
    finally:
        if run_onboard("lab", "down").exit_code != 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _paths(home: Path) -> LabPaths:
    return LabPaths(home / ".local" / "state" / "onboard" / "lab")


def test_lab_json_and_the_json_of_lab_up_and_status_keep_their_exact_bytes(lab_home):
    home, up_stdout = lab_home
    paths = _paths(home)
    written = paths.state_file.read_text(encoding="utf-8")
    raw = json.loads(written)
    shown = isolation()
    expected = LAB_JSON.substitute(
        pid=raw["pid"],
        lab_id=raw["lab_id"],
        port=raw["port"],
        data_channel_port=raw["data_channel_port"],
        started_at=json.dumps(raw["started_at"]),
        state_dir=str(paths.root),
        fingerprint=raw["plugin"]["fingerprint"],
        isolation_mode=json.dumps(shown.mode),
        isolation_detail=json.dumps(shown.detail),
    )
    assert written == expected
    assert up_stdout == _envelope("lab.up", expected, ',\n    "system_plugin": null')
    status = run_onboard("lab", "status", "--json")
    assert status.exit_code == 0, status.output
    assert status.stdout == _envelope("lab.status", expected)
    # Read back typed, it is the same status, and writes the same file again.
    state = read_state(paths)
    assert isinstance(state, LabStatus)
    assert json.dumps(state.to_json(), indent=2) + "\n" == written


def test_a_garbled_lab_json_is_a_lab_not_running_not_a_crash(lab_home):
    home, _ = lab_home
    paths = _paths(home)
    written = paths.state_file.read_text(encoding="utf-8")
    try:
        for garbled in ('{"pid": 12', "[1, 2, 3]", '{"pid": "twelve"}', '{"status": "ready"}', "\xff\xfe"):
            paths.state_file.write_text(garbled, encoding="latin-1")
            env = run_onboard("lab", "env")
            assert env.exit_code == 4, (garbled, env.output)
            assert "no practice lab is running for this user" in env.stderr, garbled
            assert "Traceback" not in env.output and "internal error" not in env.output.lower()
            again = run_onboard("lab", "up", "--detach")
            assert again.exit_code == 4 and "already running" in again.stderr, garbled
    finally:
        paths.state_file.write_text(written, encoding="utf-8")
    assert run_onboard("lab", "env").exit_code == 0


def test_a_lab_json_from_before_class_labs_moved_ports_and_isolation_still_reads(tmp_path):
    # What a lab wrote before lab.json had moved_from, isolation and class_lab (and plugin details).
    old = {
        "pid": 4242,
        "lab_id": "0011223344556677",
        "endpoint_url": "http://127.0.0.1:4566",
        "port": 4566,
        "data_channel_port": 4567,
        "started_at": 1790000000.5,
        "state_dir": str(tmp_path),
        "team_file": str(tmp_path / "team.toml"),
        "credentials": {"alice": str(tmp_path / "credentials" / "alice_accessKeys.csv")},
        "world": {
            "team": "data-team",
            "region": "eu-west-1",
            "account": "123456789012",
            "learners": ["alice"],
            "trainer": "trainer",
            "instances": {"jupyter": "i-0a1b2c3d4e5f60001"},
            "transfer_bucket": "data-team-transfer",
            "session_log_bucket": "data-team-session-logs",
        },
        "faults": [{"name": "agent-offline", "target": "i-0a1b2c3d4e5f60001"}],
        "plugin": {"mode": "lab"},
        "sessions": {"active": 1, "total": 2},
        "status": "ready",
    }
    paths = LabPaths(tmp_path)
    paths.state_file.write_text(json.dumps(old), encoding="utf-8")
    state = read_state(paths)
    assert state is not None
    assert (state.pid, state.endpoint_url, state.status) == (4242, "http://127.0.0.1:4566", "ready")
    assert state.world.region == "eu-west-1" and state.world.instances == {"jupyter": "i-0a1b2c3d4e5f60001"}
    assert state.world.learners == ("alice",)
    assert state.faults[0].name == "agent-offline" and state.sessions.active == 1
    assert state.plugin.mode == "lab" and state.plugin.version is None
    assert state.moved_from is None and state.class_lab is None
