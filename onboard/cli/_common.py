"""What every command shares: the run's environment, the --json option, and how a command finishes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

# Recent typer releases carry their own copy of click (typer._click), older ones use click itself: the
# command tree typer builds is made of that copy's classes, so onboard names them through these two.
try:
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import core as click_core  # type: ignore[no-redef]  # noqa: F401
    from click import exceptions as click_exceptions  # type: ignore[no-redef]  # noqa: F401
    from click.globals import get_current_context  # type: ignore[no-redef]  # noqa: F401

if TYPE_CHECKING:
    from onboard.output import Outcome


@dataclass
class Environment:
    """One run of onboard: what :func:`onboard.cli.main` needs to report an error as the command was asked.

    ``main()`` creates one per run and hands it to click as the root context's ``obj``; every command
    fills in ``command`` and ``as_json`` as it starts (:func:`onboard.cli._tree.record_invocations`, so
    no command has to remember to). A command that needs it takes a ``typer.Context`` and reads
    ``ctx.obj``.
    """

    debug: bool = False
    #: Whether the running command was given --json (its errors then come as a JSON envelope).
    as_json: bool = False
    #: The running command's dotted name, as the JSON envelope says it: "lab.up", "doctor".
    command: str = "onboard"


def command_name(words: list[str]) -> str:
    """ "lab.init-world" for ``onboard lab init-world`` (the words after the program name)."""
    return ".".join(words) or "onboard"


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
