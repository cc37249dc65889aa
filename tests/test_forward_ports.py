"""The lab's agent side of port sessions (onboard.lab.ports) spoken to directly: smux and basic modes."""

from __future__ import annotations

import os
import time

import pytest

from onboard.lab.ports import PortSession, session_type
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


def _drain(session: PortSession, until, timeout: float = 10) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while not until(received) and time.monotonic() < deadline:
        try:
            received += os.read(session.output_fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
    return received


def _write(session: PortSession, data: bytes) -> None:
    while data:
        data = data[session.write_some(data) :]


def test_the_handshake_names_a_port_session_with_the_documents_properties():
    kind, properties = session_type(_session(portNumber="8888", localPortNumber="0"))
    assert kind == "Port"
    assert properties == {"portNumber": "8888", "localPortNumber": "0", "type": "LocalPortForwarding"}
    remote = session_type(
        _session("AWS-StartPortForwardingSessionToRemoteHost", host="db", portNumber="5432")
    )
    assert remote[1]["host"] == "db"
    assert session_type(_session("SSM-SessionManagerRunShell")) == ("Standard_Stream", None)


def test_multiplexed_streams_reach_the_instances_application(tmp_path):
    session = PortSession(_instance(tmp_path), _session(portNumber="8888"), "3.3.0.0")
    try:
        assert session.multiplexed
        for stream in (3, 5):  # two connections at once, as two smux streams
            _write(
                session,
                smux.encode(smux.Command.SYN, stream) + smux.encode(smux.Command.PSH, stream, REQUEST),
            )
        raw = _drain(session, lambda got: got.count(b"</p>") >= 2)
        frames = list(smux.FrameReader().feed(raw))
        by_stream = {sid: b"".join(f.data for f in frames if f.stream_id == sid) for sid in (3, 5)}
        for body in by_stream.values():
            assert b"X-Onboard-Instance: i-0a1b2c3d4e5f60001" in body
            assert b"jupyter on jupyter (i-0a1b2c3d4e5f60001)" in body
    finally:
        session.terminate()


def test_a_port_nothing_listens_on_ends_the_stream_at_once(tmp_path):
    session = PortSession(_instance(tmp_path), _session(portNumber="9999"), "3.3.0.0")
    try:
        _write(session, smux.encode(smux.Command.SYN, 3))
        frames = list(smux.FrameReader().feed(_drain(session, lambda got: len(got) >= 8)))
        assert frames == [smux.Frame(smux.Command.FIN, 3)]
    finally:
        session.terminate()


def test_basic_mode_for_old_agents_and_the_terminate_flag(tmp_path):
    session = PortSession(_instance(tmp_path), _session(portNumber="8888"), "2.3.672.0")
    try:
        assert not session.multiplexed
        _write(session, REQUEST)
        assert b"jupyter on jupyter" in _drain(session, lambda got: b"</p>" in got)
        session.flag(smux.flag_payload(smux.Flag.TERMINATE_SESSION))
        assert _drain(session, lambda got: False, timeout=0.5) == b""
    finally:
        session.terminate()


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
