"""`onboard trainer`: prepare the AWS account for a class (policies, readiness checks)."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import JsonOption, OptionalPath, OptionalText, finish

app = typer.Typer(
    help=(
        "Prepare the AWS account for a class: the learner and instance policies, and a readiness check of "
        "every instance and the account before class.\n\n"
        "Example: onboard trainer policy --team team.toml --explain"
    ),
    no_args_is_help=True,
)

TeamOption = Annotated[OptionalPath, typer.Option("--team", help="The team file (default: $ONBOARD_TEAM).")]
ProfileOption = Annotated[
    OptionalText,
    typer.Option("--profile", help="The trainer's AWS profile (default: AWS_PROFILE, else the default)."),
]


@app.command("policy")
def policy_command(
    team: TeamOption = None,
    instances: Annotated[
        OptionalText,
        typer.Option("--instances", metavar="ID,...", help="Instance ids (default: the team's)."),
    ] = None,
    tag: Annotated[
        OptionalText,
        typer.Option("--tag", metavar="KEY=VALUE", help="Allow instances by tag (ssm:resourceTag) instead."),
    ] = None,
    bucket: Annotated[
        OptionalText, typer.Option("--bucket", help="The transfer bucket (default: the team file's).")
    ] = None,
    region: Annotated[
        OptionalText, typer.Option("--region", help="The region (default: the team file's).")
    ] = None,
    account: Annotated[
        OptionalText, typer.Option("--account", help="The 12-digit account id (default: any, '*').")
    ] = None,
    learners: Annotated[
        OptionalText,
        typer.Option("--learners", metavar="NAME,...", help="Learner names to check against each other."),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say why each statement is there and what breaks without it.")
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check both policies with IAM Access Analyzer (real accounts).")
    ] = False,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the learner policy and the instance role policy, generated from the team file.

    Learner names where one is another's followed by '-' (bob, bob-x) are refused: the own-session rule
    would let one end the other's sessions.

    Example: onboard trainer policy --team team.toml --account 123456789012 --explain
    """
    from onboard.awsclient import ClientSettings
    from onboard.errors import ExitCode
    from onboard.output import Outcome
    from onboard.trainer.inputs import need_team, policy_inputs
    from onboard.trainer.policy import generate
    from onboard.trainer.render import render_policies
    from onboard.trainer.validate import validate as run_validation

    team_file = need_team(team)
    inputs = policy_inputs(
        team_file,
        instances=instances,
        tag=tag,
        bucket=bucket,
        region=region,
        account=account,
        learners=learners,
    )
    policies = generate(inputs)
    data = policies.to_dict(explain=explain)
    exit_code = ExitCode.OK
    if validate:
        settings = ClientSettings(profile=profile, region=inputs.region, endpoint_url=team_file.endpoint_url)
        validation = run_validation(
            (policies.learner, policies.instance), settings, in_lab=settings.resolved_endpoint() is not None
        )
        data["validation"] = validation.to_dict()
        if validation.has_errors:
            exit_code = ExitCode.FAILURE
    finish(Outcome("trainer.policy", data, render_policies, exit_code), as_json=as_json)
