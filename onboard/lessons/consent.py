"""Local commands of lessons from elsewhere run only with the learner's consent.

A ``command_output`` check runs a command on the learner's computer. The shipped lessons' commands are
onboard's own; a trainer's lesson (``--lessons-dir``, the team file's ``[lessons] dir``) could run
anything, so its commands are shown to the learner first and run only once they said yes
(`onboard lesson check --allow-commands`). The consent is kept per lesson with a digest of its
commands: a changed lesson asks again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from onboard.errors import UsageError
from onboard.lessons.catalog import is_shipped
from onboard.lessons.format import Lesson


def local_commands(lesson: Lesson) -> list[str]:
    """Every command a lesson's checks run on this computer, as written."""

    def walk(item: Any) -> list[str]:
        if not isinstance(item, dict):
            return []
        found = []
        if item.get("kind") == "command_output":
            command = item.get("command")
            found.append(command if isinstance(command, str) else " ".join(map(str, command or [])))
        for child in item.get("of", []) if isinstance(item.get("of"), list) else []:
            found += walk(child)
        return found

    return [command for step in lesson.steps for item in step.verify for command in walk(item)]


def commands_digest(lesson: Lesson) -> str:
    return hashlib.sha256(json.dumps(local_commands(lesson)).encode()).hexdigest()


def needs_consent(lesson: Lesson, consents: dict[str, str]) -> list[str]:
    """The commands to ask about (none for a shipped lesson, or one the learner allowed as it stands)."""
    if is_shipped(lesson):
        return []
    commands = local_commands(lesson)
    if not commands or consents.get(lesson.id) == commands_digest(lesson):
        return []
    return commands


def refuse(lesson: Lesson, commands: list[str]) -> UsageError:
    shown = "; ".join(f"`{command[:120]}`" for command in commands[:5])
    return UsageError(
        f"the lesson {lesson.id} ({lesson.path}) is not one of onboard's own, and its checks run commands "
        f"on your computer: {shown}",
        "Read them; if you trust them, run `onboard lesson check --allow-commands` (asked again when "
        "the lesson changes).",
    )
