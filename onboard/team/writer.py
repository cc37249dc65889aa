"""Writing a team file: :func:`dump_team` gives TOML text that :func:`onboard.team.load_team` reads back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onboard.team.model import LessonSettings, TeamFile


def dump_team(team: TeamFile) -> str:
    """``team`` as TOML text that :func:`load_team` reads back; paths inside its folder stay relative."""
    base = team.path.resolve().parent
    lines = [
        f"version = {team.version}",
        f"team = {_toml(team.team)}",
        f"region = {_toml(team.region)}",
        f"profile = {_toml(team.profile)}",
    ]
    if team.ca_bundle is not None:
        lines.append(f"ca_bundle = {_toml(_relative(team.ca_bundle, base))}")

    def section(header: str, values: dict[str, Any]) -> None:
        lines.extend(["", header])
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items() if value is not None)

    if team.plugin is not None:
        section(
            "[plugin]",
            {
                "download_url": team.plugin.download_url,
                "signing_key": _relative(team.plugin.signing_key, base),
                "signing_key_fingerprint": team.plugin.signing_key_fingerprint,
            },
        )
    if team.endpoint_url is not None:
        section("[endpoint]", {"url": team.endpoint_url})
    for name, location in (("transfer", team.transfer), ("session_logs", team.session_logs)):
        if location is not None:
            section(f"[{name}]", {"bucket": location.bucket, "prefix": location.prefix})
    if team.lessons != LessonSettings():
        section(
            "[lessons]",
            {
                "dir": _relative(team.lessons.dir, base),
                "select": list(team.lessons.select),
                "target_user": team.lessons.target_user,
                "publish": team.lessons.publish,
            },
        )
    for instance in team.instances:
        section(
            "[[instances]]",
            {
                "alias": instance.alias,
                "id": instance.id,
                "name": instance.name,
                "users": list(instance.users),
                "connect_as": instance.connect_as,
                "services": dict(instance.services) or None,
            },
        )
    return "\n".join(lines) + "\n"


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string once DEL, which TOML also wants escaped, is escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(key)} = {_toml(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a team file")
