"""What the lab log says of each request: the operation, the caller and the error code, not only "POST / 400".

The HTTP layer and the IAM hook :func:`note` what they learn while a request is answered (in the thread
that answers it); the server's request handler writes one line per request with :func:`line` once the
answer's status is known, and dates the answer with the caller's :func:`clock_offset`. Never a query
string, a header or a body: they can carry signatures and tokens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class RequestNotes:
    operation: str = ""
    caller: str = ""
    code: str = ""
    #: Seconds the `clock-skew` fault moves the lab's clock for this caller: the answer's Date shows it.
    clock_offset: float = 0.0


_current = threading.local()


def begin() -> None:
    """A new request in this thread: forget what the last one noted."""
    _current.notes = RequestNotes()


def _notes() -> RequestNotes:
    notes = getattr(_current, "notes", None)
    if notes is None:
        notes = _current.notes = RequestNotes()
    return notes


def note(
    *,
    operation: str | None = None,
    caller: str | None = None,
    code: str | None = None,
    clock_offset: float | None = None,
) -> None:
    notes = _notes()
    if clock_offset is not None:
        notes.clock_offset = clock_offset
    if operation:
        notes.operation = operation
    if caller:
        notes.caller = caller
    if code:
        notes.code = code


def clock_offset() -> float:
    """How far this request's caller sees the lab's clock moved (0 without the `clock-skew` fault)."""
    return _notes().clock_offset


def line(method: str, path: str, status: object) -> str:
    """``POST / 400 ssm:StartSession by carol: AccessDeniedException``; what was not noted is left out."""
    notes = _notes()
    text = f"{method} {path} {status}"
    if notes.operation:
        text += f" {notes.operation}"
    if notes.caller:
        text += f" by {notes.caller}"
    if notes.code:
        text += f": {notes.code}"
    return text
