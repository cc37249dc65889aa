"""Issue 4: sessions through the real AWS CLI, the lab's plugin and the lab.

- keystroke echo round trip: p50 <= 10 ms, p99 <= 50 ms;
- `aws ssm start-session` to the first prompt: <= 1.3x `aws sts get-caller-identity` against the lab;
- 30 concurrent sessions each typing: p99 echo <= 100 ms, lab memory <= 400 MB;
- `cat` of a 20 MB file through a session: >= 10 MB/s.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchlib import VENV_BIN, Figure, learner_profile, plugin_folder, start_lab

LEARNERS = [f"learner{n:02d}" for n in range(1, 31)]
PROMPT = "sh-4.2$ "
KEYSTROKES = 200
CONCURRENT_KEYSTROKES = 40


def _spawn_session(env: dict[str, str], target: str):
    import pexpect

    child = pexpect.spawn(
        str(VENV_BIN / "aws"),
        ["ssm", "start-session", "--target", target, "--profile", "ssm"],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
        maxread=65536,
        searchwindowsize=256,
    )
    child.delaybeforesend = None  # pexpect waits 50 ms before each send by default: not part of the echo
    child.expect_exact(PROMPT)
    return child


def _echo_ms(child, count: int) -> list[float]:
    """Type one character at a time and wait for the remote pty's echo of it."""
    samples = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for index in range(count):
        letter = letters[index % len(letters)]
        start = time.perf_counter()
        child.send(letter)
        child.expect_exact(letter)
        samples.append((time.perf_counter() - start) * 1000)
    child.sendcontrol("u")  # wipe the typed line
    return samples


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the lab and its session shells), in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def _session_env(root: Path, paths, state, env: dict[str, str], learner: str) -> dict[str, str]:
    plugin_dir = plugin_folder(root)
    session_env = dict(env)
    session_env.update(learner_profile(root / "aws" / learner, paths, state, learner))
    session_env["PATH"] = f"{plugin_dir}{os.pathsep}{env.get('PATH', '')}"
    session_env["TERM"] = "xterm"
    return session_env


def run() -> list[Figure]:
    from onboard.lab.control import stop

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="onboard-bench-sessions-") as folder:
        root = Path(folder)
        paths, state, env = start_lab(root, LEARNERS)
        try:
            target = state.world.instances["jupyter"]
            first = _session_env(root, paths, state, env, LEARNERS[0])

            # Start-up: start-session to the first prompt against sts get-caller-identity, interleaved.
            sts_s, start_s = [], []
            for _ in range(5):
                begun = time.perf_counter()
                subprocess.run(
                    [str(VENV_BIN / "aws"), "sts", "get-caller-identity", "--profile", "ssm"],
                    env=first,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                sts_s.append(time.perf_counter() - begun)
                begun = time.perf_counter()
                child = _spawn_session(first, target)
                start_s.append(time.perf_counter() - begun)
                child.sendline("exit")
                child.expect(r"Exiting session")
                child.close()
            sts_ms, start_ms = statistics.median(sts_s) * 1000, statistics.median(start_s) * 1000
            figures.append(
                Figure(
                    "aws ssm start-session to the first prompt (median of 5)",
                    start_ms,
                    "ms",
                    "aws sts get-caller-identity",
                    sts_ms,
                    "<= 1.3x",
                    start_ms <= 1.3 * sts_ms,
                )
            )

            # Echo, one session.
            child = _spawn_session(first, target)
            _echo_ms(child, 20)  # warm
            echo = _echo_ms(child, KEYSTROKES)
            p50, p99 = _percentile(echo, 0.5), _percentile(echo, 0.99)
            figures.append(
                Figure("keystroke echo round trip, p50", p50, "ms", goal="<= 10 ms", met=p50 <= 10)
            )
            figures.append(
                Figure("keystroke echo round trip, p99", p99, "ms", goal="<= 50 ms", met=p99 <= 50)
            )

            # Throughput: cat of a 20 MB file (base64 text, so the terminal shows it as typed).
            home = Path(paths.instances_dir) / target / "home" / "ssm-user"
            (home / "big.txt").write_bytes(
                base64.encodebytes(os.urandom(15 * 1024 * 1024))[: 20 * 1024 * 1024]
            )
            size_mb = (home / "big.txt").stat().st_size / 1e6
            begun = time.perf_counter()
            child.sendline("cat big.txt; echo CAT-DONE-$((40+2))")
            child.expect_exact("CAT-DONE-42", timeout=120)
            rate = size_mb / (time.perf_counter() - begun)
            figures.append(
                Figure(
                    "cat of a 20 MB file through a session", rate, "MB/s", goal=">= 10 MB/s", met=rate >= 10
                )
            )
            child.sendline("exit")
            child.expect(r"Exiting session")
            child.close()

            # 30 learners at once, each typing.
            sessions = [
                _spawn_session(_session_env(root, paths, state, env, name), target) for name in LEARNERS
            ]
            results: list[list[float]] = [[] for _ in sessions]

            def type_in(index: int) -> None:
                results[index] = _echo_ms(sessions[index], CONCURRENT_KEYSTROKES)

            threads = [threading.Thread(target=type_in, args=(i,)) for i in range(len(sessions))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            memory = _tree_rss_mb(state.pid)
            for child in sessions:
                child.sendline("exit")
            for child in sessions:
                child.expect(r"Exiting session")
                child.close()
            everyone = [sample for samples in results for sample in samples]
            p99_all = _percentile(everyone, 0.99)
            figures.append(
                Figure(
                    "30 sessions typing at once, p99 echo",
                    p99_all,
                    "ms",
                    goal="<= 100 ms",
                    met=p99_all <= 100,
                )
            )
            figures.append(
                Figure(
                    "lab memory with 30 sessions (server and shells)",
                    memory,
                    "MB",
                    goal="<= 400 MB",
                    met=memory <= 400,
                )
            )
        finally:
            stop(paths)
    return figures
