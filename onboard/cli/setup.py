"""`onboard setup`: the wizard that installs the plugin and writes the ssm profile."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import JsonOption, OptionalFlag, OptionalPath, OptionalText, finish


def setup_command(
    team: Annotated[
        OptionalPath,
        typer.Option("--team", help="The team file your trainer gave you (default: $ONBOARD_TEAM)."),
    ] = None,
    profile: Annotated[OptionalText, typer.Option("--profile", help="Profile name (default: ssm).")] = None,
    region: Annotated[OptionalText, typer.Option("--region", help="AWS region, e.g. eu-west-1.")] = None,
    output: Annotated[OptionalText, typer.Option("--output", help="AWS CLI output format (json).")] = None,
    credentials_csv: Annotated[
        OptionalPath,
        typer.Option("--credentials-csv", help="The access-key CSV downloaded from the IAM console."),
    ] = None,
    access_key_id: Annotated[
        OptionalText,
        typer.Option(
            "--access-key-id",
            help="Access key ID (the secret comes from --secret-access-key-stdin or "
            "$ONBOARD_SECRET_ACCESS_KEY, never from the command line).",
        ),
    ] = None,
    secret_access_key_stdin: Annotated[
        bool,
        typer.Option("--secret-access-key-stdin", help="Read the secret access key from standard input."),
    ] = False,
    plugin: Annotated[
        OptionalFlag,
        typer.Option(
            "--plugin/--no-plugin", help="Install the Session Manager plugin (default: if missing)."
        ),
    ] = None,
    aws_cli: Annotated[
        OptionalFlag,
        typer.Option("--aws-cli/--no-aws-cli", help="Install AWS CLI v2 if no usable AWS CLI is found."),
    ] = None,
    download_url: Annotated[
        OptionalText, typer.Option("--download-url", help="Download the plugin from this mirror.")
    ] = None,
    bundle_file: Annotated[
        OptionalPath, typer.Option("--bundle-file", help="Install the plugin from this downloaded bundle.")
    ] = None,
    bin_dir: Annotated[
        OptionalPath, typer.Option("--bin-dir", help="Put the session-manager-plugin link here.")
    ] = None,
    endpoint_url: Annotated[
        OptionalText, typer.Option("--endpoint-url", help="AWS endpoint (the practice lab's).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change in ~/.aws; write nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept the defaults; ask nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Set up Session Manager: the plugin, the AWS CLI, and an ssm profile with your keys, checked with AWS.

    Every question has a flag, so setup also runs unattended; running it again changes nothing.

    Example: onboard setup --team team.toml --credentials-csv ~/Downloads/alice_accessKeys.csv --yes
    """
    from onboard.output import Outcome
    from onboard.setup import SetupOptions, run_setup
    from onboard.setup.report import render_setup

    options = SetupOptions(
        team=team,
        profile=profile,
        region=region,
        output=output,
        credentials_csv=credentials_csv,
        access_key_id=access_key_id,
        secret_from_stdin=secret_access_key_stdin,
        plugin=plugin,
        aws_cli=aws_cli,
        download_url=download_url,
        bundle_file=bundle_file,
        bin_dir=bin_dir,
        endpoint_url=endpoint_url,
        dry_run=dry_run,
        yes=yes,
    )
    report = run_setup(options, as_json=as_json)
    finish(
        Outcome("setup", report.data, render_setup, exit_code=report.exit_code, warnings=report.warnings),
        as_json=as_json,
    )
