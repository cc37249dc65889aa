"""`onboard forward`: open a team web application (or any port) of an instance on localhost."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import OptionalPort, OptionalText
from onboard.cli.hosts import ProfileOption, TeamOption


def forward_command(
    host: Annotated[str, typer.Argument(metavar="HOST", help="The instance: an alias, Name tag or id.")],
    service: Annotated[
        OptionalText,
        typer.Argument(
            metavar="[SERVICE|REMOTE_PORT]", help="A web application the team file names, or a port."
        ),
    ] = None,
    local_port: Annotated[
        OptionalPort,
        typer.Option(
            "--local-port",
            metavar="N",
            min=1,
            max=65535,
            help="The port on this computer (default: the same).",
        ),
    ] = None,
    remote_host: Annotated[
        OptionalText,
        typer.Option(
            "--remote-host", metavar="H", help="A host behind the instance (a database), reached through it."
        ),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the browser once the tunnel answers.")
    ] = False,
    profile: ProfileOption = None,
    team: TeamOption = None,
) -> None:
    """Forward a local port to a port on an instance (or behind it) until Ctrl-C.

    Example: onboard forward jupyter --open
    """
    import sys

    from onboard.everyday.aliases import load_aliases
    from onboard.everyday.forward import forward, plan
    from onboard.everyday.hosts import find_target
    from onboard.everyday.picker import terminal_chooser
    from onboard.everyday.reach import Reach

    reach = Reach.create(profile, team)
    instance_id = find_target(reach, load_aliases(), host, terminal_chooser())
    tunnel = plan(reach, instance_id, host, service, local_port, remote_host)

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    code = forward(reach, tunnel, open_browser=open_browser, say=say)
    say("Forwarding stopped.")
    raise typer.Exit(code)
