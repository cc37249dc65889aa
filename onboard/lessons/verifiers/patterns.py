"""Regular expressions from lesson files, matched so that a bad one cannot hang a check.

A lesson's patterns run against session logs of up to megabytes. Python's ``re`` cannot be stopped once
it backtracks (a thread's time limit does not interrupt it), so patterns run on the ``regex`` library,
whose matching takes a ``timeout``; and :func:`catastrophic` lets ``lesson lint`` refuse the usual
culprit, a repeat inside a repeat (``(a+)+``, ``(\\w+\\s?)*``), before a learner meets it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from onboard.errors import OnboardError

#: One match of a lesson's pattern may take this long; longer is the pattern's fault.
MATCH_SECONDS = 1.0
#: A bounded repeat this large counts as unbounded (``x{1,10000}`` backtracks like ``x+``).
LARGE_REPEAT = 100


class PatternTooSlow(OnboardError):
    """A lesson's pattern took longer than MATCH_SECONDS: it backtracks catastrophically."""


def compiled(pattern: str) -> Any:
    """A lesson's pattern, compiled for multi-line text (``^``/``$`` at each line)."""
    import regex

    return regex.compile(pattern, regex.MULTILINE | regex.VERSION0)


def _stopped(pattern: Any) -> PatternTooSlow:
    return PatternTooSlow(
        f"the lesson's pattern {pattern.pattern!r} took over {MATCH_SECONDS:.0f} s and was stopped",
        "Tell the lesson's author: `onboard lesson lint` shows why (a repeat inside a repeat).",
    )


def search(pattern: Any, text: str, position: int = 0) -> Any:
    try:
        return pattern.search(text, position, timeout=MATCH_SECONDS)
    except TimeoutError:
        raise _stopped(pattern) from None


def fullmatch(pattern: Any, text: str) -> Any:
    try:
        return pattern.fullmatch(text, timeout=MATCH_SECONDS)
    except TimeoutError:
        raise _stopped(pattern) from None


def catastrophic(pattern: str) -> str | None:
    """Why ``pattern`` can backtrack catastrophically (a repeat inside a repeat), or None."""
    # The stdlib's own pattern parser: its syntax is what `re` accepts (re._parser from 3.11).
    if sys.version_info >= (3, 11):
        import re._constants as constants
        import re._parser as parser
    else:  # pragma: no cover - Python 3.10
        import sre_constants as constants
        import sre_parse as parser

    # A possessive repeat (3.11: a++) never backtracks into what it took.
    possessive = getattr(constants, "POSSESSIVE_REPEAT", None)
    repeats = (constants.MAX_REPEAT, constants.MIN_REPEAT, possessive)

    def unbounded(high: int) -> bool:
        return high is constants.MAXREPEAT or high > LARGE_REPEAT

    def walk(items: Any, inside: bool) -> str | None:
        for op, argument in items:
            found = None
            if op in repeats:
                _low, high, sub = argument
                if unbounded(high) and inside:
                    return "a repeat (+, * or {n,}) inside another repeat"
                found = walk(sub, inside or (unbounded(high) and op is not possessive))
            elif op is constants.SUBPATTERN:
                found = walk(argument[-1], inside)
            elif op is constants.BRANCH:
                for branch in argument[1]:
                    found = found or walk(branch, inside)
            elif op in (constants.ASSERT, constants.ASSERT_NOT):
                found = walk(argument[1], inside)
            if found:
                return found
        return None

    try:
        return walk(parser.parse(pattern), False)
    except (re.error, RecursionError, OverflowError):
        return None  # not a pattern at all: the compile check says so
