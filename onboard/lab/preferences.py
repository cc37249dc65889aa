"""The lab's session preferences: the account's SSM-SessionManagerRunShell document drives its sessions.

As on AWS, the preferences in force when a session starts decide where its transcript goes (S3 bucket and
prefix; no bucket, no transcript) and, with Run As enabled, which OS user the shell runs as: the
``SSMSessionRunAs`` tag of the IAM user (or role) who starts it, else the document's ``runAsDefaultUser``
(AWS Systems Manager User Guide, "Turn on Run As support for Linux and macOS managed nodes"). Without Run
As, sessions run as ssm-user. A Run As user that does not exist on the instance makes the session fail, as
the agent's "failed to start pty since RunAs user ... does not exist" does.

The lab seeds the document the way a prepared account has it: logging to the world's session-log bucket
and prefix, encryption required (both buckets have S3's default encryption, as every bucket made since
January 2023 does), the 20-minute idle timeout, Run As off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onboard.sessionprefs import DOCUMENT_NAME, RUN_AS_TAG, SessionPreferences, parse_preferences

if TYPE_CHECKING:
    from onboard.lab.iampolicy import Principal
    from onboard.lab.labstate import LabState
    from onboard.lab.world import World

SSM_USER = "ssm-user"


def seed_preferences(world: World) -> None:
    """Create the preferences document and the buckets' default encryption in moto's backends."""
    from moto.s3.models import s3_backends
    from moto.ssm.models import ssm_backends

    s3 = s3_backends[world.account]["aws"]
    for bucket in (world.transfer_bucket, world.log_bucket):
        s3.put_bucket_encryption(
            bucket, {"Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}}
        )
    preferences = SessionPreferences(
        s3_bucket=world.log_bucket, s3_prefix=world.log_prefix, s3_encryption=True
    )
    ssm = ssm_backends[world.account][world.region]
    ssm.create_document(
        content=json.dumps(preferences.content()),
        requires=[],
        attachments=[],
        name=DOCUMENT_NAME,
        version_name="",
        document_type="Session",
        document_format="JSON",
        target_type="",
        tags=[],
    )


def current_preferences(account: str, region: str) -> SessionPreferences:
    """The preferences in force: the document's default version; none at all logs nothing."""
    from moto.ssm.models import ssm_backends

    ssm = ssm_backends[account][region]
    try:
        document = ssm.get_document(DOCUMENT_NAME, "", "", "JSON")
    except Exception:  # no preferences document: AWS's defaults (no logging, ssm-user)
        return SessionPreferences()
    return parse_preferences(document["Content"])


@dataclass(frozen=True)
class SessionSettings:
    """What the preferences decide for one session."""

    #: S3 bucket and key of its transcript; None: logging is off.
    log_location: tuple[str, str] | None
    #: The OS user the shell runs as ("" when Run As is on but names nobody: the session fails).
    run_as: str
    idle_minutes: int


def settings_for(state: LabState, principal: Principal, session_id: str) -> SessionSettings:
    preferences = current_preferences(state.account, state.region)
    location = None
    if preferences.logs_to_s3:
        location = (preferences.s3_bucket, f"{preferences.log_prefix()}{session_id}.log")
    run_as = SSM_USER
    if preferences.run_as_enabled:
        run_as = _run_as_tag(state.account, principal) or preferences.run_as_default_user
    return SessionSettings(location, run_as, preferences.idle_minutes)


def _run_as_tag(account: str, principal: Principal) -> str | None:
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    try:
        if principal.kind == "User":
            tags = iam.list_user_tags(principal.name)
        else:
            tags = iam.get_role(principal.name).tags
    except Exception:  # the principal is gone: no tag
        return None
    return next((t["Value"] for t in tags if t["Key"] == RUN_AS_TAG and t["Value"]), None)
