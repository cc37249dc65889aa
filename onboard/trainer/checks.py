"""check-account's checks, as data: per instance (running, profile, role, registration), then the account.

Each is a doctor :class:`~onboard.doctor.model.Check` run by doctor's concurrent runner; the facts they
read are asked once (:class:`~onboard.trainer.facts.AccountFacts`). A problem's ``next`` is the exact
fix; the safe ones (attach a generated policy, create or update the preferences document) carry a
:class:`~onboard.doctor.model.Fix` that ``--fix`` applies.
"""

from __future__ import annotations

from functools import partial

from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check, Finding, Group, fail, ok, skipped
from onboard.team import Instance
from onboard.trainer import fixes
from onboard.trainer.facts import AccountFacts, Principal

INSTANCES = Group.INSTANCES
ACCOUNT = Group.ACCOUNT

#: What the agent must be allowed to register and carry sessions (amazon-ssm-agent's calls).
AGENT_NEEDS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
RESTART_AGENT = (
    "restart the agent on the instance: `sudo systemctl restart amazon-ssm-agent` "
    "(Ubuntu's snap: `sudo snap restart amazon-ssm-agent`), or reboot it"
)
INSTALL_AGENT = (
    "install the agent (community images lack it): Amazon Linux/RHEL `sudo yum install -y "
    "https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/linux_amd64/amazon-ssm-agent.rpm`, "
    "Ubuntu `sudo snap install amazon-ssm-agent --classic`; "
    "then `sudo systemctl enable --now amazon-ssm-agent`"
)


def build_checks(facts: AccountFacts) -> list[Check]:
    checks: list[Check] = []
    for instance in facts.team.instances:
        key = instance.alias
        before: tuple[str, ...] = ()
        for part, title, function in _INSTANCE_STEPS:
            check_id = f"instance.{part}.{key}"
            run = partial(function, facts, instance)
            checks.append(Check(check_id, INSTANCES, f"{key}: {title}", run, depends_on=before))
            before = (check_id,)
    checks += [
        Check("account.preferences", ACCOUNT, "session preferences", partial(_preferences, facts)),
        Check("account.buckets", ACCOUNT, "transfer and log buckets", partial(_buckets, facts)),
        Check("account.learners", ACCOUNT, "learners and their policy", partial(_learners, facts)),
    ]
    return checks


# --- instances --------------------------------------------------------------------------------------


def _running(facts: AccountFacts, instance: Instance, ctx: DoctorContext) -> Finding:
    found = facts.instances().get(instance.id)
    if found is None:
        return fail(
            f"{instance.id} does not exist in {facts.region()}",
            next="Fix the id in the team file's [[instances]] (or its region).",
        )
    state = found["State"]["Name"]
    if state != "running":
        return fail(
            f"{instance.id} is {state}",
            next=f"aws ec2 start-instances --instance-ids {instance.id}",
            data={"state": state},
        )
    return ok(f"{instance.id} is running", data={"image": found.get("ImageId")})


def _profile(facts: AccountFacts, instance: Instance, ctx: DoctorContext) -> Finding:
    profile = facts.instances()[instance.id].get("IamInstanceProfile")
    if not profile:
        return fail(
            "no instance profile: the agent has no credentials, so the instance can never register",
            next=f"aws ec2 associate-iam-instance-profile --instance-id {instance.id} "
            "--iam-instance-profile Name=<a profile whose role has `onboard trainer policy`'s instance "
            "policy>, then restart the agent",
        )
    return ok(f"instance profile {profile['Arn'].rsplit('/', 1)[-1]}", data={"profile_arn": profile["Arn"]})


def _role(facts: AccountFacts, instance: Instance, ctx: DoctorContext) -> Finding:
    from onboard.lab.iampolicy import Decision, evaluate
    from onboard.lab.iampolicy import Principal as Asker

    profile_arn = ctx.finding(f"instance.profile.{instance.alias}").data["profile_arn"]
    authorization = facts.authorization()
    role_name = authorization.profile_roles.get(profile_arn)
    if role_name is None or role_name not in authorization.roles:
        return fail(
            f"the instance profile {profile_arn.rsplit('/', 1)[-1]} has no role",
            next=f"aws iam add-role-to-instance-profile --instance-profile-name "
            f"{profile_arn.rsplit('/', 1)[-1]} --role-name <role>",
        )
    role = authorization.roles[role_name]
    verdicts = facts.simulate(role, list(AGENT_NEEDS), ["*"])
    how = "iam:SimulatePrincipalPolicy"
    if verdicts is None:
        how = "reading the role's attached and inline policies"
        asker = Asker(arn=role.arn, name=role.name, user_id=role.name, kind="AssumedRole")
        verdicts = {
            action: evaluate(role.policies, action, "*", asker) is Decision.ALLOWED for action in AGENT_NEEDS
        }
    missing = [action for action, allowed in verdicts.items() if not allowed]
    data = {"role": role_name, "policies": list(role.attached)}
    if missing:
        return fail(
            f"the role {role_name} does not allow {', '.join(missing)}",
            f"asked by {how}",
            f"attached policies: {', '.join(role.attached) or 'none'}",
            next=f"attach the instance policy (`onboard trainer policy`) to {role_name}, "
            "then restart the agent",
            fix=fixes.attach_instance_policy(facts, role_name),
            data=data,
        )
    return ok(f"the role {role_name} allows the agent's actions", f"asked by {how}", data=data)


def _agent(facts: AccountFacts, instance: Instance, ctx: DoctorContext) -> Finding:
    node = facts.managed_nodes().get(instance.id)
    if node is None:
        image = ctx.finding(f"instance.running.{instance.alias}").data.get("image")
        return fail(
            "not registered with Systems Manager although its role is right: the agent started before "
            "the policy was attached (the write-up's trap), or there is no agent",
            f"image {image}",
            next=f"{RESTART_AGENT}; if the image is a community AMI without the agent, {INSTALL_AGENT}",
        )
    version = node.get("AgentVersion", "?")
    if node.get("PingStatus") != "Online":
        return fail(
            f"{node.get('PingStatus')} (agent {version}) although its role is right: the agent stopped, or "
            "it started before the policy was attached (the write-up's trap)",
            next=RESTART_AGENT,
            data={"agent_version": version, "ping": node.get("PingStatus")},
        )
    return ok(
        f"Online, agent {version}", data={"agent_version": version, "platform": node.get("PlatformName")}
    )


# --- the account ------------------------------------------------------------------------------------


def _preferences(facts: AccountFacts, ctx: DoctorContext) -> Finding:
    from onboard.sessionprefs import DOCUMENT_NAME, parse_preferences

    content = facts.preferences_document()
    logs = facts.team.session_logs
    if content is None:
        return fail(
            f"no {DOCUMENT_NAME} document: sessions are not logged and use AWS's defaults",
            next="create the preferences (Session Manager > Preferences), "
            "or `onboard trainer check-account --fix`",
            fix=fixes.write_preferences(facts, None),
        )
    current = parse_preferences(content)
    problems = []
    if logs is not None and (current.s3_bucket, current.log_prefix()) != (logs.bucket, logs.prefix):
        where = f"s3://{current.s3_bucket}/{current.log_prefix()}" if current.s3_bucket else "nowhere"
        problems.append(f"session logs go to {where}, not the team's s3://{logs.bucket}/{logs.prefix}")
    if not current.s3_encryption:
        problems.append("S3 encryption of the logs is not required")
    evidence = [
        f"idle timeout {current.idle_minutes} min",
        "Run As: "
        + (
            f"on (default user {current.run_as_default_user or 'none'}; SSMSessionRunAs tags win)"
            if current.run_as_enabled
            else "off: sessions start as ssm-user and people switch with sudo (the team's choice)"
        ),
    ]
    data = {
        "s3_bucket": current.s3_bucket,
        "s3_prefix": current.log_prefix(),
        "encryption": current.s3_encryption,
    }
    if problems:
        return fail(
            "; ".join(problems),
            *evidence,
            next="update the preferences, or `onboard trainer check-account --fix`",
            fix=fixes.write_preferences(facts, current),
            data=data,
        )
    return ok(f"logging to s3://{current.s3_bucket}/{current.log_prefix()}, encrypted", *evidence, data=data)


def _buckets(facts: AccountFacts, ctx: DoctorContext) -> Finding:
    import botocore.exceptions

    s3 = facts.client("s3")
    wanted = [("transfer", facts.inputs.transfer.bucket)]
    if facts.team.session_logs is not None:
        wanted.append(("session-log", facts.team.session_logs.bucket))
    problems, evidence = [], []
    for what, bucket in wanted:
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("404", "NoSuchBucket", "NotFound"):
                problems.append(f"the {what} bucket {bucket} does not exist")
                continue
            problems.append(f"the {what} bucket {bucket} cannot be read: {code}")
            continue
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            algorithm = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            evidence.append(f"{bucket}: exists, default encryption {algorithm}")
        except botocore.exceptions.ClientError:
            problems.append(f"the {what} bucket {bucket} has no default encryption")
    if problems:
        first = wanted[0][1]
        return fail(
            "; ".join(problems),
            *evidence,
            next=f"aws s3 mb s3://<bucket> --region {facts.region()} (new buckets are encrypted by default); "
            f"learners' folders are prefixes ({facts.inputs.transfer.prefix}<user>/) and need no creating",
            data={"buckets": [b for _, b in wanted], "first": first},
        )
    return ok("both buckets exist and are encrypted", *evidence)


def _learners(facts: AccountFacts, ctx: DoctorContext) -> Finding:
    from onboard.errors import UsageError
    from onboard.iamnames import check_learner_names
    from onboard.lab.iampolicy import Decision, evaluate
    from onboard.lab.iampolicy import Principal as Asker

    authorization = facts.authorization()
    names = facts.learners()
    if not names:
        return skipped("no learners named: pass --learners, or --group with the learners' IAM group")
    try:
        check_learner_names(names, where="learners")
    except UsageError as clash:
        return fail(clash.message, next=clash.hint)
    missing_users = [n for n in names if n not in authorization.users]
    lacking: dict[str, list[str]] = {}
    for name in names:
        if name in missing_users:
            continue
        user: Principal = authorization.users[name]
        asker = Asker(arn=user.arn, name=name, user_id=name, kind="User")
        gaps = [
            label
            for label, action, resource, context in facts.learner_needs(name)
            if evaluate(user.policies, action, resource, asker, context) is not Decision.ALLOWED
        ]
        if gaps:
            lacking[name] = gaps
    evidence = [f"{name}: lacks {', '.join(gaps)}" for name, gaps in lacking.items()]
    if missing_users:
        evidence.insert(0, f"no IAM user: {', '.join(missing_users)}")
    if lacking or missing_users:
        summary = f"{len(lacking) + len(missing_users)} of {len(names)} learners cannot do the lessons"
        return fail(
            summary,
            *evidence,
            next="attach the learner policy (`onboard trainer policy`) to them"
            + ("; create the missing users (`onboard trainer provision`)" if missing_users else ""),
            fix=fixes.attach_learner_policy(facts, list(lacking)) if lacking else None,
            data={"lacking": lacking, "missing": missing_users},
        )
    return ok(f"{len(names)} learners can do everything the lessons need", data={"learners": list(names)})


#: Each instance's checks in order: (id part, title, check); each depends on the one before.
_INSTANCE_STEPS = (
    ("running", "running", _running),
    ("profile", "instance profile", _profile),
    ("role", "role allows the agent", _role),
    ("agent", "registered and Online", _agent),
)
