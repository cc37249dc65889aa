"""The command line: thin typer commands over plain modules.

Each command group lives in its own module under ``onboard/cli/`` and imports its logic inside the
command function, so ``onboard --help`` and ``onboard --version`` load neither boto3, questionary nor
moto; only the module of the command a command line names is imported and built (``COMMANDS``).
:func:`main` is the only place where errors become messages and exit codes.
"""

from __future__ import annotations

import atexit
import gc
import sys
from typing import Annotated, Optional

import typer

from onboard import __version__
from onboard.cli._common import Environment, click_exceptions, command_name
from onboard.cli._tree import LazyGroup, record_invocations
from onboard.errors import ExitCode, OnboardError, UsageError

# As the process ends, Python's last garbage collections walk every object still alive: botocore's service
# models made that a tenth of a second at the end of each command with an AWS client. Frozen, they are
# skipped (atexit runs before them); what is left is still freed, and files flushed, as the modules go.
atexit.register(gc.freeze)

# The commands and command groups, in the order --help lists them: each a typer app (a group) or a
# command function in a module under onboard/cli/. Every command records its name and --json as it
# starts (record_invocations), so adding a line here is all a new group needs.
COMMANDS = {
    "setup": "onboard.cli.setup:setup_command",
    "doctor": "onboard.cli.doctor:doctor_command",
    "connect": "onboard.cli.connect:connect_command",
    "forward": "onboard.cli.forward:forward_command",
    "plugin": "onboard.cli.plugin:app",
    "lab": "onboard.cli.lab:app",
    "lesson": "onboard.cli.lesson:app",
    "trainer": "onboard.cli.trainer:app",
    "hosts": "onboard.cli.hosts:app",
    "transfer": "onboard.cli.transfer:app",
}


class _Commands(LazyGroup):
    where = COMMANDS


app = typer.Typer(
    cls=_Commands,
    name="onboard",
    help=(
        "Get onto AWS Session Manager: install the plugin, write the ssm profile, practise in graded "
        "lessons, and repair a broken setup.\n\n"
        "Example: onboard setup"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich's help renderer alone costs ~200 ms of imports on every --help.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"onboard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],  # noqa: UP045 - typer reads the annotation at runtime on Python 3.10 too
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
) -> None:
    """Get onto AWS Session Manager."""
    # main() takes --debug out of the arguments itself; the option is declared here for --help.


def main(argv: list[str] | None = None, *, cli: typer.Typer | None = None) -> int:
    """Run onboard (or a test's typer ``cli``) with ``argv`` (default: sys.argv); return the exit code."""
    from typer.main import get_command

    from onboard.output import print_error

    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is honoured anywhere on the line (`onboard plugin install --debug`), not only first.
    env = Environment(debug="--debug" in args)
    args = [arg for arg in args if arg != "--debug"]
    command = record_invocations(get_command(cli or app))
    try:
        result = command.main(args=args, prog_name="onboard", standalone_mode=False, obj=env)
    except OnboardError as error:
        if env.debug:
            _print_traceback()
        print_error(error, as_json=env.as_json, command=env.command)
        return int(error.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted()
    except typer.Exit as done:
        return int(done.exit_code)
    except click_exceptions.ClickException as usage:
        return _usage_error(usage, as_json=_asks_for_json(args))
    except Exception as unexpected:  # a bug: say so plainly, and how to see more
        if env.debug:
            _print_traceback()
        from onboard.secrets import scrub

        bug = OnboardError(
            f"unexpected internal error: {type(unexpected).__name__}: {scrub(str(unexpected))}",
            "Run the same command with --debug to see the traceback, and report it.",
        )
        print_error(bug, as_json=env.as_json, command=env.command)
        return int(ExitCode.FAILURE)
    if result == ExitCode.INTERRUPTED:  # typer turns a KeyboardInterrupt inside a command into 130
        return _interrupted()
    return int(result or 0)


def _asks_for_json(args: list[str]) -> bool:
    """Whether the command line asks for --json (before a ``--`` that ends the options)."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def _usage_error(usage: click_exceptions.ClickException, *, as_json: bool) -> int:
    """A command line click could not accept: its message, as JSON on stdout when --json was given."""
    if not as_json:
        usage.show()
        return int(usage.exit_code)
    from onboard.output import print_error

    ctx = getattr(usage, "ctx", None)
    words = ctx.command_path.split()[1:] if ctx is not None else []
    error = UsageError(
        usage.format_message(),
        f"See `{' '.join(['onboard', *words])} --help`.",
        exit_code=ExitCode(usage.exit_code),
    )
    print_error(error, as_json=True, command=command_name(words))
    return int(usage.exit_code)


def _interrupted() -> int:
    from onboard.output import console

    # One line, no traceback: whatever was being written was either finished or left untouched.
    console(stderr=True).print("\nInterrupted.")
    return int(ExitCode.INTERRUPTED)


def _print_traceback() -> None:
    import traceback

    from onboard.secrets import scrub

    sys.stderr.write(scrub(traceback.format_exc()))
