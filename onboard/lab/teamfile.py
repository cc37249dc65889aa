"""The team file a lab writes for its world, so that setup, lessons and doctor find everything in it."""

from __future__ import annotations

from pathlib import Path

from onboard.facts import DEFAULT_PROFILE
from onboard.lab.state import LabPaths, write_text_atomic
from onboard.lab.world import World

#: The OS user the lessons switch to with sudo (every default instance has it, but redash).
LESSON_TARGET_USER = "analyst"


def write_team_file(
    paths: LabPaths,
    world: World,
    endpoint_url: str,
    downloads_dir: Path | None,
    *,
    signing_key: Path | None = None,
    fingerprint: str | None = None,
) -> Path:
    """Write ``team.toml`` for the lab (validated by reading it back with onboard.team.load_team)."""
    from onboard.team import Instance, LessonSettings, Location, PluginSource, TeamFile, dump_team, load_team

    plugin = None
    if downloads_dir is not None:
        plugin = PluginSource(
            download_url=f"{endpoint_url}/_onboard/downloads/plugin/",
            signing_key=signing_key,
            signing_key_fingerprint=fingerprint,
        )
    team = TeamFile(
        path=paths.team_file,
        version=1,
        team=world.team,
        region=world.region,
        profile=DEFAULT_PROFILE,
        plugin=plugin,
        endpoint_url=endpoint_url,
        transfer=Location(world.transfer_bucket, world.transfer_prefix),
        session_logs=Location(world.log_bucket, world.log_prefix),
        lessons=LessonSettings(target_user=LESSON_TARGET_USER),
        instances=tuple(
            Instance(
                alias=spec.alias,
                id=spec.instance_id,
                name=spec.alias,
                users=spec.users,
                services=spec.services,
            )
            for spec in world.instances
        ),
    )
    write_text_atomic(paths.team_file, dump_team(team))
    load_team(paths.team_file)
    return paths.team_file
