"""Showing a planned change: a unified diff of an AWS file, with every secret masked, in linear time."""

from __future__ import annotations

import difflib
import re

from onboard.awsconfig.files import BOM
from onboard.awsconfig.ini import option_prefix, parse
from onboard.secrets import MASK, Secret, redact, scrub_free_text

SECRET_KEYS = frozenset({"aws_secret_access_key", "aws_session_token"})
#: How many trailing characters of a secret a diff shows, as `aws configure` does.
SECRET_HINT_LENGTH = 4


def mask_secrets(text: str) -> str:
    """``text`` (an AWS INI file) with every secret key's value masked, keeping its last characters."""
    document = parse(text[1:] if text.startswith(BOM) else text)
    masked: set[int] = set()
    for section in document.sections:
        for entry in section.entries:
            if entry.key not in SECRET_KEYS:
                continue
            first = document.lines[entry.first]
            first.text = option_prefix(first) + Secret(entry.parts[0]).masked(keep=SECRET_HINT_LENGTH)
            for index in range(entry.first + 1, entry.last + 1):
                line = document.lines[index]
                if line.text.strip():
                    line.text = line.indent + MASK
            masked.update(range(entry.first, entry.last + 1))
    # Comments and lines outside any entry may hold a secret too (an old key noted down, a key before
    # the first header): the file's own secret values and anything shaped like a secret are masked.
    known = [
        part
        for section in document.sections
        for entry in section.entries
        if entry.key in SECRET_KEYS
        for part in entry.parts
        if part
    ]
    return "".join(
        (line.text if index in masked else redact(scrub_free_text(line.text), known)) + line.ending
        for index, line in enumerate(document.lines)
    )


_HUNK_RE = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@$")


def unified_diff(before: list[str], after: list[str], from_name: str, to_name: str) -> str:
    """``difflib.unified_diff`` of two line lists, in time linear in their length.

    A profile write changes a few lines of a file that may be long; difflib's matcher is quadratic in
    the lines it compares, so only the changed middle (with its context) goes through it, and the hunk
    headers are moved back to the lines' real numbers.
    """
    context = 3
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    skip = max(start - context, 0)
    keep_after = max(end - context, 0)
    lines = list(
        difflib.unified_diff(
            before[skip : len(before) - keep_after],
            after[skip : len(after) - keep_after],
            fromfile=from_name,
            tofile=to_name,
            lineterm="",
        )
    )

    def moved(line: str) -> str:
        hunk = _HUNK_RE.match(line)
        if hunk is None:
            return line
        old_start, old_length, new_start, new_length = hunk.groups()
        return f"@@ -{int(old_start) + skip}{old_length} +{int(new_start) + skip}{new_length} @@"

    return "\n".join(moved(line) if line.startswith("@@") else line for line in lines) + "\n"
