"""The lab's agent side of port sessions (onboard.lab.ports) spoken to directly: smux and basic modes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.lab.channelsession import OUTPUT_BATCH
from onboard.lab.ports import BACKLOG, PortSession, session_type
from onboard.lab.sessions import InvalidSessionParameters, LabInstance, LabSession, check_parameters
from onboard.secrets import Secret
from onboard.session import smux

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def _instance(tmp_path) -> LabInstance:
    return LabInstance(
        "i-0a1b2c3d4e5f60001", "jupyter", ["analyst"], tmp_path, "eu-west-1", "http://127.0.0.1:1", "AKIA",
        Secret("s"), services=(("jupyter", 8888),),
    )  # fmt: skip


def _session(document="AWS-StartPortForwardingSession", **parameters: str) -> LabSession:
    return LabSession(
        "alice-0123456789abcdef0", "arn:aws:iam::1:user/alice", "alice", "i-0a1b2c3d4e5f60001", document,
        {name: [value] for name, value in parameters.items()},
    )  # fmt: skip


class _Agent:
    """A port session run in its own event loop, as the data channel runs it: what it sends is collected."""

    def __init__(self, tmp_path, agent_version: str, **parameters: str) -> None:
        self.sent = bytearray()
        self.ended = False
        self.rooms = 0
        self.loop = asyncio.new_event_loop()

        async def start() -> PortSession:
            return PortSession(
                _instance(tmp_path),
                _session(**parameters),
                agent_version,
                send=self.sent.extend,
                ended=self._end,
                room=self._room,
                batch=OUTPUT_BATCH,
            )

        self.session = self.loop.run_until_complete(start())

    def _end(self) -> None:
        self.ended = True

    def _room(self) -> None:
        self.rooms += 1

    def run(self, until, timeout: float = 10) -> bool:
        """Run the loop until ``until()`` holds (True) or the time is up (False)."""

        async def wait() -> bool:
            deadline = time.monotonic() + timeout
            while not until():
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.01)
            return True

        return self.loop.run_until_complete(wait())

    def write(self, data: bytes) -> None:
        taken = self.session.write_some(data)
        assert taken == len(data)

    def frames(self) -> list[smux.Frame]:
        return list(smux.FrameReader().feed(bytes(self.sent)))

    def close(self) -> None:
        self.session.terminate()
        self.loop.close()


@pytest.fixture
def agent(tmp_path):
    made: list[_Agent] = []

    def make(agent_version: str = "3.3.0.0", **parameters: str) -> _Agent:
        made.append(_Agent(tmp_path, agent_version, **parameters))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_the_handshake_names_a_port_session_with_the_documents_properties():
    kind, properties = session_type(_session(portNumber="8888", localPortNumber="0"))
    assert kind == "Port"
    assert properties == {"portNumber": "8888", "localPortNumber": "0", "type": "LocalPortForwarding"}
    remote = session_type(
        _session("AWS-StartPortForwardingSessionToRemoteHost", host="db", portNumber="5432")
    )
    assert remote[1]["host"] == "db"
    assert session_type(_session("SSM-SessionManagerRunShell")) == ("Standard_Stream", None)


def test_multiplexed_streams_reach_the_instances_application(agent):
    one = agent(portNumber="8888")
    assert one.session.multiplexed
    for stream in (3, 5):  # two connections at once, as two smux streams
        one.write(smux.encode(smux.Command.SYN, stream) + smux.encode(smux.Command.PSH, stream, REQUEST))
    # Connection: close: each application ends its answer, and the stream ends with FIN.
    assert one.run(lambda: sum(f.command == smux.Command.FIN for f in one.frames()) == 2)
    frames = one.frames()
    by_stream = {sid: b"".join(f.data for f in frames if f.stream_id == sid) for sid in (3, 5)}
    for body in by_stream.values():
        assert b"X-Onboard-Instance: i-0a1b2c3d4e5f60001" in body
        assert b"jupyter on jupyter (i-0a1b2c3d4e5f60001)" in body


def test_a_port_nothing_listens_on_ends_the_stream_at_once(agent):
    one = agent(portNumber="9999")
    one.write(smux.encode(smux.Command.SYN, 3))
    assert one.frames() == [smux.Frame(smux.Command.FIN, 3)]


def test_basic_mode_for_old_agents_and_the_terminate_flag(agent):
    one = agent("2.3.672.0", portNumber="8888")
    assert not one.session.multiplexed
    one.write(REQUEST)
    assert one.run(lambda: b"</p>" in one.sent)
    assert b"jupyter on jupyter" in one.sent
    assert not one.ended
    one.session.flag(smux.flag_payload(smux.Flag.TERMINATE_SESSION))
    assert one.ended


def test_a_large_answer_comes_in_messages_of_at_most_one_batch_of_whole_frames(agent):
    """The lab's batching (documented in onboard.lab.ports): each payload it hands the data channel is at
    most OUTPUT_BATCH bytes and holds whole smux frames, so that the plugin's smux reader can parse each."""
    one = agent(portNumber="8888")
    payloads: list[bytes] = []
    one.session._send = lambda payload: (payloads.append(payload), one.sent.extend(payload))
    request = b"GET /blob/1000000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    one.write(smux.encode(smux.Command.SYN, 3) + smux.encode(smux.Command.PSH, 3, request))
    assert one.run(lambda: any(f.command == smux.Command.FIN for f in one.frames()))
    body = b"".join(f.data for f in one.frames() if f.command == smux.Command.PSH)
    assert body.endswith(b"x" * 1_000_000)
    assert max(len(p) for p in payloads) <= OUTPUT_BATCH
    for payload in payloads:
        frames = list(smux.FrameReader().feed(payload))
        assert sum(smux.HEADER.size + len(f.data) for f in frames) == len(payload), "a frame split in two"


def test_output_waits_while_paused_and_flows_again_when_resumed(agent):
    """Back-pressure: while too much output waits for acknowledgement the data channel pauses the session,
    which then reads nothing from its destinations."""
    one = agent(portNumber="8888")
    one.session.pause_output()
    one.write(smux.encode(smux.Command.SYN, 3) + smux.encode(smux.Command.PSH, 3, REQUEST))
    assert not one.run(lambda: len(one.sent) > 0, timeout=0.3)
    one.session.resume_output()
    assert one.run(lambda: b"</p>" in one.sent)


def test_input_a_destination_does_not_take_is_refused_until_it_takes_some(agent, tmp_path):
    """A destination that stops reading: the session takes input until BACKLOG bytes wait, then none (the
    data channel queues, then stops acknowledging), and asks for more once the destination took some."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "slow.sock"))
    listener.listen(1)
    one = agent(portNumber="8888")
    one.session.destination = str(tmp_path / "slow.sock")
    one.write(smux.encode(smux.Command.SYN, 3))
    accepted, _ = listener.accept()
    chunk = smux.encode(smux.Command.PSH, 3, b"y" * smux.MAX_FRAME_DATA)
    sent = 0
    while one.session.write_some(chunk):
        sent += smux.MAX_FRAME_DATA
        assert sent < 64 * 1024 * 1024, "the session never refused input"
    assert sent >= BACKLOG
    received = 0
    accepted.setblocking(False)

    def read_some() -> bool:
        nonlocal received
        with contextlib.suppress(BlockingIOError):
            received += len(accepted.recv(1024 * 1024))
        return one.rooms > 0

    assert one.run(read_some)
    assert one.session.write_some(chunk) == len(chunk)
    accepted.close()
    listener.close()


@given(
    st.lists(
        st.tuples(st.sampled_from(list(smux.Command)), st.integers(1, 2**32 - 1), st.binary(max_size=300))
    ),
    st.lists(st.integers(0, 4000), max_size=8),
)
def test_smux_frames_come_out_whole_however_the_stream_is_cut(frames, cuts):
    """A payload holds any piece of the smux stream: frames are read out whole and in order, whatever the
    cuts (between frames, inside a header, inside the data)."""
    stream = b"".join(smux.encode(command, stream_id, data) for command, stream_id, data in frames)
    points = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    reader = smux.FrameReader()
    read = [frame for start, end in itertools.pairwise(points) for frame in reader.feed(stream[start:end])]
    assert read == [smux.Frame(command, stream_id, data) for command, stream_id, data in frames]


def test_a_frame_of_an_unknown_smux_version_is_refused():
    with pytest.raises(ValueError, match="smux version 7"):
        smux.FrameReader().feed(bytes([7]) + smux.encode(smux.Command.NOP, 3)[1:])


@pytest.mark.parametrize(
    ("document", "parameters", "said"),
    [
        ("AWS-StartPortForwardingSession", {"portNumber": ["0"]}, 'Parameter "portNumber" "0"'),
        ("AWS-StartPortForwardingSession", {"localPortNumber": ["70000"]}, '"localPortNumber" "70000"'),
        ("AWS-StartPortForwardingSessionToRemoteHost", {"portNumber": ["5432"]}, "requires parameter host"),
    ],
)
def test_port_parameters_are_checked_as_aws_checks_them(document, parameters, said):
    with pytest.raises(InvalidSessionParameters, match=said):
        check_parameters(document, parameters)
