"""Progress and grading: a small versioned JSON file per team and profile, written atomically.

The file lives in the user's data folder (``<data>/lessons/progress-<team>-<profile>.json``) and holds,
per lesson, when it started and ended and, per step, when it began, its nonce, the hints taken, the
failed checks, whether it passed or was skipped, and the points earned. It never holds a secret: no key,
no token, only names, times and numbers. A file written by an older onboard is read and upgraded; a
newer or damaged one is kept aside (``.bad-<time>``) rather than overwritten.

Grading: a step is worth its points; each hint taken costs a quarter of them, each failed check a
tenth; a skipped step earns nothing. The lesson's and the course's summaries add the steps up.

A passed step keeps the evidence it was graded from (session ids, log and object keys with their ETag and
version, times: :class:`onboard.lessons.verifiers.Evidence` as data) and a *seal*, a SHA-256 digest over
the step's record. The file is the learner's own and plain JSON, so a seal proves nothing against someone
who recomputes it; it catches the hand edit, and :func:`edits` names what no run of onboard writes (points
above the step's maximum or beside what its hints and retries leave, a pass without evidence, a broken
seal). The published record carries the evidence, so the trainer's report looks each piece up in AWS again
instead of trusting the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT = "onboard-lesson-progress"
#: 2: steps keep their evidence and a seal; the record keeps the hand edits noticed.
#: 3: steps keep their last failed check; the seal covers only what the published record shows (no nonce),
#: so the trainer can check it. A version 2 file's seals are checked the old way on reading, then renewed.
VERSION = 3
#: The step fields the seal covers: what the published record shows of a step.
SEALED = (
    "status",
    "began_at",
    "finished_at",
    "hints",
    "failed_checks",
    "points",
    "max_points",
    "evidence",
    "last_failure",
    "last_failure_at",
)
#: How long a failed check's message may be in the record.
FAILURE_CHARS = 300
HINT_COST = 0.25
RETRY_COST = 0.10


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def new_nonce() -> str:
    """A fresh word for a step: nobody passes by replaying someone else's output."""
    return f"nonce-{os.urandom(4).hex()}"  # os, not secrets: `lesson list` stays light


def step_score(points: int, hints: int, failed_checks: int) -> int:
    """Points earned by a passed step after its hints and failed checks."""
    return max(0, round(points * (1 - HINT_COST * hints - RETRY_COST * failed_checks)))


@dataclass
class StepRecord:
    status: str = "pending"  # pending | active | passed | skipped
    began_at: str | None = None
    finished_at: str | None = None
    nonce: str | None = None
    hints: int = 0
    failed_checks: int = 0
    points: int = 0
    max_points: int = 0
    #: What the pass rests on (Evidence.to_dict() items), and the seal over this record.
    evidence: list[dict[str, str]] = field(default_factory=list)
    seal: str | None = None
    #: Graded by an onboard that kept no evidence (a version 1 file): no evidence to look for.
    legacy: bool = False
    #: The last failed check of this step ("check: what it saw") and when.
    last_failure: str | None = None
    last_failure_at: str | None = None

    def digest(self, lesson: str, step: str) -> str:
        """SHA-256 over the sealed fields (:data:`SEALED`) and where the step sits."""
        import hashlib  # here: `lesson list` with nothing sealed to check does not load it

        data = {name: getattr(self, name) for name in SEALED}
        return hashlib.sha256(
            json.dumps({**data, "lesson": lesson, "step": step}, sort_keys=True).encode()
        ).hexdigest()

    def _version2_digest(self, lesson: str, step: str) -> str:
        """The seal as version 2 computed it (every field, the nonce too, and none of version 3's)."""
        import hashlib

        data = {**asdict(self), "seal": None, "lesson": lesson, "step": step}
        del data["last_failure"], data["last_failure_at"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def failed(self, message: str) -> None:
        """Keep a failed check's message (shortened) and time, for the trainer's report."""
        self.last_failure = message if len(message) <= FAILURE_CHARS else message[: FAILURE_CHARS - 1] + "…"
        self.last_failure_at = stamp(utcnow())

    def sealed(self, lesson: str, step: str) -> None:
        self.seal = self.digest(lesson, step)

    def edits(
        self, lesson: str, step: str, max_points: int | None = None, *, check_seal: bool = True
    ) -> list[str]:
        """What in this record no run of onboard writes: signs of a hand edit.

        ``check_seal=False`` for a published version 2 record, whose seal covered the unpublished nonce."""
        where = f"{lesson}/{step}"
        found = []
        if check_seal and self.seal is not None and self.seal != self.digest(lesson, step):
            found.append(f"{where}: the record does not match its seal (edited by hand)")
        if max_points is not None and self.max_points != max_points:
            found.append(f"{where}: max_points {self.max_points}, but the step is worth {max_points}")
        if self.points > self.max_points:
            found.append(f"{where}: {self.points} points, above the step's maximum {self.max_points}")
        elif self.status == "passed" and self.points != step_score(
            self.max_points, self.hints, self.failed_checks
        ):
            found.append(
                f"{where}: {self.points} points, but {self.hints} hints and {self.failed_checks} failed "
                f"checks leave {step_score(self.max_points, self.hints, self.failed_checks)}"
            )
        if self.status in ("pending", "active", "skipped") and self.points:
            found.append(f"{where}: {self.points} points for a step that is {self.status}")
        if self.legacy:
            return found
        if self.status == "passed" and self.max_points and not self.evidence:
            found.append(f"{where}: passed without any evidence")
        if check_seal and self.status == "passed" and self.max_points and self.seal is None:
            found.append(f"{where}: passed without a seal")
        return found

    @property
    def seconds(self) -> int | None:
        began, finished = parse_stamp(self.began_at), parse_stamp(self.finished_at)
        return int((finished - began).total_seconds()) if began and finished else None


@dataclass
class LessonRecord:
    status: str = "in_progress"  # in_progress | completed
    started_at: str | None = None
    completed_at: str | None = None
    step: int = 0
    steps: dict[str, StepRecord] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LessonRecord:
        steps = {name: StepRecord(**value) for name, value in data.get("steps", {}).items()}
        return cls(**{**data, "steps": steps})

    def edits(self, lesson: str) -> list[str]:
        return [problem for name, step in self.steps.items() for problem in step.edits(lesson, name)]

    def summary(self) -> dict[str, Any]:
        steps = list(self.steps.values())
        began, ended = parse_stamp(self.started_at), parse_stamp(self.completed_at)
        return {
            "status": self.status,
            "points": sum(s.points for s in steps),
            "max_points": sum(s.max_points for s in steps),
            "passed": sum(s.status == "passed" for s in steps),
            "skipped": sum(s.status == "skipped" for s in steps),
            "hints": sum(s.hints for s in steps),
            "failed_checks": sum(s.failed_checks for s in steps),
            "seconds": int((ended - began).total_seconds()) if began and ended else None,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


@dataclass
class Progress:
    team: str
    profile: str
    user: str | None = None
    arn: str | None = None
    current: str | None = None
    lessons: dict[str, LessonRecord] = field(default_factory=dict)
    #: Hand edits noticed when the file was read (kept: saving seals the records again).
    edited_by_hand: list[str] = field(default_factory=list)
    #: Lessons from outside the shipped set whose local commands the learner allowed: id -> digest.
    consents: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        lessons = {name: LessonRecord.from_dict(value) for name, value in data.get("lessons", {}).items()}
        return cls(
            team=data["team"],
            profile=data["profile"],
            user=data.get("user"),
            arn=data.get("arn"),
            current=data.get("current"),
            lessons=lessons,
            edited_by_hand=[str(item) for item in data.get("edited_by_hand", [])],
            consents={str(k): str(v) for k, v in dict(data.get("consents", {})).items()},
        )

    def seal(self) -> None:
        """Seal every step record as it stands (before it is saved)."""
        for name, lesson in self.lessons.items():
            for step_id, step in lesson.steps.items():
                step.sealed(name, step_id)

    def edits(self) -> list[str]:
        """Signs of hand edits in every lesson's steps (empty for a record only onboard wrote)."""
        return [problem for name, lesson in self.lessons.items() for problem in lesson.edits(name)]

    def course_summary(self) -> dict[str, Any]:
        lessons = [record.summary() for record in self.lessons.values()]
        return {
            "lessons_completed": sum(item["status"] == "completed" for item in lessons),
            "lessons_started": len(lessons),
            "points": sum(item["points"] for item in lessons),
            "max_points": sum(item["max_points"] for item in lessons),
            "hints": sum(item["hints"] for item in lessons),
            "failed_checks": sum(item["failed_checks"] for item in lessons),
            "skipped": sum(item["skipped"] for item in lessons),
            "seconds": sum(item["seconds"] or 0 for item in lessons),
        }

    def record(self) -> dict[str, Any]:
        """What a trainer sees (``lesson publish``): summaries per lesson and step with the evidence each
        pass rests on, and what looks edited by hand; no nonce, no secret."""
        return {
            "format": "onboard-lesson-record",
            "version": VERSION,
            "team": self.team,
            "user": self.user,
            "arn": self.arn,
            "published_at": stamp(utcnow()),
            "course": self.course_summary(),
            "edited_by_hand": list(dict.fromkeys([*self.edited_by_hand, *self.edits()])),
            "lessons": {
                name: {
                    **lesson.summary(),
                    "steps": {
                        step_id: {
                            **{name: getattr(step, name) for name in SEALED},
                            "seconds": step.seconds,
                            "seal": step.seal,
                        }
                        for step_id, step in lesson.steps.items()
                    },
                }
                for name, lesson in self.lessons.items()
            },
        }


def published_step(data: dict[str, Any], version: int) -> StepRecord:
    """A step of a published record (``Progress.record()``) as a StepRecord, so that its ``edits`` say what
    was edited by hand (a version 2 record's seal covered the unpublished nonce: check it with
    ``check_seal=False``). Raises TypeError or ValueError for a step that is not one."""
    if not isinstance(data, dict):
        raise TypeError(f"a step is a table, not {type(data).__name__}")
    fields = {name: data[name] for name in SEALED if name in data}
    step = StepRecord(**fields, seal=data.get("seal"), legacy=version < 2)
    for name in ("hints", "failed_checks", "points", "max_points"):
        if not isinstance(getattr(step, name), int):
            raise TypeError(f"{name} is not a whole number")
    if not isinstance(step.evidence, list) or not all(isinstance(item, dict) for item in step.evidence):
        raise TypeError("evidence is not a list of tables")
    return step


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


class ProgressStore:
    """Reads and writes one learner's progress file (per team and profile)."""

    def __init__(self, team: str, profile: str, folder: Path | None = None):
        if folder is None:
            from onboard.paths import app_dirs

            folder = app_dirs().data / "lessons"
        self.team, self.profile = team, profile
        self.path = folder / f"progress-{_safe(team)}-{_safe(profile)}.json"

    def load(self) -> Progress:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if (
                not isinstance(data, dict)
                or data.get("format") != FORMAT
                or not isinstance(data.get("version"), int)
            ):
                raise ValueError("not a progress file")
            if data["version"] > VERSION:
                raise ValueError(f"written by a newer onboard (version {data['version']})")
            progress = Progress.from_dict(data)
            for name, lesson in progress.lessons.items():
                for step_id, step in lesson.steps.items():
                    if data["version"] < 2:
                        step.legacy = True
                    elif data["version"] == 2 and step.seal == step._version2_digest(name, step_id):
                        step.sealed(name, step_id)  # intact: sealed again as version 3 seals
            return progress
        except FileNotFoundError:
            return Progress(team=self.team, profile=self.profile)
        except (ValueError, KeyError, TypeError):
            # Kept aside, never overwritten: a newer onboard's file comes back when that onboard runs.
            aside = self.path.with_name(f"{self.path.name}.bad-{utcnow().strftime('%Y%m%dT%H%M%S')}")
            os.replace(self.path, aside)
            return Progress(team=self.team, profile=self.profile)

    def save(self, progress: Progress) -> None:
        from onboard.fileio import atomic_write_text, private_folder

        private_folder(self.path.parent)
        progress.seal()
        atomic_write_text(self.path, json.dumps(progress.to_dict(), indent=2) + "\n")

    def backup(self) -> Path | None:
        """A private copy of the progress file beside it (bounded in number), before it is wiped."""
        from onboard.fileio import keep_backup

        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return keep_backup(self.path, data)
