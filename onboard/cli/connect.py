"""`onboard connect`: a shell on an instance by alias, Name tag or id, as the user you need."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import OptionalText
from onboard.cli.hosts import ProfileOption, TeamOption


def connect_command(
    target: Annotated[
        OptionalText,
        typer.Argument(metavar="[ALIAS|NAME|ID]", help="The instance (default: pick one from a list)."),
    ] = None,
    user: Annotated[
        OptionalText,
        typer.Option(
            "--user",
            "-u",
            help="Land as this OS user (sudo -iu USER; default: the team file's, else ssm-user).",
        ),
    ] = None,
    profile: ProfileOption = None,
    team: TeamOption = None,
) -> None:
    """Open a Session Manager shell on an instance, as the OS user you work as there.

    Example: onboard connect jupyter --user analyst
    """
    from onboard.everyday.aliases import load_aliases
    from onboard.everyday.connect import check_os_user, connect
    from onboard.everyday.hosts import find_target
    from onboard.everyday.picker import terminal_chooser
    from onboard.everyday.reach import Reach

    check_os_user("--user", user)
    reach = Reach.create(profile, team)
    instance_id = find_target(reach, load_aliases(), target, terminal_chooser())
    raise typer.Exit(connect(reach, instance_id, user))
