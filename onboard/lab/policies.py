"""The IAM policies the lab seeds (:mod:`onboard.lab.seed`): the seed article's user policy (on the IAM
group) and instance policy (on each instance's role), the read-only extras the lessons and doctor need, the
instances' transfer policy, the trainer's and the lab admin's; each managed policy's name.
"""

from __future__ import annotations

from onboard.iamnames import document_arn
from onboard.lab.sessions import DOCUMENTS
from onboard.lab.world import World

USER_POLICY = "ssm-users-policy"
EXTRAS_POLICY = "ssm-users-extras"
INSTANCE_POLICY = "policy-for-ec2-server"
TRAINER_POLICY = "lab-trainer"
SESSION_DOCUMENTS = DOCUMENTS


def user_policy(world: World) -> dict:
    """The seed article's user policy: start sessions on the lab's instances, end only your own."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": [world.instance_arn(i.instance_id) for i in world.instances],
            },
            {
                "Effect": "Allow",
                "Action": "ssm:TerminateSession",
                "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*",
            },
        ],
    }


def extras_policy(world: World) -> dict:
    """What the lessons and doctor need besides the seed policy: read-only looks, the transfer bucket, each
    learner's own session logs (the lessons check what was typed by reading them) and publishing their own
    progress record (where the trainer's report reads it)."""
    bucket = f"arn:aws:s3:::{world.transfer_bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LookAround",
                "Effect": "Allow",
                "Action": [
                    "ssm:DescribeSessions",
                    "ssm:DescribeInstanceInformation",
                    "ssm:GetConnectionStatus",
                    "ec2:DescribeInstances",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            },
            {
                "Sid": "SessionDocuments",
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": [document_arn(world.region, world.account, name) for name in SESSION_DOCUMENTS],
            },
            {
                "Sid": "ResumeOwnSessions",
                "Effect": "Allow",
                "Action": "ssm:ResumeSession",
                "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*",
            },
            {
                "Sid": "SeeOwnUser",
                "Effect": "Allow",
                "Action": "iam:GetUser",
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            },
            {
                "Sid": "ListTransferBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": bucket,
            },
            {
                "Sid": "OwnAndSharedObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": [
                    f"{bucket}/{world.transfer_prefix}${{aws:username}}/*",
                    f"{bucket}/{world.shared_prefix}*",
                ],
            },
            {
                "Sid": "ReadOwnSessionLogs",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{world.log_bucket}/{world.log_prefix}${{aws:username}}-*",
            },
            {
                "Sid": "PublishOwnProgress",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/onboard/progress/${{aws:username}}.json",
            },
        ],
    }


def instance_policy() -> dict:
    """The seed article's instance policy: what the SSM agent needs, nothing more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ssm:DescribeAssociation",
                    "ssmmessages:*",
                    "ssm:UpdateInstanceInformation",
                    "ec2messages:*",
                ],
                "Resource": "*",
            }
        ],
    }


def instance_transfer_policy(world: World) -> dict:
    """So that ``aws s3 cp`` works on the instances: the transfer bucket, read and write."""
    bucket = f"arn:aws:s3:::{world.transfer_bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{bucket}/*",
            },
        ],
    }


def trainer_policy(world: World) -> dict:
    buckets = [f"arn:aws:s3:::{world.transfer_bucket}", f"arn:aws:s3:::{world.log_bucket}"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:*", "ec2:Describe*", "sts:GetCallerIdentity"],
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": buckets + [f"{b}/*" for b in buckets]},
            # `onboard trainer provision` and `deprovision`: the class's stack, and what CloudFormation
            # creates and deletes in it with the caller's permissions (as on AWS), plus the learners' keys.
            {"Sid": "ClassStacks", "Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
            {"Sid": "ClassIdentities", "Effect": "Allow", "Action": CLASS_IAM_ACTIONS, "Resource": "*"},
            {"Sid": "ClassBuckets", "Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::*"]},
        ],
    }


#: The IAM actions a class's stack and its access keys take (CloudFormation runs them as the trainer).
CLASS_IAM_ACTIONS = [
    "iam:CreateUser",
    "iam:DeleteUser",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:CreateAccessKey",
    "iam:DeleteAccessKey",
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:AttachUserPolicy",
    "iam:DetachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PassRole",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
]


ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ASSUME_BY_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
