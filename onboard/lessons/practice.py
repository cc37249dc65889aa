"""The practice shell (`lesson start --shell`): the learner's shell, in the practice folder, set for the
lesson's profile and, in lab mode, for the lab."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem


def shell_environment(profile: str, team: Any, settings: Any) -> dict[str, str]:
    """The practice shell's environment: AWS_PROFILE, and the lab's variables in lab mode.

    The lab's variables (its sandboxed AWS files, endpoint, bin folder) fill in what the learner's
    environment does not set already: after ``eval "$(onboard lab env)"`` they are the same, and a
    learner who points AWS_CONFIG_FILE elsewhere on purpose keeps it.
    """
    from onboard.lab.interface import lab_at

    env = {**os.environ, "AWS_PROFILE": profile, "ONBOARD_LESSON_SHELL": "1"}
    lab = lab_at(settings.resolved_endpoint() if settings else None)
    if lab is not None:
        lab_bin = str(lab.bin_dir)
        if lab_bin not in env.get("PATH", "").split(os.pathsep):
            env["PATH"] = lab_bin + os.pathsep + env.get("PATH", "")
        for name, value in lab.environment().items():
            env.setdefault(name, value)
    elif settings is not None and settings.endpoint_url:
        env.setdefault("AWS_ENDPOINT_URL", settings.endpoint_url)
    if team is not None:
        env.setdefault("ONBOARD_TEAM", str(team.path))
    return env


def practice_shell(env: dict[str, str], workdir: Path) -> int:
    """A subshell in the practice folder; returns its exit code when the learner types exit."""
    program = os.environ.get("SHELL") or "/bin/sh"
    try:
        return subprocess.call([program], env=env, cwd=workdir)
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot start the shell {program}: {error.strerror}", "Set SHELL to a shell that exists."
        ) from None
