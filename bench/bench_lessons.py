"""Issues 5 and 11: a lesson step's check against the lab (median <= 300 ms, with the evidence checks);
`onboard lesson list` <= 1.5x --version.

Each check figure is the work `onboard lesson check` does for one step, with fresh clients and credentials
as each `lesson check` has: connect step 1 (a session of the learner's to the instance, and its log in S3
showing `whoami` printing ssm-user), connect step 2 (a session ended from outside: its log ends at a
prompt with nothing typed) and transfer step 2 (the object, written while a session on the server was
open, whose log shows the `aws s3` upload at a prompt; and the file back home). The reference, measured in
the same run, is the floor of that work: the AWS calls such a check cannot do without (DescribeSessions,
Active and History, and the log's GetObject) on one warm client. The first check in a process also loads
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
NONCE = "nonce-bench"


def _client(state, paths, user: str, service: str):
    import boto3

    from onboard.lab.state import read_credentials_csv

    key_id, secret = read_credentials_csv(paths.credentials_csv(user))
    session = boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=state.world.region
    )
    return session.client(service, endpoint_url=state.endpoint_url)


def _ended_session_with_log(paths, state, target: str, log: str, during=None) -> tuple[str, str, str]:
    """A learner's session that ended, with ``log`` as its log (written by the admin: the check's work is
    the same whether a real shell or this benchmark wrote it); ``during`` runs while it is open.
    Returns (session id, log bucket, log key)."""
    ssm = _client(state, paths, LEARNER, "ssm")
    session_id = ssm.start_session(Target=target)["SessionId"]
    if during is not None:
        during()
    ssm.terminate_session(SessionId=session_id)
    time.sleep(0.5)
    ended = ssm.describe_sessions(State="History", Filters=[{"key": "SessionId", "value": session_id}])
    bucket, _, key = ended["Sessions"][0]["OutputUrl"]["S3OutputUrl"].split("/", 3)[-1].partition("/")
    body = f"SessionId: {session_id}\n\n{log}".encode()
    _client(state, paths, "lab-admin", "s3").put_object(Bucket=bucket, Key=key, Body=body)
    return session_id, bucket, key


def _values(state) -> dict[str, str]:
    world = state.world
    return {
        "instance.id": world.instances["jupyter"],
        "instance.alias": "jupyter",
        "bucket": world.transfer_bucket,
        "prefix": f"users/{LEARNER}/",
        "nonce": NONCE,
        "profile": "ssm",
    }


def _prepare(paths, state, workdir: Path) -> tuple[str, str]:
    """What the three steps look for, done once; returns one log's (bucket, key) for the floor."""
    values = _values(state)
    target, bucket = values["instance.id"], values["bucket"]
    _ended_session_with_log(paths, state, target, "sh-4.2$ whoami\nssm-user\nsh-4.2$ exit\n")
    _, log_bucket, log_key = _ended_session_with_log(
        paths, state, target, "sh-4.2$ whoami\nssm-user\nsh-4.2$ "
    )
    url = f"s3://{bucket}/users/{LEARNER}/from-server.txt"

    def upload() -> None:
        body = f"hello from my computer {NONCE}\nchanged on jupyter {NONCE}\n".encode()
        key = url.split("/", 3)[3]
        _client(state, paths, LEARNER, "s3").put_object(Bucket=bucket, Key=key, Body=body)
        (workdir / "back-home.txt").write_bytes(body)

    log = (
        f"sh-4.2$ cd ~\nsh-4.2$ aws s3 cp to-server.txt {url}\nupload: ./to-server.txt to {url}\n"
        "sh-4.2$ exit\n"
    )
    _ended_session_with_log(paths, state, target, log, during=upload)
    return log_bucket, log_key


def _check_ms(paths, state, began_at: datetime, workdir: Path, lesson: str, index: int) -> list[float]:
    from onboard.awsclient import ClientSettings
    from onboard.lessons.catalog import Course
    from onboard.lessons.format import fill_data
    from onboard.lessons.verifiers import CheckContext, run_checks

    step = Course.from_settings().lesson(lesson).steps[index]
    verify = [fill_data(item, _values(state)) for item in step.verify]
    settings = ClientSettings(profile="ssm", region=state.world.region, endpoint_url=state.endpoint_url)
    arn = f"arn:aws:iam::{state.world.account}:user/{LEARNER}"
    samples = []
    for _ in range(RUNS + 1):
        context = CheckContext(settings, began_at, NONCE, workdir, arn=arn, user=LEARNER)
        start = time.perf_counter()
        verdicts = run_checks(verify, context, step.time_limit)
        elapsed = (time.perf_counter() - start) * 1000
        if not all(v.passed for v in verdicts):
            raise RuntimeError(f"the benchmark's check of {lesson} step {index + 1} did not pass: {verdicts}")
        samples.append(elapsed)
    return samples


def _floor_ms(paths, state, log: tuple[str, str]) -> float:
    """The AWS calls a session check cannot do without, on one warm client: the floor of its work."""
    ssm, s3 = _client(state, paths, LEARNER, "ssm"), _client(state, paths, LEARNER, "s3")
    owner = [{"key": "Owner", "value": f"arn:aws:iam::{state.world.account}:user/{LEARNER}"}]
    samples = []
    for _ in range(RUNS + 1):
        start = time.perf_counter()
        for which in ("Active", "History"):
            ssm.describe_sessions(State=which, Filters=owner, MaxResults=200)
        s3.get_object(Bucket=log[0], Key=log[1])["Body"].read()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[1:])


STEPS = (
    ("connect", 0, "connect step 1: whoami in a session's log"),
    ("connect", 1, "connect step 2: a session ended from outside"),
    ("transfer", 1, "transfer step 2: uploaded from a session on the server, and back home"),
)


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
        workdir = root / "practice"
        workdir.mkdir()
        paths, state, _ = start_lab(root, [LEARNER])
        try:
            os.environ.update(learner_profile(root / "aws", paths, state, LEARNER))
            began_at = datetime.now(timezone.utc)
            time.sleep(1)
            log = _prepare(paths, state, workdir)
            samples = {
                name: _check_ms(paths, state, began_at, workdir, lesson, index)
                for lesson, index, name in STEPS
            }
            floor = _floor_ms(paths, state, log)
        finally:
            stop(paths)
            os.environ.clear()
            os.environ.update(saved)
    figures.append(
        Figure(
            "onboard lesson list", list_ms, "ms", "onboard lab fault list (a trivial subcommand)", floor_ms
        )
    )
    first = samples[STEPS[0][2]][0]
    figures.append(Figure("lesson step check, first in a process (service models loaded)", first, "ms"))
    for _lesson, _index, name in STEPS:
        check_ms = statistics.median(samples[name][1:])
        figures.append(
            Figure(
                f"lesson step check against the lab ({name})",
                check_ms,
                "ms",
                "its AWS calls on one warm client",
                floor,
                goal="<= 300 ms",
                met=check_ms <= 300,
            )
        )
    return figures
