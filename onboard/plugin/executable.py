"""Running a plugin (or AWS CLI) executable to ask its version, as the AWS CLI does before each session."""

from __future__ import annotations

import subprocess
from pathlib import Path

from onboard.errors import VerificationError
from onboard.plugin import catalog
from onboard.plugin.layout import VERSION_PATTERN

_RUN_TIMEOUT = 20


def run_version(executable: Path, timeout: float = _RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``<executable> --version`` with its output captured and no standard input."""
    return subprocess.run(
        [str(executable), "--version"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def last_words(done: subprocess.CompletedProcess[str]) -> str:
    """The last line a failed command printed (stderr first), for an error message."""
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:200] if lines else "no output"


def plugin_version(executable: Path) -> str:
    """What ``<executable> --version`` prints (e.g. "1.2.764.0"); VerificationError if it cannot say."""
    try:
        done = run_version(executable)
    except subprocess.TimeoutExpired:
        raise VerificationError(
            f"{executable} --version did not answer within {_RUN_TIMEOUT} s",
            "The executable is damaged or is not the Session Manager plugin.",
        ) from None
    except OSError as error:
        raise VerificationError(
            f"{executable} does not run here: {error.strerror or error}",
            "It may be built for another platform or architecture, or be damaged.",
        ) from None
    match = VERSION_PATTERN.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise VerificationError(
            f"{executable} --version failed (exit {done.returncode}: {last_words(done)})",
            "The executable is damaged or is not the Session Manager plugin.",
        )
    return match.group(0)


def require_minimum(version: str, executable: Path) -> None:
    """Refuse a plugin older than the oldest AWS supports."""
    if not catalog.version_at_least(version):
        raise VerificationError(
            f"{executable} is plugin {version}, older than {catalog.MINIMUM_VERSION} (the oldest AWS "
            "supports); nothing was installed",
            f"Install {catalog.MINIMUM_VERSION} or newer (omit --version to get the latest).",
        )
