"""The lab's IAM evaluation: real resource ARNs, policy variables, wildcards, and Deny over Allow."""

from __future__ import annotations

import pytest

from onboard.lab.iampolicy import Decision, Principal, denial_message, evaluate

ALICE = Principal(arn="arn:aws:iam::123456789012:user/alice", name="alice", user_id="AIDAALICE", kind="User")
SESSION = "arn:aws:ssm:ap-northeast-1:123456789012:session/{}"
SEED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": ["arn:aws:ec2:*:*:instance/i-0a1b*"]},
        {
            "Effect": "Allow",
            "Action": "ssm:TerminateSession",
            "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*",
        },
    ],
}


def decide(action: str, resource: str, *documents) -> Decision:
    return evaluate(documents or [SEED_POLICY], action, resource, ALICE)


def test_the_username_variable_limits_terminate_to_own_sessions():
    assert decide("ssm:TerminateSession", SESSION.format("alice-0123456789abcdef0")) is Decision.ALLOWED
    assert decide("ssm:TerminateSession", SESSION.format("bob-0123456789abcdef0")) is Decision.IMPLICIT_DENY
    # "alice" must be the whole user-name part: "alicex-..." is someone else.
    assert decide("ssm:TerminateSession", SESSION.format("alicex-0123")) is Decision.IMPLICIT_DENY


def test_actions_ignore_case_and_resources_do_not():
    instance = "arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0a1b2c3d4e5f60001"
    assert decide("SSM:startsession", instance) is Decision.ALLOWED
    assert decide("ssm:StartSession", instance.upper()) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_beats_any_allow():
    deny = {"Statement": {"Effect": "Deny", "Action": "ssm:*", "Resource": "*"}}
    assert (
        decide("ssm:TerminateSession", SESSION.format("alice-1"), SEED_POLICY, deny) is Decision.EXPLICIT_DENY
    )


def test_not_action_not_resource_and_question_marks():
    everything_but_iam = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert decide("s3:GetObject", "arn:aws:s3:::b/k", everything_but_iam) is Decision.ALLOWED
    assert decide("iam:CreateUser", "*", everything_but_iam) is Decision.IMPLICIT_DENY
    not_logs = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::logs/*"}]}
    assert decide("s3:GetObject", "arn:aws:s3:::logs/x", not_logs) is Decision.IMPLICIT_DENY
    assert decide("s3:GetObject", "arn:aws:s3:::data/x", not_logs) is Decision.ALLOWED
    one_char = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/file?.txt"}]
    }
    assert decide("s3:GetObject", "arn:aws:s3:::b/file1.txt", one_char) is Decision.ALLOWED
    assert decide("s3:GetObject", "arn:aws:s3:::b/file12.txt", one_char) is Decision.IMPLICIT_DENY


def test_escapes_match_literal_characters_and_unknown_variables_match_nothing():
    literal_star = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}"}]
    }
    assert decide("s3:GetObject", "arn:aws:s3:::b/*", literal_star) is Decision.ALLOWED
    assert decide("s3:GetObject", "arn:aws:s3:::b/x", literal_star) is Decision.IMPLICIT_DENY
    unknown = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:nope}"}]
    }
    assert decide("s3:GetObject", "arn:aws:s3:::b/", unknown) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("effect", ["Allow", "Deny"])
def test_a_statement_whose_condition_a_key_without_mfa_does_not_meet_never_applies(effect):
    # Long-term access keys carry no aws:MultiFactorAuthPresent; a Bool condition on a missing key is false.
    conditional = {
        "Statement": [
            {
                "Effect": effect,
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ]
    }
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    expected = Decision.IMPLICIT_DENY if effect == "Allow" else Decision.ALLOWED
    documents = [conditional] if effect == "Allow" else [conditional, allow_all]
    assert evaluate(documents, "ssm:StartSession", "*", ALICE) is expected


def test_denials_read_like_aws():
    resource = SESSION.format("bob-1")
    assert denial_message(ALICE, "ssm:TerminateSession", resource, Decision.IMPLICIT_DENY) == (
        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ssm:TerminateSession on "
        f"resource: {resource} because no identity-based policy allows the ssm:TerminateSession action"
    )
    assert denial_message(ALICE, "ssm:TerminateSession", resource, Decision.EXPLICIT_DENY).endswith(
        "with an explicit deny in an identity-based policy"
    )
