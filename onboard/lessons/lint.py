"""`lesson lint`: every lesson file under some paths, and every problem in them with file:line.

Beyond what reading a lesson finds (:func:`onboard.lessons.format.parse_lesson`): ids used twice,
prerequisites that are neither here nor shipped, and a note for a lesson from outside the shipped set
whose checks run commands on the learner's computer.
"""

from __future__ import annotations

from pathlib import Path

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
        for prerequisite in lesson.prerequisites:
            if prerequisite not in ids and prerequisite not in shipped:
                problems.append(
                    Problem(lesson.path, 1, f"prerequisite {prerequisite!r} is neither here nor shipped")
                )
    return files, problems
