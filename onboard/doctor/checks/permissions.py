"""Permissions: may these keys start sessions on the team's targets, and do what the lessons do, tested
without side effects.

IAM policy simulation would answer directly, but ordinary users may not call it (and moto lacks it), so
each action is probed with a request whose error tells the answer: StartSession with the interactive-command
document and no command is refused with AccessDeniedException when not allowed, and otherwise fails
validation (InvalidParameters) or reports TargetNotConnected — before any session exists.
"""

from __future__ import annotations

from typing import Any

from onboard.doctor.context import DoctorContext, Target
from onboard.doctor.model import Check, Finding, Group, fail, ok, skipped, warn

GROUP = Group.PERMISSIONS
DOC_POLICY = "https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-restrict-access-quickstart.html"
PROBE_DOCUMENT = "AWS-StartInteractiveCommand"
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# Answers that mean "allowed": the request got past IAM and stopped at validation or the target's state.
_ALLOWED_BUT_STOPPED = {"InvalidParameters", "ValidationException", "TargetNotConnected", "InvalidDocument"}


def _code(error: Any) -> tuple[str, str]:
    details = error.response.get("Error", {})
    return details.get("Code", ""), details.get("Message", "")


def probe_start_session(ssm: Any, target: Target) -> tuple[str, str]:
    """("allowed" | "denied" | "no-such-target" | "unknown", what AWS said) for StartSession on ``target``."""
    import botocore.exceptions

    try:
        answer = ssm.start_session(Target=target.id, DocumentName=PROBE_DOCUMENT)
    except botocore.exceptions.ClientError as refused:
        code, message = _code(refused)
        if code in _DENIED:
            return "denied", f"{code}: {message}"
        if code in _ALLOWED_BUT_STOPPED:
            return "allowed", code
        if code in ("InvalidInstanceId", "InvalidTarget"):
            return "no-such-target", f"{code}: {message}"
        return "unknown", f"{code}: {message}"
    # An endpoint that does not validate parameters opened a session after all: end it at once.
    ssm.terminate_session(SessionId=answer["SessionId"])
    return "allowed", "a session opened and was ended at once"


def simulate_start_session(
    ctx: DoctorContext, identity: dict[str, Any]
) -> dict[Target, tuple[str, str]] | None:
    """IAM's own answer for an IAM user, where IAM lets them ask; None when it does not (the usual case)."""
    import botocore.exceptions

    if identity.get("kind") != "user":
        return None
    arns = {
        f"arn:aws:ec2:{ctx.region()}:{identity.get('account')}:instance/{target.id}": target
        for target in ctx.targets
    }
    try:
        answer = ctx.client("iam").simulate_principal_policy(
            PolicySourceArn=identity["arn"], ActionNames=["ssm:StartSession"], ResourceArns=list(arns)
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return None
    results: dict[Target, tuple[str, str]] = {}
    for evaluation in answer.get("EvaluationResults", []):
        for specific in evaluation.get("ResourceSpecificResults", []):
            target = arns.get(specific.get("EvalResourceName", ""))
            decision = specific.get("EvalResourceDecision", "")
            if target is not None:
                results[target] = ("allowed" if decision == "allowed" else "denied", decision)
    return results if len(results) == len(arns) else None


def start_session(ctx: DoctorContext) -> Finding:
    if not ctx.targets:
        return skipped("no targets to check: give --target ID or a team file (--team)")
    identity = ctx.finding("credentials.identity").data
    results = simulate_start_session(ctx, identity)
    how = "iam:SimulatePrincipalPolicy"
    if results is None:
        ssm = ctx.client("ssm")
        results = {target: probe_start_session(ssm, target) for target in ctx.targets}
        how = f"a StartSession probe ({PROBE_DOCUMENT} without a command: refused before any session starts)"
    evidence = [f"asked with {how}"]
    evidence += [f"{target.label()}: {verdict} ({said})" for target, (verdict, said) in results.items()]
    denied = [target for target, (verdict, _) in results.items() if verdict == "denied"]
    missing = [target for target, (verdict, _) in results.items() if verdict == "no-such-target"]
    unknown = [target for target, (verdict, _) in results.items() if verdict == "unknown"]
    data = {"results": {t.id: {"verdict": v, "said": s} for t, (v, s) in results.items()}}
    who = identity.get("arn", "these keys")
    if denied:
        account = identity.get("account", "ACCOUNT")
        arns = ", ".join(f"arn:aws:ec2:{ctx.region()}:{account}:instance/{t.id}" for t in denied)
        return fail(
            f"{who} may not start sessions on {', '.join(t.label() for t in denied)} "
            f"(ssm:StartSession denied)",
            *evidence,
            next="ask your AWS administrator to allow ssm:StartSession on "
            f"{arns} (the team's Session Manager policy, usually through the team's IAM group)",
            doc=DOC_POLICY,
            data=data,
        )
    if missing:
        return fail(
            f"no such instance: {', '.join(t.label() for t in missing)}",
            *evidence,
            next="check the instance id with your trainer (the team file may be out of date)",
            doc=DOC_POLICY,
            data=data,
        )
    if unknown:
        return warn(
            f"could not tell whether StartSession is allowed on {', '.join(t.label() for t in unknown)}",
            *evidence,
            doc=DOC_POLICY,
            data=data,
        )
    return ok(f"ssm:StartSession allowed on {len(results)} targets", *evidence, doc=DOC_POLICY, data=data)


def session_actions(ctx: DoctorContext) -> Finding:
    """The other Session Manager calls the lessons make: list sessions and instances, end own sessions."""
    import botocore.exceptions

    ssm = ctx.client("ssm")
    identity = ctx.finding("credentials.identity").data
    own_prefix = identity.get("user_name") or identity.get("arn", "").rsplit("/", 1)[-1]
    probes = {
        "ssm:DescribeSessions": lambda: ssm.describe_sessions(State="Active", MaxResults=1),
        # The Targets checks ask the same question: one request answers both.
        "ssm:DescribeInstanceInformation": lambda: _instance_information_or_denied(ctx),
        # AWS answers success for a session that does not exist: nothing is ended.
        "ssm:TerminateSession": lambda: ssm.terminate_session(SessionId=f"{own_prefix}-0doctorprobe0000"),
    }
    evidence, denied = [], []
    for action, call in probes.items():
        try:
            call()
        except botocore.exceptions.ClientError as refused:
            code, _ = _code(refused)
            if code in _DENIED:
                denied.append(action)
                evidence.append(f"{action}: denied ({code})")
                continue
            evidence.append(f"{action}: allowed ({code})")
            continue
        evidence.append(f"{action}: allowed")
    if denied:
        return warn(
            f"the lessons also need {', '.join(denied)}, which these keys may not do",
            *evidence,
            next=f"ask your AWS administrator to allow {', '.join(denied)} for your user",
            doc=DOC_POLICY,
        )
    return ok(
        "DescribeSessions, DescribeInstanceInformation and TerminateSession (own sessions) allowed", *evidence
    )


def _instance_information_or_denied(ctx: DoctorContext) -> None:
    import botocore.exceptions

    from onboard.doctor.checks.targets import instance_information

    if not ctx.targets:
        ctx.client("ssm").describe_instance_information(MaxResults=5)
    elif instance_information(ctx) is None:  # AWS said AccessDeniedException: say it again here
        denied = {"Error": {"Code": "AccessDeniedException", "Message": "ssm:DescribeInstanceInformation"}}
        raise botocore.exceptions.ClientError(denied, "DescribeInstanceInformation")


def transfer_bucket(ctx: DoctorContext) -> Finding:
    import botocore.exceptions

    transfer = ctx.team.transfer if ctx.team is not None else None
    if transfer is None:
        return skipped("no transfer bucket: the team file names none")
    user = ctx.finding("credentials.identity").data.get("user_name") or ""
    prefix = f"{transfer.prefix}{user}/" if user else transfer.prefix
    where = f"s3://{transfer.bucket}/{prefix}"
    try:
        ctx.client("s3").list_objects_v2(Bucket=transfer.bucket, Prefix=prefix, MaxKeys=1)
    except botocore.exceptions.ClientError as refused:
        code, message = _code(refused)
        if code == "NoSuchBucket":
            return fail(
                f"the transfer bucket {transfer.bucket} does not exist: `aws s3 cp` to it fails "
                f"with NoSuchBucket",
                f"s3:ListBucket on {where}: {code}",
                next=f"tell your trainer: the team file names the bucket {transfer.bucket}, which is gone",
                doc="https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingBucket.html",
            )
        if code in _DENIED:
            return fail(
                f"these keys may not list {where} (s3:ListBucket denied)",
                f"{code}: {message}",
                next=f"ask your AWS administrator to allow s3:ListBucket on arn:aws:s3:::{transfer.bucket}",
                doc=DOC_POLICY,
            )
        return warn(f"listing {where} failed: {code}: {message}")
    return ok(f"{where} can be listed (the lessons copy files through it)")


CHECKS = (
    Check(
        "permissions.start-session",
        GROUP,
        "ssm:StartSession on the targets",
        start_session,
        ("credentials.identity",),
    ),
    Check(
        "permissions.session-actions",
        GROUP,
        "Other Session Manager actions",
        session_actions,
        ("credentials.identity",),
    ),
    Check(
        "permissions.transfer-bucket", GROUP, "Transfer bucket", transfer_bucket, ("credentials.identity",)
    ),
)
