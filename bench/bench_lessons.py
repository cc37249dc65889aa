"""Issue 5: a lesson step's check against the lab (median <= 300 ms); `onboard lesson list` <= 1.5x --version.

The check figure is the work `onboard lesson check` does for step 1 of the connect lesson (a session of
the learner's to the instance, and its log in S3 showing `whoami` printing ssm-user): fresh clients and
credentials, the DescribeSessions calls and the log download. The first check in a process also loads
botocore's service models (shown on its own); later ones share them, as the tour and scripts do.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchlib import VENV_BIN, Figure, isolated_env, learner_profile, median_ms, start_lab

LEARNER = "alice"
RUNS = 15


def _client(state, paths, user: str, service: str):
    import boto3

    from onboard.lab.state import read_credentials_csv

    key_id, secret = read_credentials_csv(paths.credentials_csv(user))
    session = boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=state.world.region
    )
    return session.client(service, endpoint_url=state.endpoint_url)


def _ended_session_with_log(paths, state, target: str) -> None:
    """A learner's session that ended, with a log showing whoami (written by the admin: the check's work
    is the same whether a real shell or this benchmark wrote it)."""
    ssm = _client(state, paths, LEARNER, "ssm")
    session_id = ssm.start_session(Target=target)["SessionId"]
    ssm.terminate_session(SessionId=session_id)
    time.sleep(0.5)
    ended = ssm.describe_sessions(State="History", Filters=[{"key": "SessionId", "value": session_id}])
    bucket, _, key = ended["Sessions"][0]["OutputUrl"]["S3OutputUrl"].split("/", 3)[-1].partition("/")
    body = f"SessionId: {session_id}\n\nsh-4.2$ whoami\nssm-user\nsh-4.2$ exit\n".encode()
    _client(state, paths, "lab-admin", "s3").put_object(Bucket=bucket, Key=key, Body=body)


def _check_ms(paths, state, began_at: datetime) -> list[float]:
    from onboard.awsclient import ClientSettings
    from onboard.lessons.catalog import Course
    from onboard.lessons.format import fill_data
    from onboard.lessons.verifiers import CheckContext, run_checks

    step = Course.from_settings().lesson("connect").steps[0]
    target = state.world.instances["jupyter"]
    values = {"instance.id": target}
    verify = [fill_data(item, values) for item in step.verify]
    settings = ClientSettings(profile="ssm", region=state.world.region, endpoint_url=state.endpoint_url)
    arn = f"arn:aws:iam::{state.world.account}:user/{LEARNER}"
    samples = []
    for _ in range(RUNS + 1):
        context = CheckContext(settings, began_at, "nonce-bench", Path.cwd(), arn=arn, user=LEARNER)
        start = time.perf_counter()
        verdicts = run_checks(verify, context, step.time_limit)
        elapsed = (time.perf_counter() - start) * 1000
        if not all(v.passed for v in verdicts):
            raise RuntimeError(f"the benchmark's check did not pass: {verdicts}")
        samples.append(elapsed)
    return samples


def run() -> list[Figure]:
    from onboard.lab.control import stop

    env = isolated_env()
    onboard = [str(VENV_BIN / "onboard")]
    version_ms = median_ms([*onboard, "--version"], env=env)
    list_ms = median_ms([*onboard, "lesson", "list"], env=env)
    # The floor of any subcommand with options, for comparison.
    floor_ms = median_ms([*onboard, "lab", "fault", "list"], env=env)
    figures = [
        Figure(
            "onboard lesson list",
            list_ms,
            "ms",
            "onboard --version",
            version_ms,
            "<= 1.5x",
            list_ms <= 1.5 * version_ms,
        )
    ]
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="onboard-bench-lessons-") as folder:
        root = Path(folder)
        paths, state, _ = start_lab(root, [LEARNER])
        try:
            os.environ.update(learner_profile(root / "aws", paths, state, LEARNER))
            began_at = datetime.now(timezone.utc)
            time.sleep(1)
            _ended_session_with_log(paths, state, state.world.instances["jupyter"])
            samples = _check_ms(paths, state, began_at)
        finally:
            stop(paths)
            os.environ.clear()
            os.environ.update(saved)
    figures.append(
        Figure(
            "onboard lesson list", list_ms, "ms", "onboard lab fault list (a trivial subcommand)", floor_ms
        )
    )
    first_ms, check_ms = samples[0], statistics.median(samples[1:])
    figures.append(Figure("lesson step check, first in a process (service models loaded)", first_ms, "ms"))
    figures.append(
        Figure(
            "lesson step check against the lab (connect, step 1)",
            check_ms,
            "ms",
            goal="<= 300 ms",
            met=check_ms <= 300,
        )
    )
    return figures
