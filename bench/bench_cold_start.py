"""Issue 2: `onboard --help` cold start against `aws --version` (CLI v1) and `aws-gate --version`."""

from __future__ import annotations

import shutil

from benchlib import VENV_BIN, Figure, isolated_env, median_ms, reference_tool


def run() -> list[Figure]:
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
