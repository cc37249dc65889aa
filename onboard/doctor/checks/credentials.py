"""Credentials: who the keys belong to (STS), the clock against AWS's, and the key's age where IAM says."""

from __future__ import annotations

from datetime import datetime, timezone

from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check, Finding, Group, fail, ok, skipped, warn

GROUP = Group.CREDENTIALS
DOC_KEYS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"
DOC_CLOCK = "https://repost.aws/knowledge-center/iam-sigv4-signature-errors"
#: Days after which a long-term key should be replaced (AWS's own security best-practice check says 90).
KEY_ROTATION_DAYS = 90


def identity(ctx: DoctorContext) -> Finding:
    from onboard.identity import Failure, IdentityError

    try:
        found = ctx.identity()
    except IdentityError as refused:
        return fail(
            refused.message,
            next=refused.hint,
            doc=DOC_CLOCK if refused.failure is Failure.CLOCK else DOC_KEYS,
            data={"code": refused.code, "failure": refused.failure.value},
        )
    data = {
        "arn": found.arn,
        "account": found.account,
        "user_name": found.user_name,
        "kind": found.kind,
        "clock_skew": found.clock_skew,
    }
    return ok(
        f"the keys belong to {found.arn}",
        f"account: {found.account}",
        f"identity: {found.kind}" + (f" {found.user_name}" if found.user_name else ""),
        doc=DOC_KEYS,
        data=data,
    )


def clock(ctx: DoctorContext) -> Finding:
    from onboard.identity import SKEW_REFUSED_SECONDS, SKEW_WARNING_SECONDS, clock_fix_hint, describe_skew

    skew = ctx.finding("credentials.identity").data.get("clock_skew")
    if skew is None:
        return skipped("AWS's answer had no Date header to compare with")
    shown = describe_skew(skew) if skew else "in step with AWS's clock"
    if abs(skew) >= SKEW_REFUSED_SECONDS:
        return fail(
            f"this computer's clock is {shown}: AWS refuses signed requests",
            next=clock_fix_hint(),
            doc=DOC_CLOCK,
        )
    if abs(skew) >= SKEW_WARNING_SECONDS:
        return warn(
            f"this computer's clock is {shown}", next=clock_fix_hint(), doc=DOC_CLOCK, data={"skew": skew}
        )
    return ok(f"this computer's clock is {shown} (from the Date header of AWS's answer)", data={"skew": skew})


def key_age(ctx: DoctorContext) -> Finding:
    import botocore.exceptions

    user = ctx.finding("credentials.identity").data.get("user_name")
    if not user:
        return skipped("the keys are not an IAM user's long-term keys")
    credentials = ctx.credentials()
    key_id = credentials.access_key if credentials else ""
    try:
        keys = ctx.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    except botocore.exceptions.ClientError as refused:
        code = refused.response.get("Error", {}).get("Code", "")
        return skipped(
            f"IAM does not let {user} read its own keys ({code}: iam:ListAccessKeys); nothing wrong"
        )
    mine = next((key for key in keys if key["AccessKeyId"] == key_id), None)
    if mine is None:
        return skipped("the key in use is not among the user's keys as IAM lists them")
    created = mine["CreateDate"]
    days = (datetime.now(timezone.utc) - created).days
    evidence = [f"key ****{key_id[-4:]}: {mine['Status']}, created {created:%Y-%m-%d} ({days} days ago)"]
    active = [key for key in keys if key["Status"] == "Active"]
    evidence.append(f"{user} has {len(keys)} access keys, {len(active)} active")
    data = {"age_days": days, "status": mine["Status"]}
    if days > KEY_ROTATION_DAYS:
        return warn(
            f"the access key is {days} days old (replace keys every {KEY_ROTATION_DAYS} days)",
            *evidence,
            next="create a new key in the IAM console, then: onboard setup --credentials-csv FILE; "
            "then deactivate "
            "the old one",
            doc=DOC_KEYS,
            data=data,
        )
    return ok(f"the access key is {days} days old", *evidence, data=data)


CHECKS = (
    Check(
        "credentials.identity",
        GROUP,
        "Identity (STS)",
        identity,
        ("config.profile", "network.endpoints"),
    ),
    Check("credentials.clock", GROUP, "Clock", clock, ("credentials.identity",)),
    Check("credentials.key-age", GROUP, "Access key age", key_age, ("credentials.identity",)),
)
