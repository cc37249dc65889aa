"""Session transcripts: what a session showed, as Session Manager's S3 logging keeps it.

The data channel feeds every byte of terminal output to a :class:`Transcript`; at the end
:meth:`Transcript.render` gives a readable text (control sequences stripped, line endings normalised)
under a header naming the session, its owner, target, start and end. Secrets are masked: the
instance role's secret key, any stream token the channel saw, and anything shaped like an AWS secret
assignment (:func:`onboard.secrets.scrub`).
"""

from __future__ import annotations

from datetime import datetime

from onboard.lab.sessions import LabSession, utcnow
from onboard.secrets import Secret, redact, scrub
from onboard.terminal import strip_terminal_controls

#: Kept at most; a session that prints more keeps its first part and says so.
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024


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
