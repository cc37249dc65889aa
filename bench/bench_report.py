"""Issue 14: `onboard trainer report` for 30 learners (at most 2 s) and 300 (at most 6 s) against the
lab, with 30, 100 and 300 measured to show how the cost grows; reference: `aws s3 ls` of the progress
prefix, in the same run (both whole commands, median of several interleaved runs).

What the records rest on. The lab holds at most 30 learners (IAM users with keys): each of them really
starts a session on an instance with their own keys (StartSession through the lab's IAM) and ends it
(TerminateSession), so DescribeSessions shows it with them as Owner; the session's log is put where the
session's S3OutputUrl points (the lab's agent would write it after a shell session; the bench writes one
instead of typing into 30 shells); each puts an object in their own folder and their record (lesson
`connect`'s two steps and `transfer`'s first, with that evidence and a seal, as `onboard lesson publish`
writes it) with their keys. Learners 31 to 300 are records written straight into the bucket (as the lab's
admin), each with a log and an object of its own (no look-up is served from the cache of another's) and a
session id of its own that the lab never saw: DescribeSessions (by Owner, both states) is still asked for
each, and answers with none, so those steps show as claimed, not verified. Each report re-checks, per
learner: the record (GetObject), their sessions (DescribeSessions, Active and History), the log and the object
(HeadObject each): five requests per learner, plus the listing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from bench_doctor import _interleaved_ms
from benchlib import VENV_BIN, Figure, start_lab

SIZES = (30, 100, 300)
GOALS_MS = {30: 2000, 300: 6000}
RUNS = 5
#: The most learners a lab holds (onboard.lab.world).
LAB_LEARNERS = 30


def _record(name: str, arn: str, session: dict, log: tuple[str, str], obj: tuple[str, str]) -> bytes:
    from onboard.lessons.progress import LessonRecord, Progress, StepRecord, stamp
    from onboard.lessons.verifiers.base import iso

    began = iso(session["StartDate"])
    ended = stamp(session.get("EndDate") or session["StartDate"])
    session_item = {"kind": "session", "ref": session["SessionId"], "at": began}
    progress = Progress(team="bench", profile="ssm", user=name, arn=arn)
    progress.lessons["connect"] = LessonRecord(
        status="in_progress",
        started_at=began,
        steps={
            "start-a-session-and-look-around": StepRecord(
                status="passed",
                began_at=began,
                finished_at=ended,
                points=15,
                max_points=15,
                evidence=[session_item, {"kind": "session_log", "ref": log[0], "etag": log[1]}],
            ),
            "end-a-session-from-outside": StepRecord(
                status="passed",
                began_at=began,
                finished_at=ended,
                points=15,
                max_points=15,
                evidence=[session_item],
            ),
        },
    )
    progress.lessons["transfer"] = LessonRecord(
        status="in_progress",
        started_at=began,
        steps={
            "from-your-computer-to-the-bucket": StepRecord(
                status="passed",
                began_at=began,
                finished_at=ended,
                points=15,
                max_points=15,
                evidence=[{"kind": "s3_object", "ref": obj[0], "etag": obj[1]}],
            )
        },
    )
    progress.seal()
    return json.dumps(progress.record()).encode()


def _publish(paths, state, names: list[str], *, real: int) -> None:
    """The first ``real`` learners of ``names`` open and end a real session and publish a record resting on
    it with their own keys; the others' records, logs and objects are written by the lab's admin."""
    import secrets
    from datetime import datetime, timezone

    import boto3

    from onboard.lab.state import read_credentials_csv
    from onboard.team import find_team

    world = state.world
    team = find_team(paths.team_file)
    endpoint, region = state.endpoint_url, world.region
    target = next(iter(world.instances.values()))
    bucket = world.transfer_bucket
    boto = boto3.Session(region_name=region)

    def client(service: str, user: str):
        key_id, secret = read_credentials_csv(paths.credentials_csv(user))
        return boto.client(
            service, endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret.reveal()
        )

    admin_s3, trainer_ssm = client("s3", "lab-admin"), client("ssm", world.trainer)
    log_bucket, log_prefix = team.session_logs.bucket, team.session_logs.prefix
    for index, name in enumerate(names):
        s3 = admin_s3
        if index < real:
            ssm, s3 = client("ssm", name), client("s3", name)
            session_id = ssm.start_session(Target=target)["SessionId"]
            ssm.terminate_session(SessionId=session_id)
            session = next(
                s
                for state_name in ("History", "Active")
                for s in trainer_ssm.describe_sessions(
                    State=state_name, Filters=[{"key": "SessionId", "value": session_id}]
                )["Sessions"]
            )
            log_key = session["OutputUrl"]["S3OutputUrl"].removeprefix(f"{endpoint}/{log_bucket}/")
        else:
            session = {
                "SessionId": f"{name}-{secrets.token_hex(9)[:17]}",
                "StartDate": datetime.now(timezone.utc),
            }
            log_key = f"{log_prefix}{session['SessionId']}.log"
        log = admin_s3.put_object(Bucket=log_bucket, Key=log_key, Body=b"sh-4.2$ whoami\r\nssm-user\r\n" * 40)
        key = f"{team.transfer.prefix}{name}/to-server.txt"
        obj = s3.put_object(Bucket=bucket, Key=key, Body=f"hello from {name}\n".encode())
        arn = f"arn:aws:iam::{world.account}:user/{name}"
        body = _record(
            name,
            arn,
            session,
            (f"s3://{log_bucket}/{log_key}", log["ETag"]),
            (f"s3://{bucket}/{key}", obj["ETag"]),
        )
        s3.put_object(Bucket=bucket, Key=f"onboard/progress/{name}.json", Body=body)


def run() -> list[Figure]:
    from onboard.lab.control import stop
    from onboard.lab.state import read_credentials_csv

    root = Path(tempfile.mkdtemp(prefix="onboard-bench-report-"))
    names = [f"learner{n:03d}" for n in range(max(SIZES))]
    paths, state, env = start_lab(root, names[:LAB_LEARNERS])
    figures: list[Figure] = []
    try:
        world = state.world
        key_id, secret = read_credentials_csv(paths.credentials_csv(world.trainer))
        aws = Path(env["HOME"]) / ".aws"
        aws.mkdir(parents=True, exist_ok=True)
        (aws / "config").write_text(
            f"[profile trainer]\nregion = {world.region}\nendpoint_url = {state.endpoint_url}\n"
        )
        (aws / "credentials").write_text(
            f"[trainer]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n"
        )
        (aws / "credentials").chmod(0o600)
        env.update(AWS_PROFILE="trainer", AWS_MAX_ATTEMPTS="1")
        listing = [str(VENV_BIN / "aws"), "s3", "ls", f"s3://{world.transfer_bucket}/onboard/progress/"]
        report = [str(VENV_BIN / "onboard"), "trainer", "report", "--team", str(paths.team_file), "--json"]
        done = 0
        for size in SIZES:
            _publish(paths, state, names[done:size], real=max(0, LAB_LEARNERS - done))
            done = size
            ls_ms, report_ms = _interleaved_ms([listing, report], env, runs=RUNS)
            goal = GOALS_MS.get(size)
            figures.append(
                Figure(
                    f"onboard trainer report, {size} learners (lab)",
                    report_ms,
                    "ms",
                    "aws s3 ls of the progress prefix (lab)",
                    ls_ms,
                    f"<= {goal} ms" if goal else "",
                    report_ms <= goal if goal else None,
                )
            )
    finally:
        stop(paths)
        shutil.rmtree(root, ignore_errors=True)
    return figures
