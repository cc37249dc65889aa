"""Looking a record's evidence up in AWS again, without trusting the record (for the trainer's report).

Each :class:`~onboard.lessons.verifiers.base.Evidence` a passed step kept names something AWS keeps: a
session (DescribeSessions by its id: still there, to the same target, started at the same time) or an S3
object (HeadObject: the same ETag, and the same version where the bucket versions). Evidence that only the
learner's computer showed (files, commands, the profile) cannot be looked up, and is said to be.

A session is the learner's own only when DescribeSessions shows it with the learner as its Owner: the
report passes the learner's sessions (:func:`sessions_of`, two calls however many sessions the record
names), so a record that names someone else's session does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onboard.lessons.verifiers.base import Evidence, iso
from onboard.lessons.verifiers.sessions import owned_sessions, split_s3_url


@dataclass(frozen=True)
class Recheck:
    evidence: Evidence
    #: True: AWS still shows it as recorded; False: it does not; None: nothing in AWS to look up.
    holds: bool | None
    said: str


def sessions_of(ssm: Any, owner: str) -> dict[str, dict[str, Any]]:
    """The sessions DescribeSessions shows with Owner = ``owner`` (an IAM ARN), by session id."""
    return {session["SessionId"]: session for session in owned_sessions(ssm, owner)}


def recheck(
    item: Evidence, ssm: Any, s3: Any, *, sessions: Mapping[str, dict[str, Any]] | None = None
) -> Recheck:
    """What AWS says today of one piece of a record's evidence (clients of someone allowed to look).

    ``sessions``: the learner's own sessions (:func:`sessions_of`); a session not among them does not hold.
    Without it, a session is looked up by its id alone, whoever owns it."""
    import botocore.exceptions

    if item.kind == "session":
        if sessions is not None:
            known = sessions.get(item.ref)
            if known is None:
                return Recheck(item, False, f"AWS knows no session {item.ref} of this learner")
            return _same_session(item, known)
        for state in ("Active", "History"):
            found = ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": item.ref}])
            for session in found.get("Sessions", []):
                return _same_session(item, session)
        return Recheck(item, False, f"AWS knows no session {item.ref}")
    if item.kind in ("s3_object", "session_log"):
        bucket, key = split_s3_url(item.ref)
        request = {"Bucket": bucket, "Key": key, **({"VersionId": item.version} if item.version else {})}
        try:
            head = s3.head_object(**request)
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            return Recheck(item, False, f"{item.ref} cannot be read: {code}")
        if item.etag and head.get("ETag") != item.etag:
            return Recheck(item, False, f"{item.ref} has changed since (ETag {head.get('ETag')})")
        return Recheck(item, True, f"{item.ref} is as recorded")
    if item.kind == "identity":
        return Recheck(item, None, f"{item.ref}: STS answered the learner's keys; nothing kept to look up")
    return Recheck(item, None, f"{item.kind} {item.ref}: only the learner's computer showed it")


def _same_session(item: Evidence, session: dict[str, Any]) -> Recheck:
    if item.at and iso(session["StartDate"]) != item.at:
        return Recheck(
            item, False, f"session {item.ref} started at {iso(session['StartDate'])}, not {item.at}"
        )
    return Recheck(item, True, f"session {item.ref} to {session.get('Target')}, as recorded")
