"""The lab's environment as export lines for bash, zsh, fish or PowerShell (what `onboard lab env` prints)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from onboard.errors import UsageError

SHELLS = ("bash", "zsh", "fish", "powershell")


def check_shell(shell: str | None) -> None:
    """Refuse a shell the exports cannot be written for (None: the default, always known)."""
    if shell is not None and shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}", f"Use one of: {', '.join(SHELLS)}.")


def render_exports(variables: dict[str, str], shell: str, bin_dir: str, *, bin_last: bool = False) -> str:
    """``variables`` as the export lines of ``shell`` (PATH puts the lab's bin before the shell's own, or
    after it with ``bin_last``)."""
    check_shell(shell)
    lines = []
    for name, value in variables.items():
        if name == "PATH":
            continue
        lines.append(_export(shell, name, value))
    lines.append(_path_line(shell, bin_dir, first=not bin_last))
    return "\n".join(lines) + "\n"


def _export(shell: str, name: str, value: str) -> str:
    if shell == "fish":
        return f"set -gx {name} {_fish_quote(value)}"
    if shell == "powershell":
        return f"$env:{name} = {_ps_quote(value)}"
    return f"export {name}={shlex.quote(value)}"


def _path_line(shell: str, bin_dir: str, *, first: bool) -> str:
    """The line that puts ``bin_dir`` on PATH, before the shell's own entries or after them."""
    if shell == "fish":
        parts = [_fish_quote(bin_dir), "$PATH"]
        return "set -gx PATH " + " ".join(parts if first else parts[::-1])
    if shell == "powershell":
        parts = [_ps_quote(bin_dir), "$env:PATH"]
        return "$env:PATH = " + " + [IO.Path]::PathSeparator + ".join(parts if first else parts[::-1])
    parts = [shlex.quote(bin_dir), '"$PATH"']
    return "export PATH=" + ":".join(parts if first else parts[::-1])


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ps_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def default_shell() -> str:
    name = Path(os.environ.get("SHELL", "bash")).name
    return name if name in SHELLS else "bash"
