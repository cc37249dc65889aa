"""What `onboard setup` is asked (its options) and what it answers (its report, and the closing line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class SetupOptions:
    """Answers given on the command line; None means "not given" (ask, or take the default)."""

    team: Path | None = None
    profile: str | None = None
    region: str | None = None
    output: str | None = None
    credentials_csv: Path | None = None
    access_key_id: str | None = None
    #: Read the secret access key from standard input (one line).
    secret_from_stdin: bool = False
    plugin: bool | None = None
    aws_cli: bool | None = None
    download_url: str | None = None
    bundle_file: Path | None = None
    bin_dir: Path | None = None
    endpoint_url: str | None = None
    dry_run: bool = False
    #: Accept defaults and ask nothing (also implied by --json and by a non-terminal stdin).
    yes: bool = False


@dataclass
class SetupReport:
    """What setup found and did; ``data`` becomes the JSON envelope's data."""

    data: dict[str, Any] = field(default_factory=dict)
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)


def render_setup(out: Console, data: dict[str, Any]) -> None:
    """The closing lines, after the screens printed the details: the outcome, and what is left to do."""
    out.print()
    identity = data.get("identity")
    unfinished = data.get("unfinished", [])
    if identity is None:
        out.print("Dry run: nothing was written." if data.get("dry_run") else "Setup stopped.")
    elif not identity["ok"] and identity.get("reached", True):
        out.print(f"Setup is not finished: the keys in profile {data['profile']} did not work (see above).")
        for left in unfinished:
            out.print(f"Also not done: {left['step']} ({left['error']}).")
    elif unfinished:
        out.print("Setup is not finished:")
        for left in unfinished:
            out.print(f"  {left['step']} ({left['error']}).")
        keys = "its keys work" if identity["ok"] else "its keys are not checked yet"
        out.print(f"Profile {data['profile']} is written and {keys}. To finish, run:")
        out.print(f"  {data['finish']}", style="bold")
    elif data["changed"]:
        out.print(f"Done: profile {data['profile']} is set up and works.", style="bold green")
    else:
        out.print(
            f"Nothing changed: profile {data['profile']} was already set up, and works.", style="bold green"
        )
