"""Keeping secrets (secret access keys, session tokens, stream tokens) out of every output.

A :class:`Secret` holds the value but never shows it: ``str()``, ``repr()`` and f-strings give a mask,
so a secret that slips into a message, a log line, a traceback's locals or a JSON dump stays hidden.
Only :meth:`Secret.reveal` returns the value, at the one place that must write or send it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self, keep: int = 0) -> str:
        """The value masked, keeping ``keep`` trailing characters (for a recognisable hint)."""
        if keep <= 0 or len(self._value) <= keep * 4:
            return MASK
        return MASK + self._value[-keep:]

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self):  # pickling would carry the value out: refuse
        raise TypeError("a Secret cannot be pickled")


def redact(text: str, secrets: Iterable[str | Secret]) -> str:
    """``text`` with every occurrence of each secret replaced by the mask."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, MASK)
    return text


# Shapes of AWS secrets, for scrubbing text that came from elsewhere (a subprocess, an HTTP body).
_SECRET_PATTERNS = [
    # aws_secret_access_key = ... / "SecretAccessKey": "..." / "TokenValue": "..."
    re.compile(
        r"(?i)((?:aws_secret_access_key|aws_session_token|secretaccesskey|sessiontoken|tokenvalue)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
    ),
]


# A bare value shaped like a secret access key (40 base64 characters) or a session token (long base64),
# not part of a longer run of such characters.
_BARE_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])(?:[A-Za-z0-9/+]{40}|[A-Za-z0-9/+=]{100,})(?![A-Za-z0-9/+=])")


def scrub(text: str) -> str:
    """``text`` with anything shaped like a secret assignment masked."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def scrub_free_text(text: str) -> str:
    """:func:`scrub`, and also bare values shaped like a secret key or token (for comments, notes)."""
    return _BARE_SECRET.sub(MASK, scrub(text))


def without_password(url: str) -> str:
    """``url`` (a proxy's, ``http://user:secret@proxy:3128`` or ``user:secret@proxy:3128``) with the
    password of its user part masked: proxy URLs end up in messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"//{url}")
    if parts.password is None:
        return url
    user_part = f"{parts.username}:{MASK}@" if parts.username else f":{MASK}@"
    host_part = parts.netloc.rsplit("@", 1)[1]
    masked = parts._replace(netloc=user_part + host_part).geturl()
    return masked if "://" in url else masked.removeprefix("//")
