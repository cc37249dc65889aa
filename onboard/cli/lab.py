"""`onboard lab`: placeholder until its issue lands."""

from __future__ import annotations

import typer

app = typer.Typer(help="onboard lab.\n\nExample: onboard lab --help", no_args_is_help=True)
