"""The data channel under clients the official plugin is not: 64 KiB input messages, messages sent before
the shell exists, out-of-order floods, hostile frames, and the non-interactive command document.

Every session here is driven by :mod:`smclient`, a pure-Python Session Manager client on a raw websocket.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import threading
import time

import pytest
from fixtures_sessions import AIRFLOW, JUPYTER, SSM_PROMPT, channel_lab
from smclient import SessionClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from onboard.lab.sessions import LabSession
from onboard.session import protocol
from onboard.session.protocol import ClientMessage, PayloadType

__all__ = ["channel_lab"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

PROMPT = SSM_PROMPT.encode()
MiB = 1024 * 1024


def _client(lab, owner="alice", target=JUPYTER, handshake=True, **options) -> SessionClient:
    answer = lab.start_session(owner=owner, target=target, **options.pop("session", {}))
    client = SessionClient.open(answer["StreamUrl"], answer["TokenValue"], **options)
    client.session_id = answer["SessionId"]
    if handshake:
        client.handshake()
        client.read_until(PROMPT)
    return client


def _echo_latencies(client: SessionClient, stop: threading.Event) -> list[float]:
    """Type one letter at a time until ``stop``; how long each took to come back."""
    samples = []
    while not stop.is_set():
        seen = client.received.output.count(b"q")
        started = time.perf_counter()
        client.send_input(b"q")
        client._wait(lambda seen=seen: client.received.output.count(b"q") > seen, 10, "no echo")
        samples.append(time.perf_counter() - started)
        time.sleep(0.01)
    client.send_input(b"\x15")  # wipe the typed line
    return samples


def test_64k_input_messages_keep_every_byte_while_other_sessions_stay_responsive(channel_lab):
    data = os.urandom(MiB)
    home = channel_lab.instances[JUPYTER].home_of("ssm-user")
    with (
        _client(channel_lab, chunk=64 * 1024) as uploader,
        _client(channel_lab, owner="bob", target=AIRFLOW) as bystander,
    ):
        # the shell does not read for a second: the server must hold (or refuse) input, never drop it
        uploader.send_input(b"cd ~; sleep 1; base64 -d > upload.bin; echo upload-$((40+2))\r")
        stop = threading.Event()
        latencies: list[float] = []
        typing = threading.Thread(target=lambda: latencies.extend(_echo_latencies(bystander, stop)))
        typing.start()
        try:
            uploader.send_input(base64.encodebytes(data) + b"\x04")
            uploader.read_until(b"upload-42", timeout=60)
        finally:
            stop.set()
            typing.join()
        uploader.wait_acknowledged()
    assert (home / "upload.bin").read_bytes() == data
    assert latencies and max(latencies) < 1.0, f"the other session froze: {max(latencies):.2f} s"


def test_the_first_size_and_keystrokes_sent_before_the_shell_starts_are_kept(channel_lab):
    with _client(channel_lab, handshake=False) as client:
        client.send_size(132, 40)  # before the HandshakeResponse: the shell does not exist yet
        client.send_input(b"stty size; echo typed-$((1+1))-early\r")
        client.handshake()
        output = client.read_until(b"typed-2-early")
        assert b"40 132" in output
        client.wait_acknowledged()


def test_an_out_of_order_flood_is_bounded_and_freed_when_the_socket_closes(channel_lab):
    client = _client(channel_lab, owner="mallory")
    try:
        expected = client.outgoing.next_sequence  # never sent: every frame below waits behind it
        for offset in range(1, 301):
            client.send_raw(
                ClientMessage(protocol.INPUT_STREAM, bytes(MiB), PayloadType.OUTPUT, expected + offset)
            )
        client.send_input(b"echo flood-over\r")  # seq `expected`: everything before it is in order
        time.sleep(1)
        held = len(set(client.received.acknowledged) - {expected})
        assert held * MiB <= channel_lab.server.limits.held_per_session + MiB, f"{held} MiB acknowledged"
        assert channel_lab.server.held_input_bytes <= channel_lab.server.limits.held_per_session + MiB
    finally:
        client.close()
    deadline = time.monotonic() + 5
    while channel_lab.server.held_input_bytes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert channel_lab.server.held_input_bytes == 0


def _closed_with(url: str, frames: list[str | bytes]) -> int:
    with connect(url, proxy=None, open_timeout=5, max_size=None) as connection:
        for frame in frames:
            connection.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                connection.recv(timeout=5)
        return closed.value.rcvd.code


def test_a_deeply_nested_opening_frame_is_a_protocol_error(channel_lab):
    answer = channel_lab.start_session(owner="mallory")
    nested = "[" * 200_000 + "]" * 200_000
    assert _closed_with(answer["StreamUrl"], [nested]) in (1002, 1008)
    # the token was not spent on the bad frame's account, and the server is still serving
    with SessionClient.open(answer["StreamUrl"], answer["TokenValue"]) as client:
        client.handshake()
        client.read_until(PROMPT)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"cols": 1e999, "rows": 40}',
        b'{"cols": "wide", "rows": 40}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["infinite", "a string", "deeply nested"],
)
def test_a_malformed_size_message_is_a_protocol_error(channel_lab, payload):
    with (
        _client(channel_lab, owner="bob", target=AIRFLOW) as bystander,
        _client(channel_lab, owner="mallory") as attacker,
    ):
        attacker.send_stream(payload, PayloadType.SIZE)
        assert attacker.wait_closed().close_code == 1002
        bystander.send_input(b"echo unharmed-$((2+3))\r")
        bystander.read_until(b"unharmed-5")


def test_non_string_command_parameters_fail_the_session_with_the_reason(channel_lab):
    answer = channel_lab.start_session(document="AWS-StartNonInteractiveCommand")
    session: LabSession = channel_lab.registry.get(answer["SessionId"])
    session.parameters = {"command": [1, 2]}  # what a raw StartSession call could carry
    with SessionClient.open(answer["StreamUrl"], answer["TokenValue"]) as client:
        client.handshake()
        received = client.wait_closed()
    assert received.close_code == 1000
    assert "parameters" in json.loads(received.closed.payload)["Output"]
    channel_lab.wait_ended(answer["SessionId"])
    assert session.status == "Failed"


def _run_non_interactive(lab, command: str, typed: bytes = b"") -> tuple[bytes, float]:
    client = _client(
        lab, handshake=False, session={"document": "AWS-StartNonInteractiveCommand", "command": command}
    )
    with client:
        client.handshake()
        started = time.monotonic()
        if typed:
            time.sleep(0.5)
            client.send_input(typed)
        received = client.wait_closed(timeout=20)
        return bytes(received.output), time.monotonic() - started


def test_non_interactive_commands_run_without_a_terminal(channel_lab):
    command = "sh -c 'printf \"one\\ntwo\\n\"; echo oops >&2; test -t 1 || echo no-terminal'"
    output, _ = _run_non_interactive(channel_lab, command)
    # as AWS's agent without separateOutPutStream: stdout and stderr in one stream, no CR added
    assert output == b"one\ntwo\noops\nno-terminal\n"


def test_a_non_interactive_commands_output_comes_when_it_ends(channel_lab):
    # AWS's agent runs the command with its output going to a file and sends that file once the command
    # has exited (amazon-ssm-agent session/shell/shell.go processCommandsWithExec: execCmd.Wait, then
    # setupRoutineToWriteCommandOutput), unless the document asks for separateOutPutStream, which
    # AWS-StartNonInteractiveCommand does not: nothing arrives while the command runs.
    client = _client(
        channel_lab,
        handshake=False,
        session={
            "document": "AWS-StartNonInteractiveCommand",
            "command": "sh -c 'echo first; sleep 2; echo last'",
        },
    )
    with client:
        client.handshake()
        started = time.monotonic()
        client._wait(lambda: bool(client.received.output), 20, "no output came")
        first_came = time.monotonic() - started
        received = client.wait_closed(timeout=20)
    assert first_came >= 1.5
    assert bytes(received.output) == b"first\nlast\n"


def test_a_large_output_of_a_command_that_ends_at_once_comes_whole(channel_lab):
    # more than the channel lets be unacknowledged at a time, written faster than it is sent
    output, _ = _run_non_interactive(channel_lab, "sh -c 'head -c 3000000 /dev/zero | tr \"\\\\000\" x'")
    assert output == b"x" * 3_000_000


def test_ctrl_c_signals_the_non_interactive_command_only(channel_lab):
    # AWS's agent signals the command's own process (session/shell/execcmd/execcmd.go Signal:
    # cmd.Process.Signal), not its process group: a shell running a child takes Ctrl-C itself, waits for
    # the child, which never sees it, and carries on (a terminal's Ctrl-C would reach both).
    inner = "trap 'echo child-interrupted' INT; sleep 1; echo child-done"
    command = f"bash -c {shlex.quote(f'bash -c {shlex.quote(inner)}; echo parent-done')}"
    output, _ = _run_non_interactive(channel_lab, command, typed=b"\x03")
    assert b"child-interrupted" not in output
    assert b"child-done" in output and b"parent-done" in output


def test_ctrl_c_stops_a_non_interactive_command(channel_lab):
    output, took = _run_non_interactive(channel_lab, "sleep 30", typed=b"\x03")
    assert took < 10
    assert PROMPT not in output
