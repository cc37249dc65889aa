"""The team files a lab writes for its world, so that setup, lessons and doctor find everything in them:
the lab's own (``team.toml`` in the state folder) and, for a class lab, the one in each learner's kit."""

from __future__ import annotations

from pathlib import Path

from onboard.facts import DEFAULT_PROFILE
from onboard.lab.state import LabPaths, write_text_atomic
from onboard.lab.world import World
from onboard.team import PluginSource, TeamFile

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
    ca_bundle: Path | None = None,
) -> Path:
    """Write ``team.toml`` for the lab (validated by reading it back with onboard.team.load_team)."""
    from onboard.team import dump_team, load_team

    plugin = None
    if downloads_dir is not None:
        plugin = PluginSource(
            download_url=f"{endpoint_url}/_onboard/downloads/plugin/",
            signing_key=signing_key,
            signing_key_fingerprint=fingerprint,
        )
    team = _lab_team(world, paths.team_file, endpoint_url, plugin=plugin, ca_bundle=ca_bundle)
    write_text_atomic(paths.team_file, dump_team(team))
    load_team(paths.team_file)
    return paths.team_file


def kit_team_text(world: World, endpoint_url: str, path: Path, ca_bundle: Path) -> str:
    """The team file of a class lab's kit at ``path``: the https endpoint, the CA beside it (written as
    ``ca_bundle = "ca.pem"``), progress published for the trainer's report, no plugin download (the lab's
    plugin launcher runs the trainer's Python, which learners' computers do not have)."""
    from onboard.team import dump_team

    return dump_team(_lab_team(world, path, endpoint_url, ca_bundle=ca_bundle, publish=True))


def _lab_team(
    world: World,
    path: Path,
    endpoint_url: str,
    *,
    plugin: PluginSource | None = None,
    ca_bundle: Path | None = None,
    publish: bool = False,
) -> TeamFile:
    from onboard.team import Instance, LessonSettings, Location

    return TeamFile(
        path=path,
        version=1,
        team=world.team,
        region=world.region,
        profile=DEFAULT_PROFILE,
        plugin=plugin,
        endpoint_url=endpoint_url,
        ca_bundle=ca_bundle,
        transfer=Location(world.transfer_bucket, world.transfer_prefix),
        session_logs=Location(world.log_bucket, world.log_prefix),
        lessons=LessonSettings(target_user=LESSON_TARGET_USER, publish=publish),
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
