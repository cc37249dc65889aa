"""Issue 10: the lab's data channel under a client that is not the official plugin (tests/smclient.py).

- a client sending 64 KB input messages uploads 1 MB through a session: >= 10 MB/s, with the p99 keystroke
  echo of a second session, typing meanwhile, under 50 ms;
- lab memory growth after 300 hostile 1 MiB out-of-order frames (and the socket closed): < 20 MB.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import REPO, Figure, start_lab

sys.path.insert(0, str(REPO / "tests"))  # the client the tests use

from smclient import SessionClient

from onboard.session import protocol
from onboard.session.protocol import ClientMessage, PayloadType

MiB = 1024 * 1024
UPLOADS = 5
FLOODS = 3
PROMPT = b"sh-4.2$ "


def _ssm(paths, state, learner: str):
    import boto3
    from botocore.config import Config

    from onboard.lab.state import read_credentials_csv

    key_id, secret = read_credentials_csv(paths.credentials_csv(learner))
    return boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=state.world.region
    ).client("ssm", endpoint_url=state.endpoint_url, config=Config(retries={"max_attempts": 1}))


def _session(ssm, target: str, **options) -> SessionClient:
    answer = ssm.start_session(Target=target)
    client = SessionClient.open(answer["StreamUrl"], answer["TokenValue"], **options)
    client.handshake()
    client.read_until(PROMPT)
    return client


def _typing(client: SessionClient, stop: threading.Event, samples: list[float]) -> None:
    """Type one letter at a time until ``stop``, recording how long each echo took (ms)."""
    while not stop.is_set():
        seen = client.received.output.count(b"q")
        started = time.perf_counter()
        client.send_input(b"q")
        client._wait(lambda seen=seen: client.received.output.count(b"q") > seen, 10, "no echo")
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.005)
    client.send_input(b"\x15")


def _upload_rate(uploader: SessionClient, home: Path, run: int) -> float:
    """MB/s of one 1 MiB upload (raw bytes into `head -c`), checked byte for byte on the instance."""
    data = os.urandom(MiB)
    name = f"upload-{run}.bin"
    # `echo` is a shell builtin: the marker comes as soon as head has written the last byte
    uploader.send_input(
        f"stty raw -echo; head -c {MiB} > ~/{name}; echo UP-{run}-$((40+2)); stty sane\r".encode()
    )
    time.sleep(0.3)  # stty has switched the terminal to raw before the data comes
    started = time.perf_counter()
    uploader.send_input(data)
    uploader.read_until(f"UP-{run}-42".encode(), timeout=120)
    took = time.perf_counter() - started
    time.sleep(0.3)  # stty sane
    if hashlib.sha256((home / name).read_bytes()).digest() != hashlib.sha256(data).digest():
        raise AssertionError(f"upload {run} arrived altered")
    return MiB / 1e6 / took


def _pty_rate() -> float:
    """The reference: MB/s of 1 MiB written straight into a pseudo-terminal, read by the same `head -c`
    (what the machine's terminals allow at all, under the same load)."""
    import select
    import subprocess

    leader, follower = os.openpty()
    reader = subprocess.Popen(
        ["sh", "-c", f"stty raw -echo; head -c {MiB} > /dev/null"], stdin=follower, stdout=follower
    )
    os.close(follower)
    time.sleep(0.3)
    os.set_blocking(leader, False)
    data = memoryview(os.urandom(MiB))
    started = time.perf_counter()
    while data:
        select.select([], [leader], [], 1)
        try:
            data = data[os.write(leader, data) :]
        except BlockingIOError:
            continue
    reader.wait()
    took = time.perf_counter() - started
    os.close(leader)
    return MiB / 1e6 / took


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _flood(ssm, target: str) -> None:
    """300 frames of 1 MiB, all ahead of a message never sent, then the socket closed."""
    client = _session(ssm, target)
    try:
        gap = client.outgoing.next_sequence
        payload = bytes(MiB)
        for offset in range(1, 301):
            client.send_raw(ClientMessage(protocol.INPUT_STREAM, payload, PayloadType.OUTPUT, gap + offset))
        client.send_input(b"exit\r")
        client.wait_closed(timeout=60)
    finally:
        client.close()


def run() -> list[Figure]:
    from onboard.lab.control import stop

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="onboard-bench-channel-") as folder:
        paths, state, _ = start_lab(Path(folder), ["alice", "bob", "mallory"])
        try:
            instances = state.world.instances
            home = Path(paths.instances_dir) / instances["jupyter"] / "home" / "ssm-user"
            rates: list[float] = []
            echoes: list[float] = []
            with (
                _session(_ssm(paths, state, "alice"), instances["jupyter"], chunk=64 * 1024) as uploader,
                _session(_ssm(paths, state, "bob"), instances["airflow"]) as typist,
            ):
                _upload_rate(uploader, home, 0)  # warm up
                for run in range(1, UPLOADS + 1):
                    stop_typing = threading.Event()
                    samples: list[float] = []
                    typing = threading.Thread(target=_typing, args=(typist, stop_typing, samples))
                    typing.start()
                    try:
                        rates.append(_upload_rate(uploader, home, run))
                    finally:
                        stop_typing.set()
                        typing.join()
                    echoes += samples
            rate = statistics.median(rates)
            reference = statistics.median(_pty_rate() for _ in range(UPLOADS))
            p99 = sorted(echoes)[min(len(echoes) - 1, round(0.99 * (len(echoes) - 1)))]
            figures.append(
                Figure(
                    f"1 MB upload in 64 KB input messages (median of {UPLOADS})",
                    rate,
                    "MB/s",
                    "1 MB written straight into a pty",
                    reference,
                    goal=">= 10 MB/s",
                    met=rate >= 10,
                )
            )
            figures.append(
                Figure(
                    f"p99 echo of a second session during the uploads ({len(echoes)} keystrokes)",
                    p99,
                    "ms",
                    goal="< 50 ms",
                    met=p99 < 50,
                )
            )

            mallory = _ssm(paths, state, "mallory")
            growth = []
            baseline = _rss_mb(state.pid)
            for _ in range(FLOODS):  # growth since before the first flood, so none hides behind another
                _flood(mallory, instances["jupyter"])
                time.sleep(1)
                growth.append(_rss_mb(state.pid) - baseline)
            grown = statistics.median(growth)
            figures.append(
                Figure(
                    f"lab memory growth after 300 hostile 1 MiB frames (median of {FLOODS})",
                    grown,
                    "MB",
                    goal="< 20 MB",
                    met=grown < 20,
                )
            )
        finally:
            stop(paths)
    return figures
