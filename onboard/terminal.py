"""What a terminal showed, as text: escape sequences stripped, backspaces and carriage returns applied.

Session Manager's session logs in S3 are terminal dumps (escape sequences, backspaces, ``\\r\\n``); the lab
writes its transcripts the same way and the lessons read them back. Both use :func:`strip_terminal_controls`.
"""

from __future__ import annotations

import re

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
