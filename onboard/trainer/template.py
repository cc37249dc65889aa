"""The class's CloudFormation template: one stack holds every account resource of one team's class.

``onboard-class-<team>`` holds:

- ``LearnerPolicy`` and ``InstancePolicy``: the generated policies (:mod:`onboard.trainer.policy`) as
  ``AWS::IAM::ManagedPolicy``, named ``<stack>-learner`` and ``<stack>-instance``. The learner policy is
  attached through its ``Users`` list, the instance policy through its ``Roles`` list (CloudFormation
  accepts that or the user's and role's ``ManagedPolicyArns``; moto honours only the policy's lists);
- ``InstanceRole`` (trusted by EC2) and ``InstanceProfile``, both ``<stack>-instance``, for the servers;
- ``TransferBucket`` (and ``SessionLogBucket`` when the session logs go to another bucket): private
  (public access blocked), encrypted by default (SSE-S3), with a lifecycle rule that removes multipart
  uploads left unfinished after a day (:func:`onboard.facts.bucket_lifecycle`), unless the bucket already
  exists outside the stack; a bucket holds prefixes, not folders, so the learners' prefixes need no
  resource of their own;
- ``SessionPreferences``: the ``SSM-SessionManagerRunShell`` Session document (S3 logging to the team's
  session-log location, encryption required), unless the account already has one outside the stack
  (`onboard trainer check-account --fix` keeps that one right); ``UpdateMethod: NewVersion`` so that a
  change makes a new version instead of replacing the document, which a named document cannot be;
- one ``AWS::IAM::User`` per learner (``Learner<name><hash>``: logical ids are letters and digits only).

Access keys are never in the template or its outputs: CloudFormation would keep the secret in the stack
(``AWS::IAM::AccessKey``'s ``SecretAccessKey`` attribute), where anyone allowed DescribeStacks reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from onboard.classroom import ClassList
from onboard.errors import UsageError
from onboard.facts import bucket_lifecycle
from onboard.sessionprefs import DOCUMENT_NAME, SessionPreferences
from onboard.team import Location, TeamFile
from onboard.trainer.policy import PolicyInputs, PolicySet, generate

STACK_PREFIX = "onboard-class-"
#: CloudFormation's stack names: a letter, then letters, digits and '-', 128 characters at most.
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
ASSUME_BY_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def stack_name(team: TeamFile) -> str:
    """``onboard-class-<team>``: the team's name with what a stack name cannot hold made '-'."""
    name = STACK_PREFIX + re.sub(r"[^A-Za-z0-9-]", "-", team.team)
    if not _STACK_NAME.fullmatch(name):
        raise UsageError(
            f"the team name {team.team!r} does not make a CloudFormation stack name ({name!r})",
            "Stack names are at most 128 letters, digits and '-'; shorten the team file's `team`.",
        )
    return name


def learner_logical_id(name: str) -> str:
    """A stable logical id for learner ``name`` (IAM names may hold ``.@+=,_-``; logical ids may not)."""
    digest = hashlib.sha256(name.lower().encode("utf-8")).hexdigest()[:8]
    return "Learner" + re.sub(r"[^A-Za-z0-9]", "", name)[:40] + digest


@dataclass(frozen=True)
class ClassResources:
    """What the stack is made of, named: the one source for the template, the plan and deprovision."""

    stack: str
    policies: PolicySet
    learners: ClassList
    #: Buckets the stack creates, by logical id (those that already exist outside it are left out).
    buckets: dict[str, str]
    #: The session preferences the stack writes; None when the account's own document stays.
    preferences: SessionPreferences | None

    @property
    def learner_policy_name(self) -> str:
        return f"{self.stack}-learner"

    @property
    def instance_policy_name(self) -> str:
        return f"{self.stack}-instance"

    @property
    def role_name(self) -> str:
        return f"{self.stack}-instance"

    @property
    def instance_profile_name(self) -> str:
        return f"{self.stack}-instance"


def class_resources(
    team: TeamFile,
    learners: ClassList,
    inputs: PolicyInputs,
    *,
    existing_buckets: frozenset[str] = frozenset(),
    keep_preferences: bool = False,
) -> ClassResources:
    """The class's resources for ``team``; ``existing_buckets`` and ``keep_preferences`` say what the
    account has outside the stack (those are left out of it)."""
    policies = generate(inputs)
    buckets: dict[str, str] = {}
    for logical, location in (("TransferBucket", inputs.transfer), ("SessionLogBucket", inputs.session_logs)):
        if location is None or location.bucket in existing_buckets:
            continue  # no such bucket in the team file, or one the account has outside the stack
        if location.bucket not in buckets.values():
            buckets[logical] = location.bucket
    return ClassResources(
        stack=stack_name(team),
        policies=policies,
        learners=learners,
        buckets=buckets,
        preferences=None if keep_preferences else team_preferences(inputs.session_logs),
    )


def team_preferences(logs: Location | None, current: SessionPreferences | None = None) -> SessionPreferences:
    """The team's session preferences: logs to its session-log location, encrypted; else as ``current``."""
    from dataclasses import replace

    return replace(
        current or SessionPreferences(),
        s3_bucket=logs.bucket if logs else "",
        s3_prefix=logs.prefix if logs else "",
        s3_encryption=True,
    )


def template(resources: ClassResources) -> dict[str, Any]:
    """The CloudFormation template (a JSON-ready dict) for ``resources``."""
    body: dict[str, Any] = {}
    users = []
    for learner in resources.learners.learners:
        logical = learner_logical_id(learner.name)
        users.append({"Ref": logical})
        body[logical] = {"Type": "AWS::IAM::User", "Properties": {"UserName": learner.name}}
    body["LearnerPolicy"] = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "ManagedPolicyName": resources.learner_policy_name,
            "Description": resources.policies.learner.description,
            "PolicyDocument": resources.policies.learner.document(),
            "Users": users,
        },
    }
    body["InstanceRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": resources.role_name,
            "Description": "The class's servers: what the SSM agent needs (InstancePolicy)",
            "AssumeRolePolicyDocument": ASSUME_BY_EC2,
        },
    }
    body["InstancePolicy"] = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "ManagedPolicyName": resources.instance_policy_name,
            "Description": resources.policies.instance.description,
            "PolicyDocument": resources.policies.instance.document(),
            "Roles": [{"Ref": "InstanceRole"}],
        },
    }
    body["InstanceProfile"] = {
        "Type": "AWS::IAM::InstanceProfile",
        "Properties": {
            "InstanceProfileName": resources.instance_profile_name,
            "Roles": [{"Ref": "InstanceRole"}],
        },
    }
    for logical, bucket in resources.buckets.items():
        body[logical] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": bucket,
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                # An interrupted multipart upload's parts are billed and listed nowhere but
                # list-multipart-uploads: S3 removes them a day after they began.
                "LifecycleConfiguration": bucket_lifecycle(),
            },
        }
    if resources.preferences is not None:
        body["SessionPreferences"] = {
            "Type": "AWS::SSM::Document",
            "Properties": {
                "Name": DOCUMENT_NAME,
                "DocumentType": "Session",
                "DocumentFormat": "JSON",
                "UpdateMethod": "NewVersion",
                "Content": resources.preferences.content(),
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"onboard: a class of {len(resources.learners.learners)} learners ({resources.stack})",
        "Resources": body,
    }


def template_text(resources: ClassResources) -> str:
    """The template as CloudFormation takes it (JSON; 51,200 bytes at most in a TemplateBody)."""
    return json.dumps(template(resources), indent=2) + "\n"
