"""Progress and grading: a small versioned JSON file per team and profile, written atomically.

The file lives in the user's data folder (``<data>/lessons/progress-<team>-<profile>.json``) and holds,
per lesson, when it started and ended and, per step, when it began, its nonce, the hints taken, the
failed checks, whether it passed or was skipped, and the points earned. It never holds a secret: no key,
no token, only names, times and numbers. A file written by an older onboard is read and upgraded; a
newer or damaged one is kept aside (``.bad-<time>``) rather than overwritten.

Grading: a step is worth its points; each hint taken costs a quarter of them, each failed check a
tenth; a skipped step earns nothing. The lesson's and the course's summaries add the steps up.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT = "onboard-lesson-progress"
VERSION = 1
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
        )

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
        """What a trainer sees (``lesson publish``): summaries per lesson and step; no nonce, no secret."""
        return {
            "format": "onboard-lesson-record",
            "version": VERSION,
            "team": self.team,
            "user": self.user,
            "arn": self.arn,
            "published_at": stamp(utcnow()),
            "course": self.course_summary(),
            "lessons": {
                name: {
                    **lesson.summary(),
                    "steps": {
                        step_id: {
                            "status": step.status,
                            "points": step.points,
                            "max_points": step.max_points,
                            "hints": step.hints,
                            "failed_checks": step.failed_checks,
                            "seconds": step.seconds,
                        }
                        for step_id, step in lesson.steps.items()
                    },
                }
                for name, lesson in self.lessons.items()
            },
        }


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
            return Progress.from_dict(data)
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
        atomic_write_text(self.path, json.dumps(progress.to_dict(), indent=2) + "\n")
