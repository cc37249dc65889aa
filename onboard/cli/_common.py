"""What every command shares: the run's environment, the --json option, and how a command finishes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

# Recent typer releases carry their own copy of click (typer._click), older ones use click itself: the
# command tree typer builds is made of that copy's classes, so onboard names them through these two.
try:
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import core as click_core  # type: ignore[no-redef]
    from click import exceptions as click_exceptions  # type: ignore[no-redef]  # noqa: F401

if TYPE_CHECKING:
    from onboard.output import Outcome


@dataclass
class Environment:
    """One run of onboard: what :func:`onboard.cli.main` needs to report an error as the command was asked.

    ``main()`` creates one per run, has :func:`record_invocations` fill in ``command`` and ``as_json``
    as a command starts (so no command has to remember to), and hands it to click as the root
    context's ``obj``: a command that needs it takes a ``typer.Context`` and reads ``ctx.obj``.
    """

    debug: bool = False
    #: Whether the running command was given --json (its errors then come as a JSON envelope).
    as_json: bool = False
    #: The running command's dotted name, as the JSON envelope says it: "lab.up", "doctor".
    command: str = "onboard"


def command_name(words: list[str]) -> str:
    """ "lab.init-world" for ``onboard lab init-world`` (the words after the program name)."""
    return ".".join(words) or "onboard"


def record_invocations(
    command: click_core.Command, env: Environment, path: tuple[str, ...] = ()
) -> click_core.Command:
    """Make every command under ``command`` record its name and --json in ``env`` as it starts.

    :func:`onboard.cli.main` applies it to the whole command tree it runs, so a command or command
    group added anywhere (``app.add_typer``, ``app.command``) is covered without doing anything.
    """
    children = getattr(command, "commands", None)
    if children is not None:  # a group: its own callback runs before a command is chosen
        for name, child in children.items():
            record_invocations(child, env, (*path, name))
    elif command.callback is not None:
        # Whatever the command calls its --json parameter (JsonOption names it as_json).
        json_param = next((param.name for param in command.params if "--json" in param.opts), None)
        command.callback = _recording(command.callback, env, command_name(list(path)), json_param)
    return command


def _recording(
    callback: Callable[..., Any], env: Environment, name: str, json_param: str | None
) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **params: Any) -> Any:
        env.command = name
        env.as_json = bool(params.get(json_param)) if json_param else False
        return callback(*args, **params)

    return run


# typer reads option annotations at runtime: Optional[...] keeps them valid on Python 3.10.
OptionalText = Optional[str]  # noqa: UP045
OptionalPath = Optional[Path]  # noqa: UP045
OptionalPort = Optional[int]  # noqa: UP045
OptionalFlag = Optional[bool]  # noqa: UP045

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as a JSON envelope (see the README).")
]


def finish(outcome: Outcome, *, as_json: bool) -> NoReturn:
    """Print ``outcome`` and end the command with its exit code."""
    from onboard.output import emit

    raise typer.Exit(int(emit(outcome, as_json=as_json)))
