"""What the trainer commands work on: the team file, with the command line's overrides applied."""

from __future__ import annotations

import re
from pathlib import Path

from onboard.errors import UsageError
from onboard.team import Location, TeamFile, find_team, valid_bucket_name
from onboard.trainer.policy import PolicyInputs, parse_tag

_ACCOUNT = re.compile(r"[0-9]{12}")


def need_team(path: Path | None) -> TeamFile:
    """The team file named by --team or $ONBOARD_TEAM; a UsageError when there is none."""
    team = find_team(path)
    if team is None:
        raise UsageError(
            "no team file: the trainer commands work from the team's file",
            "Pass --team team.toml (or set $ONBOARD_TEAM); `onboard lab up` writes one for the lab.",
        )
    return team


def policy_inputs(
    team: TeamFile,
    *,
    instances: str | None = None,
    tag: str | None = None,
    bucket: str | None = None,
    region: str | None = None,
    account: str | None = None,
    learners: str | None = None,
) -> PolicyInputs:
    """The team file's facts, each replaced by the option that names it."""
    from onboard.awsclient import check_region

    if instances and tag:
        raise UsageError("--instances and --tag both say which instances", "Give one of them.")
    if account is not None and not _ACCOUNT.fullmatch(account):
        raise UsageError(
            f"--account {account!r} is not a 12-digit AWS account id", "For example 123456789012."
        )
    transfer = team.transfer
    if bucket is not None:
        if not valid_bucket_name(bucket):
            raise UsageError(
                f"--bucket {bucket!r} is not an S3 bucket name",
                "Use lower-case letters, digits, '.' and '-'.",
            )
        transfer = Location(bucket, transfer.prefix if transfer else "")
    if transfer is None:
        raise UsageError(
            f"the team file {team.path} names no transfer bucket",
            "Add a [transfer] table (bucket, prefix) or pass --bucket NAME.",
        )
    listed = tuple(i.strip() for i in (instances or "").split(",") if i.strip())
    return PolicyInputs(
        region=check_region(region, where="--region") if region else team.region,
        account=account,
        instances=() if tag else (listed or tuple(i.id for i in team.instances)),
        tag=parse_tag(tag) if tag else None,
        transfer=transfer,
        session_logs=team.session_logs,
        learners=tuple(n.strip() for n in (learners or "").split(",") if n.strip()),
    )
