"""The lesson runner: start a lesson, show a step, check it, hint, skip, advance, and keep the score.

:class:`Runner` is what `onboard lesson ...` and the tour's scripted learner call. Every method
returns plain JSON-ready data; progress is saved after each change. A step *begins* when it is shown
(start, next, skip): its time starts and it gets a fresh nonce; its checks only accept work done after
that moment. A passed step keeps the evidence its checks found, sealed (:mod:`.progress`); a record that
was edited by hand is noticed when it is read, and said to be in the record from then on.

Its neighbours do the other jobs: :mod:`.variables` (the ``{{name}}`` values), :mod:`.publish`,
:mod:`.practice` (the practice shell), :mod:`.consent` (local commands of lessons from elsewhere);
the practice lab is reached only through :mod:`onboard.lab.interface`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem, OnboardError, UsageError
from onboard.facts import DEFAULT_PROFILE
from onboard.lessons.catalog import Course
from onboard.lessons.format import Lesson, Step, fill, fill_data
from onboard.lessons.progress import (
    LessonRecord,
    Progress,
    ProgressStore,
    StepRecord,
    new_nonce,
    parse_stamp,
    stamp,
    step_score,
    utcnow,
)
from onboard.lessons.variables import lesson_variables, practice_dir


@dataclass
class Runner:
    course: Course
    store: ProgressStore
    #: The full, validated team file (None only for `lesson list`, which does not need one).
    team: Any = None
    profile: str = DEFAULT_PROFILE
    settings: Any = None
    workdir: Path = field(default_factory=Path.cwd)
    progress: Progress = field(init=False)

    def __post_init__(self) -> None:
        self.progress = self.store.load()
        # Noticed once, kept: saving seals the records again, so what was edited is said from now on.
        noticed = [p for p in self.progress.edits() if p not in self.progress.edited_by_hand]
        if noticed:
            self.progress.edited_by_hand += noticed
            self._save()

    # ------------------------------------------------------------------------------ building one

    @classmethod
    def open(
        cls,
        *,
        team: Path | None = None,
        profile: str | None = None,
        lessons_dir: Path | None = None,
        need_team: bool = True,
    ) -> Runner:
        """A runner for the team file (``team``, else $ONBOARD_TEAM) and profile (else the team's)."""
        from onboard.team import find_team

        # Every command validates the team file (`lesson list` and `reset` too: a broken one is said so).
        # (`lesson list` must start fast: it skips only the region lookup, which loads botocore's data.)
        team_file = find_team(team, check_region=need_team)
        if team_file is None and not need_team:
            chosen = profile or DEFAULT_PROFILE
            course = Course.from_settings(lessons_dir)
            return cls(course, ProgressStore("default", chosen), profile=chosen)
        if team_file is None:
            raise UsageError(
                "lessons need your team file (instances, bucket, profile)",
                "Name it with --team FILE or set ONBOARD_TEAM "
                '(in the practice lab: eval "$(onboard lab env)").',
            )
        from onboard.awsclient import ClientSettings

        chosen = profile or team_file.profile
        course = Course.from_settings(lessons_dir or team_file.lessons.dir, team_file.lessons.select)
        settings = ClientSettings(
            profile=chosen,
            region=team_file.region,
            endpoint_url=team_file.endpoint_url,
            connect_timeout=3.0,
            read_timeout=8.0,
            max_attempts=1,
        )
        workdir = practice_dir(team_file.team, chosen)
        if need_team:
            workdir.mkdir(parents=True, exist_ok=True)
        return cls(course, ProgressStore(team_file.team, chosen), team_file, chosen, settings, workdir)

    # ---------------------------------------------------------------------------------- helpers

    def _save(self) -> None:
        self.store.save(self.progress)

    def _current(self) -> tuple[Lesson, LessonRecord]:
        name = self.progress.current
        if not name or name not in self.progress.lessons:
            raise UsageError(
                "no lesson is running", "Start one: onboard lesson start NAME (see onboard lesson list)."
            )
        return self.course.lesson(name), self.progress.lessons[name]

    def _learner(self) -> None:
        """Who the learner is (STS, once per profile): their user name and ARN fill {{user}}, {{prefix}}."""
        if self.progress.arn:
            return
        from onboard.identity import check_identity

        settings = self.settings
        found = check_identity(settings.profile, region=settings.region, endpoint_url=settings.endpoint_url)
        self.progress.user, self.progress.arn = found.user_name or found.user_id, found.arn

    def variables(self, lesson: Lesson, nonce: str = "") -> dict[str, str]:
        """Every {{name}} a lesson may use, from the team file, the learner and the step."""
        return lesson_variables(
            self.team,
            lesson.instance,
            user=self.progress.user,
            profile=self.profile,
            workdir=self.workdir,
            nonce=nonce,
        )

    def _lab(self):
        """The practice lab serving the team's endpoint (onboard.lab.interface), else None."""
        from onboard.lab.interface import lab_at

        return lab_at(self.settings.resolved_endpoint() if self.settings else None)

    def _begin(self, lesson: Lesson, record: LessonRecord, index: int) -> None:
        step = lesson.steps[index]
        record.step = index
        record.steps[step.id] = StepRecord(
            status="active", began_at=stamp(utcnow()), nonce=new_nonce(), max_points=step.points
        )
        if step.setup:
            self._apply_setup(lesson, step)

    def _apply_setup(self, lesson: Lesson, step: Step) -> None:
        lab = self._lab()
        if lab is None:
            raise EnvironmentProblem(
                f"the step {step.title!r} of {lesson.id} needs the practice lab (it breaks something there)",
                'Start it with `onboard lab up --detach`, then eval "$(onboard lab env)" and try again.',
            )
        setup = fill_data(step.setup, self.variables(lesson))
        lab.apply_fault(setup["lab_fault"], setup.get("target"))

    def step_title(self, lesson: Lesson, index: int) -> str:
        """A step's title with its placeholders filled ("Switch to analyst and come back")."""
        return fill(lesson.steps[index].title, self.variables(lesson))

    def step_view(self, lesson: Lesson, record: LessonRecord) -> dict[str, Any]:
        """The current step with its placeholders filled: what the learner reads and types."""
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        values = self.variables(lesson, state.nonce or "")
        return {
            "lesson": lesson.id,
            "lesson_title": lesson.title,
            "intro": fill(lesson.intro, values) if record.step == 0 else "",
            "step": record.step + 1,
            "steps": len(lesson.steps),
            "step_id": step.id,
            "title": fill(step.title, values),
            "points": step.points,
            "graded": step.graded,
            "time_limit": step.time_limit,
            "began_at": state.began_at,
            "nonce": state.nonce,
            "instructions": fill(step.instructions, values),
            "commands": [
                {"where": block.where, "lines": [fill(line, values) for line in block.lines]}
                for block in step.commands
            ],
            "hints_available": len(step.hints) - state.hints,
            "workdir": str(self.workdir),
            "profile": self.profile,
        }

    # -------------------------------------------------------------------------------- commands

    def list(self) -> dict[str, Any]:
        rows = []
        for header in self.course.headers():
            record = self.progress.lessons.get(header.id)
            summary = record.summary() if record else None
            rows.append(
                {
                    "id": header.id,
                    "title": header.title,
                    "order": header.order,
                    "minutes": header.minutes,
                    "points": header.points,
                    "prerequisites": list(header.prerequisites),
                    "requires": header.requires,
                    "status": summary["status"] if summary else "not_started",
                    "earned": summary["points"] if summary else 0,
                    "current": self.progress.current == header.id,
                }
            )
        return {
            "team": self.store.team,
            "profile": self.profile,
            "lessons": rows,
            "course": self.progress.course_summary(),
        }

    def start(self, name: str) -> dict[str, Any]:
        lesson = self.course.lesson(name)
        warnings = []
        for prerequisite in lesson.prerequisites:
            done = self.progress.lessons.get(prerequisite)
            if not done or done.status != "completed":
                warnings.append(f"the lesson {prerequisite!r} comes first (not completed yet)")
        if lesson.requires == "lab" and self._lab() is None:
            raise EnvironmentProblem(
                f"the lesson {lesson.id} is a drill for the practice lab; no lab runs at the team's endpoint",
                'Start it with `onboard lab up --detach`, then eval "$(onboard lab env)" and try again.',
            )
        self._learner()
        record = self.progress.lessons.get(lesson.id)
        resumed = record is not None and record.status == "in_progress"
        if record is None or not resumed:
            record = LessonRecord(started_at=stamp(utcnow()))
            self.progress.lessons[lesson.id] = record
            self._begin(lesson, record, 0)
        self.progress.current = lesson.id
        self._save()
        return {**self.step_view(lesson, record), "resumed": resumed, "warnings": warnings}

    def check(self, *, allow_commands: bool = False) -> dict[str, Any]:
        from onboard.lessons.consent import commands_digest, needs_consent, refuse
        from onboard.lessons.grading import grade_step, settled
        from onboard.lessons.verifiers import CheckContext

        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        base = {
            "lesson": lesson.id,
            "step": record.step + 1,
            "step_id": step.id,
            "title": self.step_title(lesson, record.step),
        }
        done = settled(record.status, step, state)
        if done is not None:
            return {**base, **done}
        commands = needs_consent(lesson, self.progress.consents)
        if commands and not allow_commands:
            raise refuse(lesson, commands)
        if commands:
            self.progress.consents[lesson.id] = commands_digest(lesson)
        began_at = parse_stamp(state.began_at)
        if began_at is None:
            raise UsageError(f"the step {step.title!r} has not begun", "Run `onboard lesson start` again.")
        context = CheckContext(
            settings=self.settings,
            began_at=began_at,
            nonce=state.nonce or "",
            workdir=self.workdir,
            arn=self.progress.arn,
            user=self.progress.user,
        )
        graded = grade_step(step, state, context, self.variables(lesson, state.nonce or ""))
        self._save()
        checked = {**base, **graded, "last_step": record.step == len(lesson.steps) - 1}
        if self.team is not None and self.team.lessons.publish:
            # The trainer's report sees each check as it happens (who is stuck, on what), not only the end.
            try:
                checked["published"] = self.publish()
            except OnboardError as failed:
                checked["published"] = {"error": failed.message}
        return checked

    def hint(self, *, take: bool = True) -> dict[str, Any]:
        """The next hint of the current step; with ``take=False`` only what it would cost.

        A passed (or skipped, or ungraded) step has nothing to hint: its hints are never shown, and none
        is counted.
        """
        from onboard.lessons.grading import hint_cost

        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        cost = hint_cost(step, state)
        base = {
            "lesson": lesson.id,
            "step": record.step + 1,
            "title": self.step_title(lesson, record.step),
            "hints_taken": state.hints,
            "hints_left": len(step.hints) - state.hints,
            "cost": cost,
            "points_left": step_score(step.points, state.hints, state.failed_checks),
            "hint": None,
            "note": None,
        }
        if state.status != "active" or not step.graded:
            done = {"passed": "it is passed", "skipped": "it was skipped"}.get(
                state.status, "it is not graded"
            )
            return {**base, "hints_left": 0, "cost": 0, "note": f"nothing to hint in this step: {done}"}
        if state.hints >= len(step.hints):
            return {**base, "note": "no more hints for this step"}
        if not take:
            return base
        text = fill(step.hints[state.hints], self.variables(lesson, state.nonce or ""))
        state.hints += 1
        self._save()
        return {**base, "hint": text, "hints_taken": state.hints, "hints_left": len(step.hints) - state.hints}

    def _advance(self, lesson: Lesson, record: LessonRecord) -> dict[str, Any]:
        if record.step + 1 < len(lesson.steps):
            self._begin(lesson, record, record.step + 1)
            self._save()
            return {"completed": False, **self.step_view(lesson, record)}
        record.status, record.completed_at = "completed", stamp(utcnow())
        self.progress.current = None
        self._save()
        published = None
        if self.team is not None and self.team.lessons.publish:
            published = self.publish()
        return {
            "completed": True,
            "lesson": lesson.id,
            "lesson_title": lesson.title,
            "summary": record.summary(),
            "course": self.progress.course_summary(),
            "published": published,
        }

    def next(self) -> dict[str, Any]:
        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        if step.graded and state.status == "active":
            raise UsageError(
                f"the step {step.title!r} is not done yet",
                "Run `onboard lesson check` when you have done it, or `onboard lesson skip` (no points).",
            )
        if not step.graded and state.status == "active":
            state.status, state.finished_at = "passed", stamp(utcnow())
        return self._advance(lesson, record)

    def skip(self) -> dict[str, Any]:
        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        if state.status == "active":
            state.status, state.finished_at, state.points = "skipped", stamp(utcnow()), 0
        return {"skipped": step.id, **self._advance(lesson, record)}

    def reset(self, name: str | None = None) -> dict[str, Any]:
        """Forget one lesson's progress (or, with no name, the whole course's), after a backup."""
        names = [self.course.header(name).id] if name else list(self.progress.lessons)
        backup = self.store.backup() if names else None
        for item in names:
            self.progress.lessons.pop(item, None)
            if self.progress.current == item:
                self.progress.current = None
        self._save()
        return {"reset": names, "backup": str(backup) if backup else None}

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "team": self.store.team,
            "profile": self.profile,
            "user": self.progress.user,
            "current": None,
            "course": self.progress.course_summary(),
            "lessons": {name: record.summary() for name, record in self.progress.lessons.items()},
            "progress_file": str(self.store.path),
            "edited_by_hand": self.progress.edits(),
        }
        if self.progress.current in self.progress.lessons:
            lesson, record = self._current()
            data["current"] = self.step_view(lesson, record)
        return data

    def publish(self) -> dict[str, Any]:
        """Put the learner's record, with its evidence, in the transfer bucket (onboard.lessons.publish)."""
        from onboard.lessons.publish import publish_record

        self._learner()
        return publish_record(self.progress, self.team, self.settings)

    def shell_environment(self) -> dict[str, str]:
        from onboard.lessons.practice import shell_environment

        return shell_environment(self.profile, self.team, self.settings)

    def practice_shell(self) -> int:
        from onboard.lessons.practice import practice_shell

        return practice_shell(self.shell_environment(), self.workdir)
