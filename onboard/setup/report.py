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
    """The closing line, after the screens printed the details."""
    out.print()
    identity = data.get("identity")
    if identity is None:
        out.print("Dry run: nothing was written." if data.get("dry_run") else "Setup stopped.")
    elif not identity["ok"]:
        out.print(f"Setup is not finished: the keys in profile {data['profile']} did not work (see above).")
    elif data.get("unfinished"):
        for left in data["unfinished"]:
            out.print(f"Setup is not finished: {left['step']} could not be installed ({left['error']}).")
        out.print(f"Profile {data['profile']} is written and its keys work. To finish, run:")
        for left in data["unfinished"]:
            out.print(f"  {left['command']}", style="bold")
    elif data["changed"]:
        out.print(f"Done: profile {data['profile']} is set up and works.", style="bold green")
    else:
        out.print(
            f"Nothing changed: profile {data['profile']} was already set up, and works.", style="bold green"
        )
