"""The host picker: a questionary list of the reachable candidates, the others shown as disabled lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from onboard.everyday.hosts import Chooser, Host


def terminal_chooser() -> Chooser | None:
    """A chooser when a person is at a terminal; None for unattended runs (scripts, pipes, CI)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    return choose_host


def choose_host(question: str, reachable: Sequence[Host], others: Sequence[Host]) -> Host:
    import questionary

    choices = [questionary.Choice(title=_title(host), value=host.instance_id) for host in reachable]
    choices += [
        questionary.Choice(title=_title(host), value=host.instance_id, disabled=host.why_unreachable)
        for host in others
    ]
    # unsafe_ask: Ctrl-C raises KeyboardInterrupt (exit 130) instead of returning None.
    chosen = questionary.select(question, choices=choices, qmark="?").unsafe_ask()
    return next(host for host in reachable if host.instance_id == chosen)


def _title(host: Host) -> str:
    details = ", ".join(filter(None, (host.ping_status, host.platform)))
    return f"{host.label}  {details}"
