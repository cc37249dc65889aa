"""The CloudFormation calls behind provision and deprovision: change sets, execution, deletion, waiting.

As the CloudFormation User Guide describes them ("Update CloudFormation stacks using change sets",
DescribeChangeSet, DescribeStackEvents in the API reference):

- a change set for a stack that does not exist is of type CREATE, and makes the stack in
  REVIEW_IN_PROGRESS until it is executed (a stack left there takes a CREATE change set again);
- it is created asynchronously: CREATE_PENDING, CREATE_IN_PROGRESS, then CREATE_COMPLETE (ExecutionStatus
  AVAILABLE) or FAILED; a template that changes nothing gives FAILED with the reason "The submitted
  information didn't contain changes. Submit different information to create a change set." (the AWS CLI's
  `deploy` treats that reason as "No changes to deploy", and so does onboard);
- an executed change set ends in CREATE_COMPLETE / UPDATE_COMPLETE, or in a rollback (ROLLBACK_COMPLETE,
  UPDATE_ROLLBACK_COMPLETE, ...) whose causes are the ``*_FAILED`` events' ResourceStatusReason;
- DeleteStack ends in DELETE_COMPLETE (the stack is then gone by name) or DELETE_FAILED.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from onboard.errors import OnboardError

NO_CHANGES = "didn't contain changes"
#: How long a change set or a stack may take: CloudFormation's IAM resources take seconds to minutes.
CHANGE_SET_TIMEOUT = 300.0
STACK_TIMEOUT = 1800.0
#: Polling: quick at first (the lab and small stacks finish at once), then every few seconds as the CLI does.
FIRST_POLL = 0.1
LONGEST_POLL = 5.0
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


class Action(str, Enum):
    """What a change set does to one resource (DescribeChangeSet's ResourceChange.Action)."""

    ADD = "Add"
    MODIFY = "Modify"
    REMOVE = "Remove"
    IMPORT = "Import"
    DYNAMIC = "Dynamic"


@dataclass(frozen=True)
class ResourceChange:
    action: Action
    logical_id: str
    resource_type: str
    #: The resource's name in its service (a user's name, a bucket's); "" for one not created yet.
    physical_id: str = ""
    #: Modify only: "True", "False" or "Conditional" (whether the resource is replaced).
    replacement: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "action": self.action.value,
            "logical_id": self.logical_id,
            "type": self.resource_type,
            "physical_id": self.physical_id,
            "replacement": self.replacement,
        }


@dataclass(frozen=True)
class ChangeSet:
    stack: str
    name: str
    #: CREATE (the stack is new, or still in review) or UPDATE.
    kind: str
    changes: tuple[ResourceChange, ...]

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass(frozen=True)
class StackOutcome:
    status: str
    #: "<logical id>: <reason>" of each resource that failed, from the stack's events.
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS or self.status == "DELETE_COMPLETE"


#: Called with (resources done, resources in all, the stack's status) while waiting.
Progress = Callable[[int, int, str], None]


@contextlib.contextmanager
def aws_call(doing: str, hint: str) -> Iterator[None]:
    """AWS's refusal as an OnboardError with AWS's code and words (never a traceback)."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as error:
        detail = error.response.get("Error", {})
        raise OnboardError(f"{doing} failed: {detail.get('Code')}: {detail.get('Message')}", hint) from None
    except botocore.exceptions.BotoCoreError as error:
        raise OnboardError(f"{doing} failed: {error}", "Check the network and the endpoint.") from None


PERMISSIONS = (
    "The trainer's keys need cloudformation:* on the class's stack and the IAM, S3 and SSM permissions to "
    "create what it holds (CloudFormation acts with the caller's permissions)."
)


def stack_status(cfn: Any, name: str) -> str | None:
    """The stack's status, or None when no stack of that name exists (a deleted one does not)."""
    import botocore.exceptions

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if "does not exist" in str(error.response.get("Error", {}).get("Message", "")):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def stack_resources(cfn: Any, name: str) -> dict[str, tuple[str, str]]:
    """logical id -> (type, physical id) of the stack's resources."""
    found: dict[str, tuple[str, str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
        for item in page["StackResourceSummaries"]:
            found[item["LogicalResourceId"]] = (item["ResourceType"], item.get("PhysicalResourceId", ""))
    return found


def iam_user_names(iam: Any) -> set[str]:
    """Every IAM user's name in the account (one paginated listing, not a call per user)."""
    return {user["UserName"] for page in iam.get_paginator("list_users").paginate() for user in page["Users"]}


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL
    while not check():
        if time.monotonic() > deadline:
            raise OnboardError(
                f"{what} did not finish in {timeout:.0f} seconds",
                "Look at the stack's events in the CloudFormation console, then run the command again.",
            )
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_POLL)


def create_change_set(cfn: Any, stack: str, body: str, *, capabilities: tuple[str, ...]) -> ChangeSet:
    """A change set of ``body`` for ``stack``, waited for; an empty one when nothing would change."""
    status = stack_status(cfn, stack)
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    if status is not None and (status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"):
        raise OnboardError(
            f"the stack {stack} is busy ({status})", "Wait for it to finish, then run the command again."
        )
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise OnboardError(
            f"the stack {stack} is in {status}: CloudFormation cannot update it",
            "Remove it with `onboard trainer deprovision`, then provision again.",
        )
    name = "onboard-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    with aws_call(f"creating the change set for {stack}", PERMISSIONS):
        cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType=kind,
            TemplateBody=body,
            Capabilities=list(capabilities),
            Description="onboard trainer provision",
        )
    described: dict[str, Any] = {}

    def ready() -> bool:
        described.update(cfn.describe_change_set(StackName=stack, ChangeSetName=name))
        return described["Status"] in ("CREATE_COMPLETE", "FAILED")

    with aws_call(f"creating the change set for {stack}", PERMISSIONS):
        _wait(ready, CHANGE_SET_TIMEOUT, f"the change set {name}")
        if described["Status"] == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if NO_CHANGES not in reason:
                raise OnboardError(f"CloudFormation refused the change set: {reason}", PERMISSIONS)
            return ChangeSet(stack, name, kind, ())
        changes = list(described.get("Changes", []))
        token = described.get("NextToken")
        while token:
            more = cfn.describe_change_set(StackName=stack, ChangeSetName=name, NextToken=token)
            changes += more.get("Changes", [])
            token = more.get("NextToken")
    return ChangeSet(stack, name, kind, tuple(_change(item["ResourceChange"]) for item in changes))


def _change(item: dict[str, Any]) -> ResourceChange:
    return ResourceChange(
        action=Action(item["Action"]),
        logical_id=item["LogicalResourceId"],
        resource_type=item["ResourceType"],
        physical_id=item.get("PhysicalResourceId", "") or "",
        replacement=item.get("Replacement", "") or "",
    )


def discard(cfn: Any, change_set: ChangeSet) -> None:
    """Delete an unexecuted change set, and the empty REVIEW_IN_PROGRESS stack a CREATE one made."""
    with aws_call(f"deleting the change set {change_set.name}", PERMISSIONS):
        cfn.delete_change_set(StackName=change_set.stack, ChangeSetName=change_set.name)
        if change_set.kind == "CREATE" and stack_status(cfn, change_set.stack) == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=change_set.stack)


def execute(cfn: Any, change_set: ChangeSet, progress: Progress) -> StackOutcome:
    """Execute ``change_set`` and wait for the stack to settle, reporting progress."""
    started = datetime.now(timezone.utc)
    with aws_call(f"executing the change set for {change_set.stack}", PERMISSIONS):
        cfn.execute_change_set(StackName=change_set.stack, ChangeSetName=change_set.name)
        return _settle(cfn, change_set.stack, started, len(change_set.changes), progress, deleting=False)


def delete(cfn: Any, stack: str, resources: int, progress: Progress) -> StackOutcome:
    """Delete ``stack`` and wait until it is gone (DELETE_COMPLETE) or failed."""
    started = datetime.now(timezone.utc)
    with aws_call(f"deleting the stack {stack}", PERMISSIONS):
        stack_id = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
        cfn.delete_stack(StackName=stack)
        # By id: a deleted stack is still described by its id (DELETE_COMPLETE), no longer by its name.
        return _settle(cfn, stack_id, started, resources, progress, deleting=True)


def _settle(
    cfn: Any, stack: str, started: datetime, total: int, progress: Progress, *, deleting: bool
) -> StackOutcome:
    seen: dict[str, str] = {}

    def settled() -> bool:
        status = stack_status(cfn, stack) or "DELETE_COMPLETE"
        for event in _events_since(cfn, stack, started):
            seen.setdefault(event["LogicalResourceId"], event["ResourceStatus"])
        done = sum(1 for logical, state in seen.items() if state.endswith("_COMPLETE") and logical != stack)
        finished = not status.endswith("_IN_PROGRESS")
        progress(
            total if finished and status in SUCCESS | {"DELETE_COMPLETE"} else min(done, total), total, status
        )
        return finished

    _wait(settled, STACK_TIMEOUT, f"the stack {stack}")
    status = stack_status(cfn, stack) or "DELETE_COMPLETE"
    failures = tuple(
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', 'no reason given')}"
        for event in reversed(_events_since(cfn, stack, started))
        if str(event["ResourceStatus"]).endswith("_FAILED")
    )
    return StackOutcome(status, failures)


def _events_since(cfn: Any, stack: str, started: datetime) -> list[dict[str, Any]]:
    """The stack's events from ``started`` on, newest first (as DescribeStackEvents lists them)."""
    import botocore.exceptions

    events: list[dict[str, Any]] = []
    try:
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
            for event in page["StackEvents"]:
                if event["Timestamp"] < started.replace(microsecond=0):
                    return events
                events.append(event)
    except botocore.exceptions.ClientError:  # the stack is gone (deleted by name)
        pass
    return events
