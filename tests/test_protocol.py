"""The data-channel protocol byte by byte, and the reliable stream's ordering and retransmission."""

from __future__ import annotations

import hashlib
import json
import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.session import protocol
from onboard.session.protocol import (
    ClientMessage,
    IncomingStream,
    OutgoingStream,
    PayloadType,
    ProtocolError,
)

KNOWN_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")


def test_message_id_puts_the_uuid_second_half_first():
    assert protocol.uuid_to_bytes(KNOWN_ID) == bytes.fromhex("8899aabbccddeeff0011223344556677")
    assert protocol.uuid_from_bytes(bytes.fromhex("8899aabbccddeeff0011223344556677")) == KNOWN_ID


def test_header_layout_is_big_endian_at_the_documented_offsets():
    payload = b"ls -l\r"
    message = ClientMessage(
        "input_stream_data",
        payload,
        PayloadType.OUTPUT,
        sequence_number=7,
        flags=1,
        message_id=KNOWN_ID,
        created_date=1_700_000_000_123,
    )
    frame = message.encode()
    assert len(frame) == 120 + len(payload)
    assert frame[0:4] == b"\x00\x00\x00\x74"  # HeaderLength 116
    assert frame[4:36] == b"input_stream_data" + b" " * 15
    assert frame[36:40] == b"\x00\x00\x00\x01"  # SchemaVersion
    assert struct.unpack(">Q", frame[40:48])[0] == 1_700_000_000_123
    assert frame[48:56] == b"\x00" * 7 + b"\x07"
    assert frame[56:64] == b"\x00" * 7 + b"\x01"
    assert frame[64:80] == bytes.fromhex("8899aabbccddeeff0011223344556677")
    assert frame[80:112] == hashlib.sha256(payload).digest()
    assert frame[112:116] == b"\x00\x00\x00\x01"  # PayloadType Output
    assert frame[116:120] == b"\x00\x00\x00\x06"  # PayloadLength
    assert frame[120:] == payload


def test_negative_sequence_numbers_are_signed():
    frame = ClientMessage("acknowledge", b"{}", sequence_number=-1).encode()
    assert frame[48:56] == b"\xff" * 8
    assert protocol.decode(frame).sequence_number == -1


@given(
    kind=st.sampled_from(sorted(protocol.MESSAGE_TYPES)),
    payload=st.binary(max_size=2048),
    payload_type=st.integers(0, 12),
    sequence=st.integers(-(2**63), 2**63 - 1),
    flags=st.integers(0, 2**64 - 1),
    message_id=st.uuids(),
)
def test_decode_reverses_encode(kind, payload, payload_type, sequence, flags, message_id):
    message = ClientMessage(kind, payload, payload_type, sequence, flags, message_id)
    assert protocol.decode(message.encode()) == message


def _frame(**changes) -> bytearray:
    frame = bytearray(ClientMessage("output_stream_data", b"hello", PayloadType.OUTPUT, 3).encode())
    for offset, value in changes.values():
        frame[offset : offset + len(value)] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (bytes(119), "120-byte header"),
        (_frame(header=(0, b"\x00\x00\x00\x10")), "HeaderLength"),
        (_frame(kind=(4, b" " * 32)), "MessageType is empty"),
        (_frame(kind=(4, b"made_up_type".ljust(32))), "unknown MessageType"),
        (_frame(date=(40, bytes(8))), "CreatedDate"),
        (_frame(digest=(80, bytes(32))), "PayloadDigest"),
        (_frame(length=(116, b"\x00\x00\x00\x09")), "PayloadLength says 9"),
        (_frame() + b"extra", "PayloadLength says 5"),
    ],
)
def test_invalid_frames_are_rejected_with_the_reason(frame, complaint):
    with pytest.raises(ProtocolError, match=complaint):
        protocol.decode(bytes(frame))


def test_message_types_padded_with_nul_are_accepted():
    frame = _frame(kind=(4, b"output_stream_data".ljust(32, b"\x00")))
    assert protocol.decode(bytes(frame)).message_type == "output_stream_data"


def test_oversized_payloads_are_refused_before_hashing():
    header = ClientMessage("input_stream_data", b"", PayloadType.OUTPUT).encode()[:116]
    frame = header + struct.pack(">I", 10 * 1024 * 1024) + bytes(10)
    with pytest.raises(ProtocolError, match="over the"):
        protocol.decode(frame)


def test_publication_messages_are_not_digest_checked():
    frame = bytearray(ClientMessage("start_publication", b"x").encode())
    frame[80:112] = bytes(32)
    assert protocol.decode(bytes(frame)).message_type == "start_publication"


def test_acknowledge_names_the_message_and_its_sequence_number():
    received = ClientMessage("output_stream_data", b"x", PayloadType.OUTPUT, 42, message_id=KNOWN_ID)
    ack = protocol.decode(protocol.acknowledge(received).encode())
    assert (ack.message_type, ack.sequence_number, ack.flags, ack.payload_type) == ("acknowledge", 0, 3, 0)
    assert json.loads(ack.payload) == {
        "AcknowledgedMessageType": "output_stream_data",
        "AcknowledgedMessageId": str(KNOWN_ID),
        "AcknowledgedMessageSequenceNumber": 42,
        "IsSequentialMessage": True,
    }
    assert protocol.acknowledged_sequence(ack) == 42


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("[" * 32 + "]" * 32, False),  # as deep as the limit
        ("[" * 33 + "]" * 33, True),
        ('{"a":' * 33 + "1" + "}" * 33, True),
        ("[" + "[]," * 40 + "[]]", False),  # many brackets, two levels
        (json.dumps({"Output": "[" * 40 + "{" * 40}), False),  # brackets in a string do not nest
        (r'["\\"' + ", [" * 33 + "]" * 34, True),  # an escaped backslash ends before the quote that closes
    ],
)
def test_json_payloads_nesting_deeper_than_the_limit_are_refused(text, refused):
    """The stdlib parser recurses per level: a payload nesting deeper than MAX_JSON_DEPTH is a ProtocolError,
    never a RecursionError, whatever the count of brackets in it."""
    message = ClientMessage(protocol.OUTPUT_STREAM, text.encode(), PayloadType.HANDSHAKE_COMPLETE, 1)
    if refused:
        with pytest.raises(ProtocolError, match="nests deeper than 32 levels"):
            message.json()
    else:
        assert message.json() == json.loads(text)


def test_handshake_accepts_the_session_type_and_refuses_encryption():
    request = json.loads(protocol.handshake_request("3.3.0.0"))
    assert request["RequestedClientActions"][0]["ActionParameters"]["SessionType"] == "Standard_Stream"
    request["RequestedClientActions"].append({"ActionType": "KMSEncryption", "ActionParameters": {}})
    response = json.loads(protocol.handshake_response("1.2.764.0", request))
    assert [a["ActionStatus"] for a in response["ProcessedClientActions"]] == [1, 3]
    complete = json.loads(protocol.handshake_complete(0.25))
    assert complete == {"HandshakeTimeToComplete": 250_000_000, "CustomerMessage": ""}


def test_channel_closed_carries_the_session_id():
    closed = protocol.decode(protocol.channel_closed("alice-0123", "client-1").encode())
    assert closed.message_type == "channel_closed"
    body = closed.json()
    assert (body["SessionId"], body["DestinationId"], body["MessageType"]) == (
        "alice-0123",
        "client-1",
        "channel_closed",
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outgoing_numbers_from_zero_and_flags_the_first_message():
    stream = OutgoingStream("output_stream_data")
    first, _ = stream.next_message(b"a")
    second, _ = stream.next_message(b"b")
    assert (first.sequence_number, first.flags, second.sequence_number, second.flags) == (0, 1, 1, 0)
    assert stream.unacknowledged == 2
    assert stream.acknowledged(0) and not stream.acknowledged(0)
    assert stream.unacknowledged == 1


def test_unacknowledged_messages_are_resent_after_200ms_oldest_first():
    clock = FakeClock()
    stream = OutgoingStream("output_stream_data", clock=clock)
    _, frame0 = stream.next_message(b"a")
    _, frame1 = stream.next_message(b"b")
    clock.now += 0.19
    assert stream.due_for_resend() == []
    clock.now += 0.02
    assert stream.due_for_resend() == [frame0, frame1]
    assert stream.due_for_resend() == []  # just resent: wait another timeout
    stream.acknowledged(0)
    clock.now += 0.21
    assert stream.due_for_resend() == [frame1]


def test_retransmission_timeout_adapts_to_round_trips_and_is_capped_at_one_second():
    clock = FakeClock()
    stream = OutgoingStream("output_stream_data", clock=clock)
    for _ in range(50):  # a fast, steady link: the timeout shrinks towards rtt + 10 ms
        stream.next_message(b"x")
        clock.now += 0.002
        stream.acknowledged(stream.next_sequence - 1)
    assert 0.01 < stream.retransmission_timeout < 0.05
    for _ in range(50):  # a slow link: it grows, but never beyond 1 s
        stream.next_message(b"x")
        clock.now += 3.0
        stream.acknowledged(stream.next_sequence - 1)
    assert stream.retransmission_timeout == 1.0


def test_resent_messages_do_not_teach_the_round_trip_time():
    clock = FakeClock()
    stream = OutgoingStream("output_stream_data", clock=clock)
    stream.next_message(b"x")
    clock.now += 0.5
    stream.due_for_resend()
    clock.now += 0.001
    stream.acknowledged(0)
    assert stream.retransmission_timeout == protocol.INITIAL_RETRANSMISSION_TIMEOUT


def _numbered(sequence: int) -> ClientMessage:
    return ClientMessage("input_stream_data", str(sequence).encode(), PayloadType.OUTPUT, sequence)


def test_incoming_delivers_in_order_buffers_the_future_and_drops_the_past():
    incoming = IncomingStream()
    assert incoming.receive(_numbered(1)) == (True, [])  # ahead: ack and keep
    assert incoming.receive(_numbered(2)) == (True, [])
    ack, ready = incoming.receive(_numbered(0))
    assert ack and [m.sequence_number for m in ready] == [0, 1, 2]
    assert incoming.receive(_numbered(1)) == (False, [])  # a duplicate: no ack
    assert incoming.expected == 3


@given(st.permutations(range(20)))
def test_incoming_reorders_any_arrival_order(order):
    incoming = IncomingStream()
    delivered = []
    for sequence in order:
        delivered += [m.sequence_number for m in incoming.receive(_numbered(sequence))[1]]
    assert delivered == list(range(20))
