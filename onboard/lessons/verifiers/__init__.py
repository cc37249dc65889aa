"""Verifiers: small rule objects that look at AWS (or the lab) and say whether a step was done.

A lesson's ``check`` block declares them as data (``kind = "session_started"`` plus fields); each kind
is one class with the fields it takes and a ``run`` that returns a :class:`Verdict` with the
:class:`Evidence` it rests on. They use only public AWS APIs with the learner's own profile, so they
behave the same against AWS and the practice lab. By job:

- :mod:`.base`: Verdict, Evidence, CheckContext, the Verifier base;
- :mod:`.sessions`: session_started, session_ended, session_commands, transcript_contains;
- :mod:`.sessionlog`: a session log read as prompt, command and output;
- :mod:`.files`: s3_object, local_file;
- :mod:`.computer`: plugin_installed, profile_configured, identity, command_output;
- :mod:`.patterns`: lesson regexes, matched with a time limit;
- here: the combinators all / any, the registry, lint rules, and running a step's checks.
"""

from __future__ import annotations

import difflib
import threading
import time
from typing import Any

from onboard.lessons.verifiers.base import (
    CLOCK_SLACK,
    CheckContext,
    Evidence,
    Verdict,
    Verifier,
    aws_errors,
    aws_failure,
)
from onboard.lessons.verifiers.computer import CommandOutput, IdentityIs, PluginInstalled, ProfileConfigured
from onboard.lessons.verifiers.files import Diagnosis, LocalFile, S3Object
from onboard.lessons.verifiers.sessions import (
    SessionCommands,
    SessionEnded,
    SessionStarted,
    TranscriptContains,
    learner_sessions,
    session_evidence,
    split_s3_url,
)

__all__ = [
    "CLOCK_SLACK",
    "VERIFIERS",
    "CheckContext",
    "Evidence",
    "Verdict",
    "Verifier",
    "build",
    "learner_sessions",
    "run_checks",
    "run_verifier",
    "session_evidence",
    "split_s3_url",
    "verifier_problems",
]


class AllOf(Verifier):
    kind = "all"
    required = ("of",)

    def run(self, context: CheckContext) -> Verdict:
        children = [run_verifier(build(item), context) for item in self.data["of"]]
        failed = [child for child in children if not child.passed]
        evidence = f"{len(children) - len(failed)} of {len(children)} passed"
        return Verdict("all of these", not failed, evidence, failed[0].hint if failed else "", children)


class AnyOf(Verifier):
    kind = "any"
    required = ("of",)

    def run(self, context: CheckContext) -> Verdict:
        children = []
        for item in self.data["of"]:
            children.append(run_verifier(build(item), context))
            if children[-1].passed:
                break
        passed = any(child.passed for child in children)
        hint = "" if passed else children[-1].hint
        return Verdict(
            "one of these",
            passed,
            f"{sum(c.passed for c in children)} of {len(children)} passed",
            hint,
            children,
        )


VERIFIERS: dict[str, type[Verifier]] = {
    kind.kind: kind
    for kind in (
        SessionStarted,
        SessionEnded,
        SessionCommands,
        TranscriptContains,
        S3Object,
        LocalFile,
        Diagnosis,
        PluginInstalled,
        ProfileConfigured,
        IdentityIs,
        CommandOutput,
        AllOf,
        AnyOf,
    )
}


#: How deep all/any may nest: deeper is a mistake (and would exhaust the stack).
MAX_NESTING = 8


def verifier_problems(data: Any, depth: int = 0) -> list[str]:
    """What is wrong with one ``[[verify]]`` table (for lint): unknown kind, missing or unknown fields,
    patterns that do not compile or can backtrack catastrophically."""
    if not isinstance(data, dict):
        return [f"a verifier is a table with a kind, not {type(data).__name__}"]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in VERIFIERS:
        shown = repr(kind) if isinstance(kind, str) else f"a {type(kind).__name__}"
        close = difflib.get_close_matches(kind, list(VERIFIERS), n=1) if isinstance(kind, str) else []
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        return [f"unknown verifier kind {shown[:60]}{suggestion}; known: {', '.join(VERIFIERS)}"]
    verifier = VERIFIERS[kind]
    problems = [f"{kind} needs the field {name!r}" for name in verifier.required if name not in data]
    problems += _unknown_fields(kind, data, ("kind", *verifier.required, *verifier.optional))
    if kind in ("all", "any"):
        items = data.get("of", [])
        if not isinstance(items, list) or not items:
            problems.append(f"{kind} needs a non-empty list: of = [{{kind = ...}}, ...]")
        elif depth >= MAX_NESTING:
            problems.append(f"{kind} nests deeper than {MAX_NESTING} levels")
        else:
            for item in items:
                problems += verifier_problems(item, depth + 1)
    for where, pattern in _patterns(kind, data, problems):
        problems += _pattern_problems(f"{kind} {where}", pattern)
    return problems


def _unknown_fields(kind: str, data: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    problems = []
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{kind} has no field {str(name)[:60]!r}{suggestion}")
    return problems


def _patterns(kind: str, data: dict[str, Any], problems: list[str]) -> list[tuple[str, Any]]:
    """Every regular expression a verifier table holds, with where it sits."""
    found: list[tuple[str, Any]] = []
    if kind == "transcript_contains" and "patterns" in data:
        items = data["patterns"] if isinstance(data["patterns"], list) else [data["patterns"]]
        found += [("patterns", item) for item in items]
    if kind == "command_output" and "expect" in data:
        found.append(("expect", data["expect"]))
    if kind == "session_commands" and "commands" in data:
        commands = data["commands"]
        if not isinstance(commands, list) or not commands:
            problems.append("session_commands needs a non-empty list of commands ([[verify.commands]])")
            return found
        for number, item in enumerate(commands, start=1):
            if not isinstance(item, dict) or "command" not in item:
                problems.append(f"session_commands: command {number} is a table with a command pattern")
                continue
            problems += _unknown_fields(
                f"session_commands command {number}", item, SessionCommands.item_fields
            )
            found += [(f"command {number}", item["command"])]
            if "output" in item:
                found.append((f"command {number} output", item["output"]))
    return found


def _pattern_problems(where: str, pattern: Any) -> list[str]:
    import re

    from onboard.lessons.verifiers.patterns import catastrophic

    if not isinstance(pattern, str):
        return [f"{where}: a pattern is a string, not {type(pattern).__name__}"]
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as bad:
        return [f"{where}: {pattern[:60]!r} is not a regular expression ({bad})"]
    why = catastrophic(pattern)
    if why:
        return [f"{where}: {pattern[:60]!r} can take forever on a long log: {why}; write it without one"]
    return []


def build(data: dict[str, Any]) -> Verifier:
    return VERIFIERS[data["kind"]](data)


def run_verifier(verifier: Verifier, context: CheckContext) -> Verdict:
    """Run one verifier; an AWS failure is a failed verdict with its reason, never a traceback."""
    try:
        return verifier.run(context)
    except aws_errors() as error:
        return aws_failure(verifier.kind.replace("_", " "), error)


def run_checks(verify: list[dict[str, Any]], context: CheckContext, time_limit: float) -> list[Verdict]:
    """Every verifier of a step (placeholders filled), each within the step's time limit.

    Each runs in a daemon thread: one that has not answered by the deadline becomes a failed verdict
    and is left behind, so nothing hangs when AWS is out of reach.
    """
    context.deadline = time.monotonic() + time_limit
    verdicts: list[Verdict] = []
    for data in verify:
        verifier = build(data)
        box: list[Verdict] = []
        worker = threading.Thread(
            target=lambda v=verifier, into=box: into.append(run_verifier(v, context)), daemon=True
        )
        worker.start()
        worker.join(context.remaining())
        if box:
            verdicts.append(box[0])
        else:
            verdicts.append(
                Verdict(
                    verifier.kind.replace("_", " "),
                    False,
                    f"no answer within the time limit of {time_limit:.0f} s",
                    "AWS (or the lab) is out of reach: check your network and proxy, then check again.",
                    unavailable=True,
                )
            )
    return verdicts


# The daily-tools lesson's kinds register themselves (a module of their own: onboard.lessons.daily).
import onboard.lessons.daily  # noqa: E402, F401
