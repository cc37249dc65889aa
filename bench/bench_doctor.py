"""Issue 6: a full `onboard doctor` run against the practice lab, healthy, against one
`aws sts get-caller-identity` in the same run; and a full run whose endpoint never answers."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import VENV_BIN, Figure, isolated_env

RUNS = 7


def _once_ms(command: list[str], env: dict[str, str]) -> float:
    """Wall-clock time of one run of ``command``, whatever its exit code (a failing doctor is the point)."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return (time.perf_counter() - start) * 1000


def _interleaved_ms(commands: list[list[str]], env: dict[str, str], runs: int = RUNS) -> list[float]:
    """The median time of each command, run in turn so that all of them meet the same machine load."""
    for command in commands:  # warm-up: caches, bytecode
        _once_ms(command, env)
    samples: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            samples[index].append(_once_ms(command, env))
    return [statistics.median(each) for each in samples]


def _learner_home(env: dict[str, str], team: Path, endpoint: str, region: str, keys: tuple[str, str]) -> None:
    """What `onboard setup --team` leaves: the ssm profile and the plugin from the team's mirror on PATH."""
    aws = Path(env["HOME"]) / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text(f"[profile ssm]\nregion = {region}\nendpoint_url = {endpoint}\n")
    credentials = aws / "credentials"
    credentials.write_text(f"[ssm]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n")
    credentials.chmod(0o600)
    subprocess.run(
        [str(VENV_BIN / "onboard"), "plugin", "install", "--team", str(team)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run() -> list[Figure]:
    from onboard.lab.control import start_detached, stop
    from onboard.lab.state import LabPaths, read_credentials_csv

    env = isolated_env()
    home = Path(env["HOME"])
    env["PATH"] = os.pathsep.join([str(home / ".local" / "bin"), str(VENV_BIN), "/usr/bin", "/bin"])
    env["AWS_MAX_ATTEMPTS"] = "1"
    lab_root = Path(tempfile.mkdtemp(prefix="onboard-bench-lab-"))
    paths = LabPaths(lab_root / "lab")
    lab_env = {**env, "HOME": str(lab_root)}
    try:
        state = start_detached(paths, port=0, env=lab_env)  # any free port: 4566 may be taken
    except BaseException:
        shutil.rmtree(lab_root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        raise
    mute = socket.socket()
    try:
        world = state.world
        key_id, secret = read_credentials_csv(paths.credentials_csv(world.learners[0]))
        _learner_home(env, paths.team_file, state.endpoint_url, world.region, (key_id, secret.reveal()))
        env["ONBOARD_TEAM"] = str(paths.team_file)
        sts_ms, doctor_ms = _interleaved_ms(
            [
                [str(VENV_BIN / "aws"), "sts", "get-caller-identity", "--profile", "ssm"],
                [str(VENV_BIN / "onboard"), "doctor"],
            ],
            env,
        )

        mute.bind(("127.0.0.1", 0))
        mute.listen(64)  # accepts into the backlog, never reads: a port that never answers
        (home / ".aws" / "config").write_text(
            f"[profile ssm]\nregion = {world.region}\nendpoint_url = http://127.0.0.1:{mute.getsockname()[1]}\n"
        )
        (unreachable_ms,) = _interleaved_ms([[str(VENV_BIN / "onboard"), "doctor"]], env, runs=3)
    finally:
        mute.close()
        stop(paths)
        shutil.rmtree(lab_root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return [
        Figure(
            "onboard doctor, full run, lab healthy",
            doctor_ms,
            "ms",
            "aws sts get-caller-identity (lab)",
            sts_ms,
            "<= 1.5x",
            doctor_ms <= 1.5 * sts_ms,
        ),
        Figure(
            "onboard doctor, full run, endpoint never answers",
            unreachable_ms,
            "ms",
            goal="<= 6000 ms",
            met=unreachable_ms <= 6000,
        ),
    ]
