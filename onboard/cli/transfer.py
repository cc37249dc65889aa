"""`onboard transfer`: move a file to or from an instance through the team's transfer bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onboard.cli._common import JsonOption, OptionalText, finish
from onboard.cli.hosts import ProfileOption, TeamOption

app = typer.Typer(
    help=(
        "Move a file to or from an instance through the team's transfer bucket (the S3 relay done "
        "for you: checksums at both ends, the relay object removed).\n\n"
        "Example: onboard transfer put report.csv jupyter:"
    ),
    no_args_is_help=True,
)

AsOption = Annotated[
    OptionalText, typer.Option("--as", metavar="USER", help="Read or write the file as this OS user there.")
]


def _render(out, data) -> None:
    from onboard.output import escape

    arrow = f"{data['local']} -> {data['instance']}:{data['remote']}"
    if data["direction"] == "get":
        arrow = f"{data['instance']}:{data['remote']} -> {data['local']}"
    who = f" as {data['as_user']}" if data["as_user"] else ""
    out.print(f"{escape(arrow)}{who}: {data['size']} bytes, SHA-256 {data['sha256']} checked at both ends.")


def _run(direction: str, reach_args: tuple, host: str, work, as_json: bool) -> None:
    import sys

    from onboard.everyday.aliases import load_aliases
    from onboard.everyday.hosts import find_target
    from onboard.everyday.picker import terminal_chooser
    from onboard.everyday.reach import Reach
    from onboard.output import Outcome

    reach = Reach.create(*reach_args)
    instance_id = find_target(reach, load_aliases(), host, terminal_chooser())
    result = work(reach, instance_id, progress=sys.stderr.isatty() and not as_json)
    finish(Outcome(f"transfer.{direction}", result.to_dict(), _render), as_json=as_json)


@app.command("put")
def put_command(
    local: Annotated[Path, typer.Argument(metavar="LOCAL", help="The file on this computer.")],
    remote: Annotated[
        str, typer.Argument(metavar="HOST:PATH", help="Where on the instance (relative to your home).")
    ],
    as_user: AsOption = None,
    profile: ProfileOption = None,
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a file from this computer to an instance.

    HOST is an alias, Name tag or id; PATH a file or a folder, relative to your home there (empty: your home).

    Example: onboard transfer put report.csv jupyter:data/ --as analyst
    """
    from onboard.everyday.connect import check_os_user
    from onboard.everyday.transfer import parse_remote, put

    check_os_user("--as", as_user)
    target = parse_remote(remote if not remote.endswith(":") else remote + ".")
    _run(
        "put",
        (profile, team),
        target.host,
        lambda reach, instance_id, progress: put(
            reach, local, instance_id, target.path, as_user, progress=progress
        ),
        as_json,
    )


@app.command("get")
def get_command(
    remote: Annotated[
        str, typer.Argument(metavar="HOST:PATH", help="The file on the instance (relative to your home).")
    ],
    local: Annotated[
        Path, typer.Argument(metavar="LOCAL", help="Where on this computer (a file or a folder).")
    ] = Path("."),
    as_user: AsOption = None,
    profile: ProfileOption = None,
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a file from an instance to this computer.

    Example: onboard transfer get jupyter:results/model.pkl ./
    """
    from onboard.everyday.connect import check_os_user
    from onboard.everyday.transfer import get, parse_remote

    check_os_user("--as", as_user)
    target = parse_remote(remote)
    _run(
        "get",
        (profile, team),
        target.host,
        lambda reach, instance_id, progress: get(
            reach, instance_id, target.path, local, as_user, progress=progress
        ),
        as_json,
    )
