"""Config files, continued: the environment variables that override the profile, shown the way
``aws configure list`` shows them."""

from __future__ import annotations

from onboard.doctor.checks.config import DOC_ENV, DOC_PRECEDENCE, profile_setting
from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check, Finding, Group, fail, ok, warn
from onboard.secrets import MASK

GROUP = Group.CONFIG


def environment(ctx: DoctorContext) -> Finding:
    """Environment variables that override the files, and a table of where each value comes from."""
    env = ctx.environ
    table = _configure_list(ctx)
    evidence = _table([("Name", "Value", "Type", "Location"), *table])
    problems: list[tuple[str, str, str]] = []  # (status, message, next)
    named = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    if named and not _profile_exists(ctx, named):
        variable = "AWS_PROFILE" if env.get("AWS_PROFILE") else "AWS_DEFAULT_PROFILE"
        problems.append(
            (
                "fail",
                f"{variable}={named} names a profile that does not exist: every aws command without "
                f"--profile "
                f'fails with "The config profile ({named}) could not be found"',
                f"unset {variable}   (and remove it from your shell's startup file)",
            )
        )
    key_variables = [
        v for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if env.get(v)
    ]
    if key_variables:
        problems.append(
            (
                "warn",
                f"{', '.join(key_variables)} set in the environment: every aws command without "
                f"--profile uses "
                f"those keys instead of any profile's (with --profile {ctx.profile} the profile's "
                f"keys are used)",
                f"unset {' '.join(key_variables)}",
            )
        )
    region = profile_setting(ctx, "region")
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = env.get(variable)
        if value and region and value != region:
            who = "AWS CLI v2 and the SDKs" if variable == "AWS_REGION" else "every aws command"
            problems.append(
                (
                    "warn",
                    f"{variable}={value} overrides the profile's region {region} for {who}, --profile or not",
                    f"unset {variable}",
                )
            )
    data = {
        "configure_list": [
            dict(zip(("name", "value", "type", "location"), row, strict=True)) for row in table
        ]
    }
    if not problems:
        return ok("no environment variable overrides the profile", *evidence, doc=DOC_PRECEDENCE, data=data)
    status = "fail" if any(p[0] == "fail" for p in problems) else "warn"
    messages = [p[1] for p in problems]
    finding = fail if status == "fail" else warn
    return finding(
        messages[0] if len(messages) == 1 else f"{len(messages)} environment variables override the profile",
        *messages,
        *evidence,
        next="; ".join(p[2] for p in problems),
        doc=DOC_ENV,
        data=data,
    )


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return [
        f"{name:>{widths[0]}}  {value:<{widths[1]}}  {kind:<{widths[2]}}  {where}"
        for name, value, kind, where in rows
    ]


def _configure_list(ctx: DoctorContext) -> list[tuple[str, str, str, str]]:
    """What ``aws configure list --profile NAME`` shows: each value, its type and where it comes from."""
    env = ctx.environ
    rows = []
    if ctx.profile_source == "--profile":
        rows.append(("profile", ctx.profile, "manual", "--profile"))
    else:
        rows.append(("profile", ctx.profile, "doctor", ctx.profile_source))
    key_id, key_kind, key_where = "<not set>", "None", "None"
    try:
        credentials = ctx.credentials()
    except Exception:
        credentials = None
    if credentials is not None:
        # An assumed role's keys exist only once AWS has answered AssumeRole: say where they come from.
        key_id = (
            "<from AssumeRole>" if credentials.method == "assume-role" else MASK + credentials.access_key[-4:]
        )
        key_kind = credentials.method
        key_where = _where(ctx, credentials.method)
    rows.append(("access_key", key_id, key_kind, key_where))
    rows.append(("secret_key", MASK if credentials is not None else "<not set>", key_kind, key_where))
    if env.get("AWS_DEFAULT_REGION"):
        rows.append(("region", env["AWS_DEFAULT_REGION"], "env", "AWS_DEFAULT_REGION"))
    else:
        region = profile_setting(ctx, "region")
        rows.append(
            (
                "region",
                region or "<not set>",
                "config-file" if region else "None",
                str(ctx.files().config) if region else "None",
            )
        )
    if env.get("AWS_ENDPOINT_URL"):
        rows.append(("endpoint", env["AWS_ENDPOINT_URL"], "env", "AWS_ENDPOINT_URL"))
    return rows


def _where(ctx: DoctorContext, method: str) -> str:
    files = ctx.files()
    return {
        "shared-credentials-file": str(files.credentials),
        "config-file": str(files.config),
        "env": "AWS_ACCESS_KEY_ID",
    }.get(method, method)


def _profile_exists(ctx: DoctorContext, name: str) -> bool:
    from onboard.awsconfig import find_sections

    files = ctx.files()
    sections = find_sections(files.config, "config") + find_sections(files.credentials, "credentials")
    return any(s.kind == "profile" and s.name == name for s in sections)


CHECKS = (Check("config.environment", GROUP, "Environment overrides", environment, ("config.parse",)),)
