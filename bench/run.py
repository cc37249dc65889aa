#!/usr/bin/env python3
"""Every speed figure the issues name, each as a ratio to a reference measured in the same run.

Run it with the project's virtualenv: ``.venv/bin/python bench/run.py`` (``--only NAME`` for one group,
``--json`` for machine-readable figures). The references that are not part of onboard (aws-gate) are
installed into bench/.venv-ref on first use, never into the project's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
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
    """An environment like the tests': a throw-away HOME, no AWS_* variables, no metadata service."""
    home = Path(tempfile.mkdtemp(prefix="onboard-bench-home-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ONBOARD_", "XDG_"))}
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


def bench_cold_start() -> list[Figure]:
    env = isolated_env()
    onboard = [str(VENV_BIN / "onboard")]
    aws = [str(VENV_BIN / "aws")] if (VENV_BIN / "aws").exists() else [shutil.which("aws") or "aws"]
    gate = [str(reference_tool("aws-gate", "aws-gate"))]
    help_ms = median_ms([*onboard, "--help"], env=env)
    version_ms = median_ms([*onboard, "--version"], env=env)
    aws_ms = median_ms([*aws, "--version"], env=env)
    gate_ms = median_ms([*gate, "--version"], env=env)
    return [
        Figure(
            "onboard --help cold start",
            help_ms,
            "ms",
            "aws --version (CLI v1)",
            aws_ms,
            "<= 0.3x",
            help_ms <= 0.3 * aws_ms,
        ),
        Figure(
            "onboard --help cold start",
            help_ms,
            "ms",
            "aws-gate --version",
            gate_ms,
            "<= 0.5x",
            help_ms <= 0.5 * gate_ms,
        ),
        Figure("onboard --version cold start", version_ms, "ms", "aws --version (CLI v1)", aws_ms),
    ]


GROUPS: dict[str, Callable[[], list[Figure]]] = {
    "cold-start": bench_cold_start,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(GROUPS), action="append", help="run only these groups")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.only or GROUPS:
        group = GROUPS[name]()
        figures.extend(group)
        if not args.json:
            print(f"## {name}")
            for figure in group:
                print(figure.line())
    if args.json:
        print(json.dumps([{**asdict(f), "ratio": f.ratio} for f in figures], indent=2))
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
