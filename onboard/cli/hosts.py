"""`onboard hosts`: the instances your profile reaches, your aliases for them, and shell aliases."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import Environment, JsonOption, OptionalText, finish

ProfileOption = Annotated[
    OptionalText, typer.Option("--profile", help="The AWS profile (default: the team file's, else ssm).")
]
TeamOption = Annotated[
    OptionalText, typer.Option("--team", metavar="<path>", help="The team file (default: $ONBOARD_TEAM).")
]

app = typer.Typer(
    help=(
        "The instances your profile can reach (alias, Name tag, id, ping status, platform, agent), and "
        "your own aliases for them.\n\nExample: onboard hosts"
    ),
    invoke_without_command=True,
)


@app.callback()
def hosts_command(
    ctx: typer.Context,
    profile: ProfileOption = None,
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the instances your profile reaches; those Session Manager cannot reach say why.

    Example: onboard hosts --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if isinstance(ctx.obj, Environment):  # a group's own callback is not recorded by main(): say it here
        ctx.obj.command, ctx.obj.as_json = "hosts", as_json
    from onboard.everyday.aliases import load_aliases
    from onboard.everyday.hosts import list_hosts
    from onboard.everyday.reach import Reach
    from onboard.output import Outcome

    listing = list_hosts(Reach.create(profile, team), load_aliases())
    finish(Outcome("hosts", listing.to_dict(), _render_hosts), as_json=as_json)


def _render_hosts(out, data) -> None:
    from rich.table import Table

    from onboard.output import escape

    if not data["hosts"]:
        out.print("This profile sees no instances. Check the region and profile: onboard doctor.")
    table = Table(box=None, pad_edge=False)
    for column in ("alias", "name", "id", "ping", "platform", "agent"):
        table.add_column(column)
    for host in data["hosts"]:
        ping = host["ping_status"] if host["reachable"] else f"[red]{host['ping_status']}[/red]"
        table.add_row(
            escape(", ".join(host["aliases"]) or "-"),
            escape(host["name"] or "-"),
            host["id"],
            ping,
            escape(host["platform"] or "-"),
            escape(host["agent_version"] or "-"),
        )
    out.print(table)
    for host in data["hosts"]:
        if not host["reachable"]:
            out.print(f"{host['id']} cannot be reached: {escape(host['why_unreachable'])}")
    for note in data["notes"]:
        out.print(f"[yellow]note:[/yellow] {escape(note)}")


@app.command("alias")
def alias_command(
    name: Annotated[str, typer.Argument(help="The alias to give (letters, digits, . _ -).")],
    instance_id: Annotated[str, typer.Argument(metavar="ID", help="The instance id it stands for.")],
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an instance your own alias (kept in onboard's config folder).

    Example: onboard hosts alias notebook i-0a1b2c3d4e5f60001
    """
    from onboard.everyday.aliases import add_alias
    from onboard.output import Outcome
    from onboard.team import find_team

    path = add_alias(name, instance_id, find_team(team))
    data = {"alias": name, "id": instance_id, "file": str(path)}
    finish(Outcome("hosts.alias", data, _render_alias), as_json=as_json)


def _render_alias(out, data) -> None:
    out.print(f"{data['alias']} now means {data['id']}: onboard connect {data['alias']}")


@app.command("unalias")
def unalias_command(
    name: Annotated[str, typer.Argument(help="Your alias to remove.")],
    as_json: JsonOption = False,
) -> None:
    """Remove one of your own aliases (team-file aliases stay).

    Example: onboard hosts unalias notebook
    """
    from onboard.everyday.aliases import remove_alias
    from onboard.output import Outcome

    path = remove_alias(name)
    data = {"alias": name, "file": str(path)}
    finish(
        Outcome("hosts.unalias", data, lambda out, d: out.print(f"{d['alias']} removed.")), as_json=as_json
    )


@app.command("shell-aliases")
def shell_aliases_command(
    shell: Annotated[
        OptionalText,
        typer.Option("--shell", metavar="bash|zsh|fish|powershell", help="The shell (default: yours)."),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="Aliases running `aws ssm start-session` itself, not onboard.")
    ] = False,
    profile: ProfileOption = None,
    team: TeamOption = None,
) -> None:
    """Print a shell alias per host alias, for your shell's startup file.

    Example: onboard hosts shell-aliases --shell zsh >> ~/.zshrc
    """
    import sys

    from onboard.errors import UsageError
    from onboard.everyday.aliases import load_aliases
    from onboard.everyday.hosts import all_aliases
    from onboard.everyday.reach import Reach
    from onboard.everyday.shellaliases import Shell, login_shell, shell_aliases

    try:
        chosen = Shell(shell) if shell else login_shell()
    except ValueError:
        raise UsageError(
            f"--shell {shell!r} is not a shell onboard writes aliases for",
            "Use bash, zsh, fish or powershell.",
        ) from None
    reach = Reach.create(profile, team)
    result = shell_aliases(reach, all_aliases(reach, load_aliases()), chosen, plain=plain)
    for line in result.lines:
        typer.echo(line)
    # The instruction goes to stderr, so that `>> ~/.bashrc` appends only the aliases.
    if not result.lines:
        sys.stderr.write("No aliases yet: the team file has none, and you made none (onboard hosts alias).\n")
    else:
        sys.stderr.write(f"Add them to your shell: {result.how_to_add}\n")
