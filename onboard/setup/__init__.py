"""The `onboard setup` wizard: questions as data (questions.py) and the screens that ask them (wizard.py)."""

from onboard.setup.wizard import SetupOptions, SetupReport, run_setup

__all__ = ["SetupOptions", "SetupReport", "run_setup"]
