"""`lesson lint`: every lesson file under some paths, and every problem in them with file:line.

Beyond what reading a lesson finds (:func:`onboard.lessons.format.parse_lesson`): ids used twice,
prerequisites that are neither here nor shipped, a note for a lesson from outside the shipped set
whose checks run commands on the learner's computer, and a note for a command pattern that learners
would read as a raw regular expression in the check's line (no ``says``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from onboard.errors import UsageError
from onboard.lessons.format import Lesson, Problem, parse_lesson, read_header


def lint_paths(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    """Every lesson file under ``paths`` (files or folders of *.md) and every problem in them."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.md") if p.name.lower() != "readme.md")
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path} does not exist", "Name a lesson file or a folder of lessons.")
    problems: list[Problem] = []
    ids: dict[str, Path] = {}
    lessons: list[Lesson] = []
    for file in files:
        try:
            lesson, found = parse_lesson(file)
        except UsageError as unreadable:
            problems.append(Problem(file, 1, unreadable.message))
            continue
        problems += found
        if lesson is not None:
            if lesson.id in ids:
                problems.append(Problem(file, 1, f"the id {lesson.id!r} is used by {ids[lesson.id]} too"))
            ids[lesson.id] = file
            lessons.append(lesson)
    from onboard.lessons.catalog import shipped_lessons_dir

    # A trainer's lessons may build on the shipped ones.
    shipped = {
        read_header(path).id for path in shipped_lessons_dir().glob("*.md") if path.name != "README.md"
    }
    from onboard.lessons.consent import local_commands

    for lesson in lessons:
        if lesson.path.resolve().parent != shipped_lessons_dir().resolve() and local_commands(lesson):
            problems.append(
                Problem(
                    lesson.path,
                    1,
                    "its checks run commands on the learner's computer (command_output); learners are "
                    "shown them and asked before they run",
                    severity="note",
                )
            )
        problems += regex_check_lines(lesson)
        for prerequisite in lesson.prerequisites:
            if prerequisite not in ids and prerequisite not in shipped:
                problems.append(
                    Problem(lesson.path, 1, f"prerequisite {prerequisite!r} is neither here nor shipped")
                )
    return files, problems


#: What makes a command pattern read as a regular expression rather than as the command itself.
REGEX_SYNTAX = re.compile(r"\\.|[+*?()\[\]{}|^$]")


def regex_check_lines(lesson: Lesson) -> list[Problem]:
    """A note for each ``session_commands`` command whose pattern, shown without ``says``, is a regex."""
    notes = []
    for step in lesson.steps:
        for item in verifier_tables(step.verify):
            commands = item.get("commands") if item.get("kind") == "session_commands" else None
            for command in commands if isinstance(commands, list) else []:
                if not isinstance(command, dict) or command.get("says"):
                    continue
                pattern = str(command.get("command", ""))
                if not REGEX_SYNTAX.search(re.sub(r"\{\{[\w.]+\}\}", "", pattern)):
                    continue
                notes.append(
                    Problem(
                        lesson.path,
                        step.check_line or step.line,
                        f"the command {pattern!r} has no says: learners would read the regular expression "
                        'in the check\'s line; add says = "..." (what they type, as a sentence)',
                        severity="note",
                    )
                )
    return notes


def verifier_tables(items: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every verifier table of a check, those inside all / any included (as deep as a check may nest)."""
    from onboard.lessons.verifiers import MAX_NESTING

    found: list[dict[str, Any]] = []
    if depth > MAX_NESTING or not isinstance(items, (list, tuple)):
        return found
    for item in items:
        if isinstance(item, dict):
            found.append(item)
            found += verifier_tables(item.get("of", []), depth + 1)
    return found
