"""`onboard doctor`: placeholder until its issue lands."""

from __future__ import annotations


def doctor_command() -> None:
    """Find what is broken in a local setup.

    Example: onboard doctor
    """
