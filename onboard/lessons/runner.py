"""The lesson runner: start a lesson, show a step, check it, hint, skip, advance, and keep the score.

:class:`Runner` is what `onboard lesson ...` and the lab tour's scripted learner call. Every method
returns plain JSON-ready data; progress is saved after each change. A step *begins* when it is shown
(start, next, skip): its time starts and it gets a fresh nonce; its checks only accept work done after
that moment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem, UsageError
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


@dataclass
class TeamSummary:
    """What `lesson list` needs from the team file, read without validating it (which loads botocore)."""

    team: str
    profile: str
    lessons_dir: Path | None = None
    select: tuple[str, ...] = ()


def peek_team(path: Path | None) -> TeamSummary | None:
    """The team file validated as every command does, without the region lookup (slow to load)."""
    from onboard.team import load_team

    if path is None:
        return None
    team = load_team(path, check_region=False)
    return TeamSummary(team.team, team.profile, team.lessons.dir, team.lessons.select)


def team_path(explicit: Path | None) -> Path | None:
    from onboard.team import team_path as find_team_path

    found = find_team_path(explicit)
    return found[0] if found else None


def practice_dir(team: str, profile: str) -> Path:
    """The practice folder on this computer: files the lessons download and write go here."""
    from onboard.paths import app_dirs

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in f"{team}-{profile}")
    return app_dirs().data / "lessons" / "practice" / safe


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
        path = team_path(team)
        if not need_team:
            summary = peek_team(path) or TeamSummary(team="default", profile=DEFAULT_PROFILE)
            chosen = profile or summary.profile
            course = Course.from_settings(lessons_dir or summary.lessons_dir, summary.select)
            return cls(course, ProgressStore(summary.team, chosen), profile=chosen)
        if path is None:
            raise UsageError(
                "lessons need your team file (instances, bucket, profile)",
                "Name it with --team FILE or set ONBOARD_TEAM "
                '(in the practice lab: eval "$(onboard lab env)").',
            )
        from onboard.awsclient import ClientSettings
        from onboard.team import load_team

        team_file = load_team(path)
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
        team = self.team
        missing = "<not in the team file>"
        instances = list(team.instances)
        chosen = team.instance(lesson.instance) if lesson.instance else (instances[0] if instances else None)
        others = [item for item in instances if chosen is None or item.id != chosen.id]
        other = others[0] if others else chosen
        user = self.progress.user or "<you>"
        values = {
            "profile": self.profile,
            "region": team.region,
            "user": user,
            "bucket": team.transfer.bucket if team.transfer else missing,
            "prefix": team.transfer.user_prefix(user) if team.transfer else missing,
            "log_bucket": team.session_logs.bucket if team.session_logs else missing,
            "target_user": team.lessons.target_user
            or next((u for i in instances for u in i.users), None)
            or missing,
            "nonce": nonce,
            "workdir": str(self.workdir),
        }
        for prefix, instance in (("instance", chosen), ("other_instance", other)):
            values[f"{prefix}.alias"] = instance.alias if instance else missing
            values[f"{prefix}.id"] = instance.id if instance else missing
            values[f"{prefix}.name"] = (instance.name or instance.alias) if instance else missing
        return values

    def _lab(self):
        """The practice lab's files when a lab is running at the team's endpoint, else None."""
        from onboard.lab.control import find_running
        from onboard.lab.state import LabPaths

        paths = LabPaths.for_user()
        state = find_running(paths)
        endpoint = self.settings.resolved_endpoint() if self.settings else None
        if state and endpoint and state.get("endpoint_url", "").rstrip("/") == endpoint.rstrip("/"):
            return paths
        return None

    def _begin(self, lesson: Lesson, record: LessonRecord, index: int) -> None:
        step = lesson.steps[index]
        record.step = index
        record.steps[step.id] = StepRecord(
            status="active", began_at=stamp(utcnow()), nonce=new_nonce(), max_points=step.points
        )
        if step.setup:
            self._apply_setup(lesson, step)

    def _apply_setup(self, lesson: Lesson, step: Step) -> None:
        from onboard.lab import control

        paths = self._lab()
        if paths is None:
            raise EnvironmentProblem(
                f"the step {step.title!r} of {lesson.id} needs the practice lab (it breaks something there)",
                'Start it with `onboard lab up --detach`, then eval "$(onboard lab env)" and try again.',
            )
        setup = fill_data(step.setup, self.variables(lesson))
        control.fault(paths, setup["lab_fault"], setup.get("target"))

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
        if not resumed:
            record = LessonRecord(started_at=stamp(utcnow()))
            self.progress.lessons[lesson.id] = record
            self._begin(lesson, record, 0)
        self.progress.current = lesson.id
        self._save()
        return {**self.step_view(lesson, record), "resumed": resumed, "warnings": warnings}

    def check(self) -> dict[str, Any]:
        from onboard.lessons.verifiers import CheckContext, run_checks

        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        base = {
            "lesson": lesson.id,
            "step": record.step + 1,
            "step_id": step.id,
            "title": self.step_title(lesson, record.step),
        }
        if record.status == "completed":
            return {
                **base,
                "passed": True,
                "verdicts": [],
                "note": "the lesson is complete",
                "points": state.points,
            }
        if not step.graded:
            return {
                **base,
                "passed": True,
                "verdicts": [],
                "note": "nothing to check in this step",
                "points": 0,
            }
        if state.status in ("passed", "skipped"):
            return {
                **base,
                "passed": state.status == "passed",
                "verdicts": [],
                "note": f"already {state.status}",
                "points": state.points,
            }
        context = CheckContext(
            settings=self.settings,
            began_at=parse_stamp(state.began_at),
            nonce=state.nonce or "",
            workdir=self.workdir,
            arn=self.progress.arn,
            user=self.progress.user,
        )
        values = self.variables(lesson, state.nonce or "")
        verdicts = run_checks([fill_data(item, values) for item in step.verify], context, step.time_limit)
        passed = all(verdict.passed for verdict in verdicts)
        # A check that could not look (AWS out of reach) costs nothing; a wrong answer costs a retry.
        unavailable = any(v.unavailable for v in verdicts) and all(
            v.passed or v.unavailable for v in verdicts
        )
        if passed:
            state.status, state.finished_at = "passed", stamp(utcnow())
            state.points = step_score(step.points, state.hints, state.failed_checks)
        elif not unavailable:
            state.failed_checks += 1
        self._save()
        return {
            **base,
            "passed": passed,
            "verdicts": [verdict.to_dict() for verdict in verdicts],
            "points": state.points,
            "max_points": step.points,
            "failed_checks": state.failed_checks,
            "unavailable": unavailable,
            "last_step": record.step == len(lesson.steps) - 1,
        }

    def hint(self) -> dict[str, Any]:
        lesson, record = self._current()
        step = lesson.steps[record.step]
        state = record.steps[step.id]
        base = {"lesson": lesson.id, "step": record.step + 1, "title": self.step_title(lesson, record.step)}
        if state.hints >= len(step.hints):
            return {**base, "hint": None, "hints_taken": state.hints, "hints_left": 0}
        text = fill(step.hints[state.hints], self.variables(lesson, state.nonce or ""))
        if state.status == "active":  # a hint after passing is free
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
        names = [self.course.header(name).id] if name else list(self.progress.lessons)
        for item in names:
            self.progress.lessons.pop(item, None)
            if self.progress.current == item:
                self.progress.current = None
        self._save()
        return {"reset": names}

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "team": self.store.team,
            "profile": self.profile,
            "user": self.progress.user,
            "current": None,
            "course": self.progress.course_summary(),
            "lessons": {name: record.summary() for name, record in self.progress.lessons.items()},
            "progress_file": str(self.store.path),
        }
        if self.progress.current in self.progress.lessons:
            lesson, record = self._current()
            data["current"] = self.step_view(lesson, record)
        return data

    def publish(self) -> dict[str, Any]:
        """Put the learner's record at s3://<transfer bucket>/onboard/progress/<IAM user name>.json."""
        import json

        import botocore.exceptions

        from onboard.awsclient import client
        from onboard.errors import OnboardError
        from onboard.secrets import scrub

        if self.team is None or self.team.transfer is None:
            raise UsageError("the team file names no transfer bucket to publish to", "Ask your trainer.")
        self._learner()
        bucket = self.team.transfer.bucket
        key = f"onboard/progress/{self.progress.user}.json"
        body = json.dumps(self.progress.record(), indent=2).encode()
        try:
            client("s3", self.settings).put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json"
            )
        except botocore.exceptions.ClientError as refused:
            error = refused.response.get("Error", {})
            raise OnboardError(
                f"s3://{bucket}/{key} could not be written: "
                f"{error.get('Code')}: {scrub(error.get('Message', ''))}",
                "Your trainer's policy must allow s3:PutObject on onboard/progress/${aws:username}.json.",
            ) from None
        except botocore.exceptions.BotoCoreError as failed:
            raise OnboardError(
                f"s3://{bucket}/{key} could not be written: {scrub(str(failed))}",
                "Check your network, then run `onboard lesson publish` again.",
            ) from None
        return {"url": f"s3://{bucket}/{key}", "bytes": len(body)}

    def shell_environment(self) -> dict[str, str]:
        """The practice shell's environment: AWS_PROFILE, and the lab's variables in lab mode.

        The lab's variables (its sandboxed AWS files, endpoint, bin folder) fill in what the learner's
        environment does not set already: after ``eval "$(onboard lab env)"`` they are the same, and a
        learner who points AWS_CONFIG_FILE elsewhere on purpose keeps it.
        """
        env = {**os.environ, "AWS_PROFILE": self.profile, "ONBOARD_LESSON_SHELL": "1"}
        paths = self._lab()
        if paths is not None:
            from onboard.lab.control import environment, find_running

            lab_env = environment(paths, find_running(paths) or {})
            lab_bin = str(paths.bin_dir)
            if lab_bin not in env.get("PATH", "").split(os.pathsep):
                env["PATH"] = lab_bin + os.pathsep + env.get("PATH", "")
            for name, value in lab_env.items():
                env.setdefault(name, value)
        elif self.settings is not None and self.settings.endpoint_url:
            env.setdefault("AWS_ENDPOINT_URL", self.settings.endpoint_url)
        if self.team is not None:
            env.setdefault("ONBOARD_TEAM", str(self.team.path))
        return env

    def practice_shell(self) -> int:
        """A subshell in the practice folder; returns its exit code when the learner types exit."""
        import subprocess

        program = os.environ.get("SHELL") or "/bin/sh"
        try:
            return subprocess.call([program], env=self.shell_environment(), cwd=self.workdir)
        except OSError as error:
            raise EnvironmentProblem(
                f"cannot start the shell {program}: {error.strerror}", "Set SHELL to a shell that exists."
            ) from None
