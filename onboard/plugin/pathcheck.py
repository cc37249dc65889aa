"""Which ``session-manager-plugin`` the AWS CLI will run: it looks on PATH only, first match wins.

Used by the installer (to say whether the copy it installed is the one that runs) and by doctor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from onboard.plugin.formats import PLUGIN_NAME


@dataclass(frozen=True)
class PathHint:
    """The line that puts a folder first on PATH, and the shell startup file it belongs in."""

    shell: str
    file: str
    line: str

    def __str__(self) -> str:
        return f"add this line to {self.file}, then open a new terminal:\n    {self.line}"

    def to_dict(self) -> dict[str, str]:
        return {"shell": self.shell, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class PathReport:
    """Which ``session-manager-plugin`` the AWS CLI will run (it looks on PATH only)."""

    #: Every copy on PATH, in PATH order.
    found: tuple[Path, ...]
    on_path_first: bool
    #: Copies that come before the installed one (or all copies, when the installed one is not on PATH).
    shadowed_by: tuple[Path, ...]
    hint: PathHint | None


def copies_on_path(path_env: str | None = None, windows: bool | None = None) -> list[Path]:
    """Every ``session-manager-plugin`` executable on PATH, in the order a shell finds them."""
    windows = os.name == "nt" if windows is None else windows
    names = (
        [f"{PLUGIN_NAME}{suffix}" for suffix in (".exe", ".cmd", ".bat", "")] if windows else [PLUGIN_NAME]
    )
    found: list[Path] = []
    for folder in (path_env if path_env is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not folder:
            continue
        for name in names:
            candidate = Path(folder).expanduser() / name
            if candidate.is_file() and os.access(candidate, os.X_OK) and candidate not in found:
                found.append(candidate)
    return found


def path_hint(folder: Path, *, login_shell: str | None = None, windows: bool | None = None) -> PathHint:
    """The exact line that puts ``folder`` first on PATH for the user's shell."""
    windows = os.name == "nt" if windows is None else windows
    if windows:
        return PathHint("powershell", "$PROFILE", f'$env:Path = "{folder};" + $env:Path')
    shell_name = Path(login_shell if login_shell is not None else os.environ.get("SHELL", "")).name
    home = Path.home()
    shown = f"$HOME/{folder.relative_to(home)}" if folder.is_relative_to(home) else str(folder)
    if shell_name == "fish":
        fish_folder = f"~/{folder.relative_to(home)}" if folder.is_relative_to(home) else str(folder)
        return PathHint("fish", "~/.config/fish/config.fish", f"fish_add_path --move --path {fish_folder}")
    line = f'export PATH="{shown}:$PATH"'
    if shell_name == "zsh":
        return PathHint("zsh", "~/.zshrc", line)
    if shell_name == "bash":
        return PathHint("bash", "~/.bashrc", line)
    return PathHint(shell_name or "sh", "~/.profile", line)


def path_report(link: Path, path_env: str | None = None) -> PathReport:
    """Whether ``link`` is the first plugin on PATH; what comes before it, and the line that fixes it."""
    found = copies_on_path(path_env)
    mine = [index for index, copy in enumerate(found) if same_file(copy, link)]
    if mine and mine[0] == 0:
        return PathReport(tuple(found), True, (), None)
    before = found[: mine[0]] if mine else found
    return PathReport(tuple(found), False, tuple(before), path_hint(link.parent))


def same_file(one: Path, other: Path) -> bool:
    """Whether two paths name the same file (through links); False when either is missing."""
    try:
        return one.resolve() == other.resolve() or one.samefile(other)
    except OSError:
        return False
