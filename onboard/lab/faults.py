"""How the lab applies each fault of the catalogue (:mod:`onboard.labfaults`), and puts it back.

Each fault changes the lab's world the way the real mistake would, through moto's backends or the lab's
own state (the agents it runs, the clock it checks signatures against), so that the AWS CLI, boto3,
`onboard doctor` and the lessons see what they would see on AWS. ``apply`` returns the function that
undoes it; `onboard lab fault clear` calls them all, `onboard lab reset` re-seeds the whole world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from onboard.errors import UsageError
from onboard.labfaults import CATALOGUE, CLOCK_SKEW_MINUTES, FaultInfo, FaultTarget

if TYPE_CHECKING:
    from onboard.lab.server import LabServer


@dataclass(frozen=True)
class Fault:
    info: FaultInfo
    apply: Callable[[LabServer, str], Callable[[], None]]

    @property
    def name(self) -> str:
        return self.info.name


def _agent_offline(lab: LabServer, instance_id: str) -> Callable[[], None]:
    lab.state.offline.add(instance_id)
    return lambda: lab.state.offline.discard(instance_id)


def _role_without_ssm_policy(lab: LabServer, instance_id: str) -> Callable[[], None]:
    from onboard.lab.policies import INSTANCE_POLICY

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
    from onboard.lab.policies import EXTRAS_POLICY

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


def _clock_skew(lab: LabServer, user: str) -> Callable[[], None]:
    # AWS's clock, as the learner's requests meet it, runs ahead of theirs: their clock is behind.
    lab.state.clock_offsets[user] = timedelta(minutes=CLOCK_SKEW_MINUTES)

    def restore() -> None:
        lab.state.clock_offsets.pop(user, None)

    return restore


_APPLY: dict[str, Callable[[LabServer, str], Callable[[], None]]] = {
    "agent-offline": _agent_offline,
    "role-without-ssm-policy": _role_without_ssm_policy,
    "agent-not-restarted": _agent_not_restarted,
    "key-deactivated": _key_deactivated,
    "no-start-session": _no_start_session,
    "bucket-missing": _bucket_missing,
    "clock-skew": _clock_skew,
}
#: Every fault of the catalogue, with how the lab applies it (a KeyError at import if one is missing).
FAULTS: dict[str, Fault] = {info.name: Fault(info, _APPLY[info.name]) for info in CATALOGUE}


def resolve_target(lab: LabServer, fault: Fault, target: str | None) -> str:
    """The instance id or user name ``target`` names (an alias, an id or a name), or the default one."""
    world = lab.world
    if fault.info.target is FaultTarget.INSTANCE:
        if not target:
            return world.instances[0].instance_id
        for spec in world.instances:
            if target in (spec.alias, spec.instance_id):
                return spec.instance_id
        known = ", ".join(f"{i.alias} ({i.instance_id})" for i in world.instances)
        raise UsageError(f"the lab has no instance {target!r}", f"Name one of: {known}.")
    if fault.info.target is FaultTarget.LEARNER:
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


def apply_fault(lab: LabServer, request: dict[str, Any]) -> dict[str, Any]:
    """The admin request ``{"name": ..., "target": ...}``: apply the fault (once) and say what users see."""
    name = str(request.get("name", ""))
    fault = FAULTS.get(name)
    if fault is None:
        raise UsageError(
            f"no fault named {name!r}", f"Faults: {', '.join(FAULTS)} (see `onboard lab fault list`)."
        )
    target = resolve_target(lab, fault, request.get("target"))
    if (name, target) not in lab.active_faults:
        lab.active_faults[(name, target)] = fault.apply(lab, target)
    return {"fault": name, "target": target or None, "user_sees": fault.info.user_sees}


def clear_faults(lab: LabServer) -> dict[str, Any]:
    """Undo every fault in force, the last applied first."""
    cleared = [{"name": name, "target": target or None} for name, target in lab.active_faults]
    for undo in reversed(list(lab.active_faults.values())):
        undo()
    lab.active_faults.clear()
    return {"cleared": cleared}
