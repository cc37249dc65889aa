"""Verifiers that ask AWS (here the lab, through boto3 with the learner's own profile): sessions, logs, S3."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from fixtures_lessons import LEARNER, check_context, lab, lab_server, learner

from onboard.lessons.verifiers import build, run_checks, run_verifier

__all__ = ["lab", "lab_server", "learner"]

pytestmark = pytest.mark.slow


@pytest.fixture
def sessions(learner):
    """Start sessions through the API as the learner (no shell needed); all are ended afterwards."""
    ssm = learner.lab.client("ssm", LEARNER)
    started: list[str] = []

    def start(alias: str = "jupyter") -> str:
        started.append(ssm.start_session(Target=learner.lab.instances[alias])["SessionId"])
        return started[-1]

    yield start
    admin = learner.lab.client("ssm", "lab-admin")
    for session_id in started:
        with contextlib.suppress(ClientError):
            admin.terminate_session(SessionId=session_id)


def _verify(context, **data):
    return run_verifier(build(data), context)


def test_session_started_finds_the_learners_session_on_the_target(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    missing = _verify(context, kind="session_started", target=jupyter)
    assert not missing.passed and "no session of yours" in missing.evidence
    assert f"aws ssm start-session --target {jupyter} --profile ssm" in missing.hint
    session_id = sessions("jupyter")
    found = _verify(context, kind="session_started", target=jupyter)
    assert found.passed and session_id in found.evidence and "Connecting" in found.evidence


def test_session_started_ignores_sessions_from_before_the_step(learner, sessions, tmp_path):
    sessions("jupyter")
    time.sleep(0.1)
    later = check_context(learner.lab, tmp_path, began_at=datetime.now(timezone.utc) + timedelta(seconds=30))
    assert not _verify(later, kind="session_started", target=learner.lab.instances["jupyter"]).passed


def test_a_session_that_ended_before_the_step_began_is_not_this_steps(learner, sessions, tmp_path):
    # Within the few seconds allowed for clock differences, but over before the step began: the last step's.
    ssm = learner.lab.client("ssm", LEARNER)
    ssm.terminate_session(SessionId=sessions("jupyter"))
    time.sleep(0.2)
    now = check_context(learner.lab, tmp_path, began_at=datetime.now(timezone.utc))
    assert not _verify(now, kind="session_started", target=learner.lab.instances["jupyter"]).passed


def test_session_started_on_another_instance_says_where_it_went(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    sessions("airflow")
    verdict = _verify(context, kind="session_started", target=learner.lab.instances["jupyter"])
    assert not verdict.passed and f"went to {learner.lab.instances['airflow']}" in verdict.evidence


def test_another_learners_session_does_not_count(learner, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    alices = learner.lab.client("ssm", "alice").start_session(Target=jupyter)["SessionId"]
    try:
        assert not _verify(context, kind="session_started", target=jupyter).passed
    finally:
        learner.lab.client("ssm", "lab-admin").terminate_session(SessionId=alices)


def test_session_ended_waits_for_history_and_names_an_open_session(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    session_id = sessions("jupyter")
    context.deadline = time.monotonic() + 2  # an open session is reported, not waited for forever
    still_open = _verify(context, kind="session_ended", target=jupyter)
    assert not still_open.passed and "still open" in still_open.evidence
    assert f"terminate-session --session-id {session_id}" in still_open.hint
    learner.lab.client("ssm", LEARNER).terminate_session(SessionId=session_id)
    context.deadline = time.monotonic() + 10
    ended = _verify(context, kind="session_ended", target=jupyter)
    assert ended.passed and session_id in ended.evidence


FIXTURE_TRANSCRIPT = """SessionId: {session_id}
Owner: arn:aws:iam::000000000000:user/carol
Target: {target}

sh-4.2$ whoami
ssm-user
sh-4.2$ sudo su - analyst
[analyst@ip-10-0-1-23 ~]$ whoami
analyst
[analyst@ip-10-0-1-23 ~]$ exit
logout
sh-4.2$ exit
"""


def _ended_with_log(learner, sessions, text: str) -> str:
    """A session of the learner's that ended, whose log in S3 is ``text`` (a fixture transcript)."""
    session_id = sessions("jupyter")
    learner.lab.client("ssm", LEARNER).terminate_session(SessionId=session_id)
    ended = learner.lab.wait_for_session(session_id, "Terminated")
    bucket, _, key = ended["OutputUrl"]["S3OutputUrl"].split("/", 3)[-1].partition("/")
    body = text.format(session_id=session_id, target=learner.lab.instances["jupyter"]).encode()
    learner.lab.client("s3", "lab-admin").put_object(Bucket=bucket, Key=key, Body=body)
    return session_id


def test_transcript_contains_the_lines_in_order(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    session_id = _ended_with_log(learner, sessions, FIXTURE_TRANSCRIPT)
    passed = _verify(
        context,
        kind="transcript_contains",
        target=jupyter,
        patterns=["sudo su - analyst", "^analyst$", "^ssm-user$"],
    )
    assert not passed.passed  # ssm-user is never printed after analyst in this log
    assert session_id in passed.evidence and "lacks line 3 of the step" in passed.evidence
    in_order = _verify(
        context,
        kind="transcript_contains",
        target=jupyter,
        patterns=["whoami", "^ssm-user$", "sudo su - analyst", "^analyst$"],
        explain=["a", "b", "c", "d"],
    )
    assert in_order.passed, in_order
    reversed_order = _verify(
        context,
        kind="transcript_contains",
        target=jupyter,
        patterns=["^analyst$", "sudo su - analyst"],
        explain=["type sudo", "sudo must come first"],
    )
    assert not reversed_order.passed and reversed_order.hint == "sudo must come first"


def test_transcript_of_a_session_still_open_says_to_end_it(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    context.deadline = time.monotonic() + 2
    sessions("jupyter")
    verdict = _verify(
        context, kind="transcript_contains", target=learner.lab.instances["jupyter"], patterns=["whoami"]
    )
    assert not verdict.passed and "still open" in verdict.evidence and "exit" in verdict.hint


def test_a_log_the_profile_may_not_read_is_a_clear_failure(learner, sessions, tmp_path):
    """Carol's session log, looked for with alice's keys: the policy allows each learner only their own."""
    key_id, secret = learner.lab.keys("alice")
    with (learner.home / ".aws" / "credentials").open("a") as credentials:
        credentials.write(
            f"\n[alice]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n"
        )
    with (learner.home / ".aws" / "config").open("a") as config:
        config.write(f"\n[profile alice]\nregion = {learner.lab.region}\n")
    context = check_context(learner.lab, tmp_path)
    context.settings = dataclasses.replace(context.settings, profile="alice")
    _ended_with_log(learner, sessions, FIXTURE_TRANSCRIPT)
    verdict = _verify(
        context, kind="transcript_contains", target=learner.lab.instances["jupyter"], patterns=["whoami"]
    )
    assert not verdict.passed and "AccessDenied" in verdict.evidence and "ask your trainer" in verdict.hint
    assert secret.reveal() not in verdict.evidence


def test_s3_object_wants_the_nonce_the_key_and_a_fresh_write(learner, tmp_path):
    s3 = learner.lab.client("s3", LEARNER)
    bucket = learner.lab.state.world.transfer_bucket
    key = f"users/{LEARNER}/notes.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"old notes\n")
    later = check_context(learner.lab, tmp_path, began_at=datetime.now(timezone.utc) + timedelta(seconds=60))
    stale = _verify(later, kind="s3_object", bucket=bucket, key=key)
    assert not stale.passed and "before the step began" in stale.evidence

    began = datetime.now(timezone.utc) - timedelta(seconds=30)
    context = check_context(learner.lab, tmp_path, began_at=began, nonce="nonce-feedbeef")
    no_nonce = _verify(context, kind="s3_object", bucket=bucket, key=key)
    assert not no_nonce.passed and "does not hold 'nonce-feedbeef'" in no_nonce.evidence
    s3.put_object(Bucket=bucket, Key=f"users/{LEARNER}/reprot.txt", Body=b"nonce-feedbeef\n")
    misplaced = _verify(context, kind="s3_object", bucket=bucket, key=f"users/{LEARNER}/report.txt")
    assert not misplaced.passed
    assert f"you wrote s3://{bucket}/users/{LEARNER}/reprot.txt instead" in misplaced.evidence
    s3.put_object(Bucket=bucket, Key=key, Body=b"notes nonce-feedbeef\n")
    assert _verify(context, kind="s3_object", bucket=bucket, key=key).passed
    missing_bucket = _verify(context, kind="s3_object", bucket="no-such-bucket-here", key=key)
    assert not missing_bucket.passed


def test_checks_against_an_unreachable_endpoint_end_within_the_time_limit(learner, tmp_path):
    import socket

    from onboard.awsclient import ClientSettings

    with socket.socket() as listener:  # a port that accepts connections and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        context = check_context(learner.lab, tmp_path)
        context.settings = ClientSettings(
            profile="ssm",
            region=learner.lab.region,
            endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
            read_timeout=30,
            max_attempts=1,
        )
        started = time.monotonic()
        verdicts = run_checks(
            [{"kind": "session_started", "target": learner.lab.instances["jupyter"]}], context, time_limit=2
        )
        assert time.monotonic() - started < 4
    assert not verdicts[0].passed and verdicts[0].unavailable
    assert "time limit of 2 s" in verdicts[0].evidence


def test_a_transcript_check_without_any_session_answers_at_once(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    sessions("airflow")
    started = time.monotonic()
    verdict = _verify(
        context, kind="transcript_contains", target=learner.lab.instances["jupyter"], patterns=["whoami"]
    )
    assert time.monotonic() - started < 2
    assert not verdict.passed and f"went to {learner.lab.instances['airflow']}" in verdict.evidence


SUDO_COMMANDS = [
    {"command": "sudo +su +- +analyst", "user": "ssm-user", "says": "sudo su - analyst"},
    {"command": "whoami", "user": "analyst", "output": "^analyst$", "says": "whoami as analyst"},
    {"command": "whoami", "user": "ssm-user", "output": "^ssm-user$", "says": "whoami as ssm-user"},
]


def test_session_commands_read_the_log_as_prompts_commands_and_output(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    honest = FIXTURE_TRANSCRIPT.replace("sh-4.2$ exit\n", "sh-4.2$ whoami\nssm-user\nsh-4.2$ exit\n")
    session_id = _ended_with_log(learner, sessions, honest)
    passed = _verify(context, kind="session_commands", target=jupyter, commands=SUDO_COMMANDS)
    assert passed.passed, passed
    assert [item.kind for item in passed.found] == ["session", "session_log"]
    assert passed.found[0].ref == session_id and passed.found[1].etag


def test_session_commands_are_not_fooled_by_printed_text(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    forged = (
        "SessionId: {session_id}\n\nsh-4.2$ printf 'sudo su - analyst\\nanalyst\\nssm-user\\n'\n"
        "sudo su - analyst\nanalyst\nssm-user\nsh-4.2$ exit\n"
    )
    _ended_with_log(learner, sessions, forged)
    jupyter = learner.lab.instances["jupyter"]
    weak = _verify(
        context,
        kind="transcript_contains",
        target=jupyter,
        patterns=["sudo su - analyst", "^analyst$", "^ssm-user$"],
    )
    assert weak.passed  # why transcript_contains is weak evidence
    sound = _verify(context, kind="session_commands", target=jupyter, commands=SUDO_COMMANDS)
    assert not sound.passed
    assert "does not show sudo su - analyst (after 0 of 3 found)" in sound.evidence
    assert "commands typed at its prompts: printf" in sound.evidence


def test_session_commands_read_ubuntu_prompts_and_a_raw_terminal_log(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    raw = (
        "\x1b[?2004h$ whoo\b\bami\r\nssm-user\r\n$ sudo su - analyst\r\n"
        "\x1b]0;analyst@ip-10-0-1-23: ~\x07analyst@ip-10-0-1-23:~$ whoami\r\nanalyst\r\n"
        "analyst@ip-10-0-1-23:~$ exit\r\nlogout\r\n$ whoami\r\nssm-user\r\n$ exit\r\n"
    )
    _ended_with_log(learner, sessions, raw.replace("{", "{{").replace("}", "}}"))
    passed = _verify(
        context, kind="session_commands", target=learner.lab.instances["jupyter"], commands=SUDO_COMMANDS
    )
    assert passed.passed, passed


def test_an_object_written_outside_any_session_is_not_from_the_server(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    bucket = learner.lab.state.world.transfer_bucket
    key = f"users/{LEARNER}/from-server.txt"
    learner.lab.client("s3", LEARNER).put_object(Bucket=bucket, Key=key, Body=b"changed nonce-0123abcd")
    jupyter = learner.lab.instances["jupyter"]
    verdict = _verify(context, kind="s3_object", bucket=bucket, key=key, from_session=jupyter)
    assert not verdict.passed
    assert f"no session of yours to {jupyter} was open" in verdict.evidence
    plain = _verify(context, kind="s3_object", bucket=bucket, key=key)
    assert plain.passed and plain.found[0].etag and plain.found[0].ref == f"s3://{bucket}/{key}"


def test_a_records_evidence_can_be_looked_up_again_and_a_change_is_noticed(learner, sessions, tmp_path):
    from onboard.lessons.verifiers import Evidence
    from onboard.lessons.verifiers.recheck import recheck

    context = check_context(learner.lab, tmp_path)
    ssm, s3 = learner.lab.client("ssm", "lab-admin"), learner.lab.client("s3", "lab-admin")
    jupyter = learner.lab.instances["jupyter"]
    sessions("jupyter")
    started = _verify(context, kind="session_started", target=jupyter)
    assert recheck(started.found[0], ssm, s3).holds is True
    invented = Evidence("session", "carol-0000000000000000f", at=started.found[0].at)
    assert recheck(invented, ssm, s3).holds is False

    bucket = learner.lab.state.world.transfer_bucket
    key = f"users/{LEARNER}/to-server.txt"
    learner.lab.client("s3", LEARNER).put_object(Bucket=bucket, Key=key, Body=b"hello nonce-0123abcd")
    uploaded = _verify(context, kind="s3_object", bucket=bucket, key=key)
    assert recheck(uploaded.found[0], ssm, s3).holds is True
    s3.put_object(Bucket=bucket, Key=key, Body=b"something else")
    changed = recheck(uploaded.found[0], ssm, s3)
    assert changed.holds is False and "has changed since" in changed.said
    local = Evidence("local_file", str(tmp_path / "back-home.txt"))
    assert recheck(local, ssm, s3).holds is None


def _uploaded_during_a_session(learner, sessions, key: str, log: str) -> str:
    """A session of the learner's to jupyter, open while the object is written (by the learner's own
    keys, here from the computer), then ended with ``log`` as its log in S3."""
    bucket = learner.lab.state.world.transfer_bucket
    session_id = sessions("jupyter")
    learner.lab.client("s3", LEARNER).put_object(Bucket=bucket, Key=key, Body=b"changed nonce-0123abcd")
    learner.lab.client("ssm", LEARNER).terminate_session(SessionId=session_id)
    ended = learner.lab.wait_for_session(session_id, "Terminated")
    log_bucket, _, log_key = ended["OutputUrl"]["S3OutputUrl"].split("/", 3)[-1].partition("/")
    body = log.format(session_id=session_id).encode()
    learner.lab.client("s3", "lab-admin").put_object(Bucket=log_bucket, Key=log_key, Body=body)
    return session_id


def test_an_object_written_while_a_session_was_open_needs_the_upload_in_its_log(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    jupyter = learner.lab.instances["jupyter"]
    bucket = learner.lab.state.world.transfer_bucket
    key = f"users/{LEARNER}/from-server.txt"
    url = f"s3://{bucket}/{key}"
    upload = f"upload: ./from-server.txt to {url}\n"
    forged = {
        # The session sat open while the laptop uploaded: the timing fits, the log has no upload.
        "idle": "SessionId: {session_id}\n\nsh-4.2$ cd ~\nsh-4.2$ exit\n",
        # The CLI's upload line printed by hand: not an aws s3 command.
        "echoed": f"SessionId: {{session_id}}\n\nsh-4.2$ echo '{upload.strip()}'\n{upload}sh-4.2$ exit\n",
    }
    for name, log in forged.items():
        session_id = _uploaded_during_a_session(learner, sessions, key, log)
        verdict = _verify(context, kind="s3_object", bucket=bucket, key=key, from_session=jupyter)
        assert not verdict.passed, name
        assert f"the log of {session_id} shows no aws s3 command uploading it" in verdict.evidence, name
        assert f"in a session on {jupyter}" in verdict.hint
    honest = f"SessionId: {{session_id}}\n\nsh-4.2$ aws s3 cp from-server.txt {url}\n{upload}sh-4.2$ exit\n"
    session_id = _uploaded_during_a_session(learner, sessions, key, honest)
    passed = _verify(context, kind="s3_object", bucket=bucket, key=key, from_session=jupyter)
    assert passed.passed, passed
    assert [item.kind for item in passed.found] == ["s3_object", "session", "session_log"]
    assert passed.found[0].etag and passed.found[1].ref == session_id


def test_still_inside_sudo_when_the_session_ended_is_said_as_it_happened(learner, sessions, tmp_path):
    context = check_context(learner.lab, tmp_path)
    stayed = (
        "SessionId: {session_id}\n\nsh-4.2$ whoami\nssm-user\nsh-4.2$ sudo su - analyst\n"
        "[analyst@ip-10-0-1-23 ~]$ whoami\nanalyst\n[analyst@ip-10-0-1-23 ~]$ "
    )
    session_id = _ended_with_log(learner, sessions, stayed)
    verdict = _verify(
        context, kind="session_commands", target=learner.lab.instances["jupyter"], commands=SUDO_COMMANDS
    )
    assert not verdict.passed
    said = verdict.evidence
    assert f"the log of {session_id} does not show whoami as ssm-user (after 2 of 3 found)" in said
    assert "commands typed at its prompts: whoami, sudo su - analyst, whoami" in verdict.evidence
    assert verdict.evidence.endswith("the session ended at analyst's prompt")
