"""The plugin's terminal: cbreak without echo while the session runs, restored on every exit path."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import Any

#: Reported when stdout is not a terminal, as AWS's plugin does.
DEFAULT_SIZE = (300, 100)


def terminal_size() -> tuple[int, int]:
    """(cols, rows) of the terminal on stdout, or 300x100 without one."""
    for stream in (sys.stdout, sys.stdin):
        try:
            if os.isatty(stream.fileno()):
                size = os.get_terminal_size(stream.fileno())
                return size.columns, size.lines
        except (OSError, ValueError):
            continue
    return DEFAULT_SIZE


class CbreakTerminal:
    """Put stdin in cbreak mode without echo (the remote pty echoes); undo it once, whatever happens."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> CbreakTerminal:
        if os.isatty(self.fd):
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
            attrs = termios.tcgetattr(self.fd)
            attrs[3] &= ~termios.ECHO  # lflag
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
            atexit.register(self.restore)
        return self

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def __exit__(self, *exc) -> None:
        self.restore()
