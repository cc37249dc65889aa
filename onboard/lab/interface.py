"""What packages above the lab (lessons, the tour) may use of it: this small interface, nothing else.

A lesson asks whether a practice lab serves the team's endpoint (:func:`lab_at`), for that lab's
environment (its sandboxed AWS files, endpoint and bin folder) and to break something for a drill
(:meth:`PracticeLab.apply_fault`); lesson lint asks which faults exist (:func:`fault_names`). How the
lab keeps its state and talks to its server stays inside ``onboard.lab``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onboard.lab.state import LabPaths
    from onboard.lab.status import LabStatus


@dataclass(frozen=True)
class PracticeLab:
    """A running practice lab, as seen from outside it."""

    endpoint_url: str
    state_dir: Path
    bin_dir: Path
    _paths: LabPaths
    _state: LabStatus

    def environment(self) -> dict[str, str]:
        """The variables that point the AWS CLI, boto3 and onboard at this lab (``onboard lab env``)."""
        from onboard.lab.control import environment

        return environment(self._paths, self._state)

    def apply_fault(self, name: str, target: str | None = None) -> None:
        """Break something in the lab (a drill's set-up), as `onboard lab fault NAME` does."""
        from onboard.lab.control import fault

        fault(self._paths, name, target)


def lab_at(endpoint_url: str | None) -> PracticeLab | None:
    """The user's practice lab when it runs and serves ``endpoint_url``, else None."""
    if not endpoint_url:
        return None
    from onboard.lab.control import find_running
    from onboard.lab.state import LabPaths

    paths = LabPaths.for_user()
    state = find_running(paths)
    if state is None or state.endpoint_url.rstrip("/") != endpoint_url.rstrip("/"):
        return None
    return PracticeLab(state.endpoint_url, paths.root, paths.bin_dir, paths, state)


def fault_names() -> tuple[str, ...]:
    """Every fault the lab can apply (its catalogue)."""
    from onboard.lab.faults import FAULTS

    return tuple(FAULTS)
