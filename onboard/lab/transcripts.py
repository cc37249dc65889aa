"""Session transcripts: what a session showed, as Session Manager's S3 logging keeps it.

The data channel feeds every byte of terminal output to a :class:`Transcript`; at the end
:meth:`Transcript.render` gives a readable text (control sequences stripped, line endings normalised)
under a header naming the session, its owner, target, start and end. Secrets are masked: the
instance role's secret key, any stream token the channel saw, and anything shaped like an AWS secret
assignment (:func:`onboard.secrets.scrub`).
"""

from __future__ import annotations

import re
from datetime import datetime

from onboard.lab.sessions import LabSession, utcnow
from onboard.secrets import Secret, redact, scrub

#: Kept at most; a session that prints more keeps its first part and says so.
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes, and stray controls
# except tab, newline, carriage return and backspace (handled below).
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[PX^_][^\x1b]*\x1b\\"
    r"|\x1b[@-Z\\-_]"
    r"|\x1b[()#][0-9A-Za-z]"
    r"|[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]"
)


def strip_terminal_controls(text: str) -> str:
    """Terminal output as a reader sees it: no escape sequences, backspaces applied, plain newlines."""
    text = _ANSI.sub("", text)
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        # a carriage return rewinds the line: keep what is visible at the end
        line = line.split("\r")[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
        while "\b" in line:
            index = line.index("\b")
            line = line[: max(index - 1, 0)] + line[index + 1 :]
        lines.append(line)
    return "\n".join(lines)


def _stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


class Transcript:
    def __init__(self, session: LabSession, secrets: list[str | Secret] | None = None) -> None:
        self.session = session
        self._secrets: list[str | Secret] = list(secrets or [])
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False

    def record(self, output: bytes) -> None:
        if self._size >= MAX_TRANSCRIPT_BYTES:
            self.truncated = True
            return
        room = MAX_TRANSCRIPT_BYTES - self._size
        self._chunks.append(output[:room])
        self._size += min(len(output), room)
        self.truncated = self.truncated or len(output) > room

    def render(self, end: datetime | None = None) -> bytes:
        session = self.session
        header = [
            f"SessionId: {session.session_id}",
            f"Owner: {session.owner_arn}",
            f"Target: {session.target}",
            f"Document: {session.document_name}",
            f"Start: {_stamp(session.start_date)}",
            f"End: {_stamp(end or session.end_date or utcnow())}",
            "",
        ]
        body = strip_terminal_controls(b"".join(self._chunks).decode("utf-8", errors="replace"))
        if self.truncated:
            body += f"\n[transcript truncated after {MAX_TRANSCRIPT_BYTES} bytes]\n"
        text = "\n".join(header) + "\n" + body
        if not text.endswith("\n"):
            text += "\n"
        return scrub(redact(text, self._secrets)).encode()
