"""The `onboard setup` wizard: questions as data, the screens (tools.py, wizard.py), the report."""

from onboard.setup.report import SetupOptions, SetupReport
from onboard.setup.wizard import run_setup

__all__ = ["SetupOptions", "SetupReport", "run_setup"]
