"""Results as data, rendered once: as text for people or as a versioned JSON envelope.

Every command that reports something builds an :class:`Outcome` and hands it to :func:`emit`. Human
text goes to stdout through rich (which honours NO_COLOR and drops colour when stdout is not a
terminal); diagnostics and errors go to stderr, so ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onboard.errors import ExitCode, OnboardError

if TYPE_CHECKING:
    from rich.console import Console

#: Bumped when a field of the envelope changes meaning or disappears (adding fields does not bump it).
JSON_SCHEMA_VERSION = 1

TextRenderer = Callable[["Console", dict[str, Any]], None]


@dataclass
class Outcome:
    """What a command found or did.

    ``command`` names it in the JSON envelope (``"plugin.status"``); ``data`` is JSON-ready; ``render``
    prints ``data`` for people; ``exit_code`` is what the process exits with.
    """

    command: str
    data: dict[str, Any]
    render: TextRenderer | None = None
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code in (ExitCode.OK, ExitCode.WARNINGS)


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), colour only on a terminal and never with NO_COLOR.

    No emoji codes: text onboard prints (names, paths, AWS's messages) is shown as it is, so a file named
    ``:smile:.txt`` is not turned into a picture (and the emoji table is not loaded on every command).
    """
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


def envelope(
    command: str,
    *,
    data: dict[str, Any] | None = None,
    error: OnboardError | None = None,
    exit_code: ExitCode = ExitCode.OK,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "command": command,
        "ok": error is None and exit_code in (ExitCode.OK, ExitCode.WARNINGS),
        "exit_code": int(exit_code),
    }
    if data is not None:
        body["data"] = data
    if warnings:
        body["warnings"] = warnings
    if error is not None:
        body["error"] = error.to_dict()
    return body


def write_json(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def emit(outcome: Outcome, *, as_json: bool) -> ExitCode:
    """Print ``outcome`` for people or as JSON; return the exit code the command should end with."""
    if as_json:
        write_json(
            envelope(
                outcome.command, data=outcome.data, exit_code=outcome.exit_code, warnings=outcome.warnings
            )
        )
        return outcome.exit_code
    out = console()
    if outcome.render is not None:
        outcome.render(out, outcome.data)
    if outcome.warnings:
        err = console(stderr=True)
        for warning in outcome.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    return outcome.exit_code


def print_error(error: OnboardError, *, as_json: bool, command: str = "onboard") -> None:
    if as_json:
        write_json(envelope(command, error=error, exit_code=error.exit_code))
        return
    err = console(stderr=True)
    err.print(f"[bold red]error:[/bold red] {escape(error.message)}")
    if error.hint:
        err.print(f"[dim]hint:[/dim] {escape(error.hint)}")


def escape(text: str) -> str:
    """Text safe to pass to rich's markup parser (paths and messages may hold ``[...]``)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
