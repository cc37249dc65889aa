"""Domain facts that several parts of onboard check, each written once.

The team file, the ~/.aws writer, the lab's world and API, doctor and the lessons import these instead of
keeping their own copies (copies drifted apart: four instance-id patterns disagreed).
"""

from __future__ import annotations

import re

#: The profile setup writes, lessons and doctor use, when neither a flag nor the team file names one.
DEFAULT_PROFILE = "ssm"

#: An EC2 instance id as AWS issues them: ``i-`` and 8 (before 2016) or 17 lower-case hex digits.
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
#: A Session Manager target: an EC2 instance, or a hybrid-activation managed node (``mi-`` and 17 digits).
MANAGED_NODE_ID = re.compile(r"(?:i-(?:[0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})")

#: A Linux user name as ``useradd`` accepts it by default (and at most 32 characters).
OS_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

#: A team name or an instance alias: short, and safe as a file name (it names progress files).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: An S3 general purpose bucket name's shape (``onboard.team.valid_bucket_name`` adds S3's other rules).
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

#: A profile name botocore reads and onboard may use in file names: letters, digits, ``.``, ``_``, ``-``,
#: at most 64 characters, and not ``.`` or ``..`` (which name folders, not profiles).
PROFILE_NAME = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,64}")

#: What an instance's role must allow for Session Manager to reach it: the agent registers and reports with
#: UpdateInstanceInformation and opens the control and data channels with the four ssmmessages actions
#: (AWS's "Verify or add instance permissions for Session Manager"). The lab registers an agent only when
#: its role allows them all; doctor and check-account name the ones a role lacks.
SESSION_AGENT_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)

#: The lifecycle rule on the buckets onboard provisions (and the lab seeds): S3 removes a multipart upload
#: nobody completed or aborted this many days after it began. The parts of an interrupted upload are listed
#: nowhere but ``list-multipart-uploads`` and are billed until then; onboard aborts its own when a transfer
#: is interrupted, and this rule catches what a killed process could not abort.
ABORT_INCOMPLETE_UPLOADS_DAYS = 1
ABORT_INCOMPLETE_UPLOADS_RULE = "onboard-abort-incomplete-multipart-uploads"


def bucket_lifecycle() -> dict:
    """The buckets' ``LifecycleConfiguration`` as CloudFormation's AWS::S3::Bucket takes it (Rule: Id,
    Status, AbortIncompleteMultipartUpload.DaysAfterInitiation; no Prefix: the whole bucket)."""
    return {
        "Rules": [
            {
                "Id": ABORT_INCOMPLETE_UPLOADS_RULE,
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_DAYS},
            }
        ]
    }
