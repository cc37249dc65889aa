"""`onboard plugin`: install, check and remove the Session Manager plugin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from onboard.cli._common import JsonOption, OptionalPath, OptionalText, finish

app = typer.Typer(
    help=(
        "Install, check and remove the Session Manager plugin the AWS CLI runs for "
        "`aws ssm start-session` (in your own folders, no root needed).\n\n"
        "Example: onboard plugin install"
    ),
    no_args_is_help=True,
)


BinDirOption = Annotated[
    OptionalPath,
    typer.Option("--bin-dir", help="The folder of the session-manager-plugin link (default: ~/.local/bin)."),
]


@app.command("install")
def install_command(
    version: Annotated[
        str, typer.Option("--version", help="A plugin version such as 1.2.764.0, or latest.")
    ] = "latest",
    download_url: Annotated[
        OptionalText,
        typer.Option(
            "--download-url",
            help="A mirror laid out like AWS's download site (default: $ONBOARD_PLUGIN_DOWNLOAD_URL, "
            "else AWS's).",
        ),
    ] = None,
    bundle_file: Annotated[
        OptionalPath,
        typer.Option(
            "--bundle-file",
            help="Install from this downloaded bundle (its .sig beside it is checked; without one it is "
            "refused).",
        ),
    ] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Install a --bundle-file that has no .sig beside it, unverified (said loudly).",
        ),
    ] = False,
    system: Annotated[
        bool, typer.Option("--system", help="Use AWS's own installer with sudo, for every user.")
    ] = False,
    bin_dir: BinDirOption = None,
    team: Annotated[
        OptionalPath,
        typer.Option(
            "--team", help="A team file: its mirror and extra signing key (default: $ONBOARD_TEAM)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before running sudo.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Download, verify and install the Session Manager plugin, then check it runs and is first on PATH.

    The download's OpenPGP signature is checked against AWS's pinned key; the previous version stays in
    use until the new one has passed every check.

    Example: onboard plugin install --version 1.2.764.0
    """
    from onboard.errors import UsageError
    from onboard.output import Outcome
    from onboard.platform import detect
    from onboard.plugin.install import install_plugin
    from onboard.team import find_team

    team_file = find_team(team)
    trusted: list[Any] = []
    if team_file is not None and team_file.plugin is not None:
        download_url = download_url or team_file.plugin.download_url
        trusted = team_file.plugin.trusted_keys()
    if system and not yes:
        if as_json or not sys.stdin.isatty():
            raise UsageError("--system runs the official installer with sudo: confirm with --yes")
        typer.confirm("Run AWS's installer with sudo, for every user of this machine?", abort=True)
    result = install_plugin(
        platform=detect(),
        version=version,
        download_url=download_url,
        bundle_file=bundle_file,
        allow_unverified=allow_unverified,
        system=system,
        bin_dir=bin_dir,
        extra_trusted_keys=trusted,
        progress=not as_json,
    )
    warnings = list(result.notes)
    if not result.on_path_first:
        warnings.append(_path_warning(result.link, result.shadowed_by))
    finish(Outcome("plugin.install", result.to_dict(), _render_install, warnings=warnings), as_json=as_json)


@app.command("status")
def status_command(bin_dir: BinDirOption = None, as_json: JsonOption = False) -> None:
    """Show the installed plugin, the copy the AWS CLI will run, and anything wrong with them.

    Exits 1 when the AWS CLI would find no plugin, an outdated one, or not onboard's.

    Example: onboard plugin status --json
    """
    from onboard.errors import ExitCode
    from onboard.output import Outcome
    from onboard.plugin.status import plugin_status

    status = plugin_status(bin_dir)
    exit_code = ExitCode.OK if status.ok else ExitCode.FAILURE
    finish(Outcome("plugin.status", status.to_dict(), _render_status, exit_code=exit_code), as_json=as_json)


@app.command("uninstall")
def uninstall_command(bin_dir: BinDirOption = None, as_json: JsonOption = False) -> None:
    """Remove the plugin onboard installed (its link and version folders); other copies are left alone.

    Example: onboard plugin uninstall
    """
    from onboard.output import Outcome
    from onboard.plugin.status import uninstall_plugin

    result = uninstall_plugin(bin_dir)
    finish(Outcome("plugin.uninstall", result.to_dict(), _render_uninstall), as_json=as_json)


def _path_warning(link: Path, shadowed_by: tuple[Path, ...]) -> str:
    if shadowed_by:
        names = ", ".join(str(path) for path in shadowed_by)
        return (
            f"the AWS CLI will run {names} instead of {link}: remove it, or put {link.parent} first on PATH"
        )
    return f"{link.parent} is not on PATH, so the AWS CLI will not find the plugin"


def _render_install(out, data: dict[str, Any]) -> None:
    from onboard.output import escape

    if data["changed"]:
        out.print(f"Installed session-manager-plugin {data['version']}.")
    else:
        out.print(f"session-manager-plugin {data['version']} is already installed; nothing changed.")
    if data["source"]:
        out.print(f"  from      {escape(data['source'])} ({data['bundle_kind']})")
    if data["verified_by"] == "unverified":
        out.print("  verified  [bold red]NOT VERIFIED[/bold red] (no signature was checked for this bundle)")
    else:
        out.print(f"  verified  {data['verified_by']} signature by {escape(data['signature_key'])}")
    out.print(f"  binary    {escape(data['path'])}")
    out.print(f"  link      {escape(data['link'])}")
    if data.get("backed_up"):
        out.print(f"  the copy that was at the link is kept as {escape(data['backed_up'])}")
    _render_path(out, data)


def _render_path(out, data: dict[str, Any]) -> None:
    from onboard.output import escape

    if data["on_path_first"]:
        out.print("PATH: ok, `aws ssm start-session` will run this copy.")
        return
    for path in data["shadowed_by"]:
        out.print(f"PATH: [yellow]{escape(path)} comes first[/yellow]; remove it or move it aside.")
    hint = data.get("path_hint")
    if hint:
        out.print(
            f"To put {escape(str(Path(data['link']).parent))} first on PATH, add this line to {hint['file']}"
        )
        out.print(f"and open a new terminal:\n    {escape(hint['line'])}")


def _render_status(out, data: dict[str, Any]) -> None:
    from onboard.output import escape

    if data["installed_version"]:
        out.print(f"onboard installed: {data['installed_version']} at {escape(data['installed_path'])}")
        out.print(f"  link {escape(data['link'])}: {'ok' if data['link_ok'] else 'missing or elsewhere'}")
    else:
        out.print("onboard installed: nothing (see `onboard plugin install`)")
    if data["active_path"]:
        version = data["active_version"] or "unknown version"
        out.print(f"The AWS CLI will run: {escape(data['active_path'])} ({version})")
    for problem in data["problems"]:
        out.print(f"[red]problem:[/red] {escape(problem)}")
    hint = data.get("path_hint")
    if hint and not data["on_path_first"]:
        out.print(f"Fix PATH: add this line to {hint['file']}, then open a new terminal:")
        out.print(f"    {escape(hint['line'])}")
    if not data["problems"]:
        out.print(f"OK: plugin {data['active_version']} (minimum {data['minimum_version']}).")


def _render_uninstall(out, data: dict[str, Any]) -> None:
    from onboard.output import escape

    if not data["removed"] and not data["restored"]:
        out.print("Nothing to remove: onboard has not installed the plugin here.")
    for path in data["removed"]:
        out.print(f"Removed {escape(path)}")
    if data["restored"]:
        out.print(f"Restored the copy that was there before onboard: {escape(data['restored'])}")
    for path in data["left_alone"]:
        out.print(f"Left alone (not installed by onboard): {escape(path)}")
