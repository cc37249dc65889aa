"""`onboard lesson`: placeholder until its issue lands."""

from __future__ import annotations

import typer

app = typer.Typer(help="onboard lesson.\n\nExample: onboard lesson --help", no_args_is_help=True)
