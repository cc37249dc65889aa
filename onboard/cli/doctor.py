"""`onboard doctor`: check a Session Manager setup, explain what is wrong, and fix it on request."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from onboard.cli._common import JsonOption, finish


def doctor_command(
    profile: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation at runtime on Python 3.10 too
        typer.Option("--profile", help="The AWS profile to check (default: the team file's, else ssm)."),
    ] = None,
    target: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--target",
            metavar="<alias|id>",
            help="An instance id or team alias to check (repeatable; default: all).",
        ),
    ] = None,
    team: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--team", metavar="<path>", help="The team file (default: $ONBOARD_TEAM)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every check and its evidence.")
    ] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Offer each available fix, then check again.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --fix: apply every fix without asking.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.5,
            metavar="<seconds>",
            help="Seconds each check may take before it is an error.",
        ),
    ] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Find what is broken in a local Session Manager setup, say the next command, and fix it with --fix.

    Checks, in groups: Tools (AWS CLI, plugin), Config files, Credentials, Network, Permissions and
    Targets. Exit codes: 0 everything ok, 1 a check failed (or could not run), 3 warnings only.

    Example: onboard doctor --team team.toml --fix
    """
    from onboard.doctor import DoctorOptions, run_doctor
    from onboard.doctor.report import renderer
    from onboard.output import Outcome

    options = DoctorOptions(profile=profile, team=team, targets=tuple(target or ()), timeout=timeout)
    report = run_doctor(options, fix=fix, confirm=None if yes else _ask(as_json))
    outcome = Outcome("doctor", report.to_dict(), renderer(verbose), report.exit_code)
    finish(outcome, as_json=as_json)


def _ask(as_json: bool):
    import sys

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            # Nobody to ask: change nothing rather than guess (say --yes to apply every fix).
            sys.stderr.write(f"not applied (no terminal to confirm; use --yes): {question}\n")
            return False
        return typer.confirm(f"{question}?", default=False, err=as_json)

    return confirm
