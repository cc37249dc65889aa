"""What the lab's data channel accepts from a client: its limits, and the checks of the frames that carry
more than a stream's bytes (the URL path, the OpenDataChannel frame, Size messages).

Split from :mod:`onboard.lab.datachannel`, which relays the sessions; a frame that fails a check here is
refused as a protocol error (close 1002) by the server, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from onboard.lab.instance import MAX_TERMINAL_SIDE
from onboard.session import protocol
from onboard.session.protocol import ClientMessage, ProtocolError

PATH_PREFIX = "/v1/data-channel/"
MiB = 1024 * 1024


@dataclass(frozen=True)
class ChannelLimits:
    """What the server holds for its clients, in bytes, so that no client can make it hold more.

    Input is acknowledged only once it is in the session (taken by the shell, queued for it, or held
    out of order); what does not fit is left unacknowledged and the client sends it again, as AWS's
    agent does when its handler is not ready.
    """

    #: Input queued for the shell beyond which an in-order message waits for room, then is refused.
    queued_input: int = 256 * 1024
    #: How long an in-order message waits for room before it is refused (not acknowledged): meanwhile this
    #: one connection is not read, as AWS's agent stops reading while the shell does not take its input;
    #: briefly, since the client's acknowledgements of our output come on the same socket.
    room_wait: float = 0.05
    #: Out-of-order input acknowledged and held, per session and for all sessions together.
    held_per_session: int = 4 * MiB
    held_total: int = 32 * MiB
    #: Output sent and not yet acknowledged beyond which the shell is not read (back-pressure).
    unacknowledged_output: int = 2 * MiB


def session_id_of(path: str) -> str:
    route = urlsplit(path).path
    if not route.startswith(PATH_PREFIX):
        return ""
    session_id = route[len(PATH_PREFIX) :]
    return session_id if session_id and "/" not in session_id else ""


def opening_document(frame: str | bytes) -> dict:
    """The OpenDataChannel frame as a JSON object, or :class:`ProtocolError`."""
    document = protocol.parse_json(frame, "the OpenDataChannel frame")
    if not isinstance(document, dict):
        raise ProtocolError("the OpenDataChannel frame is not a JSON object")
    return document


def text_field(document: dict, name: str) -> str:
    value = document.get(name)
    return value if isinstance(value, str) else ""


def terminal_size(message: ClientMessage) -> tuple[int, int]:
    """The (cols, rows) of a Size message, or :class:`ProtocolError`: AWS's agent reads them as unsigned
    32-bit integers and fails the message otherwise."""
    size = message.json()
    if not isinstance(size, dict):
        raise ProtocolError("a Size message is not a JSON object")
    sides: list[int] = []
    for name in ("cols", "rows"):
        side = size.get(name)
        if not isinstance(side, int) or isinstance(side, bool) or not 0 <= side < 2**32:
            raise ProtocolError(f"a Size message has {name} as a whole number, not {side!r}")
        sides.append(min(side, MAX_TERMINAL_SIDE))
    return sides[0], sides[1]
