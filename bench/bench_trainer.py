"""Issue 13: `onboard trainer check-account` on a lab account with 10 instances and 30 learners (at most 3 s),
against one `aws sts get-caller-identity` in the same run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench_doctor import _interleaved_ms
from benchlib import VENV_BIN, Figure, isolated_env, lab_profile

INSTANCES = 10
LEARNERS = 30


def _world(path: Path) -> Path:
    """The default lab world with 10 instances and 30 learners."""
    from onboard.lab.world import DEFAULT_WORLD_TOML

    head = DEFAULT_WORLD_TOML.split("[[instances]]")[0].replace(
        'learners = ["alice"]', "learners = [" + ", ".join(f'"learner{n:02d}"' for n in range(LEARNERS)) + "]"
    )
    instances = "".join(
        f'[[instances]]\nalias = "server{n:02d}"\nid = "i-0a1b2c3d4e5f600{n:02d}"\nusers = ["analyst"]\n'
        f'private_ip = "10.0.1.{30 + n}"\n\n'
        for n in range(INSTANCES)
    )
    path.write_text(head + instances, encoding="utf-8")
    return path


def run() -> list[Figure]:
    from onboard.lab.control import start_detached, stop
    from onboard.lab.state import LabPaths

    env = isolated_env()
    home = Path(env["HOME"])
    lab_root = Path(tempfile.mkdtemp(prefix="onboard-bench-trainer-"))
    paths = LabPaths(lab_root / "lab")
    try:
        state = start_detached(
            paths, port=0, world_file=_world(lab_root / "lab.toml"), env={**env, "HOME": str(lab_root)}
        )
        lab_profile(home / ".aws", paths, state, state.world.trainer, profile="trainer")
        env.update(AWS_PROFILE="trainer", AWS_MAX_ATTEMPTS="1")
        check = ["trainer", "check-account", "--team", str(paths.team_file), "--group", "ssm-users"]
        sts_ms, check_ms = _interleaved_ms(
            [[str(VENV_BIN / "aws"), "sts", "get-caller-identity"], [str(VENV_BIN / "onboard"), *check]],
            env,
        )
    finally:
        stop(paths)
        shutil.rmtree(lab_root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return [
        Figure(
            f"onboard trainer check-account, {INSTANCES} instances and {LEARNERS} learners (lab)",
            check_ms,
            "ms",
            "aws sts get-caller-identity (lab)",
            sts_ms,
            "<= 3000 ms",
            check_ms <= 3000,
        )
    ]
