"""`onboard trainer policy`: the generated policies, and what they allow and deny as the lab's IAM decides."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions
import pytest
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.cli import main
from onboard.errors import UsageError
from onboard.facts import SESSION_AGENT_ACTIONS
from onboard.iamnames import check_learner_names
from onboard.lab.iampolicy import Decision, Principal, evaluate
from onboard.team import Location
from onboard.trainer.policy import SESSION_DOCUMENTS, PolicyInputs, generate

ACCOUNT = "123456789012"
INPUTS = PolicyInputs(
    region="ap-northeast-1",
    account=ACCOUNT,
    instances=("i-0a1b2c3d4e5f60001",),
    tag=None,
    transfer=Location("data-team-transfer", "users/"),
    session_logs=Location("data-team-session-logs", "sessions/"),
)


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["trainer", "policy", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


# --- names ----------------------------------------------------------------------------------------------


def test_a_learner_whose_name_prefixes_another_with_a_dash_is_refused_with_the_reason():
    with pytest.raises(UsageError) as refused:
        check_learner_names(["alice", "bob", "bob-x"])
    assert "'bob-x' begins with 'bob' followed by '-'" in refused.value.message
    assert "end and resume bob-x's sessions" in refused.value.message
    # Prefixes without the dash are harmless: bob's pattern is bob-*, which bobby's sessions never match.
    assert check_learner_names(["bob", "bobby", "bob.x"]) == ("bob", "bobby", "bob.x")


@pytest.mark.parametrize("names", [["al ice"], ["a" * 65], ["bob", "Bob"]])
def test_names_iam_refuses_or_repeats_are_refused(names):
    with pytest.raises(UsageError):
        check_learner_names(names)


def test_the_command_refuses_a_clashing_class(capsys, lab):  # noqa: F811
    code, body = run_json(capsys, "--team", str(lab.team_file), "--learners", "bob,bob-x")
    assert code == 2 and not body["ok"]
    assert "bob-x" in body["error"]["message"] and body["error"]["hint"]


# --- what is generated ----------------------------------------------------------------------------------


def test_the_learner_policy_names_exactly_the_onboard_documents_and_the_own_session_rule():
    learner = generate(INPUTS).learner.document()
    by_sid = {s["Sid"]: s for s in learner["Statement"]}
    assert by_sid["StartSessionOnInstances"]["Resource"] == (
        f"arn:aws:ec2:ap-northeast-1:{ACCOUNT}:instance/i-0a1b2c3d4e5f60001"
    )
    documents = by_sid["SessionDocuments"]["Resource"]
    assert f"arn:aws:ssm:ap-northeast-1:{ACCOUNT}:document/SSM-SessionManagerRunShell" in documents
    assert "arn:aws:ssm:ap-northeast-1::document/AWS-StartPortForwardingSession" in documents
    assert len(documents) == len(SESSION_DOCUMENTS) and not any(d.endswith("*") for d in documents)
    assert (
        by_sid["OwnSessions"]["Resource"]
        == f"arn:aws:ssm:ap-northeast-1:{ACCOUNT}:session/${{aws:username}}-*"
    )
    assert set(by_sid["OwnSessions"]["Action"]) == {"ssm:TerminateSession", "ssm:ResumeSession"}
    # Nothing grants writing outside the learner's own keys.
    for statement in learner["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "s3:PutObject" in actions:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert all("${aws:username}" in r for r in resources)


def test_the_instance_policy_is_the_write_ups_four_actions_plus_logs_and_transfer():
    instance = generate(INPUTS).instance.document()
    agent = instance["Statement"][0]
    assert sorted(agent["Action"]) == sorted(
        ["ssm:DescribeAssociation", "ssmmessages:*", "ssm:UpdateInstanceInformation", "ec2messages:*"]
    )
    sids = [s["Sid"] for s in instance["Statement"]]
    assert sids == ["SessionManagerAgent", "WriteSessionLogs", "UseTransferBucket", "ReadWriteTransferPrefix"]


def test_a_tag_selects_instances_through_an_ssm_resource_tag_condition(capsys, lab):  # noqa: F811
    code, body = run_json(capsys, "--team", str(lab.team_file), "--tag", "Team=data", "--account", ACCOUNT)
    assert code == 0
    first = body["data"]["learner_policy"]["document"]["Statement"][0]
    assert first["Resource"] == f"arn:aws:ec2:{lab.region}:{ACCOUNT}:instance/*"
    assert first["Condition"] == {"StringLike": {"ssm:resourceTag/Team": ["data"]}}


def test_explain_says_why_and_what_breaks_for_every_statement(capsys, lab):  # noqa: F811
    code = main(["trainer", "policy", "--team", str(lab.team_file), "--explain"])
    text = capsys.readouterr().out
    assert code == 0
    for sid in ("StartSessionOnInstances", "SessionDocuments", "OwnSessions", "SessionManagerAgent"):
        assert sid in text
    assert text.count("why:") == text.count("without it:") >= 12
    assert "agent restarts" in text  # the write-up's trap, where it belongs


def test_bad_options_get_a_clear_message(capsys, lab):  # noqa: F811
    for args, needle in (
        (["--account", "12"], "12-digit"),
        (["--instances", "web-1"], "not an EC2 instance id"),
        (["--tag", "Team"], "KEY=VALUE"),
        (["--bucket", "Bad_Bucket"], "not an S3 bucket name"),
    ):
        code, body = run_json(capsys, "--team", str(lab.team_file), *args)
        assert code == 2 and needle in body["error"]["message"], args


def test_validate_in_the_lab_says_what_the_lab_cannot_do(capsys, lab):  # noqa: F811
    code, body = run_json(capsys, "--team", str(lab.team_file), "--validate")
    assert code == 0
    assert body["data"]["validation"]["ran"] is False
    assert "no IAM Access Analyzer" in body["data"]["validation"]["note"]


# --- the policies at work, decided by the lab's IAM ------------------------------------------------------


@dataclass
class Learner:
    name: str
    s3: object
    ssm: object


@pytest.fixture
def generated(lab, capsys) -> dict:  # noqa: F811
    ids = lab.instances
    code, body = run_json(
        capsys,
        "--team",
        str(lab.team_file),
        "--account",
        lab.account,
        "--instances",
        f"{ids['jupyter']},{ids['airflow']}",
    )
    assert code == 0
    return body["data"]


def _client(lab, service: str, key_id: str, secret: str, token: str | None = None):  # noqa: F811
    import boto3
    from botocore.config import Config

    return boto3.Session(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=lab.region,
    ).client(service, endpoint_url=lab.endpoint_url, config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def learners(lab, generated) -> Iterator[tuple[Learner, Learner]]:  # noqa: F811
    """Two fresh IAM users with nothing but the generated learner policy."""
    iam = lab.client("iam", "lab-admin")
    tag = uuid.uuid4().hex[:6]
    policy_arn = iam.create_policy(
        PolicyName=f"onboard-learner-{tag}",
        PolicyDocument=json.dumps(generated["learner_policy"]["document"]),
    )["Policy"]["Arn"]
    made = []
    for who in ("p", "q"):
        name = f"t{tag}{who}"
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append(
            Learner(
                name,
                _client(lab, "s3", key["AccessKeyId"], key["SecretAccessKey"]),
                _client(lab, "ssm", key["AccessKeyId"], key["SecretAccessKey"]),
            )
        )
        made[-1].key_id = key["AccessKeyId"]  # type: ignore[attr-defined]
    try:
        yield made[0], made[1]
    finally:
        for learner in made:
            iam.detach_user_policy(UserName=learner.name, PolicyArn=policy_arn)
            iam.delete_access_key(UserName=learner.name, AccessKeyId=learner.key_id)  # type: ignore[attr-defined]
            iam.delete_user(UserName=learner.name)
        iam.delete_policy(PolicyArn=policy_arn)


def denied(call) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    return False


def test_each_learner_statement_allows_its_call_and_denies_its_neighbour(lab, learners):  # noqa: F811
    me, other = learners
    ids = lab.instances
    bucket, logs = "data-team-transfer", "data-team-session-logs"

    # StartSessionOnInstances: a listed instance, not an unlisted one.
    mine = me.ssm.start_session(Target=ids["jupyter"])["SessionId"]
    assert mine.startswith(f"{me.name}-")
    assert denied(lambda: me.ssm.start_session(Target=ids["redash"]))
    # SessionDocuments: the documents onboard uses, not another one.
    command = {"command": ["true"]}
    started = me.ssm.start_session(
        Target=ids["airflow"], DocumentName="AWS-StartNonInteractiveCommand", Parameters=command
    )
    assert denied(lambda: me.ssm.start_session(Target=ids["airflow"], DocumentName="AWS-StartSSHSession"))
    # OwnSessions: resume and end my sessions, never someone else's.
    theirs = other.ssm.start_session(Target=ids["jupyter"])["SessionId"]
    assert me.ssm.resume_session(SessionId=mine)["SessionId"] == mine
    assert denied(lambda: me.ssm.resume_session(SessionId=theirs))
    assert denied(lambda: me.ssm.terminate_session(SessionId=theirs))
    for session_id in (mine, started["SessionId"]):
        me.ssm.terminate_session(SessionId=session_id)
    other.ssm.terminate_session(SessionId=theirs)
    # LookAround: read-only looks, but no commands outside sessions.
    assert "InstanceInformationList" in me.ssm.describe_instance_information()
    me.ssm.describe_sessions(State="History")
    me.ssm.get_connection_status(Target=ids["jupyter"])
    assert denied(
        lambda: me.ssm.send_command(InstanceIds=[ids["jupyter"]], DocumentName="AWS-RunShellScript")
    )
    # ListTransferBucket: the transfer bucket, not the session-log bucket.
    me.s3.list_objects_v2(Bucket=bucket, Prefix=f"users/{me.name}/")
    assert denied(lambda: me.s3.list_objects_v2(Bucket=logs))
    # OwnTransferPrefix: my folder, not theirs.
    other.s3.put_object(Bucket=bucket, Key=f"users/{other.name}/secret.txt", Body=b"theirs")
    me.s3.put_object(Bucket=bucket, Key=f"users/{me.name}/hello.txt", Body=b"hi")
    assert me.s3.get_object(Bucket=bucket, Key=f"users/{me.name}/hello.txt")["Body"].read() == b"hi"
    assert denied(lambda: me.s3.get_object(Bucket=bucket, Key=f"users/{other.name}/secret.txt"))
    assert denied(lambda: me.s3.put_object(Bucket=bucket, Key="shared/from-me.txt", Body=b"x"))
    # ReadOwnSessionLogs: my transcripts, not theirs.
    admin_s3 = lab.client("s3", "lab-admin")
    for who in (me.name, other.name):
        admin_s3.put_object(Bucket=logs, Key=f"sessions/{who}-0123456789abcdef0.log", Body=who.encode())
    assert me.s3.get_object(Bucket=logs, Key=f"sessions/{me.name}-0123456789abcdef0.log")["Body"].read()
    assert denied(lambda: me.s3.get_object(Bucket=logs, Key=f"sessions/{other.name}-0123456789abcdef0.log"))
    # PublishOwnProgress: my record, not theirs.
    me.s3.put_object(Bucket=bucket, Key=f"onboard/progress/{me.name}.json", Body=b"{}")
    assert denied(
        lambda: me.s3.put_object(Bucket=bucket, Key=f"onboard/progress/{other.name}.json", Body=b"{}")
    )
    for key in (
        f"users/{me.name}/hello.txt",
        f"users/{other.name}/secret.txt",
        f"onboard/progress/{me.name}.json",
    ):
        admin_s3.delete_object(Bucket=bucket, Key=key)
    for who in (me.name, other.name):
        admin_s3.delete_object(Bucket=logs, Key=f"sessions/{who}-0123456789abcdef0.log")


def test_each_instance_statement_allows_its_call_and_denies_its_neighbour(lab, generated):  # noqa: F811
    iam = lab.client("iam", "lab-admin")
    name = f"t{uuid.uuid4().hex[:6]}-role"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    document = generated["instance_policy"]["document"]
    iam.put_role_policy(RoleName=name, PolicyName="onboard-instance", PolicyDocument=json.dumps(document))
    try:
        creds = lab.client("sts", "lab-admin").assume_role(RoleArn=role_arn, RoleSessionName="i-0test")[
            "Credentials"
        ]
        s3 = _client(lab, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        bucket, logs = "data-team-transfer", "data-team-session-logs"
        # SessionManagerAgent: the agent's calls, decided by the lab's evaluator (moto answers none of them).
        principal = Principal(arn=f"{role_arn}/i-0test", name=name, user_id="i-0test", kind="AssumedRole")
        for action in (*SESSION_AGENT_ACTIONS, "ec2messages:GetMessages"):
            assert evaluate([document], action, "*", principal) is Decision.ALLOWED
        assert evaluate([document], "ssm:SendCommand", "*", principal) is Decision.IMPLICIT_DENY
        # WriteSessionLogs: under the log prefix, nowhere else in that bucket.
        s3.put_object(Bucket=logs, Key="sessions/x-1.log", Body=b"log")
        assert denied(lambda: s3.put_object(Bucket=logs, Key="elsewhere/x-1.log", Body=b"log"))
        assert denied(lambda: s3.get_object(Bucket=logs, Key="sessions/x-1.log"))  # write-only
        # UseTransferBucket and ReadWriteTransferPrefix: the transfer folders, nothing else.
        s3.list_objects_v2(Bucket=bucket, Prefix="users/")
        s3.put_object(Bucket=bucket, Key="users/x/from-server.txt", Body=b"x")
        assert s3.get_object(Bucket=bucket, Key="users/x/from-server.txt")["Body"].read() == b"x"
        assert denied(lambda: s3.put_object(Bucket=bucket, Key="onboard/progress/x.json", Body=b"{}"))
        assert denied(lambda: s3.delete_object(Bucket=bucket, Key="users/x/from-server.txt"))
        admin_s3 = lab.client("s3", "lab-admin")
        admin_s3.delete_object(Bucket=bucket, Key="users/x/from-server.txt")
        admin_s3.delete_object(Bucket=logs, Key="sessions/x-1.log")
    finally:
        iam.delete_role_policy(RoleName=name, PolicyName="onboard-instance")
        iam.delete_role(RoleName=name)


def test_the_policy_json_is_what_the_text_shows(capsys, lab, tmp_path: Path):  # noqa: F811
    code, body = run_json(capsys, "--team", str(lab.team_file))
    assert code == 0
    main(["trainer", "policy", "--team", str(lab.team_file)])
    text = capsys.readouterr().out
    assert json.dumps(body["data"]["learner_policy"]["document"], indent=2) in text
