"""The trainer's report as data, and how one learner's published record is graded again.

The report's types (:class:`ClassReport` down to :class:`EvidenceCheck`) are what every rendering reads: the
rich table, ``--json``, CSV and the HTML page. :func:`grade_learner` turns one published record into a row:
every claimed step looked up again through the ``check`` it is given (:mod:`onboard.trainer.report` passes
its cached look-ups in AWS), points as onboard gives them for verified steps only, the record's hand edits,
time spent, last activity, and the step the learner is stuck on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from onboard.lessons.progress import VERSION, parse_stamp, published_step, stamp, step_score
from onboard.lessons.verifiers.base import Evidence
from onboard.lessons.verifiers.recheck import Recheck
from onboard.trainer.policy import PROGRESS_PREFIX

#: An active step without a failed check counts as stuck after this long.
STUCK_AFTER = timedelta(minutes=10)
RECORD_FORMAT = "onboard-lesson-record"


class StepState(str, Enum):
    """What the report makes of one step of one learner (the heat map's colours)."""

    VERIFIED = "verified"  # claimed, and AWS shows the evidence as recorded
    LOCAL = "local"  # claimed on evidence only the learner's computer showed: nothing in AWS to look up
    UNVERIFIED = "claimed_not_verified"  # claimed, but AWS does not show the evidence (or there is none)
    FAILING = "failing"  # the current step, with failed checks
    ACTIVE = "in_progress"  # the current step, not checked yet
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"


class LearnerState(str, Enum):
    READ = "read"
    NOT_STARTED = "not_started"  # on the class list, no record published
    UNREADABLE = "unreadable"  # a record that cannot be read or is not a record


@dataclass(frozen=True)
class StepColumn:
    """One graded step of the course: a column of the table and the heat map."""

    lesson: str
    step: str
    title: str
    points: int

    @property
    def key(self) -> str:
        return f"{self.lesson}/{self.step}"


@dataclass(frozen=True)
class EvidenceCheck:
    kind: str
    ref: str
    #: True: AWS shows it as recorded; False: it does not; None: nothing in AWS to look up.
    holds: bool | None
    said: str


@dataclass(frozen=True)
class StepResult:
    lesson: str
    step: str
    state: StepState
    #: Points that count: verified steps only, as onboard would give them.
    points: int
    claimed_points: int
    max_points: int
    hints: int = 0
    failed_checks: int = 0
    began_at: str | None = None
    finished_at: str | None = None
    #: Why the step is not verified, or what its last failed check saw.
    reason: str | None = None
    checks: tuple[EvidenceCheck, ...] = ()


@dataclass(frozen=True)
class Stuck:
    """The step a learner is on and not getting past."""

    lesson: str
    step: str
    since: str
    failed_checks: int
    message: str

    def seconds(self, now: datetime) -> int:
        began = parse_stamp(self.since)
        return max(0, int((now - began).total_seconds())) if began else 0


@dataclass(frozen=True)
class LearnerRow:
    name: str
    state: LearnerState
    display_name: str | None = None
    problem: str | None = None
    score: int = 0
    claimed_score: int = 0
    #: Points of steps passed on evidence only the learner's computer showed (not in the score).
    local_points: int = 0
    seconds: int = 0
    last_activity: str | None = None
    published_at: str | None = None
    steps: tuple[StepResult, ...] = ()
    flags: tuple[str, ...] = ()
    #: Whether the record shows signs of a hand edit (a broken seal, impossible points): among the flags.
    edited: bool = False
    stuck: Stuck | None = None

    def step(self, key: str) -> StepResult | None:
        return next((s for s in self.steps if f"{s.lesson}/{s.step}" == key), None)


@dataclass(frozen=True)
class ClassReport:
    bucket: str
    generated_at: datetime
    columns: tuple[StepColumn, ...]
    learners: tuple[LearnerRow, ...]
    max_score: int
    #: How many look-ups in AWS this run made (records read, evidence looked up).
    lookups: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": PROGRESS_PREFIX,
            "generated_at": stamp(self.generated_at),
            "max_score": self.max_score,
            "columns": [{"key": c.key, **_plain(c)} for c in self.columns],
            "learners": [self._learner(row) for row in self.learners],
            "lookups": self.lookups,
        }

    def _learner(self, row: LearnerRow) -> dict[str, Any]:
        data = _plain(row)
        data["stuck"] = (
            {**_plain(row.stuck), "seconds": row.stuck.seconds(self.generated_at)} if row.stuck else None
        )
        data["steps"] = [{"key": f"{s.lesson}/{s.step}", **_plain(s)} for s in row.steps]
        return data


def _plain(item: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready data (enums by value, tuples as lists)."""
    from dataclasses import asdict

    def value(thing: Any) -> Any:
        if isinstance(thing, Enum):
            return thing.value
        if isinstance(thing, (list, tuple)):
            return [value(x) for x in thing]
        if isinstance(thing, dict):
            return {k: value(v) for k, v in thing.items()}
        return thing

    return {key: value(v) for key, v in asdict(item).items()}


class RecordError(ValueError):
    """A published record that cannot be used, with the reason."""


def parse_record(body: bytes, name: str) -> dict[str, Any]:
    """The record as data; RecordError says why it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise RecordError(f"not JSON ({bad})") from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise RecordError(f'not an onboard progress record (no "format": "{RECORD_FORMAT}")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError("the record has no version number")
    if version > VERSION:
        raise RecordError(f"written by a newer onboard (record version {version}, this one reads {VERSION})")
    if data.get("user") not in (None, name):
        raise RecordError(f"the record names the user {str(data.get('user'))[:64]!r}, not {name!r}")
    lessons = data.get("lessons", {})
    if not isinstance(lessons, dict) or not all(
        isinstance(lesson, dict) and isinstance(lesson.get("steps", {}), dict) for lesson in lessons.values()
    ):
        raise RecordError("its lessons are not tables of steps")
    return data


# ------------------------------------------------------------------------------------------ grading

_USER_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:user/(?:[^/]+/)*(?P<name>[^/]+)")


def owner_arn(record: dict[str, Any], name: str, account: str) -> str:
    """The ARN DescribeSessions names the learner by: the record's, when it is this user's; else built."""
    arn = record.get("arn")
    if isinstance(arn, str):
        found = _USER_ARN.fullmatch(arn)
        if found and found.group("name") == name:
            return arn
    return f"arn:aws:iam::{account}:user/{name}"


def grade_learner(
    name: str,
    record: dict[str, Any],
    columns: Sequence[StepColumn],
    check: Callable[[Evidence], Recheck],
    now: datetime,
) -> LearnerRow:
    """One learner's row: every step of the record re-graded from its evidence, flags, score, stuck."""
    version = record["version"]
    by_key = {column.key: column for column in columns}
    flags: list[str] = [str(item) for item in record.get("edited_by_hand", []) if isinstance(item, str)]
    edited = bool(flags)
    steps: list[StepResult] = []
    stamps: list[str] = [record["published_at"]] if isinstance(record.get("published_at"), str) else []
    seconds = 0
    stuck: Stuck | None = None
    for lesson_id, lesson in record.get("lessons", {}).items():
        lesson_times: list[str] = []
        for step_id, data in lesson.get("steps", {}).items():
            key = f"{lesson_id}/{step_id}"
            column = by_key.get(key)
            try:
                step = published_step(data, version)
            except (TypeError, ValueError) as bad:
                flags.append(f"{key}: the step cannot be read ({bad})")
                continue
            times = [t for t in (step.began_at, step.finished_at, step.last_failure_at) if isinstance(t, str)]
            lesson_times += times
            if column is None:
                if step.status == "passed" and step.max_points:
                    flags.append(f"{key}: not a graded step of this course")
                continue
            edits = step.edits(lesson_id, step_id, column.points, check_seal=version >= 3)
            flags += edits
            edited = edited or bool(edits)
            result = _grade_step(lesson_id, step_id, step, column, check, edited=bool(edits))
            steps.append(result)
            if result.state in (StepState.FAILING, StepState.ACTIVE) and step.began_at:
                overdue = (now - (parse_stamp(step.began_at) or now)) >= STUCK_AFTER
                if result.state is StepState.FAILING or overdue:
                    stuck = Stuck(
                        lesson_id,
                        step_id,
                        step.began_at,
                        step.failed_checks,
                        step.last_failure
                        or (
                            f"{step.failed_checks} failed checks" if step.failed_checks else "not checked yet"
                        ),
                    )
            if result.state is StepState.UNVERIFIED:
                flags.append(f"{key}: claimed, not verified: {result.reason}")
        seconds += _lesson_seconds(lesson, lesson_times)
        stamps += lesson_times
    return LearnerRow(
        name=name,
        state=LearnerState.READ,
        score=sum(s.points for s in steps),
        claimed_score=sum(s.claimed_points for s in steps),
        local_points=sum(s.claimed_points for s in steps if s.state is StepState.LOCAL),
        seconds=seconds,
        last_activity=max(stamps) if stamps else None,
        published_at=record.get("published_at") if isinstance(record.get("published_at"), str) else None,
        steps=tuple(steps),
        flags=tuple(dict.fromkeys(flags)),
        edited=edited,
        stuck=stuck,
    )


def _grade_step(
    lesson: str,
    step_id: str,
    step: Any,
    column: StepColumn,
    check: Callable[[Evidence], Recheck],
    *,
    edited: bool,
) -> StepResult:
    base = {
        "lesson": lesson,
        "step": step_id,
        "claimed_points": step.points if step.status == "passed" else 0,
        "max_points": column.points,
        "hints": step.hints,
        "failed_checks": step.failed_checks,
        "began_at": step.began_at,
        "finished_at": step.finished_at,
    }
    if step.status == "active":
        failing = bool(step.failed_checks or step.last_failure)
        state = StepState.FAILING if failing else StepState.ACTIVE
        return StepResult(state=state, points=0, reason=step.last_failure, **base)
    if step.status != "passed":
        state = StepState.SKIPPED if step.status == "skipped" else StepState.NOT_STARTED
        return StepResult(state=state, points=0, **base)
    checks: list[EvidenceCheck] = []
    for data in step.evidence:
        try:
            item = Evidence.from_dict(data)
        except (TypeError, KeyError):
            checks.append(EvidenceCheck("?", str(data)[:80], False, "not a piece of evidence onboard writes"))
            continue
        found = check(item)
        checks.append(EvidenceCheck(item.kind, item.ref, found.holds, found.said))
    failed = [c for c in checks if c.holds is False]
    # What onboard gives for the step, from the course's points: a record's own number counts for nothing.
    earned = min(step.points, step_score(column.points, step.hints, step.failed_checks))
    if failed:
        return StepResult(
            state=StepState.UNVERIFIED, points=0, reason=failed[0].said, checks=tuple(checks), **base
        )
    if not checks and not step.legacy:
        return StepResult(state=StepState.UNVERIFIED, points=0, reason="no evidence recorded", **base)
    if not any(c.holds for c in checks):
        reason = "only the learner's computer showed it (nothing in AWS to look up)"
        if step.legacy:
            reason = "graded by an onboard that kept no evidence"
        return StepResult(state=StepState.LOCAL, points=0, reason=reason, checks=tuple(checks), **base)
    note = "edited by hand: counted as onboard grades it" if edited else None
    return StepResult(state=StepState.VERIFIED, points=earned, reason=note, checks=tuple(checks), **base)


def _lesson_seconds(lesson: dict[str, Any], times: list[str]) -> int:
    """From the lesson's start to its end (or its last step activity, while it runs)."""
    began = parse_stamp(lesson["started_at"]) if isinstance(lesson.get("started_at"), str) else None
    ended_text = lesson.get("completed_at") if isinstance(lesson.get("completed_at"), str) else None
    ended = parse_stamp(ended_text or (max(times) if times else None))
    return max(0, int((ended - began).total_seconds())) if began and ended else 0
