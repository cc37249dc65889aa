"""`onboard setup`: placeholder until the wizard lands."""

from __future__ import annotations


def setup_command() -> None:
    """Set up the plugin and the ssm profile.

    Example: onboard setup
    """
