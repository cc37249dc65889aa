"""The two IAM policies a trainer attaches, the learners' and the instance role's, made from the team file.

The seed write-up's policies, made least-privilege and complete for what onboard does:

- the learner policy: StartSession on the team's instances (listed, or by ``ssm:resourceTag``) and on exactly
  the session documents the lessons and everyday commands use; TerminateSession and ResumeSession on the
  learner's own sessions (``session/${aws:username}-*``: Session Manager names a session after the IAM user
  who started it); the read-only looks lessons and doctor make; S3 on the learner's own prefix of the
  transfer bucket, their own session logs and their own progress record;
- the instance policy: the write-up's four actions (AmazonEC2RoleforSSM cut down to what the agent needs to
  register and carry sessions), plus writing session logs and using the transfer bucket from the server.

Every statement carries why it is there and what breaks without it (``onboard trainer policy --explain``).
The documents are plain data (:meth:`Policy.document`); the lab's own IAM evaluates exactly these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onboard.errors import UsageError
from onboard.iamnames import check_learner_names, document_arn
from onboard.team import INSTANCE_ID, Location

#: Where a learner's progress record goes in the transfer bucket (``onboard lesson publish``).
PROGRESS_PREFIX = "onboard/progress/"

#: The session documents onboard starts sessions with, and who uses each.
SESSION_DOCUMENTS: Mapping[str, str] = {
    "SSM-SessionManagerRunShell": "plain shell sessions (`aws ssm start-session`, lessons 2 to 5)",
    "AWS-StartInteractiveCommand": (
        "sessions that switch user on arrival (`sudo -iu USER`) and doctor's probe"
    ),
    "AWS-StartNonInteractiveCommand": "one-off commands on the server (file transfer, lesson checks)",
    "AWS-StartPortForwardingSession": "forwarding a port of the server to the laptop",
    "AWS-StartPortForwardingSessionToRemoteHost": "forwarding a host behind the server (a database)",
}

#: The write-up's instance policy: what the SSM agent calls to register, take commands and carry sessions.
INSTANCE_POLICY_ACTIONS = (
    "ssm:DescribeAssociation",
    "ssmmessages:*",
    "ssm:UpdateInstanceInformation",
    "ec2messages:*",
)

OWN_SESSIONS = "session/${aws:username}-*"


@dataclass(frozen=True)
class Statement:
    """One Allow statement, with the reason it exists and what breaks without it."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    without: str
    #: IAM's Condition block: operator -> key -> values.
    condition: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions) if len(self.actions) > 1 else self.actions[0],
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            body["Condition"] = {
                operator: {key: list(values) for key, values in keys.items()}
                for operator, keys in self.condition.items()
            }
        return body


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    statements: tuple[Statement, ...]

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [s.document() for s in self.statements]}


@dataclass(frozen=True)
class PolicyInputs:
    """What the policies are generated for (the team file, overridden by the command's options)."""

    region: str
    #: The 12-digit account id; None: any account (``*``) in the ARNs.
    account: str | None
    #: Instance ids learners may reach; empty when ``tag`` selects them.
    instances: tuple[str, ...]
    #: (key, value): instances whose tag has this value, instead of a list.
    tag: tuple[str, str] | None
    transfer: Location
    session_logs: Location | None
    #: The learners the policy is for (checked: no name may be another's followed by '-').
    learners: tuple[str, ...] = ()

    @property
    def account_or_any(self) -> str:
        return self.account or "*"


@dataclass(frozen=True)
class PolicySet:
    inputs: PolicyInputs
    learner: Policy
    instance: Policy

    def to_dict(self, *, explain: bool) -> dict[str, Any]:
        def one(policy: Policy) -> dict[str, Any]:
            described: dict[str, Any] = {
                "name": policy.name,
                "description": policy.description,
                "document": policy.document(),
            }
            if explain:
                described["explain"] = [
                    {"sid": s.sid, "why": s.why, "without": s.without} for s in policy.statements
                ]
            return described

        return {
            "learners": list(self.inputs.learners),
            "learner_policy": one(self.learner),
            "instance_policy": one(self.instance),
        }


def generate(inputs: PolicyInputs) -> PolicySet:
    """Both policies for ``inputs``; a UsageError when the inputs cannot make a safe policy."""
    check_learner_names(inputs.learners, where="--learners")
    if not inputs.instances and inputs.tag is None:
        raise UsageError(
            "no instances to allow sessions on",
            "List them in the team file's [[instances]], or pass --instances ID,... or --tag KEY=VALUE.",
        )
    for instance_id in inputs.instances:
        if not INSTANCE_ID.fullmatch(instance_id):
            raise UsageError(
                f"--instances: {instance_id!r} is not an EC2 instance id",
                "Instance ids look like i-0123456789abcdef0.",
            )
    return PolicySet(inputs, learner_policy(inputs), instance_policy(inputs))


def learner_policy(inputs: PolicyInputs) -> Policy:
    region, account = inputs.region, inputs.account_or_any
    transfer = inputs.transfer
    bucket = f"arn:aws:s3:::{transfer.bucket}"
    statements = [_instances_statement(inputs)]
    statements.append(
        Statement(
            sid="SessionDocuments",
            actions=("ssm:StartSession",),
            resources=tuple(document_arn(region, account, name) for name in SESSION_DOCUMENTS),
            why="StartSession is authorised on the session document as well as the instance; these are "
            "the documents onboard uses: "
            + "; ".join(f"{name}: {use}" for name, use in SESSION_DOCUMENTS.items()),
            without="switching user on arrival, file transfer, port forwarding and the lessons' checks "
            "are refused with AccessDeniedException on arn:aws:ssm:...:document/...; any other document "
            "(AWS-RunShellScript through a session, someone's own document) stays refused",
        )
    )
    statements.append(
        Statement(
            sid="OwnSessions",
            actions=("ssm:TerminateSession", "ssm:ResumeSession"),
            resources=(f"arn:aws:ssm:{region}:{account}:{OWN_SESSIONS}",),
            why="Session Manager names each session <IAM user name>-<id>, so ${aws:username}-* matches "
            "the learner's own sessions and nobody else's (the write-up's rule; names where one is "
            "another's followed by '-' are refused for that reason)",
            without="`exit` still ends a session, but a dropped session cannot be resumed or ended from "
            "the laptop (the plugin's reconnect and Ctrl-C end fail), and doctor reports "
            "ssm:TerminateSession denied",
        )
    )
    statements.append(
        Statement(
            sid="LookAround",
            actions=(
                "ssm:DescribeSessions",
                "ssm:DescribeInstanceInformation",
                "ssm:GetConnectionStatus",
                "ec2:DescribeInstances",
            ),
            resources=("*",),
            why="read-only: the lessons look up the learner's sessions, doctor and `onboard hosts` see "
            "which instances are Online; these actions take no resource-level permissions, hence *",
            without="lessons cannot check a step, doctor cannot tell an offline server from a denied one, "
            "and the host list is empty",
        )
    )
    statements.append(
        Statement(
            sid="ListTransferBucket",
            actions=("s3:ListBucket", "s3:GetBucketLocation"),
            resources=(bucket,),
            why="`aws s3 cp` and `aws s3 ls` need to find the bucket and list the learner's folder; "
            "listing shows key names only, never contents",
            without=f"`aws s3 ls s3://{transfer.bucket}/...` is AccessDenied and lesson 4 cannot see "
            "the uploaded file",
        )
    )
    statements.append(
        Statement(
            sid="OwnTransferPrefix",
            actions=("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"),
            resources=(f"{bucket}/{transfer.prefix}${{aws:username}}/*",),
            why=f"files move through s3://{transfer.bucket}/{transfer.prefix}<IAM user name>/; each "
            "learner reads and writes only their own folder, and aborts the multipart upload of a "
            "transfer cut short (an IAM user may not without s3:AbortMultipartUpload)",
            without="file transfer (lesson 4, `onboard transfer`) fails with AccessDenied",
        )
    )
    if inputs.session_logs is not None:
        logs = inputs.session_logs
        statements.append(
            Statement(
                sid="ReadOwnSessionLogs",
                actions=("s3:GetObject",),
                resources=(f"arn:aws:s3:::{logs.bucket}/{logs.prefix}${{aws:username}}-*",),
                why="session logs are named after the session id (<IAM user name>-<id>.log); the lessons "
                "grade what was typed by reading the learner's own logs",
                without="steps graded from what was typed cannot be verified; nobody can read another "
                "learner's transcript either way",
            )
        )
    statements.append(
        Statement(
            sid="PublishOwnProgress",
            actions=("s3:PutObject",),
            resources=(f"{bucket}/{PROGRESS_PREFIX}${{aws:username}}.json",),
            why="`onboard lesson publish` puts the learner's progress record where the trainer's report "
            "reads it, one object per learner",
            without="publishing progress fails with AccessDenied and the trainer sees nobody's progress",
        )
    )
    return Policy(
        name="onboard-learner",
        description="Session Manager for learners: their sessions, their files, nothing else",
        statements=tuple(statements),
    )


def _instances_statement(inputs: PolicyInputs) -> Statement:
    region, account = inputs.region, inputs.account_or_any
    without = "every `aws ssm start-session` is refused with AccessDeniedException on the instance ARN"
    if inputs.tag is not None:
        key, value = inputs.tag
        return Statement(
            sid="StartSessionOnTaggedInstances",
            actions=("ssm:StartSession",),
            resources=(f"arn:aws:ec2:{region}:{account}:instance/*",),
            condition={"StringLike": {f"ssm:resourceTag/{key}": (value,)}},
            why=f"learners may start sessions on instances tagged {key}={value} (a server added later "
            "needs only the tag, not a new policy)",
            without=without,
        )
    return Statement(
        sid="StartSessionOnInstances",
        actions=("ssm:StartSession",),
        resources=tuple(f"arn:aws:ec2:{region}:{account}:instance/{i}" for i in inputs.instances),
        why="learners may start sessions on the team's servers and no other instance of the account",
        without=without,
    )


def instance_policy(inputs: PolicyInputs) -> Policy:
    transfer = inputs.transfer
    bucket = f"arn:aws:s3:::{transfer.bucket}"
    statements = [
        Statement(
            sid="SessionManagerAgent",
            actions=INSTANCE_POLICY_ACTIONS,
            resources=("*",),
            why="what amazon-ssm-agent calls: UpdateInstanceInformation registers the instance and keeps "
            "it Online, ssmmessages carries the sessions' control and data channels, ec2messages and "
            "DescribeAssociation are its message and association polls (the write-up's cut-down "
            "AmazonEC2RoleforSSM)",
            without="the instance never shows up in Session Manager (not Online, TargetNotConnected); "
            "attached later, it takes effect only after the agent restarts",
        )
    ]
    if inputs.session_logs is not None:
        logs = inputs.session_logs
        log_bucket = f"arn:aws:s3:::{logs.bucket}"
        statements.append(
            Statement(
                sid="WriteSessionLogs",
                actions=("s3:PutObject", "s3:GetEncryptionConfiguration"),
                resources=(f"{log_bucket}/{logs.prefix}*", log_bucket),
                why="the agent uploads each session's transcript to the preferences' S3 bucket and "
                "prefix, after checking the bucket's encryption when encryption is required",
                without="sessions still open, but no transcript is written (or, with encryption "
                "required, sessions fail to start) and graded steps cannot be checked",
            )
        )
    statements.append(
        Statement(
            sid="UseTransferBucket",
            actions=("s3:ListBucket", "s3:GetBucketLocation"),
            resources=(bucket,),
            why="`aws s3 cp` on the server finds the transfer bucket and lists it",
            without="copying files on the server fails before any object is read",
        )
    )
    statements.append(
        Statement(
            sid="ReadWriteTransferPrefix",
            actions=("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
            resources=(f"{bucket}/{transfer.prefix}*",),
            why="the server fetches what learners upload, and lesson 4 sends a file back from the server "
            "(the role is the server's: it cannot tell learners apart, so it covers the whole prefix); "
            "its AWS CLI aborts its own multipart upload when a transfer is cut short",
            without="files cannot be moved between laptop and server through S3",
        )
    )
    return Policy(
        name="onboard-instance",
        description="What the SSM agent needs, plus session logs and the transfer bucket",
        statements=tuple(statements),
    )


def parse_tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` from --tag."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise UsageError(f"--tag {text!r} is not KEY=VALUE", "For example: --tag Team=data.")
    return key.strip(), value.strip()
