"""Looking a record's evidence up in AWS again, without trusting the record (for the trainer's report).

Each :class:`~onboard.lessons.verifiers.base.Evidence` a passed step kept names something AWS keeps: a
session (DescribeSessions by its id: still there, to the same target, started at the same time) or an S3
object (HeadObject: the same ETag, and the same version where the bucket versions). Evidence that only the
learner's computer showed (files, commands, the profile) cannot be looked up, and is said to be.

A session is the learner's own only when DescribeSessions shows it with the learner as its Owner: the
report passes the learner's sessions (:func:`sessions_of`, two calls however many sessions the record
names; or, for a whole class, :func:`sessions_since`, a few pages for everyone's), so a record that names
someone else's session does not hold. Objects can likewise be looked up in bulk: :func:`listed_etags` reads a
folder's listing (ListObjectsV2 gives each key's ETag), and ``recheck(..., etags=)`` uses it instead of a
HeadObject per object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onboard.lessons.verifiers.base import Evidence, iso
from onboard.lessons.verifiers.sessions import described_sessions, owned_sessions, split_s3_url


@dataclass(frozen=True)
class Recheck:
    evidence: Evidence
    #: True: AWS still shows it as recorded; False: it does not; None: nothing in AWS to look up.
    holds: bool | None
    said: str


def sessions_of(ssm: Any, owner: str) -> dict[str, dict[str, Any]]:
    """The sessions DescribeSessions shows with Owner = ``owner`` (an IAM ARN), by session id."""
    return {session["SessionId"]: session for session in owned_sessions(ssm, owner)}


def sessions_since(ssm: Any, since: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Every session started since ``since`` (ISO; DescribeSessions' InvokedAfter), by Owner and id."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for session in described_sessions(ssm, [{"key": "InvokedAfter", "value": since}]):
        found.setdefault(session.get("Owner", ""), {})[session["SessionId"]] = session
    return found


def listed_etags(s3: Any, bucket: str, prefix: str, max_pages: int) -> tuple[dict[str, str], bool]:
    """The ETag of every key under ``prefix`` (ListObjectsV2, at most ``max_pages`` pages of 1000), and
    whether the listing is complete (then a key not in it is not in the bucket)."""
    etags: dict[str, str] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for number, page in enumerate(pages, start=1):
        etags.update({item["Key"]: item["ETag"] for item in page.get("Contents", [])})
        if number >= max_pages and page.get("IsTruncated"):
            return etags, False
    return etags, True


def recheck(
    item: Evidence,
    ssm: Any,
    s3: Any,
    *,
    sessions: Mapping[str, dict[str, Any]] | None = None,
    etags: Mapping[tuple[str, str], str | None] | None = None,
) -> Recheck:
    """What AWS says today of one piece of a record's evidence (clients of someone allowed to look).

    ``sessions``: the learner's own sessions (:func:`sessions_of`); a session not among them does not hold.
    Without it, a session is looked up by its id alone, whoever owns it. ``etags``: (bucket, key) -> ETag
    from a listing (:func:`listed_etags`), None for a key a complete listing does not have; an object of
    a version, or not in it, is asked for with HeadObject."""
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
        if etags is not None and not item.version and (bucket, key) in etags:
            listed = etags[(bucket, key)]
            if listed is None:
                return Recheck(item, False, f"{item.ref} cannot be read: NoSuchKey")
            return _same_object(item, listed)
        request = {"Bucket": bucket, "Key": key, **({"VersionId": item.version} if item.version else {})}
        try:
            head = s3.head_object(**request)
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            return Recheck(item, False, f"{item.ref} cannot be read: {code}")
        return _same_object(item, head.get("ETag"))
    if item.kind == "identity":
        return Recheck(item, None, f"{item.ref}: STS answered the learner's keys; nothing kept to look up")
    return Recheck(item, None, f"{item.kind} {item.ref}: only the learner's computer showed it")


def _same_session(item: Evidence, session: dict[str, Any]) -> Recheck:
    if item.at and iso(session["StartDate"]) != item.at:
        return Recheck(
            item, False, f"session {item.ref} started at {iso(session['StartDate'])}, not {item.at}"
        )
    return Recheck(item, True, f"session {item.ref} to {session.get('Target')}, as recorded")


def _same_object(item: Evidence, etag: str | None) -> Recheck:
    if item.etag and etag != item.etag:
        return Recheck(item, False, f"{item.ref} has changed since (ETag {etag})")
    return Recheck(item, True, f"{item.ref} is as recorded")
