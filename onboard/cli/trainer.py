"""`onboard trainer`: prepare the AWS account for a class (policies, readiness checks, the class's stack)."""

from __future__ import annotations

from pathlib import Path
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


@app.command("check-account")
def check_account_command(
    team: TeamOption = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Show the plan, then apply the safe fixes and check again.")
    ] = False,
    learners: Annotated[
        OptionalText, typer.Option("--learners", metavar="NAME,...", help="The learners' IAM user names.")
    ] = None,
    group: Annotated[
        OptionalText,
        typer.Option(
            "--group", help="The learners' IAM group, when --learners is not given (e.g. ssm-users)."
        ),
    ] = None,
    account: Annotated[
        OptionalText, typer.Option("--account", help="The 12-digit account id (default: the profile's).")
    ] = None,
    profile: ProfileOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every check and its evidence.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check that the account is ready for class: every instance, the session preferences, buckets, learners.

    Per instance: running, an instance profile, its role allowing the agent's actions, registered and
    Online (with the agent version; the restart-the-agent trap and a missing agent named). Then the
    SSM-SessionManagerRunShell preferences (S3 logging to the team's bucket and prefix, encryption, idle
    timeout, Run As), the transfer and session-log buckets, and the learners' permissions. Exit codes:
    0 ready, 1 a problem, 3 warnings only.

    Example: onboard trainer check-account --team team.toml --group ssm-users --fix
    """
    import sys

    from onboard.doctor.report import renderer
    from onboard.output import Outcome
    from onboard.trainer.account import AccountOptions, check_account, plan

    options = AccountOptions(
        team=team,
        profile=profile,
        learners=tuple(n.strip() for n in (learners or "").split(",") if n.strip()),
        group=group,
        account=account,
    )
    planned: list[tuple[str, str]] = []
    if fix:
        planned = plan(options)
        lines = [f"  {title}: {what}" for title, what in planned] or ["  nothing to fix"]
        sys.stderr.write("The plan (safe fixes only):\n" + "\n".join(lines) + "\n")
    report = check_account(options, fix=fix and bool(planned))
    data = report.to_dict()
    if fix:
        data["plan"] = [{"check": title, "fix": what} for title, what in planned]
    command = "onboard trainer check-account"
    finish(
        Outcome("trainer.check-account", data, renderer(verbose, command=command), report.exit_code),
        as_json=as_json,
    )


def _clients(team_file, profile: str | None):
    """A boto3 client per service for the trainer's profile, in the team's region and endpoint."""
    from onboard.awsclient import ClientSettings, clients

    return clients(ClientSettings.for_team(team_file, profile))


def _progress(as_json: bool):
    """A rich progress bar on stderr while the stack works (only on a terminal, never with --json)."""
    import contextlib
    import sys

    if as_json or not sys.stderr.isatty():
        return contextlib.nullcontext(lambda done, total, status: None)
    from rich.progress import Progress

    from onboard.output import console

    @contextlib.contextmanager
    def bar():
        with Progress(console=console(stderr=True)) as shown:
            task = shown.add_task("CloudFormation", total=None)

            def report(done: int, total: int, status: str) -> None:
                shown.update(task, completed=done, total=total or None, description=status)

            yield report

    return bar()


@app.command("provision")
def provision_command(
    class_csv: Annotated[
        OptionalPath, typer.Option("--class", help="The class list CSV (columns name, display_name, email).")
    ] = None,
    learners: Annotated[
        OptionalText, typer.Option("--learners", metavar="NAME,...", help="The learners' IAM user names.")
    ] = None,
    team: TeamOption = None,
    profile: ProfileOption = None,
    show_template: Annotated[
        bool, typer.Option("--template", help="Print the CloudFormation template (JSON) and stop.")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Execute the change set, then create keys and kits.")
    ] = False,
    kits: Annotated[
        Path, typer.Option("--kits", help="Where the learners' kits are written (default: ./kits).")
    ] = Path("kits"),
    as_json: JsonOption = False,
) -> None:
    """Provision the class as one CloudFormation stack, onboard-class-<team>: policies, role, bucket, users.

    Without --apply: a change set, shown as a table of what is created, changed and removed, then deleted
    (nothing changes). With --apply: executed, waited for, then an access key (IAM API, never in the
    stack) and a kit for each learner who has no key. A re-run with nothing changed says so and makes no
    new keys.

    Example: onboard trainer provision --class class.csv --team team.toml --apply
    """
    from onboard.output import Outcome
    from onboard.trainer.inputs import need_team
    from onboard.trainer.provision import ProvisionOptions, class_of, plan_resources, provision
    from onboard.trainer.render import render_provision
    from onboard.trainer.template import template_text

    team_file = need_team(team)
    the_class = class_of(class_csv, learners)
    clients = _clients(team_file, profile)
    if show_template:
        import sys

        sys.stdout.write(template_text(plan_resources(team_file, the_class, clients)))
        raise typer.Exit(0)
    options = ProvisionOptions(
        team=team_file, learners=the_class, clients=clients, kits_dir=kits, apply=apply
    )
    with _progress(as_json) as report:
        result = provision(options, report)
    finish(Outcome("trainer.provision", result.to_dict(), render_provision), as_json=as_json)


@app.command("deprovision")
def deprovision_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the class: the learners' access keys, their objects, then the stack; check nothing is left.

    Asks first; without a terminal it needs --yes (else exit 2). Exit code 1 when something is left.

    Example: onboard trainer deprovision --team team.toml --yes
    """
    import sys

    from onboard.errors import ExitCode, UsageError
    from onboard.output import Outcome
    from onboard.trainer.deprovision import deprovision, inventory
    from onboard.trainer.inputs import need_team
    from onboard.trainer.render import render_deprovision

    team_file = need_team(team)
    clients = _clients(team_file, profile)
    found = inventory(team_file, clients)
    if found.exists and not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"deprovision deletes the stack {found.stack} and {len(found.users)} learners: "
                "confirm with --yes",
                "Run it in a terminal to be asked, or pass --yes.",
            )
        question = (
            f"Delete the stack {found.stack}: {len(found.users)} learners and their keys, "
            f"{len(found.buckets)} buckets with every object in them, the policies, role and profile?"
        )
        typer.confirm(question, default=False, abort=True, err=True)
    with _progress(as_json) as report:
        result = deprovision(team_file, found, clients, report)
    code = ExitCode.OK if result.clean else ExitCode.FAILURE
    finish(Outcome("trainer.deprovision", result.to_dict(), render_deprovision, code), as_json=as_json)


@app.command("report")
def report_command(
    team: TeamOption = None,
    class_list: Annotated[
        OptionalPath,
        typer.Option(
            "--class", metavar="FILE", help="The class list CSV: learners without a record show too."
        ),
    ] = None,
    learners: Annotated[
        OptionalText,
        typer.Option("--learners", metavar="NAME,...", help="The class's learners, by IAM name."),
    ] = None,
    profile: ProfileOption = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Redraw the report live until Ctrl-C (records read as they change)."),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between redraws with --watch.")
    ] = 5.0,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print one CSV row per learner instead.")] = False,
    html: Annotated[
        OptionalPath, typer.Option("--html", metavar="FILE", help="Also write the report as one HTML page.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The class at a glance: every learner's steps re-graded from what AWS keeps, not from their record.

    Reads each learner's published record (s3://<transfer bucket>/onboard/progress/<user>.json) and looks
    every claimed step's evidence up again in AWS: the learner's own sessions, session logs and objects with
    their ETag. Shows the verified score, time spent, last activity, who is stuck (on which step, for how
    long, the last failed check), and flags steps claimed but not verified and records edited by hand.
    --html writes one self-contained page with a heat map of learners by steps.

    Example: onboard trainer report --team team.toml --class class.csv --watch
    """
    from onboard.errors import UsageError
    from onboard.output import Outcome
    from onboard.trainer.inputs import need_team
    from onboard.trainer.provision import class_of
    from onboard.trainer.report import open_report
    from onboard.trainer.report_html import write_html
    from onboard.trainer.report_render import note_html_written, render_csv, render_text, watch_report

    if sum((as_json, as_csv)) > 1:
        raise UsageError("--json and --csv both say how to print the report", "Give one of them.")
    if watch and (as_json or as_csv):
        raise UsageError("--watch redraws the table on a terminal", "Leave out --json/--csv with --watch.")
    expected = class_of(class_list, learners).learners if class_list is not None or learners else ()
    report = open_report(need_team(team), profile, expected)
    if watch:
        raise typer.Exit(watch_report(report, interval, html))
    result = report.run()
    if html is not None:
        write_html(result, html)
        note_html_written(str(html))
    if as_csv:
        import sys

        sys.stdout.write(render_csv(result))
        raise typer.Exit(0)
    finish(Outcome("trainer.report", result.to_dict(), lambda out, _: render_text(result)), as_json=as_json)
