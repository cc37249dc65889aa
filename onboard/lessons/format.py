"""The lesson file format: Markdown with TOML front matter, one step per ``##`` section.

A lesson is a Markdown file (parsed with markdown-it-py)::

    +++
    id = "connect"
    title = "Connect to a server"
    order = 2
    minutes = 10
    prerequisites = ["ready"]
    points = 30
    +++

    Prose before the first step introduces the lesson.

    ## Start a session

    Instructions in Markdown. Team-file values are written {{instance.alias}}, {{profile}} ...

    ```sh
    aws ssm start-session --target {{instance.id}} --profile {{profile}}
    ```

    ```session
    whoami
    ```

    ```hint
    The instance id is in the team file; `onboard lesson status` shows it too.
    ```

    ```check
    [[verify]]
    kind = "session_started"
    target = "{{instance.id}}"
    ```

Fenced blocks by their info word: ``sh`` (also bash, shell, console) is typed on your computer,
``session`` inside the session on the instance; ``hint`` is one hint (shown in order, each costs
points); ``check`` declares the step's verifiers as TOML data (``points`` and ``time_limit`` optional,
``[[verify]]`` tables with a ``kind``; ``kind = "all"`` or ``"any"`` with ``of = [{...}, ...]``
combines); ``setup`` (lab only) applies a lab fault when the step begins. Everything else is the step's
instructions. :func:`parse_lesson` reports every problem with file:line (`lesson lint`: :mod:`.lint`);
the steps' blocks are read in :mod:`.steps`.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FRONT_MATTER_FENCE = "+++"
#: ``{{name}}`` or ``{{instance.id}}``: the only placeholder syntax (shell braces stay untouched).
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
#: Every variable a lesson may use; filled from the team file, the learner's identity and the step.
VARIABLES = {
    "profile": "the AWS profile (the team file's, usually ssm)",
    "region": "the team's region",
    "user": "your IAM user name",
    "bucket": "the transfer bucket",
    "prefix": "your own key prefix in the transfer bucket (users/<you>/)",
    "log_bucket": "the session-log bucket",
    "target_user": "the OS user lessons switch to with sudo",
    "nonce": "a fresh random word for this step (nobody passes with someone else's output)",
    "workdir": "the practice folder on your computer",
    "instance.alias": "the lesson's instance: its alias",
    "instance.id": "the lesson's instance: its id",
    "instance.name": "the lesson's instance: its Name tag",
    "other_instance.alias": "another instance of the team: its alias",
    "other_instance.id": "another instance of the team: its id",
    "other_instance.name": "another instance of the team: its Name tag",
}
LOCAL_FENCES = ("sh", "bash", "shell", "console", "zsh")
SESSION_FENCE = "session"
DATA_FENCES = ("check", "hint", "setup")
FRONT_MATTER_KEYS = {
    "id": str,
    "title": str,
    "order": int,
    "minutes": int,
    "prerequisites": list,
    "points": int,
    "requires": str,
    "instance": str,
}
REQUIRED_FRONT_MATTER = ("id", "title", "order", "minutes", "points")
CHECK_KEYS = ("points", "time_limit", "verify")
SETUP_KEYS = ("lab_fault", "target")
DEFAULT_TIME_LIMIT = 20.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a lesson file, at a line (1-based)."""

    path: Path
    line: int
    message: str
    #: "error" (the lesson cannot be used as it stands) or "note" (worth knowing: lint still passes).
    severity: str = "error"

    def __str__(self) -> str:
        note = "note: " if self.severity == "note" else ""
        return f"{self.path}:{self.line}: {note}{self.message}"


@dataclass(frozen=True)
class Commands:
    """A block of lines to type: on your computer (``where == "local"``) or in the session."""

    where: str
    lines: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    line: int
    #: The instructions as Markdown (command blocks included, check/hint/setup blocks left out).
    instructions: str
    commands: tuple[Commands, ...]
    hints: tuple[str, ...]
    #: The ``[[verify]]`` tables as written (placeholders not filled yet).
    verify: tuple[dict[str, Any], ...]
    points: int
    time_limit: float
    setup: dict[str, Any] | None = None
    check_line: int = 0

    @property
    def graded(self) -> bool:
        return bool(self.verify)


@dataclass(frozen=True)
class Header:
    """Only the front matter: enough for `lesson list`, without parsing the Markdown."""

    id: str
    title: str
    order: int
    minutes: int
    points: int
    path: Path
    prerequisites: tuple[str, ...] = ()
    requires: str | None = None
    instance: str | None = None


@dataclass(frozen=True)
class Lesson(Header):
    """A whole lesson: the front matter, the introduction and the steps."""

    intro: str = ""
    steps: tuple[Step, ...] = field(default_factory=tuple)


class LessonFileError(UsageError):
    """A lesson file cannot be used: the first problems, with file:line."""

    def __init__(self, problems: list[Problem]):
        shown = "; ".join(str(problem) for problem in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"the lesson file has problems: {shown}{more}",
            f"Run `onboard lesson lint {problems[0].path}` to see them all.",
        )
        self.problems = problems


# ------------------------------------------------------------------------------------------- reading


def _split_front_matter(path: Path, text: str, problems: list[Problem]) -> tuple[dict[str, Any], str, int]:
    """(front matter, Markdown body, the body's first line number - 1)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        problems.append(
            Problem(path, 1, f"the file must start with front matter between {FRONT_MATTER_FENCE} lines")
        )
        return {}, text, 0
    for index in range(1, len(lines)):
        if lines[index].strip() == FRONT_MATTER_FENCE:
            raw = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            try:
                data = tomllib.loads(raw)
            except tomllib.TOMLDecodeError as bad:
                problems.append(Problem(path, 2 + toml_error_line(bad), f"front matter is not TOML: {bad}"))
                data = {}
            except RecursionError:
                problems.append(Problem(path, 2, "front matter nests too deeply to read"))
                data = {}
            return data, body, index + 1
    problems.append(Problem(path, 1, f"the front matter has no closing {FRONT_MATTER_FENCE} line"))
    return {}, "", len(lines)


def toml_error_line(error: Exception) -> int:
    """The 0-based line in the TOML text that tomllib's error names (0 when it names none)."""
    found = re.search(r"line (\d+)", str(error))
    return int(found.group(1)) - 1 if found else 0


def read_header(path: Path) -> Header:
    """The front matter of the lesson at ``path`` (no Markdown parsing: `lesson list` stays fast)."""
    text = _read_text(path)
    problems: list[Problem] = []
    data, _, _ = _split_front_matter(path, text, problems)
    problems += _front_matter_problems(path, data, text)
    if problems:
        raise LessonFileError(problems)
    return Header(**_header_fields(path, data))


def _header_fields(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The Header's fields from validated front matter."""
    return {
        "id": data["id"],
        "title": data["title"],
        "order": data["order"],
        "minutes": data["minutes"],
        "points": data["points"],
        "path": path,
        "prerequisites": tuple(data.get("prerequisites", ())),
        "requires": data.get("requires"),
        "instance": data.get("instance"),
    }


#: A lesson is a page of text; a file this big is a mistake (and would make lint crawl).
MAX_LESSON_BYTES = 1024 * 1024


def _read_text(path: Path) -> str:
    import stat

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"the lesson file {path} is not a regular file", "Name a Markdown file.")
        if info.st_size > MAX_LESSON_BYTES:
            raise UsageError(
                f"the lesson file {path} is {info.st_size // 1024} KiB; a lesson is at most "
                f"{MAX_LESSON_BYTES // 1024} KiB",
                "Split it into several lessons.",
            )
        return path.read_bytes().decode("utf-8-sig")
    except OSError as unreadable:
        raise UsageError(
            f"the lesson file {path} cannot be read: {unreadable.strerror}", "Check the path."
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"the lesson file {path} is not UTF-8 text", "Save it as UTF-8.") from None


def key_line(lines: list[str], key: str, first: int = 1, default: int = 1) -> int:
    """The number of the first line in ``lines`` (numbered from ``first``) that sets ``key = ...``."""
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
    for number, line in enumerate(lines, start=first):
        if pattern.match(line):
            return number
    return default


def _front_matter_problems(path: Path, data: dict[str, Any], text: str = "") -> list[Problem]:
    problems = []
    head = text.split(f"\n{FRONT_MATTER_FENCE}", 1)[0].splitlines()

    def line(key: str) -> int:
        return key_line(head, key)

    for key, value in data.items():
        expected = FRONT_MATTER_KEYS.get(key)
        if expected is None:
            problems.append(
                Problem(
                    path,
                    line(key),
                    f"unknown front matter key {key!r}{did_you_mean(key, FRONT_MATTER_KEYS)}",
                )
            )
        elif not isinstance(value, expected) or isinstance(value, bool):
            problems.append(
                Problem(path, line(key), f"front matter {key} should be a {expected.__name__}, not {value!r}")
            )
    for key in REQUIRED_FRONT_MATTER:
        if key not in data:
            problems.append(Problem(path, 1, f"front matter lacks {key!r}"))
    if isinstance(data.get("id"), str) and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", data["id"]):
        problems.append(
            Problem(path, line("id"), f"the id {data['id']!r} must be lower-case letters, digits and '-'")
        )
    prerequisites = data.get("prerequisites", [])
    if isinstance(prerequisites, list) and not all(isinstance(item, str) for item in prerequisites):
        problems.append(Problem(path, line("prerequisites"), "prerequisites must be a list of lesson ids"))
    if data.get("requires") not in (None, "lab"):
        problems.append(
            Problem(path, line("requires"), f'requires may only be "lab", not {data["requires"]!r}')
        )
    return problems


def did_you_mean(word: str, known) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ""."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_lesson(path: Path, text: str | None = None) -> tuple[Lesson | None, list[Problem]]:
    """The lesson in ``path`` and every problem found in it (None when it cannot be used at all)."""
    from markdown_it import MarkdownIt

    from onboard.lessons.steps import read_step, with_points
    from onboard.lessons.verifiers import verifier_problems

    text = _read_text(path) if text is None else text
    problems: list[Problem] = []
    front, body, offset = _split_front_matter(path, text, problems)
    problems += _front_matter_problems(path, front, text)
    body_lines = body.splitlines(keepends=True)
    # Only blocks matter here (headings, fences); inline parsing would be most of the time.
    tokens = MarkdownIt("commonmark").disable("inline").parse(body)

    sections: list[dict[str, Any]] = []  # the intro, then one per ## heading
    current: dict[str, Any] = {"title": None, "line": offset + 1, "skip": [], "fences": [], "start": 0}
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2" and token.map:
            current["end"] = token.map[0]
            sections.append(current)
            title = tokens[index + 1].content.strip()
            current = {"title": title, "line": offset + token.map[0] + 1, "skip": [], "fences": []}
            current["start"] = token.map[1]
        elif token.type == "fence" and token.map:
            info = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
            closing = body_lines[token.map[1] - 1].strip() if token.map[1] - 1 > token.map[0] else ""
            if not (closing.startswith(token.markup) and closing.strip(token.markup[0]) == ""):
                problems.append(
                    Problem(
                        path,
                        offset + token.map[0] + 1,
                        f"this {token.markup} {info} block is never closed: it runs to the end of the file",
                    )
                )
            current["fences"].append((info, token.content, offset + token.map[0] + 1))
            if info in DATA_FENCES:
                current["skip"].append((token.map[0], token.map[1]))
    current["end"] = len(body_lines)
    sections.append(current)

    def prose(section: dict[str, Any]) -> str:
        kept = []
        for number in range(section["start"], section["end"]):
            if not any(start <= number < end for start, end in section["skip"]):
                kept.append(body_lines[number])
        return "".join(kept).strip("\n") + "\n"

    for info, _content, line in sections[0]["fences"]:
        if info in DATA_FENCES:
            problems.append(
                Problem(path, line, f"a {info} block before the first ## step belongs to no step")
            )

    drafts = []
    for section in sections[1:]:
        drafts.append(read_step(path, section, prose(section), problems, verifier_problems))
    if len(sections) == 1:
        problems.append(Problem(path, offset + 1, "the lesson has no steps (## headings)"))

    seen: set[str] = set()
    for draft in drafts:
        if draft["id"] in seen:
            problems.append(Problem(path, draft["line"], f"two steps are called {draft['title']!r}"))
        seen.add(draft["id"])

    problems += _variable_problems(path, text)
    if any(key not in front for key in REQUIRED_FRONT_MATTER) or not drafts:
        return None, problems
    if any(p.line == 1 and "front matter" in p.message for p in problems):
        return None, problems
    points_line = key_line(text.split(f"\n{FRONT_MATTER_FENCE}", 1)[0].splitlines(), "points")
    steps = with_points(drafts, front["points"], Problem(path, points_line, ""), problems)
    intro = prose(sections[0]).strip()
    lesson = Lesson(**_header_fields(path, front), intro=intro + "\n" if intro else "", steps=tuple(steps))

    return lesson, problems


def _variable_problems(path: Path, text: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in VARIABLE.finditer(line):
            name = match.group(1)
            if name not in VARIABLES:
                problems.append(
                    Problem(path, number, f"undefined variable {{{{{name}}}}}{did_you_mean(name, VARIABLES)}")
                )
    return problems


def load_lesson(path: Path) -> Lesson:
    """The lesson at ``path``; a LessonFileError (file:line) when anything in it is wrong."""
    lesson, problems = parse_lesson(path)
    if problems or lesson is None:
        raise LessonFileError(problems or [Problem(path, 1, "not a lesson")])
    return lesson


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``{{name}}`` replaced by its value (unknown names stay as written)."""
    return VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def fill_data(data: Any, values: dict[str, str]) -> Any:
    """A check's TOML data with placeholders in every string filled."""
    if isinstance(data, str):
        return fill(data, values)
    if isinstance(data, list):
        return [fill_data(item, values) for item in data]
    if isinstance(data, dict):
        return {key: fill_data(value, values) for key, value in data.items()}
    return data
