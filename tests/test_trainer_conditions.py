"""Conditions in the lab's IAM, as AWS evaluates them (the generator's ssm:resourceTag rule needs it)."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.lab.iampolicy import Decision, Principal, evaluate

ALICE = Principal(arn="arn:aws:iam::123456789012:user/alice", name="alice", user_id="AIDAALICE", kind="User")
INSTANCE = "arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0a1b2c3d4e5f60001"


def decide(condition: dict, context: dict | None = None, effect: str = "Allow") -> Decision:
    statement = {"Effect": effect, "Action": "ssm:StartSession", "Resource": "*", "Condition": condition}
    documents = [{"Statement": [statement]}]
    if effect == "Deny":
        documents.append({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    return evaluate(documents, "ssm:StartSession", INSTANCE, ALICE, context)


TAGGED = {"ssm:resourceTag/Team": ["data"]}


def test_a_tag_condition_allows_the_tagged_instance_only():
    condition = {"StringLike": {"ssm:resourceTag/Team": ["dat*"]}}
    assert decide(condition, TAGGED) is Decision.ALLOWED
    assert decide(condition, {"ssm:resourceTag/Team": ["web"]}) is Decision.IMPLICIT_DENY
    assert decide(condition, {}) is Decision.IMPLICIT_DENY  # the key absent: a positive operator is false


def test_condition_keys_ignore_case_and_values_do_not():
    assert decide({"StringEquals": {"SSM:RESOURCETAG/team": "data"}}, TAGGED) is Decision.ALLOWED
    assert decide({"StringEquals": {"ssm:resourceTag/Team": "DATA"}}, TAGGED) is Decision.IMPLICIT_DENY
    assert decide({"StringEqualsIgnoreCase": {"ssm:resourceTag/Team": "DATA"}}, TAGGED) is Decision.ALLOWED


def test_negated_operators_are_true_for_an_absent_key_and_nor_their_values():
    condition = {"StringNotEquals": {"ssm:resourceTag/Team": ["web", "ops"]}}
    assert decide(condition, {}) is Decision.ALLOWED
    assert decide(condition, TAGGED) is Decision.ALLOWED
    assert decide(condition, {"ssm:resourceTag/Team": ["ops"]}) is Decision.IMPLICIT_DENY


def test_if_exists_and_null_test_presence():
    assert decide({"StringEqualsIfExists": {"ssm:resourceTag/Team": "web"}}, {}) is Decision.ALLOWED
    assert decide({"StringEqualsIfExists": {"ssm:resourceTag/Team": "web"}}, TAGGED) is Decision.IMPLICIT_DENY
    assert decide({"Null": {"ssm:resourceTag/Team": "true"}}, {}) is Decision.ALLOWED
    assert decide({"Null": {"ssm:resourceTag/Team": "false"}}, {}) is Decision.IMPLICIT_DENY


def test_operators_and_keys_combine_with_and():
    both = {"StringEquals": {"ssm:resourceTag/Team": "data", "ssm:resourceTag/Env": "prod"}}
    assert decide(both, {**TAGGED, "ssm:resourceTag/Env": ["prod"]}) is Decision.ALLOWED
    assert decide(both, TAGGED) is Decision.IMPLICIT_DENY


def test_policy_variables_are_substituted_in_condition_values():
    condition = {"StringEquals": {"ssm:resourceTag/Owner": "${aws:username}"}}
    assert decide(condition, {"ssm:resourceTag/Owner": ["alice"]}) is Decision.ALLOWED
    assert decide(condition, {"ssm:resourceTag/Owner": ["bob"]}) is Decision.IMPLICIT_DENY
    assert decide({"StringEquals": {"aws:username": "alice"}}) is Decision.ALLOWED


def test_a_conditional_deny_denies_when_it_holds():
    condition = {"StringEquals": {"ssm:resourceTag/Team": "data"}}
    assert decide(condition, TAGGED, effect="Deny") is Decision.EXPLICIT_DENY
    assert decide(condition, {}, effect="Deny") is Decision.ALLOWED


@pytest.mark.parametrize("effect", ["Allow", "Deny"])
def test_operators_the_lab_does_not_evaluate_never_apply(effect):
    condition = {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    expected = Decision.IMPLICIT_DENY if effect == "Allow" else Decision.ALLOWED
    assert decide(condition, {}, effect=effect) is expected


def test_the_lab_starts_sessions_by_the_instances_tags(lab):  # noqa: F811
    """End to end: StartSession in the lab is evaluated with the target's EC2 tags as ssm:resourceTag/*."""
    iam = lab.client("iam", "lab-admin")
    name = f"t{uuid.uuid4().hex[:6]}"
    statement = {
        "Effect": "Allow",
        "Action": "ssm:StartSession",
        "Resource": f"arn:aws:ec2:{lab.region}:{lab.account}:instance/*",
        "Condition": {"StringLike": {"ssm:resourceTag/Name": ["jupyter"]}},
    }
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="tagged",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    try:
        import boto3

        ssm = boto3.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=lab.region,
        ).client("ssm", endpoint_url=lab.endpoint_url)
        session_id = ssm.start_session(Target=lab.instances["jupyter"])["SessionId"]
        lab.client("ssm", "lab-admin").terminate_session(SessionId=session_id)
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            ssm.start_session(Target=lab.instances["airflow"])
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName=name, PolicyName="tagged")
        iam.delete_user(UserName=name)
