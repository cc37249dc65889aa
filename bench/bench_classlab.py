"""Issue 14: one class lab for the whole room (127.0.0.2, TLS, sandboxed shells), 30 learners typing at once.

- p99 keystroke echo with 30 learners each in a session, each typing about 5 keys a second: at most
  100 ms; the reference, in the same run, is the p99 echo of one learner typing alone in the same lab;
- memory of the lab's whole process tree (the lab, every sandbox and shell), RSS summed, while the 30
  sessions are open and typing: at most 600 MB.

Each figure is the median of RUNS runs. Sessions use the test suite's own Session Manager client
(tests/smclient.py) over wss, verifying the lab's certificate against its CA.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import REPO, Figure, isolated_env

sys.path.insert(0, str(REPO / "tests"))  # the client the tests use

from smclient import SessionClient

LEARNERS = [f"learner{n:02d}" for n in range(1, 31)]
ADDRESS = "127.0.0.2"
RUNS = 3
TYPING_SECONDS = 8.0
#: A brisk typist: a key every 200 ms.
KEY_INTERVAL = 0.2
#: Amazon Linux (sh-4.2$) and Ubuntu ($) prompts both end so.
PROMPT = b"$ "


def _start(root: Path):
    from onboard.lab.classmode import ClassMode
    from onboard.lab.control import start_detached
    from onboard.lab.state import LabPaths

    env = isolated_env()
    env.update(HOME=str(root / "home"), XDG_STATE_HOME=str(root / "state"), XDG_DATA_HOME=str(root / "data"))
    paths = LabPaths(root / "state" / "onboard" / "lab")
    classroom = ClassMode.of(ADDRESS, None, LEARNERS)
    state = start_detached(paths, port=0, env=env, classroom=classroom, timeout=180)
    return paths, state


def _ssm(paths, state, learner: str):
    import boto3
    from botocore.config import Config

    from onboard.lab.control import ca_bundle
    from onboard.lab.state import read_credentials_csv

    key_id, secret = read_credentials_csv(paths.credentials_csv(learner))
    return boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=state.world.region
    ).client(
        "ssm",
        endpoint_url=state.endpoint_url,
        config=Config(retries={"max_attempts": 1}),
        verify=str(ca_bundle(paths, state.endpoint_url)),
    )


def _session(paths, state, learner: str, target: str) -> SessionClient:
    from onboard.lab.control import client_tls

    answer = _ssm(paths, state, learner).start_session(Target=target)
    client = SessionClient.open(
        answer["StreamUrl"], answer["TokenValue"], tls=client_tls(paths, state.endpoint_url)
    )
    client.handshake()
    client.read_until(PROMPT, timeout=30)
    return client


def _type(client: SessionClient, until: float, samples: list[float]) -> None:
    """Type one letter at a time until ``until``, recording how long each echo took (ms)."""
    while time.monotonic() < until:
        seen = client.received.output.count(b"q")
        started = time.perf_counter()
        client.send_input(b"q")
        client._wait(lambda seen=seen: client.received.output.count(b"q") > seen, 10, "no echo")
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(KEY_INTERVAL)
    client.send_input(b"\x15")  # the line typed so far is erased


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _tree_rss_mb(root_pid: int) -> float:
    """RSS of ``root_pid`` and every process below it, summed (shared pages counted in each)."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    total, pending = 0.0, [root_pid]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


class _Meter:
    """The lab tree's RSS, measured once in the middle of a typing round."""

    def __init__(self, pid: int, after: float):
        self._sample: list[float] = []
        self._timer = threading.Timer(after, lambda: self._sample.append(_tree_rss_mb(pid)))
        self._timer.start()

    def result(self) -> float:
        self._timer.join()
        return self._sample[0]


def _typing_round(clients: list[SessionClient]) -> list[float]:
    samples: list[list[float]] = [[] for _ in clients]
    until = time.monotonic() + TYPING_SECONDS
    threads = [
        threading.Thread(target=_type, args=(client, until, found))
        for client, found in zip(clients, samples, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [sample for found in samples for sample in found]


def run() -> list[Figure]:
    from onboard.lab.control import stop

    with tempfile.TemporaryDirectory(prefix="onboard-bench-classlab-") as folder:
        paths, state = _start(Path(folder))
        try:
            targets = list(state.world.instances.values())
            alone, together, memory = [], [], []
            clients = [
                _session(paths, state, learner, targets[n % len(targets)])
                for n, learner in enumerate(LEARNERS)
            ]
            try:
                _typing_round(clients[:1])  # warm up
                for _ in range(RUNS):
                    alone.append(_p99(_typing_round(clients[:1])))
                    meter = _Meter(state.pid, after=TYPING_SECONDS / 2)
                    together.append(_p99(_typing_round(clients)))
                    memory.append(meter.result())
            finally:
                for client in clients:
                    client.close()
        finally:
            stop(paths)
    p99, reference, rss = statistics.median(together), statistics.median(alone), statistics.median(memory)
    return [
        Figure(
            f"p99 echo, {len(LEARNERS)} learners typing at once over wss (median of {RUNS})",
            p99,
            "ms",
            "one learner typing alone",
            reference,
            goal="<= 100 ms",
            met=p99 <= 100,
        ),
        Figure(
            f"class lab memory, {len(LEARNERS)} sessions typing (RSS of its process tree, median of {RUNS})",
            rss,
            "MB",
            goal="<= 600 MB",
            met=rss <= 600,
        ),
    ]
