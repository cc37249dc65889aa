"""Grading from evidence: each shortcut that skips a step's skill fails, and says what evidence is missing.

Played in the lab with the real AWS CLI and the lab plugin, as a learner who wants the points without
the skill would: the S3 round trip of lesson 4 done from the computer, a ``printf`` that prints what
lesson 3's sudo step looks for, a plain ``exit`` for lesson 2's "end a session from outside", and lesson
2's demonstration step, which earns nothing without or with action.
"""

from __future__ import annotations

import pytest
from fixtures_lessons import lab, lab_server, learner

from onboard.lessons.verifiers.base import CLOCK_SLACK

__all__ = ["lab", "lab_server", "learner"]

pytestmark = pytest.mark.slow


def _failed(played) -> list[dict]:
    return [verdict for verdict in played.steps[-1].verdicts if not verdict["passed"]]


def test_the_round_trip_done_from_the_computer_fails_for_want_of_a_session_on_the_server(learner):
    jupyter = learner.lab.instances["jupyter"]
    on_computer: list[str] = []

    def from_the_laptop(where: str, line: str) -> str | None:
        if "start-session" in line:
            return None  # no session at all
        if where == "session":
            if line not in ("cd ~", "exit"):
                on_computer.append(line)  # the server's commands, typed on the computer instead
            return None
        if "from-server.txt back-home.txt" in line:
            return " && ".join([*on_computer, line])
        return line

    played = learner.play("transfer", edit=from_the_laptop)
    assert not played.completed and len(played.steps) == 2
    failed = _failed(played)
    assert len(failed) == 1  # the object is there with the nonce, and back home too: only the session lacks
    assert f"no session of yours to {jupyter} was open" in failed[0]["evidence"]
    assert "it was written from elsewhere" in failed[0]["evidence"]
    assert f"in a session on {jupyter}" in failed[0]["hint"]
    assert played.steps[-1].points == 0


def test_printing_what_the_sudo_step_looks_for_is_not_doing_it(learner):
    cheat = "printf 'sudo su - analyst\\nanalyst\\nssm-user\\n'"
    typed: list[str] = []

    def printf_instead(where: str, line: str) -> str | None:
        if where != "session":
            return line
        typed.append(line)
        if len(typed) == 1:
            return cheat
        return line if line == "exit" and typed.count("exit") == 1 else None

    played = learner.play("sudo", edit=printf_instead)
    assert not played.completed
    failed = _failed(played)[0]
    assert "does not show sudo su - analyst typed as ssm-user (after 0 of 3 found)" in failed["evidence"]
    assert "commands typed at its prompts: printf" in failed["evidence"]
    assert "sudo su - analyst" in failed["hint"]


def test_a_plain_exit_is_not_ending_a_session_from_outside(learner):
    def no_second_terminal(where: str, line: str) -> str | None:
        return None if "terminate-session" in line else line  # the session is then left with exit

    played = learner.play("connect", edit=no_second_terminal)
    assert not played.completed and len(played.steps) == 2
    failed = _failed(played)[0]
    assert (
        "was left from inside" in failed["evidence"]
        and "'exit' typed at its last prompt" in failed["evidence"]
    )
    assert "terminate-session" in failed["hint"]


def test_the_demonstration_step_earns_nothing_and_says_why(learner):
    runner = learner.runner()
    lesson = runner.course.lesson("connect")
    demo = lesson.steps[2]
    assert not demo.graded and demo.points == 0
    assert "demonstration, without points" in demo.instructions
    assert sum(step.points for step in lesson.steps) == lesson.points == 30


def test_a_session_opened_and_left_before_the_laptop_uploads_is_not_the_upload(learner):
    jupyter = learner.lab.instances["jupyter"]
    on_computer: list[str] = []

    def session_for_show(where: str, line: str) -> str | None:
        if where == "session":
            if line in ("cd ~", "exit"):
                return line  # a session, opened and left empty-handed
            on_computer.append(line)
            return None
        if "from-server.txt back-home.txt" in line:
            # From the laptop, a little after the session ended (beyond the checks' clock slack).
            wait = f"sleep {CLOCK_SLACK.seconds + 1}"
            return " && ".join([wait, *on_computer, line])
        return line

    played = learner.play("transfer", edit=session_for_show)
    assert not played.completed and len(played.steps) == 2
    failed = _failed(played)
    assert len(failed) == 1
    evidence = failed[0]["evidence"]
    assert f"no session of yours to {jupyter} was open at" in evidence
    assert "written from elsewhere" in evidence
    assert f"your sessions to {jupyter}: carol-" in evidence and "Terminated" in evidence
    assert played.steps[-1].points == 0
