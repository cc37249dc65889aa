"""`onboard plugin`: placeholder until its issue lands."""

from __future__ import annotations

import typer

app = typer.Typer(help="onboard plugin.\n\nExample: onboard plugin --help", no_args_is_help=True)
