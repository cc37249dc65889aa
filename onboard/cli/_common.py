"""What every command shares: the invocation's flags, the --json option, and how a command finishes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

try:  # typer >= 0.29 carries its own copy of click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from onboard.output import Outcome


@dataclass
class Invocation:
    """Flags of the running command that :func:`onboard.cli.main` needs when it reports an error."""

    debug: bool = False
    as_json: bool = False
    command: str = "onboard"

    def reset(self, *, debug: bool) -> None:
        self.debug = debug
        self.as_json = False
        self.command = "onboard"


invocation = Invocation()

# typer reads option annotations at runtime: Optional[...] keeps them valid on Python 3.10.
OptionalText = Optional[str]  # noqa: UP045
OptionalPath = Optional[Path]  # noqa: UP045
OptionalPort = Optional[int]  # noqa: UP045
OptionalFlag = Optional[bool]  # noqa: UP045

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as a JSON envelope (see the README).")
]


def begin(command: str, *, as_json: bool = False) -> None:
    """Record which command runs, so that an error it raises is reported under its name."""
    invocation.command = command
    invocation.as_json = as_json


def finish(outcome: Outcome, *, as_json: bool) -> NoReturn:
    """Print ``outcome`` and end the command with its exit code."""
    from onboard.output import emit

    raise typer.Exit(int(emit(outcome, as_json=as_json)))
