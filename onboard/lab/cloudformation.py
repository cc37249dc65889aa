"""CloudFormation in the lab: moto's stacks, with the places where moto is not what AWS does fixed.

moto runs change sets and stacks of the types a class needs (IAM users, managed policies, roles, instance
profiles, S3 buckets, SSM documents), and answers an unchanged template's change set as AWS does (FAILED,
"The submitted information didn't contain changes..."). Where it differs from CloudFormation (probed with
moto 5.2 in the lab, and read in moto's ``cloudformation/parsing.py``, ``iam/models.py``, ``s3/models.py``
and ``ssm/models.py``), the lab does what AWS does:

- **Session documents created by a stack** (``AWS::SSM::Document``, whose ``Content`` is a JSON object in
  the template) are kept by moto as the object itself, so DescribeDocument fails (a 500) and GetDocument
  answers Python's repr. AWS stores a document's content as its JSON text; after each request that runs a
  stack the lab turns such content into that text (:func:`after_stack_request`).
- **DeleteStack with a managed policy attached**: moto has no delete for ``AWS::IAM::ManagedPolicy``, so
  the users and roles it is attached to cannot be deleted (DeleteConflict), the DeleteStack call fails and
  the half-deleted stack disappears. CloudFormation deletes in reverse dependency order: a managed policy
  naming its ``Users``/``Roles``/``Groups`` goes before them, detached from every entity first (the
  resource's delete handler, aws-cloudformation/aws-cloudformation-resource-providers-iam). The lab
  detaches and deletes the stack's managed policies before moto deletes the rest.
- **A resource failing in ExecuteChangeSet**: moto answers the call with the resource's error and leaves
  what it made; CloudFormation rolls back (:func:`roll_back`).
- **A bucket's LifecycleConfiguration**: moto makes the bucket and drops the property (its
  ``FakeBucket.create_from_cloudformation_json`` reads only BucketEncryption and Tags), so an interrupted
  upload's parts would stay for good. After each request that runs a stack the lab gives the stack's
  buckets their rules (:func:`lifecycle_rules`), as CloudFormation does.
- **DeleteStack with a non-empty bucket**: moto leaves the bucket (and its objects) in place and reports
  the stack deleted. AWS fails that resource ("The bucket you tried to delete is not empty"), leaves the
  stack in DELETE_FAILED with that reason in its events, and deletes nothing else that depends on it
  (AWS::S3::Bucket documentation: "you must delete all objects in the bucket first"). The lab does the
  same before anything is deleted.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

#: The query-protocol operations that create, change or delete a stack's resources.
STACK_RUNNING_OPERATIONS = frozenset({"CreateStack", "UpdateStack", "ExecuteChangeSet"})
BUCKET_NOT_EMPTY = "The bucket you tried to delete is not empty"


def accepted(action: str) -> bytes:
    """CloudFormation's answer to ``action`` when it accepts the request (the work goes on in the stack)."""
    import secrets

    return (
        f'<{action}Response xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        f"<{action}Result/><ResponseMetadata><RequestId>{secrets.token_hex(16)}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    ).encode()


def operation_of(body: bytes | None) -> tuple[str, dict[str, str]]:
    """The query request's Action and its other parameters (first value of each)."""
    fields = parse_qs((body or b"").decode("utf-8", errors="replace"))
    params = {name: values[0] for name, values in fields.items() if values}
    return params.pop("Action", ""), params


def delete_stack(account: str, region: str, stack_name: str) -> bool:
    """Prepare DeleteStack as CloudFormation runs it; True when the lab answered it (moto must not run).

    A non-empty bucket of the stack fails the deletion (DELETE_FAILED, nothing deleted); otherwise the
    stack's managed policies are detached and deleted, and moto deletes the rest.
    """
    stack = _live_stack(account, region, stack_name)
    if stack is None:
        return False  # moto answers for a stack that does not exist, as AWS does (no error)
    resources = _resources(stack)
    full = [
        logical
        for logical, resource in resources.items()
        if _type(stack, logical) == "AWS::S3::Bucket" and getattr(resource, "keys", None)
    ]
    if full:
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        reasons = [f"{logical}: {BUCKET_NOT_EMPTY}" for logical in full]
        stack._add_stack_event(
            "DELETE_FAILED",
            resource_status_reason="The following resource(s) failed to delete: ["
            + ", ".join(full)
            + "]. "
            + "; ".join(reasons),
        )
        stack.status = "DELETE_FAILED"
        return True
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    for logical, resource in resources.items():
        if _type(stack, logical) != "AWS::IAM::ManagedPolicy":
            continue
        policy = iam.managed_policies.get(getattr(resource, "arn", ""))
        if policy is None:
            continue
        for user in list(iam.users.values()):
            if policy.arn in user.managed_policies:
                iam.detach_user_policy(policy.arn, user.name)
        for role in list(iam.roles.values()):
            if policy.arn in role.managed_policies:
                iam.detach_role_policy(policy.arn, role.name)
        for group in list(iam.groups.values()):
            if policy.arn in group.managed_policies:
                iam.detach_group_policy(policy.arn, group.name)
        iam.delete_policy(policy.arn)
    return False


#: moto's answers to ExecuteChangeSet that are about the request, not about a resource failing.
REQUEST_ERRORS = frozenset(
    {
        "AccessDenied",
        "ValidationError",
        "ChangeSetNotFound",
        "InvalidChangeSetStatus",
        "InsufficientCapabilities",
    }
)


def roll_back(account: str, region: str, stack_name: str, code: str, message: str) -> bool:
    """After moto failed a resource while executing a change set: what CloudFormation does instead.

    moto answers ExecuteChangeSet with the failed resource's error and leaves what it had made in place
    (probed: a user made before a policy whose name was taken stayed, the stack in REVIEW_IN_PROGRESS).
    CloudFormation accepts the call, marks the resource CREATE_FAILED with the reason, deletes what it had
    made and ends in ROLLBACK_COMPLETE (CloudFormation User Guide, "Stack failure options"). True when the
    lab did so (the caller then answers ExecuteChangeSet as accepted).
    """
    from moto.cloudformation.models import Event

    stack = _live_stack(account, region, stack_name)
    if stack is None or code in REQUEST_ERRORS:
        return False
    template = stack.resource_map._resource_json_map
    made = _resources(stack)
    failed = next((logical for logical in template if logical not in made), stack.name)

    def event(logical: str, status: str, reason: str | None = None) -> None:
        kind = template.get(logical, {}).get("Type", "AWS::CloudFormation::Stack")
        physical = stack.stack_id if logical == stack.name else ""
        stack.events.append(Event(stack.stack_id, stack.name, logical, physical, kind, status, reason, None))

    event(failed, "CREATE_FAILED", f"{message} (Service: {code})")
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to create: [{failed}].",
    )
    delete_stack(account, region, stack.stack_id)  # the managed policies first, as for a deletion
    try:
        stack.resource_map.delete()
    except Exception as error:  # what could not be deleted stays, as in AWS's ROLLBACK_FAILED
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=str(error))
        stack.status = "ROLLBACK_FAILED"
        return True
    for logical in made:
        event(logical, "DELETE_COMPLETE")
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"
    return True


def after_stack_request(account: str, region: str) -> None:
    """Store documents a stack created as AWS stores every document (its content as JSON text), and give
    the stacks' buckets the lifecycle rules their templates name."""
    from moto.ssm.models import ssm_backends

    _apply_bucket_lifecycles(account, region)
    if region not in ssm_backends[account]:
        return
    backend = ssm_backends[account][region]
    for documents in backend._documents.values():
        for document in documents.versions.values():
            if isinstance(document.content, dict):
                document.content = json.dumps(document.content, indent=2)


def lifecycle_rules(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """A CloudFormation ``LifecycleConfiguration``'s rules as PutBucketLifecycleConfiguration takes them
    (the Rule fields carried over: Id, Status, Prefix, AbortIncompleteMultipartUpload and ExpirationInDays,
    as AWS::S3::Bucket Rule in the CloudFormation template reference names them; onboard's templates use
    the first, second and fourth)."""
    rules = []
    for rule in configuration.get("Rules", []):
        converted: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "Id" in rule:
            converted["ID"] = rule["Id"]
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": str(days)}
        if "ExpirationInDays" in rule:
            converted["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
        rules.append(converted)
    return rules


def _apply_bucket_lifecycles(account: str, region: str) -> None:
    from moto.cloudformation.models import cloudformation_backends
    from moto.s3.models import s3_backends

    if region not in cloudformation_backends[account]:
        return
    s3 = s3_backends[account]["aws"]
    for stack in list(cloudformation_backends[account][region].stacks.values()):
        if stack.status == "DELETE_COMPLETE":
            continue
        template = stack.resource_map._resource_json_map
        for logical, resource in _resources(stack).items():
            configuration = template[logical].get("Properties", {}).get("LifecycleConfiguration")
            if _type(stack, logical) != "AWS::S3::Bucket" or not configuration:
                continue
            bucket = s3.buckets.get(getattr(resource, "name", ""))
            if bucket is not None:
                bucket.set_lifecycle(lifecycle_rules(configuration))


def _live_stack(account: str, region: str, name_or_id: str) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in backend.stacks.values():
        if name_or_id in (stack.name, stack.stack_id) and stack.status != "DELETE_COMPLETE":
            return stack
    return None


def _resources(stack: Any) -> dict[str, Any]:
    """The stack's created resources by logical id (moto keeps them beside its pseudo-parameters)."""
    template = stack.resource_map._resource_json_map
    return {
        logical: resource
        for logical, resource in stack.resource_map._parsed_resources.items()
        if logical in template and resource is not None and not isinstance(resource, str)
    }


def _type(stack: Any, logical: str) -> str:
    return str(stack.resource_map._resource_json_map.get(logical, {}).get("Type", ""))
