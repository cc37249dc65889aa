"""The "Your daily tools" lesson's checks (onboard.lessons.daily), graded from the lab's AWS evidence: each
passes after the onboard command and fails for the shortcut that skips the skill."""

from __future__ import annotations

import contextlib
import hashlib
import sys
import urllib.request

import pexpect
import pytest
from botocore.exceptions import ClientError
from fixtures_lessons import LEARNER, check_context, lab, lab_server, learner

from helpers import run_onboard
from onboard.everyday.forward import free_port
from onboard.lessons.verifiers import build, run_verifier

__all__ = ["lab", "lab_server", "learner"]

pytestmark = pytest.mark.slow


def _verify(context, **data):
    return run_verifier(build(data), context)


@pytest.fixture
def cleanup(learner):
    children: list[pexpect.spawn] = []
    yield children
    for child in children:
        child.close(force=True)
    admin = learner.lab.client("ssm", "lab-admin")
    for session in admin.describe_sessions(State="Active")["Sessions"]:
        if session["Owner"].endswith(f":user/{LEARNER}"):
            with contextlib.suppress(ClientError):
                admin.terminate_session(SessionId=session["SessionId"])


def _onboard(learner, cleanup, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable, ["-m", "onboard", *args], env=learner.env, encoding="utf-8", timeout=40
    )
    cleanup.append(child)
    return child


def test_connect_as_the_teams_user_and_not_a_plain_session(learner, cleanup, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    check = {"kind": "session_document", "target": jupyter, "document": "AWS-StartInteractiveCommand"}
    plain = learner.lab.client("ssm", LEARNER).start_session(Target=jupyter)["SessionId"]
    shortcut = _verify(context, **check)
    assert not shortcut.passed and "SSM-SessionManagerRunShell" in shortcut.evidence
    learner.lab.client("ssm", LEARNER).terminate_session(SessionId=plain)
    child = _onboard(learner, cleanup, "connect", "jupyter", "--user", "analyst")
    child.expect(r"\[analyst@")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert _verify(context, **check).passed


def test_a_file_moved_with_onboard_transfer_and_not_only_copied_to_the_bucket(learner, cleanup, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    (tmp_path / "daily.txt").write_text("daily nonce-0123abcd\n")
    bucket = learner.lab.state.world.transfer_bucket
    # The shortcut: the file copied to the bucket, never checked on the instance.
    learner.lab.client("s3", LEARNER).upload_file(
        str(tmp_path / "daily.txt"), bucket, f"users/{LEARNER}/daily.txt"
    )
    check = {"kind": "transferred_file", "target": jupyter, "path": "daily.txt"}
    assert not _verify(context, **check).passed
    # The other shortcut: the report line the transfer prints, echoed in a shell on the instance.
    digest = hashlib.sha256((tmp_path / "daily.txt").read_bytes()).hexdigest()
    child = _onboard(learner, cleanup, "connect", "jupyter")
    child.expect(r"sh-4\.2\$")
    child.sendline(f"echo 'ONBOARD-TRANSFER ok {digest}'")
    child.expect(r"sh-4\.2\$")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    echoed = _verify(context, **check)
    assert not echoed.passed and "no onboard transfer session" in echoed.evidence
    moved = run_onboard("transfer", "put", str(tmp_path / "daily.txt"), "jupyter:daily.txt", env=learner.env)
    assert moved.exit_code == 0, moved.output
    assert _verify(context, **check).passed
    (tmp_path / "daily.txt").write_text(
        "changed afterwards\n"
    )  # another file: its checksum was never checked
    assert not _verify(context, **check).passed


def test_a_tunnel_that_carried_the_jupyter_page(learner, cleanup, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    tunnel = {"kind": "session_document", "target": jupyter, "document": "AWS-StartPortForwardingSession"}
    page = {"kind": "local_file", "path": "jupyter.html", "contains": f"({jupyter})"}
    assert not _verify(context, **tunnel).passed
    port = free_port()
    child = _onboard(learner, cleanup, "forward", "jupyter", "--local-port", str(port))
    child.expect("Waiting for connections")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as answer:
        (tmp_path / "jupyter.html").write_bytes(answer.read())
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    assert _verify(context, **tunnel).passed
    assert _verify(context, **page).passed


def test_no_session_at_all_points_at_the_commands_own_message(learner, tmp_path):
    context = check_context(learner.lab, tmp_path)
    unseen = "i-0fedcba9876543210"
    verdict = _verify(context, kind="session_document", target=unseen, document="AWS-StartInteractiveCommand")
    assert not verdict.passed and verdict.evidence == f"no session to {unseen}"
    assert f"onboard doctor --target {unseen}" in verdict.hint and "aws ssm start-session" not in verdict.hint
