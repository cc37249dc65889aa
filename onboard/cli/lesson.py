"""`onboard lesson`: graded hands-on lessons, checked against AWS or the practice lab."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onboard.cli._common import JsonOption, OptionalPath, OptionalText, finish

app = typer.Typer(
    help=(
        "Graded hands-on lessons: connect, sudo, move files through S3, habits, troubleshooting. Each step "
        "is checked against AWS (or the practice lab) and scored.\n\n"
        "Example: onboard lesson start connect"
    ),
    no_args_is_help=True,
)


TeamOption = Annotated[OptionalPath, typer.Option("--team", help="The team file (default: $ONBOARD_TEAM).")]
ProfileOption = Annotated[
    OptionalText, typer.Option("--profile", help="The AWS profile (default: the team file's, usually ssm).")
]
LessonsDirOption = Annotated[
    OptionalPath,
    typer.Option(
        "--lessons-dir", help="A folder of your own lessons (default: the team file's lessons.dir)."
    ),
]
ShellOption = Annotated[
    bool,
    typer.Option(
        "--shell", help="Open a practice shell (AWS_PROFILE set; the lab's environment in lab mode)."
    ),
]


def _runner(team: Path | None, profile: str | None, lessons_dir: Path | None, *, need_team: bool = True):
    from onboard.lessons.runner import Runner

    return Runner.open(team=team, profile=profile, lessons_dir=lessons_dir, need_team=need_team)


def _show_step(command: str, data: dict, runner, shell: bool, as_json: bool) -> None:
    from onboard.lessons.render import render_step
    from onboard.output import Outcome, emit

    outcome = Outcome(command, data, render_step)
    if shell and not data.get("completed"):
        emit(outcome, as_json=as_json)
        typer.echo("Practice shell: type the commands, then `exit` and run `onboard lesson check`.")
        runner.practice_shell()
        raise typer.Exit(0)
    finish(outcome, as_json=as_json)


@app.command("list")
def list_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the lessons, in course order, with your progress and points.

    Example: onboard lesson list
    """
    from onboard.lessons.render import render_list
    from onboard.output import Outcome

    runner = _runner(team, profile, lessons_dir, need_team=False)
    finish(Outcome("lesson.list", runner.list(), render_list), as_json=as_json)


@app.command("start")
def start_command(
    name: Annotated[str, typer.Argument(help="The lesson's id (see onboard lesson list).")],
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    shell: ShellOption = False,
    as_json: JsonOption = False,
) -> None:
    """Start a lesson (or resume it) and show its first step.

    Example: onboard lesson start connect --shell
    """
    runner = _runner(team, profile, lessons_dir)
    _show_step("lesson.start", runner.start(name), runner, shell, as_json)


@app.command("next")
def next_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    shell: ShellOption = False,
    as_json: JsonOption = False,
) -> None:
    """Go on to the next step once this one passed; after the last, show the lesson's score.

    Example: onboard lesson next
    """
    runner = _runner(team, profile, lessons_dir)
    _show_step("lesson.next", runner.next(), runner, shell, as_json)


AllowCommandsOption = Annotated[
    bool,
    typer.Option(
        "--allow-commands",
        help="Let a lesson that is not one of onboard's own run its checks' commands on this computer.",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (for scripts).")]


def _asked(question: str) -> bool:
    """Ask on a terminal; elsewhere (scripts, pipes) the answer is no: they pass --yes."""
    import sys

    return sys.stdin.isatty() and typer.confirm(question, default=False)


@app.command("check")
def check_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    allow_commands: AllowCommandsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Check the current step against AWS: one line per check, with what was seen and how to fix it.

    Exits 1 when a check fails. A lesson from outside onboard's own set whose checks run commands on
    your computer shows them first and runs them only with --allow-commands.

    Example: onboard lesson check
    """
    from onboard.errors import ExitCode
    from onboard.lessons.render import render_check
    from onboard.output import Outcome

    data = _runner(team, profile, lessons_dir).check(allow_commands=allow_commands)
    code = ExitCode.OK if data["passed"] else ExitCode.FAILURE
    finish(Outcome("lesson.check", data, render_check, exit_code=code), as_json=as_json)


@app.command("hint")
def hint_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show the next hint for the current step, after saying what it costs (a quarter of the step's points).

    On a terminal it asks first; scripts pass --yes. A passed step has nothing to hint.

    Example: onboard lesson hint
    """
    from onboard.lessons.render import render_hint
    from onboard.output import Outcome

    runner = _runner(team, profile, lessons_dir)
    offer = runner.hint(take=False)
    take = offer["note"] is None and (
        yes
        or (
            not as_json
            and _asked(f"This hint costs {offer['cost']} of the {offer['points_left']} points left. Show it?")
        )
    )
    data = runner.hint() if take else offer
    finish(Outcome("lesson.hint", data, render_hint), as_json=as_json)


@app.command("skip")
def skip_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Skip the current step (recorded, no points) and show the next one.

    Example: onboard lesson skip
    """
    runner = _runner(team, profile, lessons_dir)
    _show_step("lesson.skip", runner.skip(), runner, False, as_json)


@app.command("reset")
def reset_command(
    name: Annotated[OptionalText, typer.Argument(help="The lesson to reset (default: all of them).")] = None,
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Forget your progress in a lesson (or, after asking, in the whole course), to take it again.

    A backup of your progress file is kept beside it first. Without a lesson name it asks on a
    terminal; scripts pass --yes.

    Example: onboard lesson reset connect
    """
    from onboard.errors import UsageError
    from onboard.output import Outcome

    runner = _runner(team, profile, lessons_dir, need_team=False)
    if name is None and runner.progress.lessons and not yes:
        started = ", ".join(runner.progress.lessons)
        if as_json or not _asked(f"Forget your progress in every lesson ({started})?"):
            raise UsageError(
                f"`lesson reset` without a lesson forgets the whole course ({started})",
                "Name one lesson (onboard lesson reset connect), or pass --yes to reset them all.",
            )
    data = runner.reset(name)

    def render(out, d):
        out.print(f"Reset: {', '.join(d['reset']) or 'nothing'}.")
        if d["backup"]:
            out.print(f"Your progress before it is kept in {d['backup']}.")

    finish(Outcome("lesson.reset", data, render), as_json=as_json)


@app.command("status")
def status_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show where you are: the current step, and your points per lesson and for the course.

    Example: onboard lesson status --json
    """
    from onboard.lessons.render import render_status
    from onboard.output import Outcome

    finish(
        Outcome("lesson.status", _runner(team, profile, lessons_dir).status(), render_status), as_json=as_json
    )


@app.command("publish")
def publish_command(
    team: TeamOption = None,
    profile: ProfileOption = None,
    lessons_dir: LessonsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put your record where the trainer reads it: s3://<transfer bucket>/onboard/progress/<you>.json.

    Example: onboard lesson publish
    """
    from onboard.lessons.render import render_published
    from onboard.output import Outcome

    data = _runner(team, profile, lessons_dir).publish()
    finish(Outcome("lesson.publish", data, render_published), as_json=as_json)


@app.command("lint")
def lint_command(
    paths: Annotated[list[Path], typer.Argument(help="Lesson files, or folders of them.")],
    as_json: JsonOption = False,
) -> None:
    """Check lesson files: front matter, steps, verifiers, variables; every problem with file:line.

    Exits 1 when a problem is found (notes, such as a lesson that runs commands on the learner's
    computer, are shown but do not fail).

    Example: onboard lesson lint lessons/
    """
    from onboard.errors import ExitCode
    from onboard.lessons.lint import lint_paths
    from onboard.lessons.render import render_lint
    from onboard.output import Outcome

    files, problems = lint_paths(paths)
    data = {
        "files": [str(path) for path in files],
        "problems": [
            {"file": str(p.path), "line": p.line, "message": p.message, "severity": p.severity}
            for p in problems
        ],
    }
    code = ExitCode.FAILURE if any(p.severity == "error" for p in problems) else ExitCode.OK
    finish(Outcome("lesson.lint", data, render_lint, exit_code=code), as_json=as_json)
