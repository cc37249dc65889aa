"""The lab's Session Manager API through boto3: every operation, every filter, every denial."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from fixtures_lab import lab, lab_server  # noqa: F401

pytestmark = pytest.mark.slow


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_learner_starts_a_session_on_a_lab_instance(lab):
    ssm = lab.client("ssm", "alice")
    started = ssm.start_session(Target=lab.instances["jupyter"])
    assert started["SessionId"].startswith("alice-")
    assert len(started["SessionId"].split("-", 1)[1]) == 17
    assert started["StreamUrl"].startswith("ws://127.0.0.1:")
    assert started["TokenValue"]
    active = ssm.describe_sessions(
        State="Active", Filters=[{"key": "SessionId", "value": started["SessionId"]}]
    )
    [session] = active["Sessions"]
    assert session["Target"] == lab.instances["jupyter"]
    assert session["Owner"] == f"arn:aws:iam::{lab.account}:user/alice"
    assert session["OutputUrl"]["S3OutputUrl"].endswith(f"/{started['SessionId']}.log")
    ssm.terminate_session(SessionId=started["SessionId"])
    ended = lab.wait_for_session(started["SessionId"], "Terminated")
    assert "EndDate" in ended


def test_terminating_another_learners_session_is_denied(lab):
    bobs = lab.client("ssm", "bob").start_session(Target=lab.instances["airflow"])["SessionId"]
    with pytest.raises(ClientError) as denied:
        lab.client("ssm", "alice").terminate_session(SessionId=bobs)
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert (
        f"User: arn:aws:iam::{lab.account}:user/alice is not authorized to perform: ssm:TerminateSession"
        in message
    )
    assert f"arn:aws:ssm:{lab.region}:{lab.account}:session/{bobs}" in message
    assert lab.describe_session(bobs)["Status"] != "Terminated"
    lab.client("ssm", "bob").terminate_session(SessionId=bobs)
    lab.wait_for_session(bobs, "Terminated")
