"""The tour's lab and sandbox: the lab it starts (or reuses), and the environment everything it runs gets."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem, UsageError
from onboard.lab import control
from onboard.lab.state import LabPaths
from onboard.lab.status import LabStatus

# ------------------------------------------------------------------------------------------ the lab


@dataclass
class TourLab:
    """The lab the tour uses, and whether the tour started it (then it also stops it)."""

    paths: LabPaths
    state: LabStatus
    started: bool
    learner: str
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str:
        return self.state.endpoint_url


def open_lab(paths: LabPaths, learner: str | None) -> TourLab:
    """Reuse the user's running lab, or start one (with ``learner`` as its learner, when named)."""
    state = control.find_running(paths)
    if state is not None:
        state, _ = control.require_running(paths)  # a lab still starting is refused, with what to do
        learners = state.world.learners
        chosen = learner or learners[0]
        if chosen not in learners:
            raise UsageError(
                f"the running lab at {state.endpoint_url} has no learner {chosen!r} "
                f"(its learners: {', '.join(learners)})",
                "Leave out --learner, or stop the lab (`onboard lab down`) so that the tour starts one "
                f"with {chosen}.",
            )
        faults = control.status(paths).get("faults", [])
        return TourLab(paths, state, started=False, learner=chosen, faults=faults)
    try:
        state = control.start_detached(paths, learners=[learner] if learner else None)
    except KeyboardInterrupt:
        _stop_starting_lab(paths)
        raise
    return TourLab(paths, state, started=True, learner=learner or state.world.learners[0])


def _stop_starting_lab(paths: LabPaths, timeout: float = 10.0) -> None:
    """Ctrl-C while the lab was starting: stop the server process the tour had launched."""
    from onboard.lab.state import lock_is_held

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_is_held(paths):
            with contextlib.suppress(ValueError, OSError):
                # The server writes its pid into lab.pid once it holds the lock; SIGTERM makes it end cleanly.
                os.kill(int(paths.pid_file.read_text(encoding="ascii").strip()), signal.SIGTERM)
                break
        time.sleep(0.05)
    while lock_is_held(paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    paths.state_file.unlink(missing_ok=True)


def close_lab(lab: TourLab, *, keep: bool) -> str:
    """Stop the lab if the tour started it and ``keep`` is off; say what became of it."""
    if not lab.started:
        return "reused"
    if control.find_running(lab.paths) is None:
        return "gone"  # it stopped during the tour: crashed, or someone ran `onboard lab down`
    if keep:
        return "kept"
    control.stop(lab.paths)
    return "stopped"


# ---------------------------------------------------------------------------------- the sandbox


def sandbox_environment(lab: TourLab, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) pointed at the lab's sandbox, as described above.

    The user's AWS_* variables go (an AWS_REGION or AWS_PROFILE of theirs would steer the tour away from
    the lab); PATH finds the lab's bin folder first, then this interpreter's (where ``onboard`` and
    ``aws`` live in a virtualenv that is not on PATH), then the user's.
    """
    base = dict(os.environ if base is None else base)
    env = {name: value for name, value in base.items() if not name.startswith("AWS_")}
    lab_env = control.environment(lab.paths, lab.state)
    env.update(lab_env)
    interpreter_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([str(lab.paths.bin_dir), interpreter_bin, base.get("PATH", "")])
    home = lab.paths.sandbox_home
    # onboard's own state (the locks its writers take) stays in the sandbox too; the tour reaches its lab
    # through the paths it holds, never through this variable.
    env["XDG_STATE_HOME"] = str(home / ".local" / "state")
    # The scripted learner's shells keep their history there too, not in the user's ~/.bash_history.
    env["HISTFILE"] = str(home / ".bash_history")
    return env


@contextlib.contextmanager
def environment_applied(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is ``env`` inside the block, and what it was before after it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_tools(search_path: str) -> dict[str, Any]:
    """The tour's own needs, before anything starts: the AWS CLI, and pexpect for the learner's terminals."""
    from onboard.plugin.awscli import detect_awscli

    try:
        import pexpect  # noqa: F401 - only its presence is checked here
    except ImportError:
        raise EnvironmentProblem(
            "the tour's scripted learner needs pexpect (pseudo-terminals), which is not installed",
            f"Install it into onboard's environment: {sys.executable} -m pip install pexpect",
        ) from None
    found = detect_awscli(search_path)
    if not found.usable:
        raise EnvironmentProblem(
            f"the tour types `aws ssm start-session`, but the AWS CLI is not usable: {found.reason}",
            f"Install it into onboard's environment ({sys.executable} -m pip install awscli), "
            "or install AWS CLI v2 (`onboard setup --aws-cli`).",
        )
    return {"path": str(found.path), "version": found.version}
