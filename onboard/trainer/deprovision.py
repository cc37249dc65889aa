"""`onboard trainer deprovision`: the learners' keys, the class's objects, then the stack, and a check.

In the order AWS needs it:

1. the learners' access keys, made through the IAM API (not by the stack): CloudFormation cannot delete a
   user who still has keys (DeleteConflict);
2. the class's objects: a bucket the stack made is emptied whole (AWS::S3::Bucket: a bucket must be empty
   to be deleted, and DeleteStack fails on it otherwise); in a bucket the stack did not make, only the
   learners' own objects go (their transfer prefix, their progress record, their session logs);
3. the stack (its managed policies, users, role, instance profile, buckets and preferences document);
4. then each user, key, policy, role, instance profile and object of the class is looked for again, and
   anything still there is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from onboard.team import TeamFile
from onboard.trainer.policy import PROGRESS_PREFIX
from onboard.trainer.stack import (
    PERMISSIONS,
    Progress,
    StackOutcome,
    aws_call,
    delete,
    iam_user_names,
    stack_resources,
    stack_status,
)
from onboard.trainer.template import stack_name


@dataclass(frozen=True)
class ClassInventory:
    """What the class's stack holds, read before anything is deleted."""

    stack: str
    status: str | None
    users: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    instance_profiles: tuple[str, ...] = ()
    #: Buckets the stack made (emptied whole, then deleted with it).
    buckets: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return self.status is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "status": self.status,
            "users": list(self.users),
            "policies": list(self.policies),
            "roles": list(self.roles),
            "instance_profiles": list(self.instance_profiles),
            "buckets": list(self.buckets),
            "documents": list(self.documents),
        }


@dataclass(frozen=True)
class Leftover:
    kind: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True)
class DeprovisionResult:
    inventory: ClassInventory
    keys_deleted: tuple[str, ...]
    objects_deleted: int
    outcome: StackOutcome | None
    leftovers: tuple[Leftover, ...]

    @property
    def clean(self) -> bool:
        return not self.leftovers and (self.outcome is None or self.outcome.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.inventory.to_dict(),
            "keys_deleted": list(self.keys_deleted),
            "objects_deleted": self.objects_deleted,
            "stack_status": self.outcome.status if self.outcome else None,
            "failures": list(self.outcome.failures) if self.outcome else [],
            "leftovers": [leftover.to_dict() for leftover in self.leftovers],
            "clean": self.clean,
        }


def inventory(team: TeamFile, clients: Callable[[str], Any]) -> ClassInventory:
    """The class's stack and what it holds (an absent stack holds nothing)."""
    cfn = clients("cloudformation")
    name = stack_name(team)
    with aws_call(f"reading the stack {name}", PERMISSIONS):
        status = stack_status(cfn, name)
        if status is None:
            return ClassInventory(name, None)
        resources = stack_resources(cfn, name)

    def of(kind: str) -> tuple[str, ...]:
        return tuple(physical for kind_of, physical in resources.values() if kind_of == kind and physical)

    return ClassInventory(
        stack=name,
        status=status,
        users=of("AWS::IAM::User"),
        policies=of("AWS::IAM::ManagedPolicy"),
        roles=of("AWS::IAM::Role"),
        instance_profiles=of("AWS::IAM::InstanceProfile"),
        buckets=of("AWS::S3::Bucket"),
        documents=of("AWS::SSM::Document"),
    )


def deprovision(
    team: TeamFile, found: ClassInventory, clients: Callable[[str], Any], progress: Progress
) -> DeprovisionResult:
    iam, s3 = clients("iam"), clients("s3")
    keys_deleted: list[str] = []
    for user in found.users:
        with aws_call(f"deleting {user}'s access keys", PERMISSIONS):
            for key in _keys_of(iam, user):
                iam.delete_access_key(UserName=user, AccessKeyId=key)
                keys_deleted.append(key)
    objects = 0
    with aws_call("deleting the class's objects", PERMISSIONS):
        for bucket in found.buckets:
            objects += _delete_all(s3, bucket, prefix="")
        for bucket, prefix in _learner_prefixes(team, found):
            objects += _delete_all(s3, bucket, prefix=prefix)
    outcome = None
    if found.exists:
        total = len(found.users) + len(found.policies) + len(found.roles) + len(found.instance_profiles)
        outcome = delete(
            clients("cloudformation"),
            found.stack,
            total + len(found.buckets) + len(found.documents),
            progress,
        )
    return DeprovisionResult(
        found, tuple(keys_deleted), objects, outcome, tuple(leftovers(team, found, clients))
    )


def _learner_prefixes(team: TeamFile, found: ClassInventory) -> Iterable[tuple[str, str]]:
    """Each learner's own objects in buckets the stack did not make: transfer prefix, record, logs."""
    for user in found.users:
        if team.transfer and team.transfer.bucket not in found.buckets:
            yield team.transfer.bucket, team.transfer.user_prefix(user)
            yield team.transfer.bucket, f"{PROGRESS_PREFIX}{user}.json"
        if team.session_logs and team.session_logs.bucket not in found.buckets:
            # Session logs are <prefix><session id>.log, and a session id is <user name>-<id>.
            yield team.session_logs.bucket, f"{team.session_logs.prefix}{user}-"


def leftovers(team: TeamFile, found: ClassInventory, clients: Callable[[str], Any]) -> Iterable[Leftover]:
    """Whatever of the class is still in the account, looked up one by one."""
    import botocore.exceptions

    iam, s3 = clients("iam"), clients("s3")
    # One listing for the users (a class has tens of them); one look for each of the few others.
    users = iam_user_names(iam)
    yield from (Leftover("user", user) for user in found.users if user in users)
    checks: list[tuple[str, str, Callable[..., Any], dict[str, str]]] = [
        *(("policy", arn, iam.get_policy, {"PolicyArn": arn}) for arn in found.policies),
        *(("role", role, iam.get_role, {"RoleName": role}) for role in found.roles),
        *(
            ("instance profile", name, iam.get_instance_profile, {"InstanceProfileName": name})
            for name in found.instance_profiles
        ),
        *(("bucket", bucket, s3.head_bucket, {"Bucket": bucket}) for bucket in found.buckets),
    ]
    for kind, name, look, arguments in checks:
        try:
            look(**arguments)
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "NoSuchEntity",
                "404",
                "NoSuchBucket",
                "NotFound",
            ):
                continue
            raise
        yield Leftover(kind, name)
    for bucket, prefix in _learner_prefixes(team, found):
        for key in _keys_under(s3, bucket, prefix):
            yield Leftover("object", f"s3://{bucket}/{key}")


def _keys_of(iam: Any, user: str) -> list[str]:
    import botocore.exceptions

    try:
        return [key["AccessKeyId"] for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return []
        raise


def _keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    import botocore.exceptions

    try:
        return [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return []
        raise


def _delete_all(s3: Any, bucket: str, *, prefix: str) -> int:
    """Delete every object (and every version of it) under ``prefix``; how many objects went."""
    import botocore.exceptions

    deleted = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            targets = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
            ]
            for start in range(0, len(targets), 1000):  # DeleteObjects takes 1000 keys at most
                s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": targets[start : start + 1000], "Quiet": True}
                )
            deleted += len(page.get("Versions", []))
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return 0
        raise
    return deleted
