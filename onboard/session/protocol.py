"""Session Manager's data-channel messages, byte for byte, and the reliable stream both ends keep.

A message is a 120-byte big-endian header followed by its payload (see
/work/shared/reference/session-manager-protocol.md, section 2, and the public session-manager-plugin
sources, ``src/message/clientmessage.go``):

====== ==== ==========================================================================
offset size field
====== ==== ==========================================================================
0      4    HeaderLength (always 116: where PayloadLength starts)
4      32   MessageType, ASCII, right-padded with spaces
36     4    SchemaVersion (1)
40     8    CreatedDate, epoch milliseconds
48     8    SequenceNumber (signed)
56     8    Flags
64     16   MessageId: the UUID's bytes 8..16, then bytes 0..8
80     32   PayloadDigest: SHA-256 of the payload
112    4    PayloadType
116    4    PayloadLength
120    n    Payload
====== ==== ==========================================================================

Everything here is free of I/O: the lab's asyncio server and the plugin's threads wrap the same
:class:`OutgoingStream` and :class:`IncomingStream`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

HEADER_LENGTH = 116
#: Bytes before the payload: the 116 counted by HeaderLength plus the PayloadLength field.
PAYLOAD_OFFSET = 120
MESSAGE_TYPE_LENGTH = 32
SCHEMA_VERSION = 1
#: Largest payload either end accepts. The plugin sends at most 1024 bytes per keystroke message and
#: the lab at most a few KiB of shell output; anything near this is an attack or a bug.
MAX_PAYLOAD = 1024 * 1024
#: Keystroke and output chunks, as the real plugin's StreamDataPayloadSize.
STREAM_CHUNK = 1024

_HEADER = struct.Struct(">I32sIQqQ16s32sII")
assert _HEADER.size == PAYLOAD_OFFSET

INPUT_STREAM = "input_stream_data"
OUTPUT_STREAM = "output_stream_data"
ACKNOWLEDGE = "acknowledge"
CHANNEL_CLOSED = "channel_closed"
START_PUBLICATION = "start_publication"
PAUSE_PUBLICATION = "pause_publication"
MESSAGE_TYPES = frozenset(
    {INPUT_STREAM, OUTPUT_STREAM, ACKNOWLEDGE, CHANNEL_CLOSED, START_PUBLICATION, PAUSE_PUBLICATION}
)
#: The messages that carry a sequence number and must be acknowledged.
STREAM_TYPES = frozenset({INPUT_STREAM, OUTPUT_STREAM})

#: Flags on an acknowledge message (SYN|FIN in the agent's terms) and on a stream's first message.
ACK_FLAGS = 3
FIRST_MESSAGE_FLAG = 1


class PayloadType(IntEnum):
    NONE = 0
    OUTPUT = 1
    ERROR = 2
    SIZE = 3
    PARAMETER = 4
    HANDSHAKE_REQUEST = 5
    HANDSHAKE_RESPONSE = 6
    HANDSHAKE_COMPLETE = 7
    ENC_CHALLENGE_REQUEST = 8
    ENC_CHALLENGE_RESPONSE = 9
    FLAG = 10
    STDERR = 11
    EXIT_CODE = 12


class ProtocolError(ValueError):
    """A frame that breaks the protocol: the receiver drops it (and may close the channel)."""


def uuid_to_bytes(value: uuid.UUID) -> bytes:
    """The 16 MessageId bytes: the plugin writes the UUID's least significant half first."""
    raw = value.bytes
    return raw[8:] + raw[:8]


def uuid_from_bytes(raw: bytes) -> uuid.UUID:
    if len(raw) != 16:
        raise ProtocolError(f"a MessageId has 16 bytes, not {len(raw)}")
    return uuid.UUID(bytes=raw[8:] + raw[:8])


def now_millis() -> int:
    return int(time.time() * 1000)


@dataclass
class ClientMessage:
    message_type: str
    payload: bytes = b""
    payload_type: int = PayloadType.NONE
    sequence_number: int = 0
    flags: int = 0
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_date: int = field(default_factory=now_millis)
    schema_version: int = SCHEMA_VERSION

    def encode(self) -> bytes:
        kind = self.message_type.encode("ascii")
        if not kind or len(kind) > MESSAGE_TYPE_LENGTH:
            raise ProtocolError(f"MessageType {self.message_type!r} must be 1 to 32 ASCII characters")
        header = _HEADER.pack(
            HEADER_LENGTH,
            kind.ljust(MESSAGE_TYPE_LENGTH, b" "),
            self.schema_version,
            self.created_date,
            self.sequence_number,
            self.flags,
            uuid_to_bytes(self.message_id),
            hashlib.sha256(self.payload).digest(),
            int(self.payload_type),
            len(self.payload),
        )
        return header + self.payload

    def json(self) -> Any:
        return parse_json(self.payload, f"{self.message_type} payload type {self.payload_type}")


#: Deepest nesting a JSON payload may have: the protocol's own documents are three levels deep.
MAX_JSON_DEPTH = 32
#: Largest JSON payload or OpenDataChannel frame read: the protocol's own are well under 1 KiB.
MAX_JSON_BYTES = 64 * 1024


def parse_json(text: str | bytes, what: str) -> Any:
    """``text`` as JSON, or :class:`ProtocolError` if it is not JSON, is over :data:`MAX_JSON_BYTES`,
    nests deeper than :data:`MAX_JSON_DEPTH` (the stdlib parser would recurse until RecursionError) or
    holds a number too large for a float (``1e999``)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > MAX_JSON_BYTES:
        raise ProtocolError(f"{what} is {len(raw)} bytes, over the {MAX_JSON_BYTES}-byte limit for JSON")
    if nests_deeper_than(raw):
        raise ProtocolError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"{what} is not JSON: {err}") from None


def nests_deeper_than(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``, found without recursion.

    A text with at most ``limit`` opening brackets cannot, and every JSON message of the protocol itself is
    such a text: it is answered from their count. Only a text with more is walked, in one linear pass that
    stops once the limit is passed. (An acknowledgement comes for each 64 KiB of a port session's output, and
    a byte-by-byte pass over each cost the lab's loop more than its payload's SHA-256.)"""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large a number")
    return value


def decode(frame: bytes, *, max_payload: int = MAX_PAYLOAD) -> ClientMessage:
    """Parse and validate one binary frame; raise :class:`ProtocolError` if it is not a valid message."""
    if len(frame) < PAYLOAD_OFFSET:
        raise ProtocolError(
            f"a message needs a {PAYLOAD_OFFSET}-byte header; this frame has {len(frame)} bytes"
        )
    (header_length, kind, schema, created, sequence, flags, raw_id, digest, payload_type, length) = (
        _HEADER.unpack_from(frame)
    )
    if header_length != HEADER_LENGTH:
        raise ProtocolError(f"HeaderLength is {header_length}, expected {HEADER_LENGTH}")
    message_type = kind.rstrip(b" \x00").decode("ascii", errors="replace")
    if not message_type:
        raise ProtocolError("MessageType is empty")
    if message_type not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown MessageType {message_type!r}")
    if created == 0:
        raise ProtocolError("CreatedDate is zero")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes is over the {max_payload}-byte limit")
    payload = frame[PAYLOAD_OFFSET:]
    if len(payload) != length:
        raise ProtocolError(f"PayloadLength says {length} bytes but {len(payload)} follow the header")
    unchecked = message_type in (START_PUBLICATION, PAUSE_PUBLICATION)
    if length and not unchecked and hashlib.sha256(payload).digest() != digest:
        raise ProtocolError("PayloadDigest does not match the payload")
    return ClientMessage(
        message_type=message_type,
        payload=payload,
        payload_type=payload_type,
        sequence_number=sequence,
        flags=flags,
        message_id=uuid_from_bytes(raw_id),
        created_date=created,
        schema_version=schema,
    )


def _json_payload(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def acknowledge(message: ClientMessage) -> ClientMessage:
    """The acknowledge message for a received stream message."""
    body = {
        "AcknowledgedMessageType": message.message_type,
        "AcknowledgedMessageId": str(message.message_id),
        "AcknowledgedMessageSequenceNumber": message.sequence_number,
        "IsSequentialMessage": True,
    }
    return ClientMessage(ACKNOWLEDGE, _json_payload(body), PayloadType.NONE, 0, ACK_FLAGS)


def acknowledged_sequence(message: ClientMessage) -> int:
    """The sequence number an acknowledge message confirms."""
    body = message.json()
    try:
        return int(body["AcknowledgedMessageSequenceNumber"])
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise ProtocolError("acknowledge without AcknowledgedMessageSequenceNumber") from err


def open_data_channel(token: str, client_version: str, client_id: str | None = None) -> str:
    """The first (TEXT) frame a client sends: it carries the stream token."""
    return json.dumps(
        {
            "MessageSchemaVersion": "1.0",
            "RequestId": str(uuid.uuid4()),
            "TokenValue": token,
            "ClientId": client_id or str(uuid.uuid4()),
            "ClientVersion": client_version,
        }
    )


def handshake_request(
    agent_version: str, session_type: str = "Standard_Stream", properties: dict[str, str] | None = None
) -> bytes:
    """The agent's first message; a port session's properties name its ports (``onboard.lab.ports``)."""
    return _json_payload(
        {
            "AgentVersion": agent_version,
            "RequestedClientActions": [
                {
                    "ActionType": "SessionType",
                    "ActionParameters": {"SessionType": session_type, "Properties": properties},
                }
            ],
        }
    )


def handshake_response(client_version: str, request: dict[str, Any]) -> bytes:
    """Accept the SessionType action; refuse anything else (KMS encryption would need real KMS)."""
    processed = []
    for action in request.get("RequestedClientActions") or []:
        if action.get("ActionType") == "SessionType":
            processed.append(
                {"ActionType": "SessionType", "ActionStatus": 1, "ActionResult": None, "Error": ""}
            )
        else:
            processed.append(
                {
                    "ActionType": action.get("ActionType"),
                    "ActionStatus": 3,
                    "ActionResult": None,
                    "Error": f"{action.get('ActionType')} is not supported by this client",
                }
            )
    return _json_payload(
        {"ClientVersion": client_version, "ProcessedClientActions": processed, "Errors": None}
    )


def handshake_complete(elapsed_seconds: float, customer_message: str = "") -> bytes:
    return _json_payload(
        {"HandshakeTimeToComplete": int(elapsed_seconds * 1e9), "CustomerMessage": customer_message}
    )


def size_payload(cols: int, rows: int) -> bytes:
    return _json_payload({"cols": cols, "rows": rows})


def channel_closed(session_id: str, destination_id: str = "", output: str = "") -> ClientMessage:
    message_id = uuid.uuid4()
    body = {
        "MessageId": str(message_id),
        "CreatedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "DestinationId": destination_id,
        "SessionId": session_id,
        "MessageType": CHANNEL_CLOSED,
        "SchemaVersion": 1,
        "Output": output,
    }
    return ClientMessage(CHANNEL_CLOSED, _json_payload(body), PayloadType.OUTPUT, 0, 0, message_id)


# --- the reliable stream ----------------------------------------------------------------------

#: Retransmission timing, as the real plugin: start at 200 ms, adapt to the measured round trip
#: (Jacobson/Karels with alpha 1/8, beta 1/4, 10 ms clock granularity), never above 1 s.
INITIAL_RETRANSMISSION_TIMEOUT = 0.2
INITIAL_ROUND_TRIP_TIME = 0.1
MAX_RETRANSMISSION_TIMEOUT = 1.0
CLOCK_GRANULARITY = 0.01
RTT_ALPHA = 1 / 8
RTT_BETA = 1 / 4
#: The plugin gives up (and terminates the session) after this many resends of one message.
MAX_RESEND_ATTEMPTS = 3000


@dataclass
class _Pending:
    message: ClientMessage
    frame: bytes
    sent_at: float
    resends: int = 0


class OutgoingStream:
    """One side's numbered stream messages: sequence numbers, the unacknowledged buffer, resends.

    Not thread-safe on its own: the owner serialises calls (one asyncio loop, or a lock).
    """

    def __init__(self, message_type: str, *, clock=time.monotonic, next_sequence: int = 0) -> None:
        self.message_type = message_type
        self.next_sequence = next_sequence
        self._clock = clock
        self._unacked: OrderedDict[int, _Pending] = OrderedDict()
        #: Payload bytes sent and not yet acknowledged.
        self.unacknowledged_bytes = 0
        self.round_trip_time = INITIAL_ROUND_TRIP_TIME
        self.round_trip_variation = 0.0
        self.retransmission_timeout = INITIAL_RETRANSMISSION_TIMEOUT

    def next_message(
        self, payload: bytes, payload_type: int = PayloadType.OUTPUT
    ) -> tuple[ClientMessage, bytes]:
        """Number a new message, remember it until acknowledged, and return it with its frame."""
        sequence = self.next_sequence
        self.next_sequence += 1
        flags = FIRST_MESSAGE_FLAG if sequence == 0 else 0
        message = ClientMessage(self.message_type, payload, payload_type, sequence, flags)
        frame = message.encode()
        self._unacked[sequence] = _Pending(message, frame, self._clock())
        self.unacknowledged_bytes += len(payload)
        return message, frame

    def acknowledged(self, sequence: int) -> bool:
        """Drop an acknowledged message and learn from its round trip; False if it was not pending."""
        pending = self._unacked.pop(sequence, None)
        if pending is None:
            return False
        self.unacknowledged_bytes -= len(pending.message.payload)
        if pending.resends == 0:  # a resent message's round trip is ambiguous (Karn's rule)
            self._learn_round_trip(self._clock() - pending.sent_at)
        return True

    def _learn_round_trip(self, sample: float) -> None:
        self.round_trip_variation = (1 - RTT_BETA) * self.round_trip_variation + RTT_BETA * abs(
            self.round_trip_time - sample
        )
        self.round_trip_time = (1 - RTT_ALPHA) * self.round_trip_time + RTT_ALPHA * sample
        timeout = self.round_trip_time + max(CLOCK_GRANULARITY, 4 * self.round_trip_variation)
        self.retransmission_timeout = min(timeout, MAX_RETRANSMISSION_TIMEOUT)

    @property
    def unacknowledged(self) -> int:
        return len(self._unacked)

    def due_for_resend(self) -> list[bytes]:
        """Frames whose acknowledgement is overdue, oldest first; each is marked as sent again now."""
        now = self._clock()
        due = []
        for pending in self._unacked.values():
            if now - pending.sent_at >= self.retransmission_timeout:
                pending.sent_at = now
                pending.resends += 1
                due.append(pending.frame)
        return due

    def all_pending(self) -> list[bytes]:
        """Every unacknowledged frame, oldest first (to send at once after a reconnect)."""
        now = self._clock()
        for pending in self._unacked.values():
            pending.sent_at = now
        return [pending.frame for pending in self._unacked.values()]

    @property
    def gave_up(self) -> bool:
        return any(pending.resends >= MAX_RESEND_ATTEMPTS for pending in self._unacked.values())


class Arrival(Enum):
    """Where a received stream message falls relative to the next one expected."""

    DUPLICATE = "duplicate"  # already delivered
    NEXT = "next"  # the one expected
    AHEAD = "ahead"  # later than expected: an earlier one is missing


class HoldBudget:
    """Bytes of out-of-order messages held, shared by every stream of one server (one thread uses it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


class IncomingStream:
    """The other side's numbered messages put back in order.

    :meth:`receive` says whether to acknowledge the message and which messages are now ready, in order:
    ``seq == expected`` -> acknowledge and deliver (plus any held successors);
    ``seq > expected`` -> acknowledge and hold, if it fits; ``seq < expected`` -> a duplicate: drop, no ack.

    A receiver that may refuse the expected message (flow control) uses the steps instead:
    :meth:`arrival`, then :meth:`hold` for a message ahead, or :meth:`advance` once it took the next one.
    Held messages are bounded in number, in bytes per stream (``max_held_bytes``) and in bytes shared
    with other streams (``budget``); :meth:`release` frees them all.
    """

    #: Out-of-order messages held at most (the plugin's IncomingMessageBufferCapacity).
    CAPACITY = 10000

    def __init__(
        self, expected: int = 0, *, max_held_bytes: int | None = None, budget: HoldBudget | None = None
    ) -> None:
        self.expected = expected
        self.max_held_bytes = max_held_bytes
        self.held_bytes = 0
        self._budget = budget
        self._buffer: dict[int, ClientMessage] = {}

    def arrival(self, message: ClientMessage) -> Arrival:
        if message.sequence_number < self.expected:
            return Arrival.DUPLICATE
        return Arrival.NEXT if message.sequence_number == self.expected else Arrival.AHEAD

    def hold(self, message: ClientMessage) -> bool:
        """Keep a message that came ahead of its turn; False (do not acknowledge it) if it does not fit."""
        if message.sequence_number in self._buffer:
            return True
        size = len(message.payload)
        if len(self._buffer) >= self.CAPACITY:
            return False
        if self.max_held_bytes is not None and self.held_bytes + size > self.max_held_bytes:
            return False
        if self._budget is not None and not self._budget.take(size):
            return False
        self._buffer[message.sequence_number] = message
        self.held_bytes += size
        return True

    def advance(self) -> list[ClientMessage]:
        """The expected message was taken: expect the next, and return held successors now in order."""
        self.expected += 1
        ready = []
        while self.expected in self._buffer:
            ready.append(self._pop(self.expected))
            self.expected += 1
        return ready

    def release(self) -> None:
        """Forget every held message (their sender will not resend them: they were acknowledged)."""
        for sequence in list(self._buffer):
            self._pop(sequence)

    def _pop(self, sequence: int) -> ClientMessage:
        message = self._buffer.pop(sequence)
        self.held_bytes -= len(message.payload)
        if self._budget is not None:
            self._budget.give(len(message.payload))
        return message

    def receive(self, message: ClientMessage) -> tuple[bool, list[ClientMessage]]:
        arrival = self.arrival(message)
        if arrival is Arrival.DUPLICATE:
            return False, []
        if arrival is Arrival.AHEAD:
            return self.hold(message), []
        return True, [message, *self.advance()]
