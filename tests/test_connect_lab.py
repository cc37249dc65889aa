"""`onboard connect` in real pseudo-terminals against the practice lab, with the lab's plugin on PATH."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
from botocore.exceptions import ClientError
from fixtures_everyday import ADMIN, learner_env, retagged
from fixtures_lab import lab, lab_server

from helpers import run_onboard

__all__ = ["lab", "lab_server"]

pytestmark = pytest.mark.slow

SESSION_ID = re.compile(r"Starting session with SessionId: (\S+)")


@pytest.fixture
def terminal(lab, tmp_path):
    """spawn(args) runs `onboard ARGS` in a pty as alice; every session it started is ended afterwards."""
    children: list[pexpect.spawn] = []
    env = learner_env(lab, tmp_path)

    def spawn(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "onboard", *args],
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=30,
            dimensions=(24, 120),
        )
        children.append(child)
        return child

    yield spawn
    ssm = lab.client("ssm", ADMIN)
    for child in children:
        child.close(force=True)
    for session in ssm.describe_sessions(State="Active")["Sessions"]:
        if session["Owner"].endswith(":user/alice"):
            with contextlib.suppress(ClientError):
                ssm.terminate_session(SessionId=session["SessionId"])


def _session_id(child) -> str:
    child.expect(SESSION_ID)
    return child.match.group(1)


def _parent_of(pid: str) -> str | None:
    with contextlib.suppress(OSError, IndexError):
        # /proc/PID/stat: "pid (comm) state ppid ...", where comm may itself hold spaces and parentheses.
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()[1]
    return None


def _plugin_command_lines(root_pid: int) -> list[list[str]]:
    """The plugins running below ``root_pid`` (this test's onboard), not anyone else's: their argv."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(b"session-manager-plugin" in arg for arg in argv[:2]):
                continue
            ancestor: str | None = entry.name
            while ancestor not in (None, "0", "1", str(root_pid)):
                ancestor = _parent_of(ancestor)
            if ancestor == str(root_pid):
                found.append([arg.decode(errors="replace") for arg in argv])
    return found


def _exit_cleanly(child) -> None:
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_connect_by_alias_lands_as_ssm_user_with_the_token_off_the_command_line(lab, terminal):
    child = terminal("connect", "jupyter")
    session_id = _session_id(child)
    child.expect_exact("sh-4.2$ ")
    plugins = _plugin_command_lines(child.pid)
    assert plugins, "the plugin is running"
    for argv in plugins:
        script = 1 if argv[0].endswith(("python", "python3")) or "python" in Path(argv[0]).name else 0
        assert argv[script + 1] == "AWS_SSM_START_SESSION_RESPONSE"
        assert not any("TokenValue" in arg for arg in argv)
    child.sendline("whoami")
    child.expect(r"\nssm-user\r+\n")
    _exit_cleanly(child)
    ended = lab.wait_for_session(session_id, "Terminated")
    assert ended["Target"] == lab.instances["jupyter"]
    assert ended["DocumentName"] == "SSM-SessionManagerRunShell"


def _signal_dispositions_plugin(folder: Path, launcher: Path, record: Path) -> Path:
    """A session-manager-plugin that notes its pid and signal dispositions, then runs the lab's plugin."""
    folder.mkdir()
    wrapper = folder / "session-manager-plugin"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] || {{ echo "pid $$"; grep -E "^Sig(Ign|Blk)" /proc/self/status; }}'
        f" >> {record}\n"
        f'exec {launcher} "$@"\n'
    )
    wrapper.chmod(0o755)
    return folder


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_onboard_becomes_the_plugin_with_the_signals_the_aws_cli_gives_it(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    launcher = Path(env["PATH"].split(":")[0]) / "session-manager-plugin"
    seen = {}
    for who, argv in {
        "aws": [str(Path(sys.executable).parent / "aws"), "ssm", "start-session", "--target"],
        "onboard": [sys.executable, "-m", "onboard", "connect"],
    }.items():
        record = tmp_path / f"{who}.signals"
        wrapped = _signal_dispositions_plugin(tmp_path / f"{who}-bin", launcher, record)
        child = pexpect.spawn(
            argv[0],
            [*argv[1:], lab.instances["jupyter"], "--profile", "ssm"],
            env={**env, "PATH": f"{wrapped}:{env['PATH']}"},
            encoding="utf-8",
            codec_errors="replace",
            timeout=60,
        )
        child.expect_exact("sh-4.2$ ")
        pid, *dispositions = record.read_text().splitlines()
        seen[who] = dispositions
        if who == "onboard":  # no onboard left waiting beside the plugin: the process is the plugin's
            assert pid == f"pid {child.pid}"
        _exit_cleanly(child)
    # Ctrl-C, Ctrl-\ and Ctrl-Z ignored, SIGPIPE and SIGXFSZ back to their defaults, nothing blocked.
    assert seen["onboard"] == seen["aws"]


def test_connect_as_analyst_lands_in_analysts_login_shell(lab, terminal):
    child = terminal("connect", "jupyter", "--user", "analyst")
    session_id = _session_id(child)
    child.expect(r"\[analyst@ip-10-0-1-23 ~\]\$ ")
    child.sendline("whoami; pwd")
    child.expect(r"\nanalyst\r+\n\S*/home/analyst\r+\n")
    _exit_cleanly(child)
    seen = lab.wait_for_session(session_id, "Terminated")
    assert seen["DocumentName"] == "AWS-StartInteractiveCommand"


def test_ctrl_c_reaches_the_remote_shell_not_onboard(lab, terminal):
    child = terminal("connect", "jupyter")
    _session_id(child)
    child.expect_exact("sh-4.2$ ")
    child.sendline("sleep 30")
    child.expect_exact("sleep 30")  # echoed by the remote shell: the line reached it
    time.sleep(1)  # and the sleep has started, so the Ctrl-C interrupts it rather than racing the line
    child.sendcontrol("c")
    child.expect_exact("sh-4.2$ ")  # the remote sleep was interrupted; the session goes on
    child.sendline("echo still-here")
    child.expect(r"\nstill-here\r+\n")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_the_picker_chooses_between_instances_sharing_a_name(lab, terminal):
    with retagged(lab, {"jupyter": "analytics", "airflow": "analytics"}):
        child = terminal("connect", "analytics")
        child.expect("2 instances are called 'analytics'; which one")
        child.expect(lab.instances["jupyter"])
        child.expect(lab.instances["airflow"])
        child.send("\x1b[B")  # arrow down to the second one
        child.send("\r")
        _session_id(child)
        child.expect_exact("sh-4.2$ ")
        child.sendline("hostname")
        child.expect(r"\nip-10-0-1-2[34]\r+\n")
        picked = child.match.group(0).strip()
        child.sendline("exit")
        child.expect(pexpect.EOF)
    # Same name: listed by id, jupyter (...60001, 10.0.1.23) first; one arrow down is airflow (10.0.1.24).
    assert picked == "ip-10-0-1-24"


def test_target_not_connected_is_explained_with_doctors_findings(lab, tmp_path):
    lab.fault("agent-offline", "airflow")
    ran = run_onboard("connect", "airflow", env=learner_env(lab, tmp_path), timeout=120)
    assert ran.exit_code == 1, ran.output
    assert f"Session Manager cannot reach {lab.instances['airflow']}" in ran.stderr
    assert "onboard doctor found:" in ran.stderr
    assert "Starting session" not in ran.output


def test_access_denied_is_explained_with_doctors_findings(lab, tmp_path):
    lab.fault("no-start-session", "alice")
    ran = run_onboard("connect", "jupyter", env=learner_env(lab, tmp_path), timeout=120)
    assert ran.exit_code == 1, ran.output
    assert "the profile 'ssm' may not start a session" in ran.stderr
    assert "onboard doctor found:" in ran.stderr and "StartSession" in ran.stderr


def test_no_plugin_means_no_session_is_started(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    env["PATH"] = str(Path(sys.executable).parent) + ":/usr/bin:/bin"
    before = len(lab.client("ssm", ADMIN).describe_sessions(State="History")["Sessions"])
    ran = run_onboard("connect", "jupyter", env=env)
    assert ran.exit_code == 4
    assert "session-manager-plugin is not on PATH" in ran.stderr and "onboard plugin install" in ran.stderr
    active = lab.client("ssm", ADMIN).describe_sessions(State="Active")["Sessions"]
    assert not [s for s in active if s["Owner"].endswith(":user/alice") and s["Status"] == "Connecting"]
    assert len(lab.client("ssm", ADMIN).describe_sessions(State="History")["Sessions"]) == before


def test_a_plugin_that_cannot_be_started_leaves_no_session_behind(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    folder = tmp_path / "broken-bin"
    folder.mkdir()
    plugin = folder / "session-manager-plugin"
    # It answers the version check, then takes its own execute permission away: the session is started,
    # and the plugin's run for it cannot be.
    plugin.write_text('#!/bin/sh\nchmod a-x "$0"\necho 1.2.707.0\n')
    plugin.chmod(0o755)
    env["PATH"] = f"{folder}:{env['PATH']}"
    ssm = lab.client("ssm", ADMIN)
    before = {s["SessionId"] for s in ssm.describe_sessions(State="History")["Sessions"]}
    before |= {s["SessionId"] for s in ssm.describe_sessions(State="Active")["Sessions"]}
    ran = run_onboard("connect", "jupyter", env=env)
    assert ran.exit_code == 4, ran.output
    assert "could not be started" in ran.stderr and "the session was terminated" in ran.stderr
    started = [
        s["SessionId"]
        for state in ("Active", "History")
        for s in ssm.describe_sessions(State=state)["Sessions"]
        if s["SessionId"] not in before and s["Owner"].endswith(":user/alice")
    ]
    assert started, "a session was started before the plugin was run"
    for session_id in started:
        lab.wait_for_session(session_id, "Terminated")
