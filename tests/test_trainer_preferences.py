"""The lab's sessions follow the account's session preferences (SSM-SessionManagerRunShell), as on AWS."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from dataclasses import replace
from pathlib import Path

import botocore.exceptions
import pexpect
import pytest
from fixtures_lab import AWS_CLI, lab, lab_server  # noqa: F401

from onboard.labplugin.launcher import write_launcher
from onboard.sessionprefs import DOCUMENT_NAME, SessionPreferences, parse_preferences

SESSION_ID = re.compile(r"Starting session with SessionId: (\S+)")


@pytest.fixture
def preferences(lab):  # noqa: F811
    """Change the preferences document for one test (a new default version); the original comes back."""
    ssm = lab.client("ssm", "lab-admin")
    document = ssm.get_document(Name=DOCUMENT_NAME)
    original, original_version = document["Content"], document["DocumentVersion"]

    def put(content: str) -> None:
        # A content AWS already holds as a version is refused (DuplicateDocumentContent): make it new.
        content = json.dumps({**json.loads(content), "description": f"test {uuid.uuid4().hex}"})
        version = ssm.update_document(Name=DOCUMENT_NAME, Content=content, DocumentVersion="$LATEST")
        number = version["DocumentDescription"]["DocumentVersion"]
        ssm.update_document_default_version(Name=DOCUMENT_NAME, DocumentVersion=number)

    def change(**fields) -> None:
        put(json.dumps(replace(parse_preferences(original), **fields).content()))

    yield change
    ssm.update_document_default_version(Name=DOCUMENT_NAME, DocumentVersion=original_version)


def log_exists(lab, key: str) -> bool:  # noqa: F811
    try:
        lab.client("s3", "lab-admin").head_object(Bucket="data-team-session-logs", Key=key)
    except botocore.exceptions.ClientError:
        return False
    return True


def test_the_lab_account_has_the_prepared_preferences(lab):  # noqa: F811
    content = lab.client("ssm", lab.trainer).get_document(Name=DOCUMENT_NAME)["Content"]
    assert parse_preferences(content) == SessionPreferences(
        s3_bucket="data-team-session-logs", s3_prefix="sessions", s3_encryption=True
    )


def _shell(lab, tmp_path: Path, alias: str):  # noqa: F811
    env = lab.aws_env(tmp_path / "home", "alice")
    env["PATH"] = f"{write_launcher(tmp_path / 'lab-bin').parent}{os.pathsep}{env['PATH']}"
    child = pexpect.spawn(
        str(AWS_CLI),
        ["ssm", "start-session", "--target", lab.instances[alias], "--profile", "ssm"],
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        timeout=20,
    )
    child.expect(SESSION_ID)
    return child, child.match.group(1)


@contextlib.contextmanager
def run_as_tag(lab, value: str):  # noqa: F811
    iam = lab.client("iam", "lab-admin")
    iam.tag_user(UserName="alice", Tags=[{"Key": "SSMSessionRunAs", "Value": value}])
    try:
        yield
    finally:
        iam.untag_user(UserName="alice", TagKeys=["SSMSessionRunAs"])


@pytest.mark.slow
def test_run_as_uses_the_users_tag_then_the_default_user(lab, preferences, tmp_path):  # noqa: F811
    preferences(run_as_enabled=True, run_as_default_user="analyst")
    child, _ = _shell(lab, tmp_path, "jupyter")
    child.expect_exact("$ ")
    child.sendline("whoami; echo $HOME")
    child.expect(r"\nanalyst\r*\n\S*/home/analyst\r*\n")
    child.expect_exact("$ ")
    child.sendline("exit")
    child.expect(pexpect.EOF)

    with run_as_tag(lab, "airflow"):
        child, _ = _shell(lab, tmp_path, "airflow")
        child.expect_exact("$ ")
        child.sendline("whoami")
        child.expect(r"\nairflow\r*\n")
        child.expect_exact("$ ")
        child.sendline("exit")
        child.expect(pexpect.EOF)


@pytest.mark.slow
def test_run_as_a_user_the_instance_lacks_fails_the_session(lab, preferences, tmp_path):  # noqa: F811
    preferences(run_as_enabled=True, run_as_default_user="analyst")
    child, session_id = _shell(lab, tmp_path, "redash")  # redash has no analyst
    child.expect("failed to start pty since RunAs user analyst does not exist")
    child.expect(pexpect.EOF)
    assert lab.wait_for_session(session_id, "Failed")["Status"] == "Failed"


@pytest.mark.slow
def test_without_run_as_the_tag_changes_nothing(lab, tmp_path):  # noqa: F811
    with run_as_tag(lab, "analyst"):
        child, _ = _shell(lab, tmp_path, "jupyter")
        child.expect_exact("$ ")
        child.sendline("whoami")
        child.expect(r"\nssm-user\r*\n")
        child.expect_exact("$ ")
        child.sendline("exit")
        child.expect(pexpect.EOF)


def _typed_and_exited(lab, tmp_path: Path, alias: str = "jupyter") -> str:  # noqa: F811
    child, session_id = _shell(lab, tmp_path, alias)
    child.expect_exact("$ ")
    child.sendline("echo logged-or-not")
    child.expect_exact("logged-or-not")
    child.expect_exact("$ ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    lab.wait_for_session(session_id, "Terminated")
    return session_id


@pytest.mark.slow
def test_sessions_are_logged_as_the_preferences_say_or_not_at_all(lab, preferences, tmp_path):  # noqa: F811
    logged = _typed_and_exited(lab, tmp_path)
    assert lab.describe_session(logged)["OutputUrl"]["S3OutputUrl"].endswith(f"/sessions/{logged}.log")
    assert log_exists(lab, f"sessions/{logged}.log")

    preferences(s3_bucket="")
    quiet = _typed_and_exited(lab, tmp_path)
    assert lab.describe_session(quiet)["OutputUrl"]["S3OutputUrl"] == ""
    assert not log_exists(lab, f"sessions/{quiet}.log")

    preferences(s3_prefix="audit/")
    moved = _typed_and_exited(lab, tmp_path)
    assert log_exists(lab, f"audit/{moved}.log") and not log_exists(lab, f"sessions/{moved}.log")
