"""What every benchmark group shares: figures as ratios to references measured in the same run."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_BIN = Path(sys.executable).parent
REFERENCE_VENV = BENCH / ".venv-ref"


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference_value:
            return self.value / self.reference_value
        return None

    def line(self) -> str:
        text = f"{self.name}: {self.value:.1f} {self.unit}"
        if self.reference is not None and self.ratio is not None:
            text += f" = {self.ratio:.2f}x {self.reference} ({self.reference_value:.1f} {self.unit})"
        if self.goal:
            verdict = "" if self.met is None else (" met" if self.met else " MISSED")
            text += f"  [goal: {self.goal}{verdict}]"
        return text


def isolated_env() -> dict[str, str]:
    """An environment like the tests': a throw-away HOME, no AWS_* variables, no metadata service, and
    bytecode written as an installed package has it."""
    home = Path(tempfile.mkdtemp(prefix="onboard-bench-home-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ONBOARD_", "XDG_"))}
    # An installed onboard runs from compiled bytecode, as the AWS CLI it is measured against does (pip
    # compiles both); a shell that forbids writing bytecode would make onboard compile itself every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
    return env


def median_ms(
    command: Sequence[str], *, runs: int = 15, warmup: int = 2, env: dict[str, str] | None = None
) -> float:
    """Median wall-clock time of a whole command, in milliseconds."""
    samples = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        if index >= warmup:
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def reference_tool(name: str, package: str) -> Path:
    """A command from a package installed only for the benchmark, in bench/.venv-ref."""
    tool = REFERENCE_VENV / "bin" / name
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run(
            [str(REFERENCE_VENV / "bin" / "pip"), "install", "--quiet", package],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    return tool


def start_lab(root: Path, learners: Sequence[str]):
    """A detached practice lab whose state and home are under ``root``: (paths, state, env)."""
    from onboard.lab.control import start_detached
    from onboard.lab.state import LabPaths

    env = isolated_env()
    env.update(HOME=str(root / "home"), XDG_STATE_HOME=str(root / "state"), XDG_DATA_HOME=str(root / "data"))
    paths = LabPaths(root / "state" / "onboard" / "lab")
    return paths, start_detached(paths, port=0, learners=list(learners), env=env), env


#: The path of an official session-manager-plugin to measure with instead of the lab's own plugin.
PLUGIN_VARIABLE = "ONBOARD_BENCH_PLUGIN"


def plugin_folder(root: Path) -> Path:
    """The folder the benches put first on PATH, holding the session-manager-plugin they measure with.

    The lab's own plugin (a Python program) by default. With ONBOARD_BENCH_PLUGIN naming an official
    plugin (what a member's laptop runs; it cannot be downloaded here, but builds from AWS's public
    source), a folder of the bench's own holding a copy of that one, so that PATH gains the plugin alone
    and not whatever else its folder holds. onboard and the AWS CLI hand the session to it in the
    environment only if its ``--version`` is above 1.2.497.0 (a build from source says 1.2.0.0 unless
    its version is set).
    """
    official = os.environ.get(PLUGIN_VARIABLE)
    if not official:
        from onboard.labplugin.launcher import write_launcher

        return write_launcher(root / "bin").parent
    folder = root / "official-plugin"
    folder.mkdir(mode=0o700)
    copy = folder / "session-manager-plugin"
    shutil.copy2(official, copy)
    return folder


def plugin_name() -> str:
    """Which plugin :func:`plugin_folder` gives, for the figures' names."""
    return "official plugin" if os.environ.get(PLUGIN_VARIABLE) else "lab plugin"


def write_profile(
    aws_dir: Path, profile: str, key_id: str, secret, *, region: str, endpoint_url: str
) -> dict[str, str]:
    """``aws_dir``/config and credentials holding ``profile`` (the key's secret is a Secret), as `onboard
    setup` writes them; returns the variables that point the AWS CLI and boto3 at them."""
    aws_dir.mkdir(parents=True, exist_ok=True)
    section = "default" if profile == "default" else f"profile {profile}"
    (aws_dir / "config").write_text(f"[{section}]\nregion = {region}\nendpoint_url = {endpoint_url}\n")
    (aws_dir / "credentials").write_text(
        f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n"
    )
    os.chmod(aws_dir / "credentials", 0o600)
    return {
        "AWS_CONFIG_FILE": str(aws_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def lab_profile(aws_dir: Path, paths, state, user: str, profile: str = "ssm") -> dict[str, str]:
    """:func:`write_profile` for one of the lab's users (a learner, the trainer) from the lab's CSV."""
    from onboard.lab.state import read_credentials_csv

    key_id, secret = read_credentials_csv(paths.credentials_csv(user))
    return write_profile(
        aws_dir, profile, key_id, secret, region=state.world.region, endpoint_url=state.endpoint_url
    )


def learner_profile(aws_dir: Path, paths, state, learner: str) -> dict[str, str]:
    """The learner's profile ssm, as `onboard setup` writes it (:func:`lab_profile`)."""
    return lab_profile(aws_dir, paths, state, learner)
