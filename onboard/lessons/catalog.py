"""Where lessons come from: the ones shipped with onboard, and a trainer's own folder.

The shipped lessons are inside the wheel as ``onboard/_lessons`` (pyproject force-includes the repo's
``lessons/`` folder there); an editable install reads the repository's ``lessons/`` folder instead. A
trainer's folder (``--lessons-dir`` or the team file's ``[lessons] dir``) adds lessons, and replaces a
shipped one with the same id. The team file's ``[lessons] select`` picks and orders them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from onboard.errors import UsageError
from onboard.lessons.format import Header, Lesson, load_lesson, read_header


def shipped_lessons_dir() -> Path:
    """The lessons shipped with onboard: in the wheel, else (editable install) the repo's lessons/."""
    # The package's own folder is what importlib.resources.files("onboard") gives for any install on a
    # file system (the only kind a folder of lesson files can be read from), without importing
    # importlib.resources (a tenth of `lesson list`'s own time).
    package = Path(__file__).resolve().parent.parent
    inside = package / "_lessons"
    return inside if inside.is_dir() else package.parent / "lessons"


def _lesson_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.md") if path.name.lower() != "readme.md")


@dataclass
class Course:
    folders: tuple[Path, ...]
    select: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, lessons_dir: Path | None = None, select: tuple[str, ...] = ()) -> Course:
        folders = [shipped_lessons_dir()]
        if lessons_dir is not None:
            if not lessons_dir.is_dir():
                raise UsageError(
                    f"the lessons folder {lessons_dir} does not exist",
                    "Name a folder of lesson .md files (--lessons-dir, or [lessons] dir in the team file).",
                )
            folders.append(lessons_dir)
        return cls(tuple(folders), select)

    def headers(self) -> list[Header]:
        """Every lesson's front matter, in course order (a later folder's lesson replaces an earlier one)."""
        found: dict[str, Header] = {}
        for folder in self.folders:
            for path in _lesson_files(folder):
                header = read_header(path)
                found[header.id] = header
        if self.select:
            missing = [name for name in self.select if name not in found]
            if missing:
                raise UsageError(
                    f"the team file selects lessons that do not exist: {', '.join(missing)}",
                    f"Lessons available: {', '.join(sorted(found))}.",
                )
            return [found[name] for name in self.select]
        return sorted(found.values(), key=lambda header: (header.order, header.id))

    def header(self, name: str) -> Header:
        headers = self.headers()
        for header in headers:
            if name in (header.id, header.path.stem):
                return header
        ids = [header.id for header in headers]
        close = difflib.get_close_matches(name, ids, n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"there is no lesson {name!r}.{suggestion}", f"Lessons: {', '.join(ids)}.")

    def lesson(self, name: str) -> Lesson:
        return load_lesson(self.header(name).path)


def is_shipped(lesson: Header) -> bool:
    """Whether the lesson is one of onboard's own (not a trainer's file)."""
    return lesson.path.resolve().parent == shipped_lessons_dir().resolve()
