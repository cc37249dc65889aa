"""The real AWS CLI (a subprocess) against the lab: what a learner types, and what each fault looks like."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from fixtures_lab import lab, lab_server  # noqa: F401

pytestmark = pytest.mark.slow

#: A PATH with the AWS CLI but no session-manager-plugin on it.
PLUGINLESS_PATH = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])


def test_the_cli_sees_the_learner_and_the_instances(lab, tmp_path):
    identity = lab.aws("sts", "get-caller-identity", home=tmp_path, user="alice")
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"] == f"arn:aws:iam::{lab.account}:user/alice"
    listed = lab.aws("ssm", "describe-instance-information", "--output", "json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    infos = json.loads(listed.stdout)["InstanceInformationList"]
    assert {i["InstanceId"]: i["PingStatus"] for i in infos} == {i: "Online" for i in lab.instances.values()}


def test_start_session_reaches_the_plugin_step_and_the_session_ends(lab, tmp_path):
    assert shutil.which("session-manager-plugin", path=PLUGINLESS_PATH) is None
    ran = lab.aws(
        "ssm",
        "start-session",
        "--target",
        lab.instances["jupyter"],
        home=tmp_path,
        env={"PATH": PLUGINLESS_PATH},
    )
    assert ran.returncode == 255
    assert "SessionManagerPlugin is not found" in ran.stderr
    history = lab.client("ssm", lab.trainer).describe_sessions(
        State="History", Filters=[{"key": "Owner", "value": f"arn:aws:iam::{lab.account}:user/alice"}]
    )["Sessions"]
    mine = [s for s in history if s["Target"] == lab.instances["jupyter"]]
    assert mine and mine[0]["Status"] == "Terminated"
    assert mine[0]["SessionId"].startswith("alice-")


def test_the_cli_shows_aws_denials(lab, tmp_path):
    stranger = lab.aws("ssm", "start-session", "--target", "i-0fedcba9876543210", home=tmp_path)
    assert stranger.returncode in (254, 255)  # v2 says 254, v1 255
    assert "AccessDeniedException" in stranger.stderr
    assert "is not authorized to perform: ssm:StartSession on resource: arn:aws:ec2:" in stranger.stderr
    bobs = lab.client("ssm", "bob").start_session(Target=lab.instances["redash"])["SessionId"]
    other = lab.aws("ssm", "terminate-session", "--session-id", bobs, home=tmp_path, user="alice")
    assert other.returncode in (254, 255)  # v2 says 254, v1 255
    assert "AccessDeniedException" in other.stderr and f"session/{bobs}" in other.stderr
    own = lab.aws("ssm", "terminate-session", "--session-id", bobs, home=tmp_path / "bob", user="bob")
    assert own.returncode == 0, own.stderr


def test_files_move_through_the_transfer_bucket_under_the_learners_prefix(lab, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("hello from alice\n")
    up = lab.aws("s3", "cp", str(note), "s3://data-team-transfer/users/alice/note.txt", home=tmp_path)
    assert up.returncode == 0, up.stderr
    back = tmp_path / "back.txt"
    down = lab.aws("s3", "cp", "s3://data-team-transfer/users/alice/note.txt", str(back), home=tmp_path)
    assert down.returncode == 0, down.stderr
    assert back.read_text() == "hello from alice\n"
    elsewhere = lab.aws("s3", "cp", str(note), "s3://data-team-transfer/users/bob/note.txt", home=tmp_path)
    assert elsewhere.returncode == 1
    assert "AccessDenied" in elsewhere.stderr
    lab.client("s3", "alice").delete_object(Bucket="data-team-transfer", Key="users/alice/note.txt")


@pytest.mark.parametrize(
    ("fault", "target", "command", "expected"),
    [
        ("agent-offline", "jupyter", ("ssm", "start-session", "--target", "{jupyter}"), "TargetNotConnected"),
        (
            "no-start-session",
            "alice",
            ("ssm", "start-session", "--target", "{jupyter}"),
            "AccessDeniedException",
        ),
        ("key-deactivated", "alice", ("sts", "get-caller-identity"), "InvalidClientTokenId"),
        ("bucket-missing", None, ("s3", "ls", "s3://data-team-transfer/shared/"), "NoSuchBucket"),
    ],
)
def test_each_fault_shows_in_the_cli_as_on_aws_and_clears(lab, tmp_path, fault, target, command, expected):
    args = [part.format(**lab.instances) for part in command]
    lab.fault(fault, target)
    broken = lab.aws(*args, home=tmp_path)
    assert broken.returncode != 0
    assert expected in broken.stderr
    lab.clear_faults()
    if fault != "agent-offline" and fault != "no-start-session":
        fixed = lab.aws(*args, home=tmp_path)
        assert fixed.returncode == 0, fixed.stderr


def test_the_role_fault_shows_as_connection_lost(lab, tmp_path):
    lab.fault("role-without-ssm-policy", "redash")
    listed = lab.aws("ssm", "describe-instance-information", "--output", "json", home=tmp_path)
    infos = {i["InstanceId"]: i["PingStatus"] for i in json.loads(listed.stdout)["InstanceInformationList"]}
    assert infos[lab.instances["redash"]] == "ConnectionLost"
    assert infos[lab.instances["jupyter"]] == "Online"
