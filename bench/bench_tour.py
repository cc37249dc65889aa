"""Issue 5: `onboard lab tour` on a fresh machine (an empty home), whole, against the 60 s goal.

The tour runs as the README's first command does, `onboard lab tour`, in a throw-away home: the lab is
started from nothing (its signing key made, its plugin published), setup downloads and installs the
plugin, and lessons 1 to 4 are played. Its parts (from the tour's own --json report) are shown beside
the whole: starting the lab, setup, and the lessons.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from benchlib import VENV_BIN, Figure, isolated_env

GOAL_SECONDS = 60.0


def run() -> list[Figure]:
    env = isolated_env()
    onboard = str(VENV_BIN / "onboard")
    try:
        start = time.perf_counter()
        done = subprocess.run(
            [onboard, "lab", "tour", "--json"], capture_output=True, text=True, env=env, timeout=300
        )
        seconds = time.perf_counter() - start
    finally:
        subprocess.run([onboard, "lab", "down"], capture_output=True, env=env, timeout=60)
        shutil.rmtree(env["HOME"], ignore_errors=True)
    report = json.loads(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"the tour failed (exit {done.returncode}): {report.get('data', report)}")
    data = report["data"]
    lessons = sum(step["seconds"] for lesson in data["lessons"] for step in lesson["steps"])
    return [
        Figure(
            "onboard lab tour, fresh home, every step passed",
            seconds,
            "s",
            goal=f"<= {GOAL_SECONDS:.0f} s",
            met=seconds <= GOAL_SECONDS,
        ),
        Figure("  of which: finding the AWS CLI and starting the lab", data["lab"]["seconds"], "s"),
        Figure("  of which: onboard setup into the lab's sandbox", data["setup"]["seconds"], "s"),
        Figure(f"  of which: lessons 1 to 4 ({data['score']['steps_checked']} steps)", lessons, "s"),
    ]
