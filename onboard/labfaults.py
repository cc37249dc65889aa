"""The practice lab's faults, as data: the one list the lab, doctor, the lessons and the README read.

A fault breaks one thing in a running lab the way the real mistake would, so that the AWS CLI, boto3,
`onboard doctor` and the lessons see what they would see on AWS. This module says which faults exist, what
each one hits and what the user then sees; how the lab applies them is :mod:`onboard.lab.faults` (lab
internals this module never imports, so doctor and the lesson linter can read the list cheaply).
tests/test_lab_cli.py keeps the README's table of faults in step with this list.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultTarget(enum.Enum):
    """What a fault hits: an instance (alias or id), a learner, or nothing in particular."""

    INSTANCE = "instance"
    LEARNER = "user"
    NONE = ""

    @property
    def placeholder(self) -> str:
        """How the command line shows the argument: ``[INSTANCE]``, ``[LEARNER]`` or nothing."""
        return {"instance": " [INSTANCE]", "user": " [LEARNER]", "": ""}[self.value]


@dataclass(frozen=True)
class FaultInfo:
    name: str
    target: FaultTarget
    #: What breaks, in a few words.
    summary: str
    #: What the AWS CLI, boto3 and doctor then show.
    user_sees: str

    @property
    def usage(self) -> str:
        """``agent-offline [INSTANCE]``: the fault as it is typed."""
        return self.name + self.target.placeholder


#: The minutes the ``clock-skew`` fault puts the learner's clock behind AWS's: beyond every service's window
#: (5 minutes for SSM's JSON protocol, 15 for STS, IAM, EC2 and S3).
CLOCK_SKEW_MINUTES = 20

CATALOGUE: tuple[FaultInfo, ...] = (
    FaultInfo(
        "agent-offline",
        FaultTarget.INSTANCE,
        "the SSM agent on an instance stops",
        "PingStatus ConnectionLost; start-session fails with TargetNotConnected",
    ),
    FaultInfo(
        "role-without-ssm-policy",
        FaultTarget.INSTANCE,
        "the instance role loses the seed's SSM policy",
        "the same as agent-offline; the role's attached policies show why",
    ),
    FaultInfo(
        "agent-not-restarted",
        FaultTarget.INSTANCE,
        "the role got its SSM policy after the agent started, and the agent was not restarted",
        "not Online although the role is right: the policy came after the agent started",
    ),
    FaultInfo(
        "key-deactivated",
        FaultTarget.LEARNER,
        "a learner's access key is made Inactive",
        "InvalidClientTokenId (UnrecognizedClientException for SSM calls)",
    ),
    FaultInfo(
        "no-start-session",
        FaultTarget.LEARNER,
        "a learner loses ssm:StartSession",
        "AccessDeniedException naming ssm:StartSession and the instance ARN",
    ),
    FaultInfo(
        "bucket-missing",
        FaultTarget.NONE,
        "the transfer bucket disappears",
        "NoSuchBucket; the objects come back after `clear`",
    ),
    FaultInfo(
        "clock-skew",
        FaultTarget.LEARNER,
        f"AWS sees a learner's clock {CLOCK_SKEW_MINUTES} minutes behind",
        '"Signature expired" (SignatureDoesNotMatch from STS, InvalidSignatureException from SSM), '
        "RequestTimeTooSkewed from S3, RequestExpired from EC2",
    ),
)


def describe_faults() -> list[dict[str, str | None]]:
    """The catalogue as `onboard lab fault list --json` shows it."""
    return [
        {"name": f.name, "target": f.target.value or None, "summary": f.summary, "user_sees": f.user_sees}
        for f in CATALOGUE
    ]


def fault_named(name: str) -> FaultInfo | None:
    return next((fault for fault in CATALOGUE if fault.name == name), None)


def fault_names() -> tuple[str, ...]:
    return tuple(fault.name for fault in CATALOGUE)
