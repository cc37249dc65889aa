"""Issue 14: `onboard trainer provision` for 30 learners, plan then apply, against the lab (at most 15 s),
against creating the same 30 users and their keys with plain IAM calls (boto3) in the same run.

Each round provisions a fresh class (plan, then --apply: the stack, 30 keys, 30 kits), then deprovisions
it, so every round starts from the same account; the figure is the median of the rounds' plan + apply.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchlib import VENV_BIN, Figure, lab_profile, start_lab

LEARNERS = 30
ROUNDS = 3
GOAL_MS = 15_000


def _seconds(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.DEVNULL
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=done, stderr=done)
    return (time.perf_counter() - start) * 1000


def _plain_iam_ms(iam, names: list[str]) -> float:
    """The reference: the same users and keys made with one IAM call each, then removed (not timed)."""
    start = time.perf_counter()
    for name in names:
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
    elapsed = (time.perf_counter() - start) * 1000
    for name in names:
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=name)
    return elapsed


def run() -> list[Figure]:
    import boto3

    from onboard.lab.control import stop
    from onboard.lab.state import read_credentials_csv
    from onboard.team import Location, dump_team, load_team

    root = Path(tempfile.mkdtemp(prefix="onboard-bench-provision-"))
    paths, state, env = start_lab(root / "lab", learners=[])
    try:
        env.update(lab_profile(root / "aws", paths, state, state.world.trainer, profile="trainer"))
        env.update(AWS_PROFILE="trainer", AWS_MAX_ATTEMPTS="1")
        key_id, secret = read_credentials_csv(paths.credentials_csv(state.world.trainer))
        iam = boto3.client(
            "iam",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret.reveal(),
            region_name=state.world.region,
            endpoint_url=state.endpoint_url,
        )
        team = load_team(paths.team_file)
        names = [f"learner{n:02d}" for n in range(LEARNERS)]
        class_csv = root / "class.csv"
        class_csv.write_text("name\n" + "\n".join(names) + "\n", encoding="utf-8")
        onboard = str(VENV_BIN / "onboard")
        provision_ms, reference_ms = [], []
        for round_number in range(ROUNDS):
            team_file = root / f"team{round_number}.toml"
            bucket = Location(f"bench-class-transfer-{round_number}", "users/")
            team_file.write_text(dump_team(replace(team, path=team_file, team="bench", transfer=bucket)))
            args = ["trainer", "provision", "--team", str(team_file), "--class", str(class_csv)]
            kits = ["--kits", str(root / f"kits{round_number}")]
            plan = _seconds([onboard, *args], env, root)
            apply = _seconds([onboard, *args, *kits, "--apply"], env, root)
            provision_ms.append(plan + apply)
            _seconds([onboard, "trainer", "deprovision", "--team", str(team_file), "--yes"], env, root)
            reference_ms.append(_plain_iam_ms(iam, [f"plain{n:02d}" for n in range(LEARNERS)]))
    finally:
        stop(paths)
        shutil.rmtree(root, ignore_errors=True)
    figure = statistics.median(provision_ms)
    return [
        Figure(
            f"onboard trainer provision, {LEARNERS} learners, plan + apply (lab, median of {ROUNDS})",
            figure,
            "ms",
            f"{LEARNERS} users and keys with plain IAM calls (boto3, lab)",
            statistics.median(reference_ms),
            f"<= {GOAL_MS} ms",
            figure <= GOAL_MS,
        )
    ]
