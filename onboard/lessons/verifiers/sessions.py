"""Verifiers that look at the learner's sessions: DescribeSessions, and each session's log in S3.

Evidence here is what Session Manager itself records and a learner cannot type into existence: the
session history (DescribeSessions with Owner = the learner's ARN: id, target, start and end) and the
session's log in S3 (at the session's OutputUrl), read as turns of prompt, command and output
(:mod:`.sessionlog`). A step about a server finds its evidence in a session on that server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from onboard.errors import OnboardError
from onboard.lessons.verifiers.base import (
    CLOCK_SLACK,
    CheckContext,
    Evidence,
    Verdict,
    Verifier,
    clock,
    iso,
)
from onboard.lessons.verifiers.sessionlog import Turn, parse_session_log

ENDED_STATUSES = ("Terminated", "Terminating", "Failed")
#: Commands that end the shell they are typed in (the session, when typed in ssm-user's shell).
LEAVING = re.compile(r"(exit|logout)(\s+\d+)?")


def learner_sessions(context: CheckContext) -> list[dict[str, Any]]:
    """The learner's sessions (Active and History) of this step, newest first.

    A session counts when it started after the step began (less a few seconds of clock difference) and had
    not already ended by then: one that started and ended in those few seconds belongs to the step before.
    """
    since = context.began_at - CLOCK_SLACK
    found: dict[str, dict[str, Any]] = {}
    for session in owned_sessions(context.client("ssm"), context.arn):
        start, end = session.get("StartDate"), session.get("EndDate")
        ended_before = end is not None and end < context.began_at
        if start is not None and start >= since and not ended_before:
            found.setdefault(session["SessionId"], session)
    return sorted(found.values(), key=lambda s: s["StartDate"], reverse=True)


def owned_sessions(ssm: Any, owner: str | None) -> Iterator[dict[str, Any]]:
    """Every session (Active, then History, every page) that DescribeSessions shows with Owner = ``owner``
    (every session the caller may see when ``owner`` is None)."""
    return described_sessions(ssm, [{"key": "Owner", "value": owner}] if owner else [])


def described_sessions(ssm: Any, filters: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """Every session DescribeSessions shows with ``filters``: Active, then History, every page."""
    for state in ("Active", "History"):
        token = None
        while True:
            request: dict[str, Any] = {"State": state, "Filters": filters, "MaxResults": 200}
            if token:
                request["NextToken"] = token
            answer = ssm.describe_sessions(**request)
            yield from answer.get("Sessions", [])
            token = answer.get("NextToken")
            if not token:
                break


def session_evidence(session: dict[str, Any]) -> Evidence:
    end = session.get("EndDate")
    return Evidence(
        "session",
        session["SessionId"],
        at=iso(session["StartDate"]),
        detail=f"target {session.get('Target')}, {session.get('Status')}"
        + (f", ended {iso(end)}" if end else ""),
    )


def describe(session: dict[str, Any]) -> str:
    started = clock(session["StartDate"])
    return f"{session['SessionId']} to {session.get('Target')} ({session.get('Status')}, started {started})"


def no_session(check: str, context: CheckContext, target: str, elsewhere: str = "") -> Verdict:
    return Verdict(
        check,
        False,
        f"no session of yours to {target} since {clock(context.began_at)}{elsewhere}",
        f"Start one with: aws ssm start-session --target {target} --profile {context.settings.profile}",
    )


def wrong_targets(sessions: list[dict[str, Any]], target: str) -> str:
    others = sorted({s.get("Target", "?") for s in sessions if s.get("Target") != target})
    return f"; your sessions since then went to {', '.join(others)}" if others else ""


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL: s3://, path-style or virtual-hosted https."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if parts.scheme == "s3":
        return parts.netloc, path
    host = parts.hostname or ""
    virtual = re.match(r"(.+)\.s3[.-]", host)
    if virtual and host.endswith(".amazonaws.com"):  # https://bucket.s3.region.amazonaws.com/key
        return virtual.group(1), path
    bucket, _, key = path.partition("/")
    return bucket, key


class NoLog(OnboardError):
    """A session's log is not in S3 (logging off, or not written yet)."""


@dataclass
class SessionLog:
    """One ended session, its log's text and turns, and the log object as evidence."""

    session: dict[str, Any]
    text: str
    turns: list[Turn]
    evidence: Evidence


def read_log(context: CheckContext, session: dict[str, Any]) -> SessionLog:
    """The session's log from S3 (waiting a little for it to be written), parsed into turns."""
    import botocore.exceptions

    url = (session.get("OutputUrl") or {}).get("S3OutputUrl")
    if not url:
        raise NoLog(f"session {session['SessionId']} has no S3 log (session logging is off)")
    bucket, key = split_s3_url(url)
    s3 = context.client("s3")

    def fetch() -> dict[str, Any] | None:
        try:
            answer = s3.get_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as missing:
            if missing.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return {**answer, "Body": answer["Body"].read()}

    answer = context.settle(fetch, lambda found: found is not None)
    if answer is None:
        raise NoLog(f"the log of {session['SessionId']} is not in s3://{bucket}/{key} yet")
    text = answer["Body"].decode("utf-8", errors="replace").replace("\r\n", "\n")
    evidence = Evidence(
        "session_log",
        f"s3://{bucket}/{key}",
        at=iso(answer["LastModified"]),
        etag=answer.get("ETag"),
        version=answer.get("VersionId"),
        detail=f"log of {session['SessionId']}",
    )
    return SessionLog(session, text, parse_session_log(text), evidence)


def target_sessions(context: CheckContext, target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(sessions to the target, all of the step's sessions), waiting for the newest to end (its log)."""
    everywhere: list[dict[str, Any]] = []

    def mine() -> list[dict[str, Any]]:
        everywhere[:] = learner_sessions(context)
        return [s for s in everywhere if s.get("Target") == target]

    sessions = context.settle(mine, lambda found: not found or found[0].get("Status") in ENDED_STATUSES)
    return sessions, everywhere


def shown_in(check: str, log: SessionLog, seen: str) -> Verdict:
    """A pass resting on a session and its log."""
    return Verdict(
        check,
        True,
        f"the log of {log.session['SessionId']} {seen}",
        found=[session_evidence(log.session), log.evidence],
    )


def still_open(check: str, session: dict[str, Any]) -> Verdict:
    return Verdict(
        check,
        False,
        f"session {describe(session)} is still open; its log is written when it ends",
        "Finish the step in the session, then type exit to end it, and check again.",
    )


class SessionStarted(Verifier):
    """Evidence: a session in DescribeSessions (Owner = the learner) to the target, started in the step."""

    kind = "session_started"
    required = ("target",)

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        check = f"a session of yours to {target} started after the step began"
        sessions = learner_sessions(context)
        mine = [s for s in sessions if s.get("Target") == target]
        if mine:
            return Verdict(check, True, f"session {describe(mine[0])}", found=[session_evidence(mine[0])])
        return no_session(check, context, target, wrong_targets(sessions, target))


class SessionEnded(Verifier):
    """Evidence: such a session is Terminated; with ``by = "terminate"``, its log also shows it was ended
    from outside: the shell sat at a prompt, with no ``exit`` typed, when the session ended."""

    kind = "session_ended"
    required = ("target",)
    optional = ("by",)

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        from_outside = self.get("by") == "terminate"
        check = f"a session of yours to {target} has ended" + (
            " by terminate-session, not by exit" if from_outside else ""
        )

        def mine() -> list[dict[str, Any]]:
            return [s for s in learner_sessions(context) if s.get("Target") == target]

        sessions = context.settle(mine, lambda found: any(s.get("Status") in ENDED_STATUSES for s in found))
        ended = [s for s in sessions if s.get("Status") in ENDED_STATUSES]
        if not ended:
            if sessions:
                return Verdict(
                    check,
                    False,
                    f"session {describe(sessions[0])} is still open",
                    f"End it: type exit in it, or run aws ssm terminate-session --session-id "
                    f"{sessions[0]['SessionId']} --profile {context.settings.profile}",
                )
            return no_session(check, context, target)
        if not from_outside:
            return Verdict(check, True, f"session {describe(ended[0])}", found=[session_evidence(ended[0])])
        left: list[str] = []
        for session in ended:
            log = read_log(context, session)
            last = log.turns[-1] if log.turns else None
            if last is not None and not last.command:
                return Verdict(
                    check,
                    True,
                    f"session {describe(session)} ended while its shell waited at a prompt "
                    f"(line {last.line} of its log): it was terminated from outside",
                    found=[session_evidence(session), log.evidence],
                )
            left.append(f"{session['SessionId']} ({last.command!r} typed at its last prompt)" if last else "")
        return Verdict(
            check,
            False,
            "every session of yours that ended was left from inside: " + ", ".join(filter(None, left)),
            "Start a session, leave it open, and end it from another terminal with "
            "aws ssm terminate-session --session-id <its id>.",
        )


class TranscriptContains(Verifier):
    """The session log matches the regular expressions, in order, anywhere in its text.

    Weak evidence: printed text and typed commands alike match (``printf`` passes it). Prefer
    :class:`SessionCommands`.
    """

    kind = "transcript_contains"
    required = ("target", "patterns")
    optional = ("explain", "says")

    def run(self, context: CheckContext) -> Verdict:
        from onboard.lessons.verifiers.patterns import compiled, search

        target = self.data["target"]
        patterns = [compiled(p) for p in self.data["patterns"]]
        explain = list(self.get("explain", []))
        check = self.get("says") or f"the log of your session to {target} shows the step's lines"
        sessions, everywhere = target_sessions(context, target)
        if not sessions:
            return no_session(check, context, target, wrong_targets(everywhere, target))
        best: tuple[int, str] | None = None  # (patterns matched, session id)
        for session in sessions:
            if session.get("Status") not in ENDED_STATUSES:
                continue
            log = read_log(context, session)
            matched, position = 0, 0
            for pattern in patterns:
                found = search(pattern, log.text, position)
                if found is None:
                    break
                matched, position = matched + 1, found.end()
            if matched == len(patterns):
                return shown_in(check, log, "shows every line, in order")
            if best is None or matched > best[0]:
                best = (matched, session["SessionId"])
        if best is None:
            return still_open(check, sessions[0])
        matched, session_id = best
        hint = explain[matched] if matched < len(explain) else "Type the commands of the step in the session."
        return Verdict(check, False, f"the log of {session_id} lacks line {matched + 1} of the step", hint)


@dataclass(frozen=True)
class Expected:
    """One command the log must show: typed at a prompt (of ``user``'s shell), printing ``output``."""

    command: re.Pattern[str]
    output: re.Pattern[str] | None
    user: str | None
    says: str
    explain: str

    def matches(self, turn: Turn) -> bool:
        from onboard.lessons.verifiers.patterns import fullmatch, search

        if self.user is not None and turn.user != self.user:
            return False
        if fullmatch(self.command, turn.command) is None:
            return False
        return self.output is None or search(self.output, turn.output) is not None


def expected_commands(items: list[dict[str, Any]]) -> list[Expected]:
    from onboard.lessons.verifiers.patterns import compiled

    found = []
    for item in items:
        says = str(item.get("says") or f"the command {item['command']}")
        found.append(
            Expected(
                command=compiled(item["command"]),
                output=compiled(item["output"]) if item.get("output") else None,
                user=item.get("user"),
                says=says,
                explain=str(item.get("explain") or f"Type it in the session: {says}."),
            )
        )
    return found


def follow(turns: list[Turn], expected: list[Expected]) -> tuple[int, list[Turn]]:
    """How many of ``expected`` the turns show in order, and the turns that showed them."""
    shown: list[Turn] = []
    position = 0
    for want in expected:
        for index in range(position, len(turns)):
            if want.matches(turns[index]):
                shown.append(turns[index])
                position = index + 1
                break
        else:
            break
    return len(shown), shown


class SessionCommands(Verifier):
    """The session log shows these commands, in order, each typed at a real prompt of the instance's
    shell (as ``user``, when given) and each printing its ``output`` (a regular expression) when given.

    Text that a command prints is never a command, so ``printf`` or ``echo`` pass nothing here.
    """

    kind = "session_commands"
    required = ("target", "commands")
    optional = ("says",)
    item_fields = ("command", "output", "user", "says", "explain")

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        expected = expected_commands(self.data["commands"])
        check = self.get("says") or "in a session to {}: {}".format(
            target, ", then ".join(item.says for item in expected)
        )
        sessions, everywhere = target_sessions(context, target)
        if not sessions:
            return no_session(check, context, target, wrong_targets(everywhere, target))
        best: tuple[int, SessionLog] | None = None
        for session in sessions:
            if session.get("Status") not in ENDED_STATUSES:
                continue
            log = read_log(context, session)
            count, shown = follow(log.turns, expected)
            if count == len(expected):
                lines = ", ".join(str(turn.line) for turn in shown)
                return shown_in(check, log, f"shows each command at a prompt (lines {lines})")
            if best is None or count > best[0]:
                best = (count, log)
        if best is None:
            return still_open(check, sessions[0])
        count, log = best
        missing = expected[count]
        typed = [turn.command for turn in log.turns if turn.command]
        seen = "; no command at a prompt"
        if typed:
            seen = f"; commands typed at its prompts: {', '.join(typed[-6:])}"
        if log.turns:
            seen += f"; the session ended at {log.turns[-1].user}'s prompt"
        return Verdict(
            check,
            False,
            f"the log of {log.session['SessionId']} does not show {missing.says} "
            f"(after {count} of {len(expected)} found){seen}",
            missing.explain,
        )
