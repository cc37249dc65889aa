"""Issue 3: `lab up` until ready, a median API call through the lab's layer against straight to moto, and
seeding a class of 30 learners."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import VENV_BIN, Figure, isolated_env

CLASS_OF_30 = ",".join(f"learner{n:02d}" for n in range(1, 31))
API_CALLS = 60


def _onboard(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(VENV_BIN / "onboard"), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _median_call_ms(client, calls: int = API_CALLS) -> float:
    client.get_caller_identity()  # connection set up, first-request costs paid
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        client.get_caller_identity()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _sts(endpoint: str, key_id: str, secret: str, region: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def _plain_moto(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("moto's server did not start")


def run() -> list[Figure]:
    from onboard.lab.state import LabPaths, read_credentials_csv, read_state

    env = isolated_env()
    home = Path(env["HOME"])
    paths = LabPaths(home / ".local" / "state" / "onboard" / "lab")
    up_times = []
    for _ in range(3):
        up_times.append(_onboard(env, "lab", "up", "--detach", "--port", "0"))
        _onboard(env, "lab", "down")
    up_seconds = statistics.median(up_times)

    _onboard(env, "lab", "up", "--detach", "--port", "0", "--learners", CLASS_OF_30)
    try:
        reset_seconds = statistics.median(_onboard(env, "lab", "reset") for _ in range(3))
        state = read_state(paths)
        assert state is not None, "the lab wrote no lab.json"
        key_id, secret = read_credentials_csv(paths.credentials_csv("learner01"))
        through_layer = _median_call_ms(_sts(state.endpoint_url, key_id, secret.reveal(), state.world.region))
        moto, moto_endpoint = _plain_moto(env)
        try:
            straight = _median_call_ms(_sts(moto_endpoint, key_id, secret.reveal(), state.world.region))
        finally:
            moto.terminate()
            moto.wait()
    finally:
        _onboard(env, "lab", "down")

    return [
        Figure(
            "lab up until ready (median of 3)",
            up_seconds * 1000,
            "ms",
            goal="<= 3000 ms",
            met=up_seconds <= 3,
        ),
        Figure(
            "sts:GetCallerIdentity through the lab's layer (median)",
            through_layer,
            "ms",
            "the same call straight to moto's server",
            straight,
            "<= 1.2x",
            through_layer <= 1.2 * straight,
        ),
        Figure(
            "re-seeding a class of 30 learners (lab reset, median of 3)",
            reset_seconds * 1000,
            "ms",
            goal="<= 5000 ms",
            met=reset_seconds <= 5,
        ),
    ]
