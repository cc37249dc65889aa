"""Verifiers that look at files: objects in S3 (with their times, ETag and version) and files here.

An object's evidence is its key with the ETag and version id S3 gives it, and its LastModified time. With
``from_session``, the object must also have been written from a session on that server: an ended session
of the learner's to it whose time span holds the object's LastModified, and whose log shows, at a prompt
of the server's shell, the ``aws s3`` command that uploaded it (its ``upload: ... to s3://bucket/key``
line). A copy made from the learner's computer has no such session, whatever its content.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timezone
from pathlib import Path

from onboard.lessons.verifiers.base import (
    CLOCK_SLACK,
    CheckContext,
    Evidence,
    Verdict,
    Verifier,
    aws_failure,
    clock,
    iso,
)
from onboard.lessons.verifiers.sessions import (
    ENDED_STATUSES,
    NoLog,
    describe,
    learner_sessions,
    read_log,
    session_evidence,
)


class S3Object(Verifier):
    """An object in the bucket, under the learner's key, holding the step's nonce, written after it began."""

    kind = "s3_object"
    required = ("bucket", "key")
    optional = ("contains", "from_session")

    def run(self, context: CheckContext) -> Verdict:
        import botocore.exceptions

        bucket, key = self.data["bucket"], self.data["key"]
        contains = self.get("contains", context.nonce)
        target = self.get("from_session")
        what = "this step's word" if contains == context.nonce else repr(contains)
        check = f"s3://{bucket}/{key} holds {what}, written after the step began" + (
            f", from a session on {target}" if target else ""
        )
        s3 = context.client("s3")
        try:
            answer = s3.get_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return Verdict(
                    check,
                    False,
                    f"no object s3://{bucket}/{key}{self._near(context, bucket, key)}",
                    f"Copy the file to exactly s3://{bucket}/{key} (aws s3 cp FILE s3://{bucket}/{key})",
                )
            if code == "NoSuchBucket":
                return Verdict(
                    check,
                    False,
                    f"the bucket {bucket} does not exist",
                    "Check the bucket name in the command; `onboard lesson status` shows it.",
                )
            return aws_failure(check, error)
        body = answer["Body"].read().decode("utf-8", errors="replace")
        modified = answer["LastModified"]
        if modified < context.began_at - CLOCK_SLACK:
            return Verdict(
                check,
                False,
                f"s3://{bucket}/{key} was written at {clock(modified)}, before the step began"
                f"{self._near(context, bucket, key)}",
                f"Copy this step's file to exactly s3://{bucket}/{key} (the check wants this step's work).",
            )
        if contains not in body:
            return Verdict(
                check,
                False,
                f"s3://{bucket}/{key} ({len(body)} bytes) does not hold {contains!r}",
                "Put this step's nonce into the file, exactly as the instructions show, and copy it again.",
            )
        found = Evidence(
            "s3_object",
            f"s3://{bucket}/{key}",
            at=iso(modified),
            etag=answer.get("ETag"),
            version=answer.get("VersionId"),
        )
        seen = f"s3://{bucket}/{key}: {len(body)} bytes, written {clock(modified)}, holds the nonce"
        target = self.get("from_session")
        if not target:
            return Verdict(check, True, seen, found=[found])
        return uploaded_from(context, target, bucket, key, modified, seen, found)

    def _near(self, context: CheckContext, bucket: str, key: str) -> str:
        """What the learner wrote instead: recent objects under the same folder (their likely mistake)."""
        import botocore.exceptions

        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        try:
            listed = context.client("s3").list_objects_v2(Bucket=bucket, Prefix=folder, MaxKeys=200)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            return ""
        recent = [
            item["Key"]
            for item in listed.get("Contents", [])
            if item["LastModified"] >= context.began_at - CLOCK_SLACK
        ]
        if not recent:
            return f" (nothing new under s3://{bucket}/{folder} since the step began)"
        close = difflib.get_close_matches(key, recent, n=1, cutoff=0) or recent[:1]
        return f"; you wrote s3://{bucket}/{close[0]} instead"


def uploaded_from(
    context: CheckContext,
    target: str,
    bucket: str,
    key: str,
    modified: datetime,
    seen: str,
    found: Evidence,
) -> Verdict:
    """Pass when a session on ``target`` wrote s3://bucket/key: its window holds ``modified`` and its
    log shows the ``aws s3`` command at a prompt, with the CLI's ``upload: ... to s3://bucket/key``."""
    url = f"s3://{bucket}/{key}"
    check = f"{url} was uploaded from a session on {target}"
    sessions = [s for s in learner_sessions(context) if s.get("Target") == target]
    during = [
        s
        for s in sessions
        if s["StartDate"] - CLOCK_SLACK <= modified
        and (s.get("EndDate") is None or modified <= s["EndDate"] + CLOCK_SLACK)
    ]
    fix = (
        f"Upload it from the server: in a session on {target} (aws ssm start-session --target {target}), "
        f"run the step's aws s3 cp there."
    )
    if not during:
        where = f"; your sessions to {target}: {', '.join(describe(s) for s in sessions)}" if sessions else ""
        return Verdict(
            check,
            False,
            f"{seen}; but no session of yours to {target} was open at {clock(modified)}, when it was "
            f"written{where}: it was written from elsewhere",
            fix,
        )
    for session in during:
        if session.get("Status") not in ENDED_STATUSES:
            return Verdict(
                check,
                False,
                f"{seen}; session {describe(session)} is still open: its log is written when it ends",
                "Type exit in the session to end it, then check again.",
            )
        try:
            log = read_log(context, session)
        except NoLog as missing:
            return Verdict(check, False, f"{seen}; {missing.message}", "Ask your trainer: session logging.")
        for turn in log.turns:
            if turn.command.startswith("aws s3 ") and any(
                line.startswith("upload: ") and line.rstrip().endswith(f" to {url}")
                for line in turn.output.splitlines()
            ):
                return Verdict(
                    check,
                    True,
                    f"{seen}; uploaded in session {session['SessionId']} (line {turn.line} of its log)",
                    found=[found, session_evidence(session), log.evidence],
                )
    return Verdict(
        check,
        False,
        f"{seen}; but the log of {during[0]['SessionId']} shows no aws s3 command uploading it "
        f"at a prompt of the server",
        fix,
    )


class LocalFile(Verifier):
    """A file on this computer (relative paths: in the practice folder) holding the expected text."""

    kind = "local_file"
    required = ("path",)
    optional = ("contains",)

    def run(self, context: CheckContext) -> Verdict:
        path = context.workdir / Path(self.data["path"]).expanduser()
        expected = self.get("contains", [context.nonce])
        expected = [expected] if isinstance(expected, str) else list(expected)
        check = f"{path} holds " + " and ".join(repr(item) for item in expected)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        except FileNotFoundError:
            siblings = sorted(p.name for p in path.parent.glob("*")) if path.parent.is_dir() else []
            seen = f" (the folder holds: {', '.join(siblings[:8])})" if siblings else ""
            return Verdict(
                check, False, f"{path} does not exist{seen}", f"Download or write the file to exactly {path}."
            )
        except OSError as error:
            return Verdict(
                check, False, f"{path} cannot be read: {error.strerror}", "Check the file's permissions."
            )
        if modified < context.began_at - CLOCK_SLACK:
            return Verdict(
                check,
                False,
                f"{path} was last written at {clock(modified)}, before the step began",
                "Download the file again during this step.",
            )
        missing = [item for item in expected if item not in text]
        if missing:
            return Verdict(
                check,
                False,
                f"{path} ({len(text)} bytes) lacks {missing[0]!r}",
                "Do the step's commands again: the file must hold what the instructions say.",
            )
        found = Evidence("local_file", str(path), at=iso(modified), detail=f"{len(text)} bytes")
        return Verdict(check, True, f"{path}: {len(text)} bytes, holds every expected text", found=[found])


class Diagnosis(Verifier):
    """The learner's diagnosis, written in a file during the step, names one of the accepted answers
    (a lab fault's name, doctor's finding id): a whole word, in any case, and no other possible cause.

    A file that also names causes the step does not accept (every fault the lab can break, pasted from
    ``onboard lab fault list``; every finding id from ``onboard doctor --json``) is a list of guesses, not a
    diagnosis, and fails.
    """

    kind = "diagnosis"
    required = ("accepts",)
    optional = ("path", "says")

    def run(self, context: CheckContext) -> Verdict:
        path = context.workdir / Path(self.get("path", "diagnosis.txt")).expanduser()
        accepts = [str(item) for item in self.data["accepts"]]
        check = self.get("says") or f"your diagnosis in {path.name} names what is wrong"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
            modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        except OSError:
            return Verdict(
                check, False, f"{path} does not exist", f"Write what you found into {path}, then check."
            )
        if modified < context.began_at - CLOCK_SLACK:
            return Verdict(check, False, f"{path} was written before the step began", "Write it again now.")
        named = named_causes(text, accepts)
        right = [name for name in named if name.lower() in {answer.lower() for answer in accepts}]
        if right and len(right) == len(named):
            found = Evidence("local_file", str(path), at=iso(modified), detail=f"names {right[0]}")
            return Verdict(check, True, f"{path.name} names {right[0]}", found=[found])
        if len(named) > 1:
            return Verdict(
                check,
                False,
                f"{path.name} names {len(named)} possible causes ({', '.join(named[:8])}): a list of "
                "guesses, not a diagnosis",
                "Write only the one you found: the id of doctor's finding that explains what you saw, or "
                "the lab fault behind it.",
            )
        said = " ".join(text.split())[:80]
        return Verdict(
            check,
            False,
            f"{path.name} says {said!r}, which is not what is wrong",
            "Look again: `onboard doctor --json` gives each finding's id; `onboard lab fault list` names "
            "the faults the lab can break.",
        )


def named_causes(text: str, accepts: list[str]) -> list[str]:
    """The causes ``text`` names, as whole words, in the order first named: the accepted answers, the
    lab's faults and doctor's finding ids (its fixed checks', and ``targets.<alias>`` per server)."""
    import re

    from onboard.doctor.checks import config, credentials, environment, network, permissions, tools
    from onboard.labfaults import fault_names

    fixed = [
        check.id
        for module in (tools, config, environment, credentials, network, permissions)
        for check in module.CHECKS
    ]
    names = sorted({*accepts, *fault_names(), *fixed}, key=len, reverse=True)
    alternatives = [re.escape(name) for name in names] + [r"targets\.[a-z0-9][\w-]*"]
    pattern = re.compile(rf"(?<![\w.-])(?:{'|'.join(alternatives)})(?![\w-]|\.\w)", re.IGNORECASE)
    found: dict[str, None] = {}
    for match in pattern.finditer(text):
        found.setdefault(match.group(0).lower(), None)
    return list(found)
