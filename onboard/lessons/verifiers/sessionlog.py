"""A session log read as a shell would have shown it: turns of prompt, command and output.

Session Manager's S3 log of a shell session is a terminal dump. A line that starts with a real prompt of
the instance's shell is a *command*: the text typed after the prompt. Everything up to the next prompt is
that command's *output*. Text a command prints is output, never a command, so ``printf 'sudo su -
analyst'`` is one command (``printf ...``) whatever it prints; a check that asks for the command
``sudo su - analyst`` does not find it there.

The prompts are those EC2 instances show (:data:`PROMPTS`): on Amazon Linux ssm-user's ``sh`` prompts
``sh-4.2$`` and a login shell after ``sudo su - NAME`` prompts ``[NAME@ip-10-0-1-23 ~]$``; on Ubuntu
ssm-user's ``sh`` (dash) prompts ``$`` and a login shell prompts ``NAME@ip-10-0-1-23:~$``. ``#`` instead
of ``$`` is root's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from onboard.terminal import strip_terminal_controls

#: The user Session Manager logs in as; the bare ``sh`` prompts are this user's.
SSM_USER = "ssm-user"


@dataclass(frozen=True)
class PromptKind:
    """One prompt an instance's shell shows: which flavour, and the pattern (``user`` group if shown)."""

    flavour: str
    pattern: re.Pattern[str]


PROMPTS: tuple[PromptKind, ...] = (
    PromptKind("Amazon Linux, ssm-user's sh", re.compile(r"sh-\d+(?:\.\d+)*(?P<mark>[$#]) ?")),
    PromptKind(
        "Amazon Linux, a login shell",
        re.compile(r"\[(?P<user>[a-z_][\w.-]*)@[\w.-]+ [^\]\n]*\](?P<mark>[$#]) ?"),
    ),
    PromptKind(
        "Ubuntu, a login shell",
        re.compile(r"(?P<user>[a-z_][\w.-]*)@[\w.-]+:[^\s$#]*(?P<mark>[$#]) ?"),
    ),
    PromptKind("Ubuntu, ssm-user's sh", re.compile(r"(?P<mark>[$#]) ")),
)


@dataclass(frozen=True)
class Turn:
    """One command typed at a prompt, and what the shell printed until the next prompt."""

    line: int  # 1-based line of the prompt in the log
    prompt: str
    user: str  # whose shell showed the prompt
    command: str
    output: str


def _prompt(line: str) -> tuple[str, str, str] | None:
    """(prompt, user, rest of the line) when the line starts with a known prompt."""
    for kind in PROMPTS:
        found = kind.pattern.match(line)
        if found:
            named = found.groupdict().get("user")
            user = named or ("root" if found.group("mark") == "#" else SSM_USER)
            return found.group(0), user, line[found.end() :]
    return None


def parse_session_log(text: str) -> list[Turn]:
    """The turns of a session log (raw terminal output or already plain text)."""
    turns: list[Turn] = []
    current: tuple[int, str, str, str] | None = None
    output: list[str] = []
    for number, line in enumerate(strip_terminal_controls(text).split("\n"), start=1):
        found = _prompt(line)
        if found is None:
            output.append(line)
            continue
        if current is not None:
            turns.append(Turn(*current, "\n".join(output).strip("\n")))
        prompt, user, rest = found
        current, output = (number, prompt, user, rest.strip()), []
    if current is not None:
        turns.append(Turn(*current, "\n".join(output).strip("\n")))
    return turns
