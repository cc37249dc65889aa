"""How a step reads on an 80-column terminal: labelled command blocks, whole words, sentences for checks."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from onboard.lessons.catalog import Course
from onboard.lessons.render import COMPUTER_LABEL, SERVER_LABEL, render_check, render_step


def _console(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    # As onboard.output.console() makes it (soft_wrap), at a fixed width.
    return Console(file=out, width=width, soft_wrap=True, highlight=False, color_system=None), out


def _step_data(lesson: str, index: int) -> dict:
    step = Course.from_settings().lesson(lesson).steps[index]
    return {
        "lesson_title": lesson,
        "intro": "",
        "step": index + 1,
        "steps": 3,
        "title": step.title,
        "points": step.points,
        "graded": step.graded,
        "instructions": step.instructions,
        "workdir": "/home/learner/.local/share/onboard/lessons/practice/data-team-ssm",
        "profile": "ssm",
    }


def test_command_blocks_say_where_they_run():
    console, out = _console()
    render_step(console, _step_data("transfer", 1))
    text = out.getvalue()
    assert COMPUTER_LABEL in text and SERVER_LABEL in text
    assert text.index(COMPUTER_LABEL) < text.index("aws ssm start-session")
    assert text.index(SERVER_LABEL) < text.rindex("cd ~") < text.index("aws s3 cp s3://")


def test_prose_wraps_between_words_at_80_columns():
    console, out = _console(80)
    render_step(console, _step_data("connect", 1))
    lines = out.getvalue().splitlines()
    prose = [line for line in lines if line.strip() and not line.strip().startswith(("aws ", "Practice"))]
    assert all(len(line) <= 80 for line in prose), [line for line in prose if len(line) > 80]
    words = set(re.findall(r"[A-Za-z]{4,}", _step_data("connect", 1)["instructions"]))
    shown = set(re.findall(r"[A-Za-z]{4,}", out.getvalue()))
    cut = {word for word in shown - words if any(word in whole for whole in words)}
    assert not cut, cut  # a word cut in two would show as a fragment


def test_a_check_line_is_a_sentence_not_a_regular_expression():
    console, out = _console()
    verdict = {
        "check": "in a session to jupyter, whoami printed ssm-user",
        "passed": False,
        "evidence": "the log of carol-1 does not show whoami printing ssm-user (after 0 of 1 found)",
        "hint": "Type whoami in the session.",
    }
    render_check(
        console, {"step": 1, "title": "t", "verdicts": [verdict], "passed": False, "failed_checks": 1}
    )
    assert "FAIL in a session to jupyter, whoami printed ssm-user" in out.getvalue()
    for lesson in Course.from_settings().headers():
        for step in Course.from_settings().lesson(lesson.id).steps:
            for item in step.verify:
                assert item["kind"] != "transcript_contains", (lesson.id, step.title)


LAB_WORKDIR = (
    "/tmp/home/.local/state/onboard/lab/sandbox/home/.local/share/onboard/lessons/practice/data-team-ssm"
)


def _filled_step(lesson: str, index: int) -> dict:
    """A step as `lesson start` shows it in the lab, where the practice folder's path is long."""
    from onboard.lessons.format import fill

    data = _step_data(lesson, index)
    values = {
        "profile": "ssm",
        "region": "ap-northeast-1",
        "user": "alice",
        "bucket": "data-team-transfer",
        "prefix": "users/alice/",
        "log_bucket": "data-team-session-logs",
        "target_user": "analyst",
        "nonce": "nonce-0123abcd",
        "workdir": LAB_WORKDIR,
        "instance.alias": "jupyter",
        "instance.id": "i-0a1b2c3d4e5f60001",
        "instance.name": "jupyter-dev",
        "other_instance.alias": "airflow",
        "other_instance.id": "i-0a1b2c3d4e5f60002",
        "other_instance.name": "airflow-dev",
    }
    return {**data, "workdir": LAB_WORKDIR, "instructions": fill(data["instructions"], values)}


def _every_step() -> list[tuple[str, int]]:
    course = Course.from_settings()
    return [(h.id, index) for h in course.headers() for index in range(len(course.lesson(h.id).steps))]


#: Words of the step's frame (title line, labels, the practice folder, what to do next).
FRAME = (
    f"{COMPUTER_LABEL} {SERVER_LABEL} {LAB_WORKDIR} Step points Practice folder profile When you are done "
    "onboard lesson check stuck hint skip Then next"
)


def _command_lines(instructions: str) -> list[str]:
    """The lines inside the fenced command blocks of ``instructions``."""
    lines = []
    for block in re.finditer(r"^```[a-z]+\n(.*?)^```$", instructions, re.M | re.S):
        lines += [line.strip() for line in block.group(1).splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize(("lesson", "index"), _every_step())
def test_every_step_at_80_columns_keeps_commands_whole_and_cuts_no_word(lesson, index):
    console, out = _console(80)
    data = _filled_step(lesson, index)
    render_step(console, data)
    text = out.getvalue()
    shown = [line.strip() for line in text.splitlines()]
    commands = _command_lines(data["instructions"])
    for command in commands:
        assert command in shown, command  # one line, to copy as it stands (the terminal wraps it)
    prose = [line.rstrip() for line in text.splitlines() if line.strip() not in commands]
    assert all(len(line) <= 80 for line in prose), [line for line in prose if len(line) > 80]
    words = set(re.findall(r"[A-Za-z]{4,}", " ".join([data["instructions"], data["title"], lesson, FRAME])))
    longer_than_a_line = [w for w in f"{data['instructions']} {LAB_WORKDIR}".split() if len(w) > 80]
    cut = {
        fragment
        for fragment in set(re.findall(r"[A-Za-z]{4,}", text)) - words
        if not any(fragment in word for word in longer_than_a_line)  # such a word is folded: it must be
    }
    assert not cut, cut  # a word cut in two shows as a fragment that is no word of the text


def test_hints_and_summaries_wrap_between_words_at_80_columns():
    from onboard.lessons.render import render_hint, render_summary

    title = "Fetch the file on the server, change it, and send it back under a new name"
    offer = {"step": 2, "title": title, "note": None, "hint": None, "cost": 1, "points_left": 5}
    shown = {**offer, "hint": "On the server, aws uses the server's own role: no --profile there, " * 2}
    shown.update(hints_taken=1, hints_left=0, cost=1)
    done = {
        "lesson_title": "Move files through S3",
        "summary": {
            "points": 37,
            "max_points": 40,
            "passed": 2,
            "skipped": 0,
            "hints": 1,
            "failed_checks": 1,
            "seconds": 754,
        },
        "course": {"points": 1037, "max_points": 1160, "lessons_completed": 11, "seconds": 10_754},
        "published": {"url": "s3://data-team-transfer/onboard/progress/a-learner-with-a-long-name.json"},
    }
    for render, data in ((render_hint, offer), (render_hint, shown), (render_summary, done)):
        console, out = _console(80)
        render(console, data)
        lines = out.getvalue().splitlines()
        assert all(len(line.rstrip()) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    console, out = _console(80)
    render_hint(console, shown)
    assert "(cost 1 point)" in out.getvalue()
