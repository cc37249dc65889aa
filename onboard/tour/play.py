"""The tour's lessons: a scripted learner plays lessons 1 to 4 and 7; each step's verdict is told as known."""

from __future__ import annotations

import io
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.lessons.scripted import StepPlay

from onboard.tour.narrate import Narrator
from onboard.tour.sandbox import TourLab, environment_applied

#: The shipped lessons the tour plays: 1 to 4 (ready, connect, sudo, transfer) and 7 (daily: connect,
#: transfer and forward with onboard). 5 (habits) and 6 (troubleshoot) need a person's judgement.
TOUR_LESSONS = ("ready", "connect", "sudo", "transfer", "daily")


def tour_lesson_numbers() -> str:
    """The tour's lessons by number, as the course orders them: "1 to 4 and 7"."""
    from onboard.lessons.catalog import Course

    orders = {header.id: header.order for header in Course.from_settings().headers()}
    numbers = sorted(orders[name] for name in TOUR_LESSONS)
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    words = [f"{run[0]} to {run[-1]}" if len(run) > 1 else str(run[0]) for run in runs]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


#: How long a scripted learner waits for a prompt before the step counts as stuck.
PROMPT_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------ lessons


def play_lessons(lab: TourLab, env: dict[str, str], say: Narrator) -> list[dict[str, Any]]:
    """Play the tour's lessons with a scripted learner in ``env``; each lesson's result as data.

    A lesson stops at its first failing step (as a learner would, to fix it); the tour still goes on
    with the next lesson, so that one fault shows everything it breaks.
    """
    from onboard.lessons.progress import Progress
    from onboard.lessons.runner import Runner

    with environment_applied(env):
        runner = Runner.open(team=lab.paths.team_file)
        # The scripted learner starts from nothing: no earlier tour's scores, nor its learner's identity.
        runner.progress = Progress(team=runner.store.team, profile=runner.profile)
        return [_play_lesson(runner, name, env, say) for name in TOUR_LESSONS]


def _play_lesson(runner, name: str, env: dict[str, str], say: Narrator) -> dict[str, Any]:
    import pexpect

    from onboard.lessons.scripted import play_lesson

    lesson = runner.course.lesson(name)
    result: dict[str, Any] = {
        "id": lesson.id,
        "title": lesson.title,
        "max_points": lesson.points,
        "step_count": len(lesson.steps),
        "steps": [],
        "stuck": None,
    }
    say.say()
    say.say(f"  Lesson {lesson.order}: {lesson.title}", style="bold")
    clock = time.monotonic()
    # What the learner's terminals showed, step by step: a failed step is shown with its last lines.
    terminal, shown = io.StringIO(), 0

    def terminal_since_last_step() -> list[str]:
        nonlocal shown
        text = terminal.getvalue()
        fresh, shown = text[shown:], len(text)
        return last_lines(fresh)

    def tell(play: StepPlay) -> None:
        nonlocal clock
        now, began = time.monotonic(), clock
        clock = now
        step = step_result(play, lesson.steps[play.step - 1].points, seconds=now - began)
        step["terminal"] = [] if play.passed else terminal_since_last_step()
        result["steps"].append(step)
        say.step(result, step)

    try:
        played = play_lesson(runner, name, env, on_step=tell, timeout=PROMPT_TIMEOUT, transcript=terminal)
        completed, passed = played.completed, played.passed
    except pexpect.ExceptionPexpect:
        # A terminal that never showed its prompt again (a session that hangs): this step fails, the
        # tour goes on with the next lesson.
        index = runner.progress.lessons[lesson.id].step
        result["stuck"] = {
            "step": index + 1,
            "title": runner.step_title(lesson, index),
            "evidence": f"the learner's terminal showed no prompt within {PROMPT_TIMEOUT:.0f} s",
            "terminal": terminal_since_last_step(),
        }
        say.say(
            f"  FAIL  step {index + 1}/{len(lesson.steps)}: {result['stuck']['title']}: "
            f"{result['stuck']['evidence']}",
            style="bold red",
        )
        say.terminal(result["stuck"]["terminal"])
        completed = passed = False
    result["completed"], result["passed"] = completed, passed
    result["points"] = sum(step["points"] for step in result["steps"])
    reached = len(result["steps"]) + (1 if result["stuck"] else 0)
    result["not_reached"] = [runner.step_title(lesson, index) for index in range(reached, len(lesson.steps))]
    return result


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def last_lines(text: str, count: int = 6) -> list[str]:
    """The last ``count`` non-blank lines a terminal showed, without control sequences or secrets."""
    from onboard.secrets import scrub

    lines = [line.rstrip() for line in _TERMINAL_CODES.sub("", text).replace("\r", "").split("\n")]
    return [scrub(line) for line in lines if line.strip()][-count:]


def step_result(play: StepPlay, max_points: int, *, seconds: float) -> dict[str, Any]:
    return {
        "step": play.step,
        "step_id": play.step_id,
        "title": play.title,
        "graded": play.graded,
        "passed": play.passed,
        "points": play.points,
        "max_points": max_points if play.graded else 0,
        "typed": play.typed,
        "verdicts": play.verdicts,
        "seconds": round(seconds, 2),
    }
