"""Reading a small TOML file someone handed over (a team file, a lab world) without trusting it.

One reader for every TOML file onboard reads: only a regular file (a FIFO would block forever, a device
never end), at most :data:`MAX_BYTES`, UTF-8 (a Windows editor's byte-order mark is allowed), and
nesting too deep for the parser said as such instead of a RecursionError. ``fresh`` is the way out the
hints offer for a file past fixing: a handed-over file is asked for again, the user's own is written anew.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from onboard.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Team files and lab worlds are a few kilobytes; anything this big is not one.
MAX_BYTES = 1024 * 1024

#: The way out for a file someone handed over.
ASK_AGAIN = "ask for a fresh copy"


def read_text(path: Path, what: str, error: type[UsageError] = UsageError, *, fresh: str = ASK_AGAIN) -> str:
    """The UTF-8 text of ``path``; FileNotFoundError is left to the caller, which knows who named it."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except OSError as unreadable:
        raise error(
            f"{what} {path} cannot be read: {unreadable.strerror or unreadable}",
            f"Check the path (ls -l {path}).",
        ) from None
    # Checked on the descriptor, before it becomes a file object: os.fdopen itself refuses a folder with
    # IsADirectoryError.
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise error(f"{what} {path} is not a regular file", "Give the path of the file itself.")
    with os.fdopen(descriptor, "rb") as handle:
        if info.st_size > MAX_BYTES:
            raise error(
                f"{what} {path} is {info.st_size} bytes; it can be at most {MAX_BYTES}",
                "Check that this is the right file.",
            )
        data = handle.read(MAX_BYTES + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text", f"Save it as UTF-8, or {fresh}.") from None


def parse(
    text: str, source: str, error: type[UsageError] = UsageError, *, fresh: str = ASK_AGAIN
) -> dict[str, Any]:
    """``text`` as TOML; a parse error names ``source`` and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as bad:
        raise error(
            f"{source} is not valid TOML: {bad}",
            f"Fix the line named above (strings need double quotes), or {fresh}.",
        ) from None
    except RecursionError:
        raise error(
            f"{source}: arrays or tables are nested too deeply to read",
            f"A file onboard reads nests a few levels at most: {fresh}.",
        ) from None


def load(
    path: Path, what: str, error: type[UsageError] = UsageError, *, fresh: str = ASK_AGAIN
) -> dict[str, Any]:
    """:func:`read_text` then :func:`parse`."""
    return parse(read_text(path, what, error, fresh=fresh), f"{what} {path}", error, fresh=fresh)
