"""The lab's session-manager-plugin: the AWS CLI's contract, its terminal handling, its launcher, and
the check of an installed official plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from fixtures_sessions import JUPYTER, SSM_PROMPT, channel_lab, plugin_arguments

from onboard.labplugin import VERSION
from onboard.labplugin.invocation import PluginError, parse_arguments
from onboard.labplugin.launcher import write_launcher
from onboard.labplugin.system import check_system_plugin

__all__ = ["channel_lab"]


def test_version_is_at_least_the_minimum_aws_supports_and_starts_fast():
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from onboard.labplugin import main; main(['--version']);"
            "print(sorted(m for m in ('boto3', 'botocore', 'websockets') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.monotonic() - started
    version, heavy = done.stdout.splitlines()
    assert tuple(map(int, version.split("."))) >= (1, 2, 764, 0)
    assert heavy == "[]"
    assert elapsed < 1.5


def test_the_session_comes_from_the_variable_named_in_argv_which_is_then_removed():
    answer = {
        "SessionId": "alice-0123",
        "TokenValue": "stream-token-0123456789",
        "StreamUrl": "ws://127.0.0.1:1/v1/data-channel/x",
    }
    environ = {"AWS_SSM_START_SESSION_RESPONSE": json.dumps(answer)}
    invocation = parse_arguments(plugin_arguments("i-0abc", "http://127.0.0.1:4566"), environ)
    assert "AWS_SSM_START_SESSION_RESPONSE" not in environ
    assert invocation.token.reveal() == "stream-token-0123456789"
    assert "stream-token" not in repr(invocation)
    assert (invocation.session_id, invocation.region, invocation.endpoint, invocation.target) == (
        "alice-0123",
        "eu-west-1",
        "http://127.0.0.1:4566",
        "i-0abc",
    )
    legacy = parse_arguments([json.dumps(answer), "eu-west-1", "StartSession"], {})
    assert legacy.stream_url == answer["StreamUrl"]


@pytest.mark.parametrize(
    ("argv", "environ", "complaint"),
    [
        ([], {}, "usage"),
        (["MISSING_VARIABLE", "eu-west-1", "StartSession"], {}, "MISSING_VARIABLE"),
        (["{not json", "eu-west-1", "StartSession"], {}, "not valid JSON"),
        (['{"SessionId": "a"}', "eu-west-1", "StartSession"], {}, "lacks"),
        (['{"SessionId":"a","TokenValue":"t","StreamUrl":"https://x"}', "r", "StartSession"], {}, "ws://"),
        (['{"SessionId":"a","TokenValue":"t","StreamUrl":"ws://x"}', "r", "StartPortForwarding"], {}, "only"),
    ],
)
def test_bad_invocations_are_refused(argv, environ, complaint):
    with pytest.raises(PluginError, match=complaint):
        parse_arguments(argv, environ)


def test_a_bad_invocation_exits_non_zero_without_showing_the_token():
    answer = {"SessionId": "a", "TokenValue": "very-secret-token", "StreamUrl": "http://127.0.0.1:1/"}
    done = subprocess.run(
        [sys.executable, "-m", "onboard.labplugin", *plugin_arguments(JUPYTER)],
        env=dict(os.environ, AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "ws://" in done.stderr
    assert "very-secret-token" not in done.stdout + done.stderr


def test_the_launcher_runs_the_plugin(tmp_path):
    launcher = write_launcher(tmp_path / "bin")
    assert launcher.name == "session-manager-plugin"
    assert os.access(launcher, os.X_OK)
    assert launcher.read_text().startswith(f"#!{sys.executable}\n")
    done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"{VERSION}\n"


def test_a_launcher_for_a_python_path_with_spaces_uses_a_shell_wrapper(tmp_path):
    spaced = tmp_path / "my tools"
    spaced.mkdir()
    (spaced / "python").symlink_to(sys.executable)
    launcher = write_launcher(tmp_path / "bin", python=str(spaced / "python"))
    assert launcher.read_text().startswith("#!/bin/sh\n")
    done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"{VERSION}\n"


def test_the_terminal_is_restored_after_the_session(channel_lab, tmp_path):
    answer = channel_lab.start_session()
    script = tmp_path / "run-plugin.sh"
    args = " ".join(f"'{a}'" for a in plugin_arguments(JUPYTER))
    script.write_text(f"exec {sys.executable} -m onboard.labplugin {args}\n")
    shell = pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-i"],
        encoding="utf-8",
        timeout=15,
        env=dict(os.environ, PS1="local$ ", AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer)),
        cwd=tmp_path,  # where the before/after terminal settings are written
    )
    try:
        shell.expect_exact("local$ ")
        shell.sendline("stty -a > before.txt")
        shell.expect_exact("local$ ")
        shell.sendline(f"bash {script}")
        shell.expect_exact(SSM_PROMPT)
        shell.sendline("exit")
        shell.expect_exact("Exiting session with sessionId")
        shell.expect_exact("local$ ")
        shell.sendline("stty -a > after.txt; diff before.txt after.txt && echo TERMINAL-RESTORED")
        shell.expect_exact("TERMINAL-RESTORED")
    finally:
        shell.close(force=True)


def test_without_a_terminal_the_size_is_300_by_100(channel_lab):
    answer = channel_lab.start_session()
    done = subprocess.run(
        [sys.executable, "-m", "onboard.labplugin", *plugin_arguments(JUPYTER)],
        env=dict(os.environ, AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer)),
        input="stty size\nexit\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert "100 300" in done.stdout
    assert f"Exiting session with sessionId: {answer['SessionId']}." in done.stdout


def _fake_plugin(folder: Path, version: str) -> Path:
    """Stands for AWS's Go binary, which cannot be installed here: it answers --version the same way."""
    folder.mkdir(parents=True, exist_ok=True)
    plugin = folder / "session-manager-plugin"
    plugin.write_text(f"#!/bin/sh\necho '{version}'\n")
    plugin.chmod(0o755)
    return plugin


@pytest.mark.parametrize(
    ("version", "usable", "says"),
    [
        ("1.2.677.0", True, "older than 1.2.764.0"),
        ("1.2.764.0", True, "accepts the lab's ws:// StreamUrl"),
        ("1.2.889.0", False, "may refuse"),
        ("1.2.900.0", False, "may refuse"),
    ],
)
def test_the_system_plugin_check_explains_each_version(tmp_path, monkeypatch, version, usable, says):
    _fake_plugin(tmp_path / "bin", version)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    ok, found, explanation = check_system_plugin()
    assert (ok, found) == (usable, version)
    assert says in explanation


def test_the_system_plugin_check_without_a_plugin_or_with_the_labs_own(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    ok, version, explanation = check_system_plugin()
    assert (ok, version) == (False, None) and "No session-manager-plugin is on PATH" in explanation
    ok, version, explanation = check_system_plugin(str(write_launcher(tmp_path / "lab-bin")))
    assert (ok, version) == (False, None) and "the practice lab's own plugin" in explanation


def test_a_data_channel_that_cannot_be_opened_is_reported_without_a_traceback(channel_lab):
    answer = channel_lab.start_session()
    answer["StreamUrl"] = channel_lab.server.stream_url("alice-00000000000000000")  # no such session: 404
    done = subprocess.run(
        [sys.executable, "-m", "onboard.labplugin", *plugin_arguments(JUPYTER)],
        env=dict(os.environ, AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "could not open the data channel" in done.stderr and "404" in done.stderr
    assert "Traceback" not in done.stderr and answer["TokenValue"] not in done.stderr


def test_when_a_dropped_session_cannot_be_resumed_the_plugin_says_so_and_exits(channel_lab):
    answer = channel_lab.start_session()
    child = channel_lab.spawn_plugin(answer)  # its endpoint, 127.0.0.1:9, answers nothing
    child.expect_exact(SSM_PROMPT)
    assert channel_lab.server.drop_connection(answer["SessionId"])
    child.expect_exact("ResumeSession failed", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "Traceback" not in child.before
