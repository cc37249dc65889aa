"""Sessions through the data-channel server and the lab plugin, in real pseudo-terminals (no API layer)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_sessions import (
    AIRFLOW,
    JUPYTER,
    SSM_PROMPT,
    channel_lab,
    resize_and_read_back,
    run_command,
    seen_path,
    start_channel_lab,
    stop_channel_lab,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from onboard.session import protocol
from onboard.session.protocol import ClientMessage, PayloadType

__all__ = ["channel_lab"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow


def _connected(lab, **options):
    answer = lab.start_session(**options)
    child = lab.spawn_plugin(answer, target=options.get("target", JUPYTER))
    child.expect_exact(f"Starting session with SessionId: {answer['SessionId']}")
    child.expect_exact(SSM_PROMPT)
    return answer, child


def test_a_session_is_a_shell_as_ssm_user_where_the_agent_starts_it(channel_lab):
    answer, child = _connected(channel_lab)
    start, home = (
        seen_path(channel_lab, JUPYTER, "/usr/bin"),
        seen_path(channel_lab, JUPYTER, "/home/ssm-user"),
    )
    assert run_command(child, "whoami; pwd; echo $HOME").split() == ["ssm-user", start, home]
    assert run_command(child, "echo $AWS_DEFAULT_REGION $AWS_EC2_METADATA_DISABLED").split() == [
        "eu-west-1",
        "true",
    ]
    assert run_command(child, "command -v aws").strip().endswith("/opt/onboard-lab/bin/aws")
    assert (
        run_command(child, "command -v onboard || echo not-on-the-instance").strip() == "not-on-the-instance"
    )
    assert channel_lab.registry.get(answer["SessionId"]).status == "Connected"


def test_sudo_switches_users_and_exit_comes_back(channel_lab):
    _, child = _connected(channel_lab)
    analyst = r"\[analyst@ip-10-0-1-23 ~\]\$ "
    for switch in ("sudo su - analyst", "sudo -iu analyst", "sudo -u analyst -i"):
        child.sendline(switch)
        child.expect(analyst)
        child.sendline("whoami; pwd; echo $USER")
        child.expect(analyst)
        lines = child.before.replace("\r", "").split("\n")[1:4]
        assert lines == ["analyst", seen_path(channel_lab, JUPYTER, "/home/analyst"), "analyst"]
        child.sendline("exit")
        child.expect_exact(SSM_PROMPT)
        assert run_command(child, "whoami").strip() == "ssm-user"
    assert run_command(child, "sudo -u analyst whoami").strip() == "analyst"
    child.sendline("sudo -i")
    child.expect(r"\[root@ip-10-0-1-23 ~\]# ")
    child.sendline("exit")
    child.expect_exact(SSM_PROMPT)
    child.sendline("sudo -s")
    child.expect(r"\[root@ip-10-0-1-23 bin\]# ")  # no login: stays in the folder (/usr/bin)
    assert run_command(child, "whoami", prompt="bin]# ").split("\n")[0] == "root"
    child.sendline("exit")
    child.expect_exact(SSM_PROMPT)
    child.sendline("sudo su")
    child.expect(r"\[root@ip-10-0-1-23 bin\]# ")  # no dash: stays in the folder
    child.sendline("exit")
    child.expect_exact(SSM_PROMPT)
    assert "sudo: unknown user nosuchuser" in run_command(child, "sudo -iu nosuchuser")
    assert "su: user nosuchuser does not exist" in run_command(child, "sudo su - nosuchuser")
    assert run_command(child, "whoami").strip() == "ssm-user"


def test_ctrl_c_interrupts_the_remote_command_not_the_session(channel_lab):
    answer, child = _connected(channel_lab)
    child.sendline("sleep 100")
    time.sleep(0.5)
    started = time.monotonic()
    child.sendintr()
    child.expect_exact(SSM_PROMPT, timeout=5)
    assert time.monotonic() - started < 3
    assert "^C" in child.before
    assert run_command(child, "echo still here").strip() == "still here"
    assert channel_lab.registry.get(answer["SessionId"]).is_active


def test_ctrl_z_and_ctrl_backslash_reach_the_remote_job(channel_lab):
    _, child = _connected(channel_lab)
    child.sendline("sleep 100")
    time.sleep(0.5)
    child.sendcontrol("z")  # SIGTSTP, forwarded as 0x1a: the remote job stops, the plugin does not
    child.expect("Stopped")
    child.expect_exact(SSM_PROMPT)
    child.sendline("fg")
    time.sleep(0.5)
    child.sendcontrol("\\")  # SIGQUIT, forwarded as 0x1c
    child.expect("Quit")
    child.expect_exact(SSM_PROMPT)
    assert run_command(child, "jobs; echo done").strip() == "done"


def test_resizing_the_local_terminal_resizes_the_remote_one(channel_lab):
    _, child = _connected(channel_lab)
    assert run_command(child, "stty size").strip() == "24 80"
    assert resize_and_read_back(child, 40, 132) == "40 132"


def test_exit_ends_the_session_and_hands_over_a_clean_transcript(channel_lab):
    answer, child = _connected(channel_lab)
    instance = channel_lab.instances[JUPYTER]
    run_command(child, "printf '\\033[1;31mred words\\033[0m\\n'; env | grep AWS_SECRET")
    child.sendline("exit")
    child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
    child.expect(pexpect_eof())
    child.close()
    assert child.exitstatus == 0
    transcript = channel_lab.wait_ended(answer["SessionId"]).decode()
    session = channel_lab.registry.get(answer["SessionId"])
    assert session.status == "Terminated" and session.end_date is not None
    header = transcript.split("\n\n", 1)[0]
    assert f"SessionId: {answer['SessionId']}" in header
    assert "Owner: arn:aws:iam::123456789012:user/alice" in header
    assert f"Target: {JUPYTER}" in header
    assert re.search(r"Start: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", header)
    assert re.search(r"End: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", header)
    assert "red words" in transcript and "\x1b" not in transcript and "\r" not in transcript
    assert "AWS_SECRET_ACCESS_KEY=****" in transcript
    assert instance.role_secret_access_key.reveal() not in transcript
    assert answer["TokenValue"] not in transcript


def pexpect_eof():
    import pexpect

    return pexpect.EOF


def test_terminating_the_session_elsewhere_closes_the_client(channel_lab):
    answer, child = _connected(channel_lab)
    channel_lab.registry.request_termination(answer["SessionId"])
    child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
    child.expect(pexpect_eof())
    child.close()
    assert child.exitstatus == 0
    channel_lab.wait_ended(answer["SessionId"])
    assert channel_lab.registry.get(answer["SessionId"]).status == "Terminated"


def test_two_learners_at_once_see_only_their_own_sessions(channel_lab):
    _, alice = _connected(channel_lab, owner="alice")
    _, bob = _connected(channel_lab, owner="bob", target=AIRFLOW)
    alice.sendline("echo alice-$((6*7))")
    bob.sendline("echo bob-$((6*8))")
    alice.expect_exact("alice-42")
    bob.expect_exact("bob-48")
    alice.expect_exact(SSM_PROMPT)
    bob.expect_exact(SSM_PROMPT)
    assert run_command(alice, "hostname").strip() == "ip-10-0-1-23"
    assert "alice" not in run_command(bob, "true") and "bob" not in run_command(alice, "true")
    assert run_command(bob, "ls ~/..").split() == ["airflow", "analyst", "ssm-user"]


@contextlib.contextmanager
def _open(lab, session_id: str, token: str):
    """A raw websocket to the data channel, after its OpenDataChannel frame."""
    with connect(lab.server.stream_url(session_id), proxy=None, open_timeout=5) as connection:
        connection.send(protocol.open_data_channel(token, "1.2.764.0"))
        yield connection


def _first_message(connection) -> ClientMessage:
    return protocol.decode(connection.recv(timeout=5))


def test_a_token_opens_its_own_session_once(channel_lab):
    first = channel_lab.start_session(owner="alice")
    second = channel_lab.start_session(owner="bob")
    with _open(channel_lab, second["SessionId"], first["TokenValue"]) as wrong_session:
        with pytest.raises(ConnectionClosed) as refused:
            wrong_session.recv(timeout=5)
        assert refused.value.rcvd.code == 1008
    # the token was spent on the wrong session: it cannot open its own either
    with (
        _open(channel_lab, first["SessionId"], first["TokenValue"]) as reused,
        pytest.raises(ConnectionClosed),
    ):
        reused.recv(timeout=5)
    with _open(channel_lab, second["SessionId"], second["TokenValue"]) as right:
        handshake = _first_message(right)
        assert handshake.payload_type == PayloadType.HANDSHAKE_REQUEST
    with (
        _open(channel_lab, second["SessionId"], second["TokenValue"]) as again,
        pytest.raises(ConnectionClosed),
    ):
        again.recv(timeout=5)


def _bad_frames() -> dict[str, bytes]:
    good = ClientMessage(protocol.INPUT_STREAM, b"ls\r", PayloadType.OUTPUT, 0).encode()
    wrong_digest = bytearray(good)
    wrong_digest[80:112] = bytes(32)
    unknown = bytearray(good)
    unknown[4:36] = b"launch_missiles".ljust(32)
    return {
        "wrong digest": bytes(wrong_digest),
        "short header": good[:60],
        "unknown type": bytes(unknown),
        "10 MB payload": ClientMessage(
            protocol.INPUT_STREAM, bytes(10 * 1024 * 1024), PayloadType.OUTPUT
        ).encode(),
    }


@pytest.mark.parametrize("kind", list(_bad_frames()))
def test_bad_frames_close_only_their_own_connection(channel_lab, kind):
    _, bystander = _connected(channel_lab, owner="bob")
    attacker = channel_lab.start_session(owner="mallory")
    with _open(channel_lab, attacker["SessionId"], attacker["TokenValue"]) as connection:
        _first_message(connection)
        connection.send(_bad_frames()[kind])
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                connection.recv(timeout=5)
        assert closed.value.rcvd.code in (1002, 1009)
    assert run_command(bystander, "echo unharmed").strip() == "unharmed"


def test_the_interactive_command_document_runs_its_command(channel_lab):
    answer = channel_lab.start_session(document="AWS-StartInteractiveCommand", command="echo made-by-$USER")
    child = channel_lab.spawn_plugin(answer)
    child.expect_exact("made-by-ssm-user")
    child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
    assert "made-by-ssm-user" in channel_lab.wait_ended(answer["SessionId"]).decode()


def test_the_non_interactive_command_document_runs_without_a_prompt(channel_lab):
    answer = channel_lab.start_session(
        document="AWS-StartNonInteractiveCommand", command="sh -c 'echo $((20+22))'"
    )
    child = channel_lab.spawn_plugin(answer)
    child.expect_exact("42")
    child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
    assert SSM_PROMPT not in child.before


@pytest.mark.parametrize(
    ("option", "notice"), [("idle_timeout", "inactivity"), ("max_session_seconds", "maximum duration")]
)
def test_idle_and_overlong_sessions_are_ended(tmp_path, option, notice):
    lab = start_channel_lab(tmp_path / "instances", **{option: 1.5})
    try:
        answer, child = _connected(lab)
        child.expect_exact(notice, timeout=10)
        child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
        lab.wait_ended(answer["SessionId"])
        assert lab.registry.get(answer["SessionId"]).status == "Terminated"
    finally:
        stop_channel_lab(lab)


def test_unacknowledged_output_is_resent(channel_lab):
    answer = channel_lab.start_session()
    with _open(channel_lab, answer["SessionId"], answer["TokenValue"]) as connection:
        handshake = _first_message(connection)
        again = _first_message(connection)  # not acknowledged: the server sends it again
        assert (again.sequence_number, again.message_id) == (0, handshake.message_id)
        connection.send(protocol.acknowledge(handshake).encode())
        reply = protocol.handshake_response("1.2.764.0", handshake.json())
        connection.send(
            ClientMessage(protocol.INPUT_STREAM, reply, PayloadType.HANDSHAKE_RESPONSE, 0).encode()
        )
        seen = [_first_message(connection) for _ in range(2)]
        kinds = {(m.message_type, m.payload_type) for m in seen}
        assert ("acknowledge", 0) in kinds
        assert ("output_stream_data", PayloadType.HANDSHAKE_COMPLETE) in kinds
        ack = next(m for m in seen if m.message_type == "acknowledge")
        assert json.loads(ack.payload)["AcknowledgedMessageSequenceNumber"] == 0


def test_a_port_session_hears_nothing_between_handshake_complete_and_its_first_connection(channel_lab):
    """The official plugin (1.2.0.0, portsession.go Initialize) installs its port handler on HandshakeComplete
    before its smux client exists; a message arriving in between dereferences the missing client and the
    panic ends its websocket reader for good (websocketchannel.go recovers it): the first GET through the
    tunnel then never gets its answer. AWS's agent acknowledges the HandshakeResponse as it takes it
    (datachannel.go handleStreamDataMessage) while PerformHandshake sends HandshakeComplete after it: so the
    acknowledgement comes first, and after HandshakeComplete nothing comes until the plugin sends."""
    answer = channel_lab.start_session(document="AWS-StartPortForwardingSession", portNumber="8888")
    with _open(channel_lab, answer["SessionId"], answer["TokenValue"]) as connection:
        _handshake(connection)
        ack, complete = _first_message(connection), _first_message(connection)
        assert ack.message_type == protocol.ACKNOWLEDGE
        assert json.loads(ack.payload)["AcknowledgedMessageSequenceNumber"] == 0
        assert (complete.message_type, complete.payload_type) == (
            protocol.OUTPUT_STREAM,
            PayloadType.HANDSHAKE_COMPLETE,
        )
        connection.send(protocol.acknowledge(complete).encode())
        with pytest.raises(TimeoutError):
            connection.recv(timeout=1)


def _handshake(connection) -> None:
    """The client's side of the handshake, on a raw websocket."""
    request = _first_message(connection)
    connection.send(protocol.acknowledge(request).encode())
    reply = protocol.handshake_response("1.2.764.0", request.json())
    connection.send(ClientMessage(protocol.INPUT_STREAM, reply, PayloadType.HANDSHAKE_RESPONSE, 0).encode())


def _read_output_until(connection, marker: bytes, expected: int) -> tuple[bytes, int]:
    """Acknowledge and collect output in order until ``marker`` shows; return it and the next sequence."""
    seen = b""
    while marker not in seen:
        message = _first_message(connection)
        if message.message_type != protocol.OUTPUT_STREAM:
            continue
        connection.send(protocol.acknowledge(message).encode())
        if message.sequence_number == expected:
            expected += 1
            if message.payload_type == PayloadType.OUTPUT:
                seen += message.payload
    return seen, expected


def test_a_dropped_connection_resumes_with_a_new_token_and_continuing_sequence_numbers(channel_lab):
    answer = channel_lab.start_session()
    session_id = answer["SessionId"]
    with _open(channel_lab, session_id, answer["TokenValue"]) as first:
        _handshake(first)
        _, expected = _read_output_until(first, SSM_PROMPT.encode(), 1)  # 0 was the handshake
        typed = ClientMessage(protocol.INPUT_STREAM, b"sleep 1; echo after-the-drop\r", PayloadType.OUTPUT, 1)
        first.send(typed.encode())
        time.sleep(0.3)
        assert channel_lab.server.drop_connection(session_id)
        with pytest.raises(ConnectionClosed):
            while True:
                first.recv(timeout=5)
    deadline = time.monotonic() + 5
    while channel_lab.registry.get(session_id).status != "Disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert channel_lab.registry.get(session_id).status == "Disconnected"
    time.sleep(1.2)  # the shell writes while nobody is connected: the output waits
    token = channel_lab.registry.issue_token(session_id).reveal()  # what ResumeSession does
    with _open(channel_lab, session_id, token) as second:
        output, expected = _read_output_until(second, b"after-the-drop\r\n", expected)
        assert b"after-the-drop" in output
        assert channel_lab.registry.get(session_id).status == "Connected"
        # input continues its own numbering too: message 2 comes after message 1 of the first socket
        second.send(
            ClientMessage(protocol.INPUT_STREAM, b"echo second-$((1+1))\r", PayloadType.OUTPUT, 2).encode()
        )
        output, _ = _read_output_until(second, b"second-2", expected)
        assert b"second-2" in output


def test_terminating_a_disconnected_session_still_stores_its_transcript(channel_lab):
    answer, child = _connected(channel_lab)
    run_command(child, "echo written-before-the-drop")
    child.close(force=True)  # the client is gone; the shell stays for a resume
    session_id = answer["SessionId"]
    deadline = time.monotonic() + 5
    while channel_lab.registry.get(session_id).status != "Disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    channel_lab.registry.request_termination(session_id)
    transcript = channel_lab.wait_ended(session_id).decode()
    assert "written-before-the-drop" in transcript
    assert channel_lab.registry.get(session_id).status == "Terminated"


def _processes_running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
    return found


def _processes_appearing(marker: str, within: float = 3.0) -> list[int]:
    """The processes running ``marker`` once they show up: a job started with `&` execs a moment later."""
    deadline = time.monotonic() + within
    while not (found := _processes_running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_exit_ends_the_session_even_with_jobs_left_and_no_process_outlives_it(channel_lab):
    answer, child = _connected(channel_lab)
    run_command(child, "sleep 987654 & sleep 876543 & kill -STOP %2")
    assert len(_processes_appearing("sleep 987654")) == 1
    child.sendline("exit")
    exiting = f"Exiting session with sessionId: {answer['SessionId']}."
    # bash warns once about the stopped job (if it has noticed the stop yet); a second exit leaves
    if child.expect_exact(["There are stopped jobs.", exiting]) == 0:
        child.expect_exact(SSM_PROMPT)
        child.sendline("exit")
        child.expect_exact(exiting)
    channel_lab.wait_ended(answer["SessionId"])
    deadline = time.monotonic() + 3
    while (
        _processes_running("sleep 987654") + _processes_running("sleep 876543")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert _processes_running("sleep 987654") + _processes_running("sleep 876543") == []


def test_terminating_a_session_kills_what_it_ran(channel_lab):
    answer, child = _connected(channel_lab)
    run_command(child, "sleep 765432 &")
    channel_lab.registry.request_termination(answer["SessionId"])
    child.expect_exact(f"Exiting session with sessionId: {answer['SessionId']}.")
    channel_lab.wait_ended(answer["SessionId"])
    assert _processes_running("sleep 765432") == []


def test_a_document_that_cannot_start_fails_the_session_with_the_reason(channel_lab):
    answer = channel_lab.start_session(document="AWS-StartInteractiveCommand")  # no `command` parameter
    child = channel_lab.spawn_plugin(answer)
    child.expect_exact(f"SessionId: {answer['SessionId']} : The session could not start:")
    child.expect_exact("requires parameter command")
    child.expect(pexpect_eof())
    child.close()
    assert child.exitstatus == 0  # like AWS's plugin: the channel closed normally, with a reason
    channel_lab.wait_ended(answer["SessionId"])
    assert channel_lab.registry.get(answer["SessionId"]).status == "Failed"


@pytest.mark.parametrize("document", [None, "AWS-StartPortForwardingSession"])
def test_the_handshake_names_the_instances_own_agent_version(channel_lab, document):
    # AWS's plugin picks smux or basic port forwarding from the handshake's AgentVersion
    # (session-manager-plugin src/sessionmanagerplugin/session/portsession), and the agent sends its
    # own version there: an instance with an old agent must say so, as DescribeInstanceInformation does.
    channel_lab.instances[AIRFLOW] = replace(channel_lab.instances[AIRFLOW], agent_version="2.3.672.0")
    parameters = {"portNumber": "8080"} if document else {}
    answer = channel_lab.start_session(target=AIRFLOW, document=document, **parameters)
    with _open(channel_lab, answer["SessionId"], answer["TokenValue"]) as connection:
        handshake = _first_message(connection)
    assert handshake.payload_type == PayloadType.HANDSHAKE_REQUEST
    assert json.loads(handshake.payload)["AgentVersion"] == "2.3.672.0"
