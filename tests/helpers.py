"""Helpers shared by the tests: run the real CLI entry point, build file trees from dicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_onboard(
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> Ran:
    """Run ``python -m onboard ARGS`` as a user would, in the test's isolated environment."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "onboard", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def build_file_tree(root: Path, spec: dict[str, Any]) -> Path:
    """Create files under ``root`` from ``{"relative/path": "text" | bytes | {nested...}}``."""
    for name, content in spec.items():
        path = root / name
        if isinstance(content, dict):
            path.mkdir(parents=True, exist_ok=True)
            build_file_tree(path, content)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return root
