"""The ``{{name}}`` values of a lesson: from the team file, the learner's identity and the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MISSING = "<not in the team file>"


def lesson_variables(
    team: Any, instance_alias: str | None, *, user: str | None, profile: str, workdir: Path, nonce: str = ""
) -> dict[str, str]:
    """Every {{name}} a lesson may use (onboard.lessons.format.VARIABLES), filled in."""
    instances = list(team.instances)
    chosen = team.instance(instance_alias) if instance_alias else (instances[0] if instances else None)
    others = [item for item in instances if chosen is None or item.id != chosen.id]
    other = others[0] if others else chosen
    learner = user or "<you>"
    values = {
        "profile": profile,
        "region": team.region,
        "user": learner,
        "bucket": team.transfer.bucket if team.transfer else MISSING,
        "prefix": team.transfer.user_prefix(learner) if team.transfer else MISSING,
        "log_bucket": team.session_logs.bucket if team.session_logs else MISSING,
        "target_user": team.lessons.target_user
        or next((u for i in instances for u in i.users), None)
        or MISSING,
        "nonce": nonce,
        "workdir": str(workdir),
    }
    for prefix, instance in (("instance", chosen), ("other_instance", other)):
        values[f"{prefix}.alias"] = instance.alias if instance else MISSING
        values[f"{prefix}.id"] = instance.id if instance else MISSING
        values[f"{prefix}.name"] = (instance.name or instance.alias) if instance else MISSING
    return values


def practice_dir(team: str, profile: str) -> Path:
    """The practice folder on this computer: files the lessons download and write go here."""
    from onboard.paths import app_dirs

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in f"{team}-{profile}")
    return app_dirs().data / "lessons" / "practice" / safe
