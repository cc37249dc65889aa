"""The team file: what a trainer hands out so that setup, lessons, doctor and the lab agree.

A small TOML file (format version 1) naming the team's region and profile, where the Session Manager
plugin comes from, the S3 locations for file transfer and session logs, the lessons to run and the
instances people connect to, each with an alias::

    version = 1
    team = "data-team"
    region = "ap-northeast-1"
    profile = "ssm"

    [transfer]
    bucket = "data-team-transfer"
    prefix = "users/"

    [[instances]]
    alias = "jupyter"
    id = "i-0123456789abcdef0"
    users = ["analyst"]
    connect_as = "analyst"            # who `onboard connect jupyter` lands as (default: ssm-user)
    services = { jupyter = 8888 }     # web applications on it, for `onboard forward`

:func:`load_team` validates everything at once and reports the first problem with the file, the key
and the fix; unknown keys are refused with a "did you mean", so a typo never silently loses a setting.
:func:`dump_team` writes the same format back (the practice lab writes its team file with it).

The package by job: :mod:`.model` holds what a team file is (the typed result), :mod:`.reader` finds,
reads and validates one, :mod:`.writer` writes one. A new key touches those three: its field, its check,
its line.
"""

from __future__ import annotations

# The facts callers used to import from here; their one source is onboard.facts.
from onboard.facts import DEFAULT_PROFILE, INSTANCE_ID, OS_USER
from onboard.team.model import (
    ALIAS,
    FORMAT_VERSION,
    Instance,
    LessonSettings,
    Location,
    PluginSource,
    TeamFile,
    TeamFileError,
    endpoint_is_trusted,
)
from onboard.team.reader import TEAM_ENV, find_team, load_team, team_path, valid_bucket_name
from onboard.team.writer import dump_team

__all__ = [
    "ALIAS",
    "DEFAULT_PROFILE",
    "FORMAT_VERSION",
    "INSTANCE_ID",
    "OS_USER",
    "TEAM_ENV",
    "Instance",
    "LessonSettings",
    "Location",
    "PluginSource",
    "TeamFile",
    "TeamFileError",
    "dump_team",
    "endpoint_is_trusted",
    "find_team",
    "load_team",
    "team_path",
    "valid_bucket_name",
]
