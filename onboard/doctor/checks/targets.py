"""Targets: for each instance, what Session Manager knows of its agent, and why it is not connected.

``TargetNotConnected`` has three usual causes, told apart as far as the keys' permissions allow: the
agent is stopped (or the instance is), the instance's role lacks the SSM policy, or the policy was
attached after the agent started and the agent was never restarted (the pitfall in the seed article: the
instance then never appears in DescribeInstanceInformation at all).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from onboard.doctor.context import DoctorContext, Target
from onboard.doctor.model import Check, Finding, Group, fail, ok
from onboard.facts import SESSION_AGENT_ACTIONS

GROUP = Group.TARGETS
DOC_AGENT = "https://docs.aws.amazon.com/systems-manager/latest/userguide/troubleshooting-managed-nodes.html"
DOC_ROLE = "https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-instance-permissions.html"
#: What the SSM agent must be allowed for Session Manager (AmazonSSMManagedInstanceCore grants all of them).
MANAGED_SSM_POLICIES = {"AmazonSSMManagedInstanceCore", "AmazonEC2RoleforSSM", "AmazonSSMFullAccess"}
SSM_CORE_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
RESTART_AGENT = (
    "on the instance: sudo systemctl restart amazon-ssm-agent   "
    "(snap installs: sudo snap restart amazon-ssm-agent)"
)


def _denied(error: Any) -> bool:
    return error.response.get("Error", {}).get("Code", "") in (
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
    )


def instance_information(ctx: DoctorContext) -> dict[str, dict[str, Any]] | None:
    """instance id -> DescribeInstanceInformation's entry, for every target; None when not allowed."""
    import botocore.exceptions

    def read() -> dict[str, dict[str, Any]] | None:
        ids = [target.id for target in ctx.targets]
        try:
            answer = ctx.client("ssm").describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": ids}]
            )
        except botocore.exceptions.ClientError as refused:
            if _denied(refused):
                return None
            raise
        return {info["InstanceId"]: info for info in answer.get("InstanceInformationList", [])}

    return ctx.memo("instance-information", read)


def target_check(target: Target):
    def run(ctx: DoctorContext) -> Finding:
        return diagnose(ctx, target)

    return run


def diagnose(ctx: DoctorContext, target: Target) -> Finding:
    import botocore.exceptions

    infos = instance_information(ctx)
    info = infos.get(target.id) if infos is not None else None
    evidence = []
    if infos is None:
        evidence.append("DescribeInstanceInformation: not allowed for these keys")
    elif info is None:
        evidence.append("DescribeInstanceInformation: not listed (the agent never registered)")
    else:
        evidence.append(
            f"DescribeInstanceInformation: PingStatus {info.get('PingStatus')}, agent "
            f"{info.get('AgentVersion')}, "
            f"{info.get('PlatformName', '')} {info.get('PlatformVersion', '')}".rstrip()
        )
        evidence.append(f"last ping: {info.get('LastPingDateTime')}")
    try:
        status = ctx.client("ssm").get_connection_status(Target=target.id)["Status"]
        evidence.append(f"GetConnectionStatus: {status}")
    except botocore.exceptions.ClientError as refused:
        if not _denied(refused):
            raise
        status = None
        evidence.append("GetConnectionStatus: not allowed for these keys")
    data = {
        "ping_status": info.get("PingStatus") if info else None,
        "agent_version": info.get("AgentVersion") if info else None,
        "connection": status,
    }
    online = (info is not None and info.get("PingStatus") == "Online") or (
        info is None and status == "connected"
    )
    if online and status in ("connected", None):
        version = f", agent {data['agent_version']}" if data["agent_version"] else ""
        return ok(f"connected{version}", *evidence, doc=DOC_AGENT, data=data)
    return _not_connected(ctx, target, info, evidence, data)


def _not_connected(
    ctx: DoctorContext, target: Target, info: dict[str, Any] | None, evidence: list[str], data: dict[str, Any]
) -> Finding:
    label = target.label()
    profile = f" --profile {ctx.profile}"
    state = _instance_state(ctx, target)
    if state is not None:
        evidence.append(f"EC2 instance state: {state}")
        if state != "running":
            return fail(
                f"TargetNotConnected because the instance is {state}",
                *evidence,
                next=f"aws ec2 start-instances --instance-ids {target.id}{profile}",
                doc=DOC_AGENT,
                data=data,
            )
    role = (info or {}).get("IamRole") or _role_from_ec2(ctx, target)
    if role is None:
        evidence.append("instance role: unknown (not readable with these keys)")
    policies = _role_allows_agent(ctx, role) if role else None
    if role and policies is not None:
        allowed, why = policies
        evidence.append(f"role {role}: {why}")
        if not allowed:
            return fail(
                f"TargetNotConnected because its role {role} lacks the SSM policy, so the agent cannot "
                "register",
                *evidence,
                next=f"aws iam attach-role-policy --role-name {role} --policy-arn "
                f"{SSM_CORE_POLICY_ARN}{profile}"
                f"   then {RESTART_AGENT}",
                doc=DOC_ROLE,
                data={**data, "cause": "role-without-ssm-policy"},
            )
        if info is None:
            return fail(
                "TargetNotConnected: the role allows the agent, but the agent never registered; it was "
                "probably started before the policy was attached and not restarted since",
                *evidence,
                next=RESTART_AGENT,
                doc=DOC_AGENT,
                data={**data, "cause": "agent-not-restarted"},
            )
        return fail(
            f"TargetNotConnected: the role allows the agent, but the agent stopped answering "
            f"(PingStatus {info.get('PingStatus')}); it is stopped, or was not restarted after the "
            f"policy changed",
            *evidence,
            next=RESTART_AGENT,
            doc=DOC_AGENT,
            data={**data, "cause": "agent-stopped"},
        )
    if role:
        evidence.append(f"role {role}: its policies are not readable with these keys")
    return fail(
        f"TargetNotConnected: the SSM agent is not answering (PingStatus "
        f"{(info or {}).get('PingStatus', 'unknown')}). Either the agent is stopped, the instance role "
        f"{role or ''} lacks the SSM policy, or the agent was not restarted after the policy was "
        f"attached".replace("role  lacks", "role lacks"),
        *evidence,
        "1. agent stopped or not restarted: " + RESTART_AGENT,
        f"2. role without the SSM policy: aws iam attach-role-policy --role-name {role or 'ROLE'} "
        f"--policy-arn {SSM_CORE_POLICY_ARN}",
        next=f"ask whoever runs {label} to restart its SSM agent and check its role; or run "
        f"`onboard doctor --target {target.id} --profile ADMIN_PROFILE` with keys that may read IAM roles",
        doc=DOC_AGENT,
        data={**data, "cause": "agent-or-role"},
    )


def _instance_state(ctx: DoctorContext, target: Target) -> str | None:
    description = _ec2_description(ctx, target)
    return description.get("State", {}).get("Name") if description else None


def _ec2_description(ctx: DoctorContext, target: Target) -> dict[str, Any] | None:
    import botocore.exceptions

    def read() -> dict[str, Any] | None:
        try:
            answer = ctx.client("ec2").describe_instances(InstanceIds=[target.id])
        except botocore.exceptions.ClientError:
            return None
        found = [i for r in answer.get("Reservations", []) for i in r.get("Instances", [])]
        return found[0] if found else None

    return ctx.memo(f"ec2:{target.id}", read)


def _role_from_ec2(ctx: DoctorContext, target: Target) -> str | None:
    import botocore.exceptions

    profile_arn = ((_ec2_description(ctx, target) or {}).get("IamInstanceProfile") or {}).get("Arn")
    if not profile_arn:
        return None
    try:
        answer = ctx.client("iam").get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[-1])
    except botocore.exceptions.ClientError:
        return None
    roles = answer["InstanceProfile"].get("Roles", [])
    return roles[0]["RoleName"] if roles else None


def _role_allows_agent(ctx: DoctorContext, role: str) -> tuple[bool, str] | None:
    """(whether the role's policies allow every agent action, why); None when IAM keeps them from us."""
    import botocore.exceptions

    iam = ctx.client("iam")
    documents: list[Any] = []
    names: list[str] = []
    try:
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            names.append(attached["PolicyName"])
            if attached["PolicyName"] in MANAGED_SSM_POLICIES:
                return True, f"has {attached['PolicyName']}"
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
            )
            documents.append(version["PolicyVersion"]["Document"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            names.append(f"{name} (inline)")
            documents.append(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    except botocore.exceptions.ClientError as refused:
        if _denied(refused):
            return None
        raise
    missing = [action for action in SESSION_AGENT_ACTIONS if not allows(documents, action)]
    policies = ", ".join(names) or "no policies"
    if missing:
        return False, f"policies {policies}; not allowed: {', '.join(missing)}"
    return True, f"policies {policies} allow every action the agent needs"


def allows(documents: list[Any], action: str) -> bool:
    """Whether some statement allows ``action`` on every resource and none denies it (wildcards honoured)."""
    allowed = False
    for document in documents:
        if isinstance(document, str):
            document = json.loads(unquote(document))
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions):
                continue
            if statement.get("Effect") == "Deny":
                return False
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            allowed = allowed or "*" in resources
    return allowed


def checks_for(targets: tuple[Target, ...]) -> list[Check]:
    return [
        Check(
            f"targets.{target.alias}",
            GROUP,
            f"Target {target.label()}",
            target_check(target),
            ("credentials.identity",),
        )
        for target in targets
    ]
