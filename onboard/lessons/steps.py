"""A lesson's steps: the blocks of one ``##`` section read into a step, and the lesson's points shared out.

:func:`onboard.lessons.format.parse_lesson` splits the file into sections; :func:`read_step` reads one
section's fenced blocks (commands, hints, the ``check`` and ``setup`` TOML) and :func:`with_points` gives
each graded step its points. Every problem is a :class:`~onboard.lessons.format.Problem` at its line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from onboard.lessons.format import (
    CHECK_KEYS,
    DEFAULT_TIME_LIMIT,
    LOCAL_FENCES,
    SESSION_FENCE,
    SETUP_KEYS,
    Commands,
    Problem,
    Step,
    did_you_mean,
    key_line,
    toml_error_line,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "step"


def read_step(
    path: Path, section: dict[str, Any], instructions: str, problems: list[Problem], verifier_problems
) -> dict[str, Any]:
    """One ``##`` section as a step draft (its points not yet shared out); its problems go to ``problems``."""
    commands: list[Commands] = []
    hints: list[str] = []
    check: dict[str, Any] | None = None
    check_line = 0
    check_text = ""
    setup: dict[str, Any] | None = None
    for info, content, line in section["fences"]:
        if info in LOCAL_FENCES or info == SESSION_FENCE:
            lines = tuple(item for item in content.splitlines() if item.strip())
            commands.append(Commands("session" if info == SESSION_FENCE else "local", lines, line))
        elif info == "hint":
            hints.append(content.strip())
        elif info in ("check", "setup"):
            try:
                data = tomllib.loads(content)
            except tomllib.TOMLDecodeError as bad:
                problems.append(
                    Problem(path, line + 1 + toml_error_line(bad), f"the {info} block is not TOML: {bad}")
                )
                continue
            except RecursionError:
                problems.append(Problem(path, line, f"the {info} block nests too deeply to read"))
                continue
            if info == "check":
                if check is not None:
                    problems.append(Problem(path, line, "a step has one check block"))
                check, check_line, check_text = data, line, content
            else:
                setup = data
                for key in data:
                    if key not in SETUP_KEYS:
                        problems.append(
                            Problem(path, line, f"unknown setup key {key!r}{did_you_mean(key, SETUP_KEYS)}")
                        )
                if "lab_fault" not in data:
                    problems.append(Problem(path, line, "a setup block names a lab_fault"))
                else:
                    problems += _fault_problems(path, line, data["lab_fault"])
    verify: list[dict[str, Any]] = []
    points = None
    time_limit = DEFAULT_TIME_LIMIT
    if check is not None:
        for key in check:
            if key not in CHECK_KEYS:
                problems.append(
                    Problem(path, check_line, f"unknown check key {key!r}{did_you_mean(key, CHECK_KEYS)}")
                )
        raw_verify = check.get("verify", [])
        if not isinstance(raw_verify, list) or not raw_verify:
            problems.append(Problem(path, check_line, "a check block needs at least one [[verify]] table"))
            raw_verify = []
        for item, line in zip(
            raw_verify, _verify_lines(check_text, check_line, len(raw_verify)), strict=True
        ):
            for message in verifier_problems(item):
                problems.append(Problem(path, line, message))
            verify.append(item)
        points = check.get("points")
        if points is not None and (not isinstance(points, int) or isinstance(points, bool) or points < 0):
            problems.append(Problem(path, check_line, f"points must be a whole number >= 0, not {points!r}"))
            points = None
        limit = check.get("time_limit", DEFAULT_TIME_LIMIT)
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not 0 < limit <= 300:
            problems.append(
                Problem(path, check_line, f"time_limit is seconds between 1 and 300, not {limit!r}")
            )
        else:
            time_limit = float(limit)
    return {
        "id": _slug(section["title"]),
        "title": section["title"],
        "line": section["line"],
        "instructions": instructions,
        "commands": tuple(commands),
        "hints": tuple(hints),
        "verify": tuple(verify),
        "points": points,
        "time_limit": time_limit,
        "setup": setup,
        "check_line": check_line,
    }


def _fault_problems(path: Path, line: int, fault: Any) -> list[Problem]:
    from onboard.lab.interface import fault_names

    known = fault_names()
    if isinstance(fault, str) and fault in known:
        return []
    shown = repr(fault[:60]) if isinstance(fault, str) else f"a {type(fault).__name__}"
    hint = did_you_mean(fault, known) if isinstance(fault, str) else ""
    return [Problem(path, line, f"unknown lab fault {shown}{hint}; known: {', '.join(known)}")]


def _verify_lines(content: str, fence_line: int, count: int) -> list[int]:
    """For each [[verify]] table of a check block, the line of its ``kind`` (else of its header)."""
    lines = content.splitlines()
    headers = [index for index, line in enumerate(lines) if line.strip().startswith("[[verify]]")]
    found = []
    for number, start in enumerate(headers):
        end = headers[number + 1] if number + 1 < len(headers) else len(lines)
        header_line = fence_line + 1 + start
        found.append(key_line(lines[start:end], "kind", header_line, header_line))
    return (found + [fence_line] * count)[:count]


def with_points(
    drafts: list[dict[str, Any]], total: int, where: Problem, problems: list[Problem]
) -> list[Step]:
    """Steps with their points: as declared, the rest of the lesson's points shared by the other checks."""
    graded = [draft for draft in drafts if draft["verify"]]
    declared = sum(draft["points"] for draft in graded if draft["points"] is not None)
    undeclared = [draft for draft in graded if draft["points"] is None]
    remaining = total - declared
    if remaining < 0 or (not undeclared and remaining != 0 and graded):
        problems.append(
            Problem(
                where.path,
                where.line,
                f"the steps' points add up to {declared}, but the lesson's points are {total}",
            )
        )
        remaining = max(remaining, 0)
    share, extra = divmod(remaining, len(undeclared)) if undeclared else (0, 0)
    steps = []
    for draft in drafts:
        points = draft["points"]
        if draft["verify"] and points is None:
            points = share + (1 if extra > 0 else 0)
            extra -= 1
        steps.append(Step(**{**draft, "points": points or 0}))
    return steps
