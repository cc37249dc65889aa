"""The user's own host aliases: ``onboard hosts alias NAME ID`` writes them, the everyday commands read them.

One small TOML file in onboard's config folder (``~/.config/onboard/aliases.toml`` on Linux)::

    # onboard's host aliases (onboard hosts alias NAME ID / onboard hosts unalias NAME)
    [aliases]
    "notebook" = "i-0a1b2c3d4e5f60001"

Written like every file onboard writes (:mod:`onboard.fileio`): under a lock, atomically, private, with a
bounded backup of what was there. Team-file aliases are the trainer's: a user alias may not shadow one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from onboard import tomlfile
from onboard.errors import UsageError
from onboard.fileio import atomic_write_text, file_lock, keep_backup, private_folder
from onboard.team import ALIAS, INSTANCE_ID, TeamFile

FILE_NAME = "aliases.toml"
_WRITE_AGAIN = "remove it and add your aliases again (onboard hosts alias)"
_HEADER = "# onboard's host aliases (onboard hosts alias NAME ID / onboard hosts unalias NAME)\n"


def aliases_path() -> Path:
    from onboard.paths import app_dirs

    return app_dirs().config / FILE_NAME


def load_aliases(path: Path | None = None) -> dict[str, str]:
    """alias -> instance id from the user's file ({} when there is none)."""
    path = path or aliases_path()
    # The one TOML reader: a FIFO or a huge file named aliases.toml is refused, not read forever.
    try:
        table = tomlfile.load(path, "your aliases file", fresh=_WRITE_AGAIN).get("aliases", {})
    except FileNotFoundError:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [aliases] is not a table", 'Write lines like "name" = "i-0123...".')
    return {
        str(name): instance_id
        for name, instance_id in table.items()
        if isinstance(instance_id, str) and INSTANCE_ID.fullmatch(instance_id)
    }


def add_alias(name: str, instance_id: str, team: TeamFile | None, path: Path | None = None) -> Path:
    """Add (or change) the alias ``name`` for ``instance_id``; return the file written."""
    if not ALIAS.fullmatch(name) or name.startswith("i-"):
        raise UsageError(
            f"{name!r} cannot be an alias",
            "Use letters, digits, '.', '_' and '-' (at most 64), not starting with i-.",
        )
    if not INSTANCE_ID.fullmatch(instance_id):
        raise UsageError(
            f"{instance_id!r} is not an instance id",
            "An instance id is i- and 8 or 17 lower-case hex digits (see onboard hosts).",
        )
    if team is not None:
        for instance in team.instances:
            if instance.alias == name and instance.id != instance_id:
                raise UsageError(
                    f"{name!r} is the team file's alias for {instance.id}",
                    "Choose another name: team aliases are shared by everyone and cannot be shadowed.",
                )
    return _update(path or aliases_path(), lambda aliases: {**aliases, name: instance_id})


def remove_alias(name: str, path: Path | None = None) -> Path:
    """Remove the user's alias ``name``; a UsageError when there is no such alias."""
    path = path or aliases_path()
    if name not in load_aliases(path):
        known = ", ".join(sorted(load_aliases(path))) or "none"
        raise UsageError(
            f"you have no alias {name!r}", f"Your aliases: {known}. Team aliases cannot be removed."
        )
    return _update(path, lambda aliases: {k: v for k, v in aliases.items() if k != name})


def _update(path: Path, change) -> Path:
    private_folder(path.parent)
    with file_lock(path, what="your aliases file"):
        before = path.read_bytes() if path.exists() else None
        aliases = change(load_aliases(path))
        if before is not None:
            keep_backup(path, before)
        atomic_write_text(path, render(aliases))
    return path


def render(aliases: Mapping[str, str]) -> str:
    lines = [_HEADER, "[aliases]\n"]
    lines += [f"{json.dumps(name)} = {json.dumps(aliases[name])}\n" for name in sorted(aliases)]
    return "".join(lines)
