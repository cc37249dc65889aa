"""Issue 12: the everyday commands against the lab, each beside the manual route measured in the same run.

- `onboard connect` to the first prompt: <= 0.7x `aws ssm start-session` to its first prompt;
- `onboard transfer put` of 50 MB: <= 0.8x the write-up's manual route (`aws s3 cp` to the bucket, then
  `aws s3 cp` from the bucket inside a session);
- `onboard forward`: HTTP GET of 1 MB through the tunnel, p50 <= 2x the same GET straight to the lab's
  service; 20 MB through one tunnel at >= 20 MB/s.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import VENV_BIN, Figure, learner_profile, plugin_folder, plugin_name, start_lab

LEARNER = "alice"
PROMPT = "sh-4.2$ "
RUNS = 5
SIZE = 50 * 1000 * 1000


def _spawn(argv: list[str], env: dict[str, str]):
    import pexpect

    return pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", codec_errors="replace", timeout=120)


def _to_prompt(argv: list[str], env: dict[str, str]) -> float:
    begun = time.perf_counter()
    child = _spawn(argv, env)
    child.expect_exact(PROMPT)
    seconds = time.perf_counter() - begun
    child.sendline("exit")
    child.expect("Exiting session")
    child.close()
    return seconds


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def _get(connection: http.client.HTTPConnection, path: str) -> float:
    begun = time.perf_counter()
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    return time.perf_counter() - begun


@dataclass(frozen=True)
class _Bench:
    """The lab and the learner's terminal every part measures in."""

    root: Path
    learner: dict[str, str]
    target: str
    bucket: str

    @property
    def aws(self) -> str:
        return str(VENV_BIN / "aws")


ONBOARD = [sys.executable, "-m", "onboard"]


def run(parts: tuple[str, ...] = ("connect", "transfer", "forward")) -> list[Figure]:
    from onboard.lab.control import stop

    measure = {"connect": _connect, "transfer": _transfer, "forward": _forward}
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="onboard-bench-everyday-") as folder:
        root = Path(folder)
        paths, state, env = start_lab(root, [LEARNER])
        try:
            plugin_dir = plugin_folder(root)
            learner = dict(env)
            learner.update(learner_profile(root / "aws", paths, state, LEARNER))
            learner.update(
                PATH=os.pathsep.join([str(plugin_dir), str(VENV_BIN), env.get("PATH", "")]),
                ONBOARD_TEAM=str(paths.team_file),
                TERM="xterm",
            )
            bench = _Bench(root, learner, state.world.instances["jupyter"], state.world.transfer_bucket)
            for part in parts:
                figures.extend(measure[part](bench))
        finally:
            stop(paths)
    return figures


#: What any command that starts the session "through boto3" must do before the plugin runs, and nothing
#: else: the plugin's --version (as the AWS CLI runs it, to know the plugin reads the session from the
#: environment; here beside the rest, as onboard runs it), botocore's session and SSM client (boto3's
#: client is botocore's), StartSession, and the plugin's start with the session in its environment. Its
#: time bounds from below what onboard connect can reach.
_FLOOR = """
import json, os, shutil, subprocess, sys
plugin = shutil.which("session-manager-plugin")
version = subprocess.Popen([plugin, "--version"], stdout=subprocess.PIPE)
import botocore.session
ssm = botocore.session.Session(profile="ssm").create_client("ssm")
version.communicate()
started = ssm.start_session(Target=sys.argv[1])
session = {key: started[key] for key in ("SessionId", "TokenValue", "StreamUrl")}
argv = [plugin, "AWS_SSM_START_SESSION_RESPONSE", ssm.meta.region_name, "StartSession", "ssm",
        json.dumps({"Target": sys.argv[1]}), ssm.meta.endpoint_url]
os.execve(plugin, argv, {**os.environ, "AWS_SSM_START_SESSION_RESPONSE": json.dumps(session)})
"""


def _connect(bench: _Bench) -> list[Figure]:
    """connect against start-session, interleaved, with the floor under both beside them."""
    manual, ours, floor = [], [], []
    for _ in range(RUNS):
        manual.append(
            _to_prompt(
                [bench.aws, "ssm", "start-session", "--target", bench.target, "--profile", "ssm"],
                bench.learner,
            )
        )
        ours.append(_to_prompt([*ONBOARD, "connect", "jupyter"], bench.learner))
        floor.append(_to_prompt([sys.executable, "-c", _FLOOR, bench.target], bench.learner))
    manual_ms, ours_ms = statistics.median(manual) * 1000, statistics.median(ours) * 1000
    floor_ms = statistics.median(floor) * 1000
    return [
        Figure(
            f"onboard connect to the first prompt (median of {RUNS}, {plugin_name()})",
            ours_ms,
            "ms",
            "aws ssm start-session",
            manual_ms,
            "<= 0.7x",
            ours_ms <= 0.7 * manual_ms,
        ),
        Figure(
            f"the floor: plugin --version, botocore's client, StartSession, the plugin (median of {RUNS})",
            floor_ms,
            "ms",
            "aws ssm start-session",
            manual_ms,
        ),
    ]


def _aws(bench: _Bench, *words: str) -> list[str]:
    return [bench.aws, *words, "--profile", "ssm"]


def _transfer(bench: _Bench) -> list[Figure]:
    """transfer put of 50 MB against the write-up's two aws s3 cp."""
    source = bench.root / "data-50mb.bin"
    source.write_bytes(os.urandom(SIZE))
    manual, ours = [], []
    for attempt in range(3):
        key = f"users/{LEARNER}/manual-{attempt}.bin"
        begun = time.perf_counter()
        subprocess.run(
            [*_aws(bench, "s3", "cp", str(source), f"s3://{bench.bucket}/{key}"), "--only-show-errors"],
            env=bench.learner,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # The write-up's commands in the session: `cd ~` (a session starts in /usr/bin, where ssm-user may
        # not write), then the copy. AWS's agent runs a non-interactive command without a shell (agent
        # session/shell/shell_unix.go: shlex.Split, exec.Command), so the two go through sh -c.
        fetch = f"cd ~ && aws s3 cp --only-show-errors s3://{bench.bucket}/{key} manual.bin && echo FETCHED"
        child = _spawn(
            [
                *_aws(bench, "ssm", "start-session", "--target", bench.target),
                *("--document-name", "AWS-StartNonInteractiveCommand", "--parameters"),
                json.dumps({"command": [f"sh -c {shlex.quote(fetch)}"]}),
            ],
            bench.learner,
        )
        child.expect("Exiting session")
        seconds = time.perf_counter() - begun
        if "FETCHED" not in child.before:  # a reference that failed on the instance measures nothing
            raise RuntimeError(f"the manual route failed on the instance: {child.before[-400:]}")
        child.close()
        manual.append(seconds)
        begun = time.perf_counter()
        subprocess.run(
            [*ONBOARD, "transfer", "put", str(source), "jupyter:ours.bin"],
            env=bench.learner,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ours.append(time.perf_counter() - begun)
    manual_s, ours_s = statistics.median(manual), statistics.median(ours)
    return [
        Figure(
            f"onboard transfer put of 50 MB (median of 3, {plugin_name()})",
            ours_s * 1000,
            "ms",
            "aws s3 cp + aws s3 cp in a session",
            manual_s * 1000,
            "<= 0.8x",
            ours_s <= 0.8 * manual_s,
        )
    ]


def _forward(bench: _Bench) -> list[Figure]:
    """1 MB GETs through the tunnel against straight to the service; 20 MB throughput."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tunnel = _spawn([*ONBOARD, "forward", "jupyter", "--local-port", str(port)], bench.learner)
    tunnel.expect("Waiting for connections")
    through = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    # The lab's applications listen on Unix sockets in a private temp folder (onboard.lab.ports).
    sockets = Path(tempfile.gettempdir()).glob(f"onboard-lab-apps-*/{bench.target}-8888.sock")
    service = str(max(sockets, key=os.path.getmtime))
    straight = _UnixHTTPConnection(service)
    for _ in range(3):
        _get(through, "/blob/1000000")
        _get(straight, "/blob/1000000")
    # alternated, so that a burst of load on the shared machine weighs on both sides alike
    tunnelled, direct = [], []
    for _ in range(30):
        tunnelled.append(_get(through, "/blob/1000000"))
        direct.append(_get(straight, "/blob/1000000"))
    p50, direct_p50 = statistics.median(tunnelled) * 1000, statistics.median(direct) * 1000
    rates = [20 / _get(through, "/blob/20000000") for _ in range(3)]
    rate = statistics.median(rates)
    tunnel.sendcontrol("c")
    tunnel.expect("Forwarding stopped")
    tunnel.close()
    return [
        Figure(
            f"GET of 1 MB through onboard forward, p50 ({plugin_name()})",
            p50,
            "ms",
            "the same GET straight to the lab service",
            direct_p50,
            "<= 2x",
            p50 <= 2 * direct_p50,
        ),
        Figure(
            f"20 MB through one tunnel (median of 3, {plugin_name()})",
            rate,
            "MB/s",
            goal=">= 20 MB/s",
            met=rate >= 20,
        ),
    ]


if __name__ == "__main__":  # one part: python bench/bench_everyday.py forward
    for figure in run(tuple(sys.argv[1:]) or ("connect", "transfer", "forward")):
        print(figure.line())
