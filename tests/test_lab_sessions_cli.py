"""End to end: the real AWS CLI's `aws ssm start-session` against the practice lab, with the lab plugin.

The lab runs as its own process (fixtures_lab); the AWS CLI finds the lab's session-manager-plugin on
PATH, as it will after `onboard setup` against the lab. Everything runs in real pseudo-terminals.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pexpect
import pytest
from botocore.exceptions import ClientError
from fixtures_lab import AWS_CLI, lab, lab_server
from fixtures_sessions import SSM_PROMPT as PROMPT
from fixtures_sessions import resize_and_read_back, run_command
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from onboard.labplugin.launcher import write_launcher
from onboard.session import protocol
from onboard.session.protocol import ClientMessage, PayloadType

__all__ = ["lab", "lab_server"]

pytestmark = pytest.mark.slow

SESSION_ID = re.compile(r"Starting session with SessionId: (\S+)")
ADMIN = "lab-admin"


@pytest.fixture
def started(lab):
    """Session ids a test started; each is terminated at the end (a failed test leaves no shell behind)."""
    ids: list[str] = []
    children: list[pexpect.spawn] = []
    yield ids, children
    for child in children:
        child.close(force=True)
    ssm = lab.client("ssm", ADMIN)
    for session_id in ids:
        with contextlib.suppress(ClientError):
            ssm.terminate_session(SessionId=session_id)


def _env(lab, tmp_path: Path, user: str) -> dict[str, str]:
    bin_dir = write_launcher(tmp_path / "lab-bin").parent
    env = lab.aws_env(tmp_path / f"home-{user}", user)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def _start(lab, tmp_path: Path, started, user: str = "alice", alias: str = "jupyter"):
    """`aws ssm start-session --target <id> --profile ssm` in a pty; returns (child, session id)."""
    ids, children = started
    child = pexpect.spawn(
        str(AWS_CLI),
        ["ssm", "start-session", "--target", lab.instances[alias], "--profile", "ssm"],
        env=_env(lab, tmp_path, user),
        encoding="utf-8",
        codec_errors="replace",
        timeout=20,
        dimensions=(24, 80),
    )
    children.append(child)
    child.expect(SESSION_ID)
    session_id = child.match.group(1)
    ids.append(session_id)
    child.expect_exact(PROMPT)
    return child, session_id


def _exit(child, session_id: str) -> None:
    child.sendline("exit")
    child.expect_exact(f"Exiting session with sessionId: {session_id}.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def _transcript(lab, ended: dict) -> str:
    """The session's log object, read from S3 where OutputUrl points."""
    url = urlsplit(ended["OutputUrl"]["S3OutputUrl"])
    bucket = lab.state.world.session_log_bucket
    key = url.path.lstrip("/")
    if key.startswith(bucket + "/"):  # path-style URL
        key = key[len(bucket) + 1 :]
    return lab.client("s3", ADMIN).get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_a_learner_works_on_an_instance_and_the_session_lands_in_history_with_its_transcript(
    lab, tmp_path, started
):
    child, session_id = _start(lab, tmp_path, started)
    assert session_id.startswith("alice-")
    assert lab.describe_session(session_id)["Status"] == "Connected"
    assert run_command(child, "whoami").strip() == "ssm-user"
    assert (
        run_command(child, "env | grep -c '^AWS_SECRET_ACCESS_KEY=.'").strip() == "1"
    )  # the role's key is there
    analyst = r"\[analyst@ip-[0-9-]+ ~\]\$ "
    child.sendline("sudo su - analyst")
    child.expect(analyst)
    bucket = lab.state.world.transfer_bucket
    child.sendline(
        f"echo report-$((40+2)) > report.txt && aws s3 cp report.txt s3://{bucket}/users/alice/report.txt;"
        " echo CP=$?"
    )
    child.expect(r"CP=(\d+)")
    assert child.match.group(1) == "0", child.before
    child.expect(analyst)
    child.sendline("exit")
    child.expect_exact(PROMPT)
    _exit(child, session_id)

    # the learner fetches the file with their own keys, as lesson 3 has them do
    fetched = lab.client("s3", "alice").get_object(Bucket=bucket, Key="users/alice/report.txt")
    assert fetched["Body"].read() == b"report-42\n"
    ended = lab.wait_for_session(session_id, "Terminated")
    assert ended["Owner"].endswith(":user/alice") and ended["EndDate"]
    transcript = _transcript(lab, ended)
    assert f"SessionId: {session_id}" in transcript
    assert f"Target: {lab.instances['jupyter']}" in transcript
    assert "[analyst@" in transcript and "sudo su - analyst" in transcript
    assert "\x1b" not in transcript
    assert all(value.startswith("****") for value in re.findall(r"AWS_SECRET_ACCESS_KEY=(\S*)", transcript))
    assert not re.search(r"(?i)(secret|token)\S*[=:] *[A-Za-z0-9/+]{16,}", transcript)


def test_ctrl_c_interrupts_a_remote_command_and_resizing_reaches_the_instance(lab, tmp_path, started):
    child, session_id = _start(lab, tmp_path, started)
    child.sendline("sleep 100")
    time.sleep(0.5)
    child.sendintr()
    child.expect_exact(PROMPT, timeout=5)
    assert run_command(child, "echo alive").strip() == "alive"
    assert lab.describe_session(session_id)["Status"] == "Connected"
    assert run_command(child, "stty size").strip() == "24 80"
    assert resize_and_read_back(child, 50, 160) == "50 160"
    _exit(child, session_id)


def test_terminate_session_from_another_terminal_ends_the_session(lab, tmp_path, started):
    child, session_id = _start(lab, tmp_path, started)
    done = lab.aws("ssm", "terminate-session", "--session-id", session_id, home=tmp_path / "other")
    assert done.returncode == 0, done.stderr
    child.expect_exact(f"Exiting session with sessionId: {session_id}.")
    child.expect(pexpect.EOF)
    lab.wait_for_session(session_id, "Terminated")


def test_a_learner_cannot_terminate_another_learners_session(lab, tmp_path, started):
    child, session_id = _start(lab, tmp_path, started, user="alice")
    done = lab.aws("ssm", "terminate-session", "--session-id", session_id, home=tmp_path / "bob", user="bob")
    assert done.returncode != 0 and "AccessDenied" in done.stderr
    assert run_command(child, "echo still-mine").strip() == "still-mine"
    _exit(child, session_id)


def _kill_connections(port: int) -> bool:
    """Abort the TCP connections to ``port`` in the kernel, as a network failure would (needs root)."""
    try:
        done = subprocess.run(
            ["ss", "-K", "state", "established", "(", "dport", "=", f":{port}", ")"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and str(port) in done.stdout


def _client_ports(port: int) -> set[str]:
    """Local ports of the established connections to ``port`` (the plugins' websockets)."""
    done = subprocess.run(
        ["ss", "-Htn", "state", "established", "(", "dport", "=", f":{port}", ")"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return {line.split()[-2].rsplit(":", 1)[1] for line in done.stdout.splitlines() if line.strip()}


def test_a_killed_websocket_resumes_and_the_session_goes_on(lab, tmp_path, started):
    child, session_id = _start(lab, tmp_path, started)
    run_command(child, "export MARK=kept-across-the-drop")
    port = lab.state.data_channel_port
    before = _client_ports(port)
    if not _kill_connections(port):
        pytest.skip("cannot abort TCP connections here (ss -K needs root and kernel support)")
    # the shell is the same one: its variables survived, and keystrokes flow again
    assert run_command(child, "echo $MARK").strip() == "kept-across-the-drop"
    after = _client_ports(port)
    assert after and not after & before  # it is a new connection: the plugin resumed and redialled
    assert lab.describe_session(session_id)["Status"] == "Connected"
    _exit(child, session_id)
    lab.wait_for_session(session_id, "Terminated")


def test_two_learners_at_once_never_see_each_others_output(lab, tmp_path, started):
    alice, alice_id = _start(lab, tmp_path, started, user="alice")
    bob, bob_id = _start(lab, tmp_path, started, user="bob", alias="airflow")
    alice.sendline("for i in 1 2 3; do echo alice-line-$i; sleep 0.1; done")
    bob.sendline("for i in 1 2 3; do echo bob-line-$i; sleep 0.1; done")
    alice.expect_exact("alice-line-3")
    bob.expect_exact("bob-line-3")
    alice.expect_exact(PROMPT)
    bob.expect_exact(PROMPT)
    assert "bob-line" not in alice.before and "alice-line" not in bob.before
    _exit(alice, alice_id)
    _exit(bob, bob_id)
    assert "bob-line" not in _transcript(lab, lab.wait_for_session(alice_id, "Terminated"))
    assert "alice-line" not in _transcript(lab, lab.wait_for_session(bob_id, "Terminated"))


def _dial(answer: dict, token: str | None = None):
    websocket = connect(answer["StreamUrl"], proxy=None, open_timeout=5)
    websocket.__enter__()
    websocket.send(protocol.open_data_channel(token or answer["TokenValue"], "1.2.764.0"))
    return websocket


def _refused(websocket) -> bool:
    with websocket:
        try:
            while True:
                websocket.recv(timeout=5)
        except ConnectionClosed as closed:
            return closed.rcvd is not None and closed.rcvd.code == 1008


def test_a_stream_token_works_once_and_only_for_its_session(lab, started):
    ids, _ = started
    ssm = lab.client("ssm", "alice")
    first = ssm.start_session(Target=lab.instances["jupyter"])
    second = ssm.start_session(Target=lab.instances["jupyter"])
    ids += [first["SessionId"], second["SessionId"]]
    with _dial(first) as websocket:
        assert protocol.decode(websocket.recv(timeout=5)).payload_type == PayloadType.HANDSHAKE_REQUEST
    assert _refused(_dial(first))  # used already
    assert _refused(_dial(second, token=first["TokenValue"]))  # someone else's token
    resumed = ssm.resume_session(SessionId=first["SessionId"])
    with _dial(resumed) as websocket:  # ResumeSession's new token opens the same session
        assert protocol.decode(websocket.recv(timeout=5)).message_type in protocol.MESSAGE_TYPES


def test_bad_frames_are_rejected_without_harming_other_sessions(lab, tmp_path, started):
    ids, _ = started
    child, _ = _start(lab, tmp_path, started, user="bob")
    good = ClientMessage(protocol.INPUT_STREAM, b"ls\r", PayloadType.OUTPUT, 0).encode()
    wrong_digest = good[:80] + bytes(32) + good[112:]
    unknown = good[:4] + b"launch_missiles".ljust(32) + good[36:]
    huge = ClientMessage(protocol.INPUT_STREAM, bytes(10 * 1024 * 1024), PayloadType.OUTPUT).encode()
    ssm = lab.client("ssm", "alice")
    for frame in (wrong_digest, good[:60], unknown, huge):
        answer = ssm.start_session(Target=lab.instances["jupyter"])
        ids.append(answer["SessionId"])
        with _dial(answer) as websocket:
            websocket.recv(timeout=5)
            websocket.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    websocket.recv(timeout=5)
            assert closed.value.rcvd.code in (1002, 1009)
        assert run_command(child, "echo unharmed").strip() == "unharmed"
