"""smux frames: how Session Manager carries several TCP connections in one port-forwarding session.

Agents after 3.0.196.0 multiplex port sessions (session-manager-plugin,
src/sessionmanagerplugin/session/portsession/muxportforwarding.go): the plugin runs an smux client
(github.com/xtaci/smux, protocol version 1) over the data channel's stream payloads, the agent an smux
server; each local connection is one smux stream. A frame is an 8-byte header then its data::

    version (1 byte, 1) | command (1 byte) | length (2 bytes, little-endian) | stream id (4, little-endian)

Commands: SYN opens a stream, PSH carries data, FIN ends it, NOP is a keep-alive (the plugin turns
keep-alives off for agents after 3.1.1511.0). The client numbers its streams 3, 5, 7, ... Data frames
carry at most 32768 bytes (smux's default MaxFrameSize).

Before multiplexing ("basic" port forwarding) the payloads are the one connection's bytes, and the plugin
sends a Flag payload (a big-endian uint32) when its local connection closes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

VERSION = 1
HEADER = struct.Struct("<BBHI")
MAX_FRAME_DATA = 32768
#: The first stream id an smux client uses (its counter starts at 1 and adds 2 before each stream).
FIRST_CLIENT_STREAM = 3
#: The agent multiplexes port sessions after this version (the plugin's TCPMultiplexingSupportedAfter...).
MULTIPLEXING_AFTER_AGENT = (3, 0, 196, 0)


class Command(IntEnum):
    SYN = 0
    FIN = 1
    PSH = 2
    NOP = 3
    UPD = 4


class Flag(IntEnum):
    """Payloads of PayloadType Flag messages (message/clientmessage.go, PayloadTypeFlag)."""

    DISCONNECT_TO_PORT = 1
    TERMINATE_SESSION = 2
    CONNECT_TO_PORT_ERROR = 3


def flag_payload(flag: Flag) -> bytes:
    return struct.pack(">I", int(flag))


def read_flag(payload: bytes) -> int | None:
    return struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else None


@dataclass(frozen=True)
class Frame:
    command: int
    stream_id: int
    data: bytes = b""


def encode(command: Command, stream_id: int, data: bytes = b"") -> bytes:
    """One frame (callers split data into MAX_FRAME_DATA pieces: see :func:`data_frames`)."""
    return HEADER.pack(VERSION, int(command), len(data), stream_id) + data


def data_frames(stream_id: int, data: bytes) -> bytes:
    return b"".join(
        encode(Command.PSH, stream_id, data[start : start + MAX_FRAME_DATA])
        for start in range(0, len(data), MAX_FRAME_DATA)
    )


class FrameReader:
    """Frames out of a byte stream that arrives in pieces of any size.

    A data-channel payload usually holds whole frames: they are cut from it directly (one copy of each
    frame's data), and only an unfinished frame at its end waits in the buffer for the next piece.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """The frames ``data`` completes, in order (a bad version raises ValueError)."""
        stream = self._buffer + data if self._buffer else bytes(data)
        frames = []
        offset = 0
        while len(stream) - offset >= HEADER.size:
            version, command, length, stream_id = HEADER.unpack_from(stream, offset)
            if version not in (1, 2):
                self._buffer = b""
                raise ValueError(f"smux version {version} is not 1 or 2")
            start = offset + HEADER.size
            if len(stream) < start + length:
                break
            frames.append(Frame(command, stream_id, stream[start : start + length]))
            offset = start + length
        self._buffer = stream[offset:]
        return frames


def agent_multiplexes(agent_version: str) -> bool:
    """Whether the plugin multiplexes with an agent of this version (strictly after 3.0.196.0)."""
    try:
        parts = tuple(int(part) for part in agent_version.split("."))
    except ValueError:
        return False
    return parts > MULTIPLEXING_AFTER_AGENT
