"""``onboard hosts shell-aliases``: one shell alias per host alias, for the user's startup file."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from onboard.everyday.connect import default_user, shell_request
from onboard.everyday.reach import Reach


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


#: Where each shell reads its startup lines, as the hint says it.
STARTUP_FILES = {
    Shell.bash: "~/.bashrc",
    Shell.zsh: "~/.zshrc",
    Shell.fish: "~/.config/fish/config.fish",
    Shell.powershell: "$PROFILE",
}


@dataclass(frozen=True)
class ShellAliases:
    shell: Shell
    lines: tuple[str, ...]

    @property
    def how_to_add(self) -> str:
        return f"onboard hosts shell-aliases --shell {self.shell.value} >> {STARTUP_FILES[self.shell]}"


def login_shell(environ: dict[str, str] | None = None) -> Shell:
    """The user's shell from $SHELL (PowerShell on Windows), bash when unknown."""
    environ = dict(os.environ if environ is None else environ)
    name = Path(environ.get("SHELL", "")).name
    if not name and os.name == "nt":
        return Shell.powershell
    return next((shell for shell in Shell if shell.value == name), Shell.bash)


def shell_aliases(reach: Reach, aliases: dict[str, str], shell: Shell, *, plain: bool) -> ShellAliases:
    """An alias line for every host alias: ``onboard connect NAME``, or the bare AWS CLI command."""
    lines = []
    for name in sorted(aliases):
        argv = _plain_command(reach, aliases[name]) if plain else ["onboard", "connect", name]
        lines.append(_line(shell, name, argv))
    return ShellAliases(shell, tuple(lines))


def _plain_command(reach: Reach, instance_id: str) -> list[str]:
    argv = ["aws", "ssm", "start-session", "--target", instance_id, "--profile", reach.profile]
    if reach.settings.region:
        argv += ["--region", reach.settings.region]
    request = shell_request(instance_id, default_user(reach, instance_id))
    if request.document:
        argv += ["--document-name", request.document]
    for name, values in request.parameters.items():
        argv += ["--parameters", f"{name}={','.join(values)}"]
    return argv


def _line(shell: Shell, name: str, argv: list[str]) -> str:
    if shell is Shell.powershell:
        words = " ".join(_powershell_quote(word) for word in argv)
        return f"function {name} {{ {words} @args }}"
    command = " ".join(shlex.quote(word) for word in argv)
    if shell is Shell.fish:
        return f"alias {name} {_fish_quote(command)}"
    return f"alias {name}={shlex.quote(command)}"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(word: str) -> str:
    if word and all(ch.isalnum() or ch in "-_./:=" for ch in word):
        return word
    return "'" + word.replace("'", "''") + "'"
