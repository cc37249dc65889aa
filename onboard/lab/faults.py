"""Faults for troubleshooting drills: break one thing in the running lab, and put it back.

Each fault changes the lab's world the way the real mistake would (through moto's backends or the lab's
agent state), so that the AWS CLI, boto3, `onboard doctor` and the lessons see what they would see on AWS:

agent-offline [INSTANCE]
    The SSM agent on the instance stops (default: the first instance). DescribeInstanceInformation shows
    PingStatus ConnectionLost, GetConnectionStatus "notconnected", and `aws ssm start-session` fails with
    TargetNotConnected ("i-... is not connected.").
role-without-ssm-policy [INSTANCE]
    The seed's instance policy (policy-for-ec2-server) is detached from the instance's role. The agent can no
    longer register, so the user sees the same as agent-offline (ConnectionLost, TargetNotConnected); `iam
    list-attached-role-policies` on the role shows why.
agent-not-restarted [INSTANCE]
    The seed write-up's trap: the agent started while the role lacked the SSM policy, and the policy was
    attached afterwards. The role is right now, but the instance stays unregistered until its agent restarts
    (`onboard lab instance restart-agent INSTANCE`, or EC2 RebootInstances).
key-deactivated [USER]
    The learner's access key (default: the first learner) is made Inactive. Every call with it fails:
    `aws sts get-caller-identity` with InvalidClientTokenId, SSM calls with UnrecognizedClientException.
no-start-session [USER]
    The learner leaves the group that holds the Session Manager policy (keeping the read-only extras), so
    `aws ssm start-session` fails with AccessDeniedException: "... is not authorized to perform:
    ssm:StartSession on resource: arn:aws:ec2:...:instance/i-... because no identity-based policy allows the
    ssm:StartSession action".
bucket-missing
    The transfer bucket disappears: `aws s3 cp` to or from it fails with NoSuchBucket ("The specified bucket
    does not exist"). Its objects come back with `lab fault clear`.

`onboard lab fault clear` undoes every fault in force; `onboard lab reset` re-seeds the whole world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onboard.errors import UsageError

if TYPE_CHECKING:
    from onboard.lab.server import LabServer


@dataclass(frozen=True)
class Fault:
    name: str
    target_kind: str  # "instance", "user" or "" (no target)
    summary: str
    user_sees: str
    apply: Callable[[LabServer, str], Callable[[], None]]


def _agent_offline(lab: LabServer, instance_id: str) -> Callable[[], None]:
    lab.state.offline.add(instance_id)
    return lambda: lab.state.offline.discard(instance_id)


def _role_without_ssm_policy(lab: LabServer, instance_id: str) -> Callable[[], None]:
    from onboard.lab.seed import INSTANCE_POLICY

    iam = lab.iam
    role = lab.state.roles[instance_id]
    policy_arn = f"arn:aws:iam::{lab.world.account}:policy/{INSTANCE_POLICY}"
    iam.detach_role_policy(policy_arn, role)
    return lambda: iam.attach_role_policy(policy_arn, role)


def _agent_not_restarted(lab: LabServer, instance_id: str) -> Callable[[], None]:
    reattach = _role_without_ssm_policy(lab, instance_id)
    lab.state.agents.restart(instance_id)  # starts while the role cannot register it
    reattach()
    return lambda: lab.state.agents.restart(instance_id)


def _key_deactivated(lab: LabServer, user: str) -> Callable[[], None]:
    iam = lab.iam
    key_id = lab.seeded.keys[user].access_key_id
    iam.update_access_key(user, key_id, "Inactive")
    return lambda: iam.update_access_key(user, key_id, "Active")


def _no_start_session(lab: LabServer, user: str) -> Callable[[], None]:
    from onboard.lab.seed import EXTRAS_POLICY

    iam = lab.iam
    group = lab.world.group
    extras_arn = f"arn:aws:iam::{lab.world.account}:policy/{EXTRAS_POLICY}"
    iam.remove_user_from_group(group, user)
    iam.attach_user_policy(extras_arn, user)

    def restore() -> None:
        iam.detach_user_policy(extras_arn, user)
        iam.add_user_to_group(group, user)

    return restore


def _bucket_missing(lab: LabServer, _: str) -> Callable[[], None]:
    from moto.s3.models import s3_backends

    s3 = s3_backends[lab.world.account]["aws"]
    name = lab.world.transfer_bucket
    # Taken out whole rather than deleted, so that clearing the fault brings every object back.
    bucket = s3.buckets.pop(name)
    owner = s3_backends.bucket_accounts.pop(name, None)

    def restore() -> None:
        s3.buckets[name] = bucket
        if owner is not None:
            s3_backends.bucket_accounts[name] = owner

    return restore


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "agent-offline",
            "instance",
            "the SSM agent on an instance stops",
            "PingStatus ConnectionLost; start-session: TargetNotConnected",
            _agent_offline,
        ),
        Fault(
            "role-without-ssm-policy",
            "instance",
            "the instance role loses the seed's SSM policy",
            "PingStatus ConnectionLost; start-session: TargetNotConnected",
            _role_without_ssm_policy,
        ),
        Fault(
            "agent-not-restarted",
            "instance",
            "the role got its SSM policy after the agent started, and the agent was not restarted",
            "the instance is not Online; start-session: TargetNotConnected",
            _agent_not_restarted,
        ),
        Fault(
            "key-deactivated",
            "user",
            "a learner's access key is made Inactive",
            "InvalidClientTokenId / UnrecognizedClientException on every call",
            _key_deactivated,
        ),
        Fault(
            "no-start-session",
            "user",
            "a learner loses ssm:StartSession",
            "start-session: AccessDeniedException naming ssm:StartSession",
            _no_start_session,
        ),
        Fault(
            "bucket-missing", "", "the transfer bucket disappears", "aws s3 cp: NoSuchBucket", _bucket_missing
        ),
    )
}


def describe_faults() -> list[dict[str, Any]]:
    return [
        {"name": f.name, "target": f.target_kind or None, "summary": f.summary, "user_sees": f.user_sees}
        for f in FAULTS.values()
    ]


def resolve_target(lab: LabServer, fault: Fault, target: str | None) -> str:
    """The instance id or user name ``target`` names (an alias, an id or a name), or the default one."""
    world = lab.world
    if fault.target_kind == "instance":
        if not target:
            return world.instances[0].instance_id
        for spec in world.instances:
            if target in (spec.alias, spec.instance_id):
                return spec.instance_id
        known = ", ".join(f"{i.alias} ({i.instance_id})" for i in world.instances)
        raise UsageError(f"the lab has no instance {target!r}", f"Name one of: {known}.")
    if fault.target_kind == "user":
        if not target:
            return world.learners[0]
        if target not in world.learners:
            raise UsageError(
                f"the lab has no learner {target!r}", f"Name one of: {', '.join(world.learners)}."
            )
        return target
    if target:
        raise UsageError(f"the fault {fault.name} takes no target", f"Run `onboard lab fault {fault.name}`.")
    return ""
