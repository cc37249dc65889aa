"""The shipped lessons' texts and checks hold on AWS, and lessons/README.md says what each check accepts.

Read from the lesson files as a learner and a lesson author would: where a session starts and what
``cd ~`` is for, what "another terminal" needs, which steps are demonstrations, that a step about the
server is graded from a session on it, and that check lines read as sentences.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from helpers import REPO
from onboard.lessons import daily  # noqa: F401  (registers its verifier kinds)
from onboard.lessons.catalog import Course
from onboard.lessons.format import Lesson, Step
from onboard.lessons.lint import verifier_tables
from onboard.lessons.verifiers import VERIFIERS

#: Kinds whose evidence is a session of the learner's on the target (DescribeSessions, its S3 log).
SESSION_EVIDENCE = {
    "session_started",
    "session_ended",
    "session_commands",
    "transcript_contains",
    "session_document",
    "transferred_file",
}
#: A line on the server that writes a file in the folder the session is in.
WRITES_HERE = re.compile(r">|\baws s3 cp s3://\S+ \S+$|\btouch\b|\bmkdir\b")


def _lessons() -> list[Lesson]:
    course = Course.from_settings()
    return [course.lesson(header.id) for header in course.headers()]


def _evidence_table() -> dict[str, tuple[set[str], str]]:
    text = (REPO / "lessons" / "README.md").read_text(encoding="utf-8")
    section = text.split("### What each kind accepts as evidence", 1)[1].split("\n\n**", 1)[0]
    rows = {}
    for kinds, fields, evidence in re.findall(r"^\| (`[^|]+`) \|([^|]*)\| (.+) \|$", section, re.M):
        for kind in re.findall(r"`(\w+)`", kinds):
            rows[kind] = (set(re.findall(r"`(\w+)", fields)), evidence)
    return rows


def test_lessons_readme_states_the_evidence_of_every_verifier_kind_and_its_fields():
    table = _evidence_table()
    assert set(table) == set(VERIFIERS), "every kind has a row, and no row names a kind that is not one"
    for kind, verifier in VERIFIERS.items():
        fields, evidence = table[kind]
        assert fields == {*verifier.required, *verifier.optional}, kind
        assert len(evidence.split()) >= 5, kind  # a statement of the evidence, not a word
    assert "**weak**" in table["transcript_contains"][1] and "printf" in table["transcript_contains"][1]


@pytest.mark.parametrize("lesson", _lessons(), ids=lambda lesson: lesson.id)
def test_a_step_about_the_server_is_graded_from_a_session_on_it(lesson: Lesson):
    for step in lesson.steps:
        on_server = any(block.where == "session" for block in step.commands)
        if not (on_server and step.graded):
            continue
        kinds = {item["kind"] for item in verifier_tables(step.verify)}
        from_session = any(item.get("from_session") for item in verifier_tables(step.verify))
        assert kinds & SESSION_EVIDENCE or from_session, (lesson.id, step.title)
        targets = {item.get("target") or item.get("from_session") for item in verifier_tables(step.verify)}
        assert "{{instance.id}}" in targets, (lesson.id, step.title)


@pytest.mark.parametrize("lesson", _lessons(), ids=lambda lesson: lesson.id)
def test_a_step_without_points_says_it_is_a_demonstration(lesson: Lesson):
    for step in lesson.steps:
        if not step.graded and step.commands:
            assert "demonstration, without points" in step.instructions, (lesson.id, step.title)
            assert step.points == 0


def _writes_on_the_server(step: Step) -> bool:
    lines = [line for block in step.commands if block.where == "session" for line in block.lines]
    return any(WRITES_HERE.search(line) for line in lines)


def test_cd_home_is_taught_where_a_session_first_writes_a_file_and_said_why():
    steps = [(lesson, step) for lesson in _lessons() for step in lesson.steps if _writes_on_the_server(step)]
    assert steps, "no lesson writes a file on the server"
    for lesson, step in steps:
        first = next(block for block in step.commands if block.where == "session")
        assert first.lines[0] == "cd ~", (lesson.id, step.title)  # before anything is written
    lesson, step = steps[0]
    why = " ".join(step.instructions.split())
    assert "`/usr/bin` on Amazon Linux" in why and "/var/snap/amazon-ssm-agent/" in why
    assert "cannot write there" in why and '"Permission denied"' in why and "`cd ~`" in why


def test_another_terminal_says_it_needs_the_same_profile_and_in_the_lab_the_lab_env():
    mentions = 0
    for lesson in _lessons():
        for step in lesson.steps:
            prose = " ".join(step.instructions.split())
            if not re.search(r"(another|a second|a new) terminal", prose, re.I):
                continue
            local = [line for block in step.commands if block.where == "local" for line in block.lines]
            needs_aws = any(re.match(r"(aws|onboard) ", line) for line in local[1:])
            if needs_aws:
                mentions += 1
                assert "the same profile" in prose and "--profile {{profile}}" in prose, (
                    lesson.id,
                    step.title,
                )
                assert 'eval "$(onboard lab env)"' in prose and "practice lab" in prose, (
                    lesson.id,
                    step.title,
                )
            else:
                assert "needs no profile" in prose, (lesson.id, step.title)
    assert mentions >= 1  # lesson 2's "end a session from outside"


def _shown_check_sentences(item: dict[str, Any]) -> list[str]:
    """What a check shows of its regular expressions: a session_commands check names its commands by
    their ``says`` (else by the pattern itself); the other kinds never show theirs."""
    if item["kind"] != "session_commands":
        return []
    return [command.get("says") or command["command"] for command in item["commands"]]


REGEX_SYNTAX = re.compile(r"\\[sdwSbB]|[+*?]\)?|\(\?|\[\^|\^|\$$|\|")


@pytest.mark.parametrize("lesson", _lessons(), ids=lambda lesson: lesson.id)
def test_every_check_line_of_a_shipped_lesson_reads_as_a_sentence(lesson: Lesson):
    for step in lesson.steps:
        for item in verifier_tables(step.verify):
            for sentence in _shown_check_sentences(item):
                assert not REGEX_SYNTAX.search(sentence), (lesson.id, step.title, sentence)
