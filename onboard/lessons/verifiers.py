"""Verifiers: small rule objects that look at AWS (or the lab) and say whether a step was done.

A lesson's ``check`` block declares them as data (``kind = "session_started"`` plus fields); each kind
is one class here with the fields it takes and a :meth:`Verifier.run` that returns a :class:`Verdict`:
pass or fail, the evidence seen, and a fix hint. They use only public AWS APIs with the learner's own
profile, so they behave the same against AWS and the practice lab.

Kinds: session_started, session_ended, transcript_contains, s3_object, local_file, plugin_installed,
profile_configured, identity, command_output, and the combinators all / any.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from onboard.errors import OnboardError
from onboard.secrets import scrub

#: Clocks of this computer and AWS differ a little; a session "after the step began" may start this early.
CLOCK_SLACK = timedelta(seconds=5)
#: How long a verifier waits for AWS to catch up (a session moving to History, its log being written).
SETTLE_SECONDS = 6.0


@dataclass
class Verdict:
    """One check's result: what it looked for, whether it passed, what it saw, and how to fix it."""

    check: str
    passed: bool
    evidence: str
    hint: str = ""
    children: list[Verdict] = field(default_factory=list)
    #: The check could not look (AWS out of reach, no answer in time): not the learner's fault.
    unavailable: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "passed": self.passed, "evidence": self.evidence}
        if self.unavailable:
            data["unavailable"] = True
        data["hint"] = None if self.passed else self.hint or None
        if self.children:
            data["children"] = [child.to_dict() for child in self.children]
        return data


@dataclass
class CheckContext:
    """What verifiers need: how to reach AWS as the learner, when the step began, its nonce, the deadline."""

    settings: Any  # onboard.awsclient.ClientSettings
    began_at: datetime
    nonce: str
    workdir: Path
    arn: str | None = None
    user: str | None = None
    deadline: float = field(default_factory=lambda: time.monotonic() + 20)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        from onboard.awsclient import session

        with self._lock:
            if service not in self._clients:
                boto_session = session(self.settings)
                # Service models are static data: one loader for the whole process saves reading and
                # decoding them (half a second for ssm and s3) on every check the tour or a script runs.
                boto_session._session.register_component("data_loader", _model_loader())
                self._clients[service] = boto_session.client(
                    service,
                    region_name=self.settings.region,
                    endpoint_url=self.settings.resolved_endpoint(),
                    config=self.settings.botocore_config(),
                )
            return self._clients[service]

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def settle(
        self, attempt: Callable[[], Any], done: Callable[[Any], bool], seconds: float = SETTLE_SECONDS
    ):
        """Call ``attempt`` until ``done(result)`` or ``seconds`` (within the deadline) have passed."""
        stop = time.monotonic() + min(seconds, max(self.remaining() - 1, 0))
        result = attempt()
        while not done(result) and time.monotonic() < stop:
            time.sleep(0.2)
            result = attempt()
        return result


@lru_cache(maxsize=1)
def _model_loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


class Verifier:
    """One kind of check. Subclasses name their ``kind``, fields, and implement :meth:`run`."""

    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def run(self, context: CheckContext) -> Verdict:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


def _aws_failure(check: str, error: Exception) -> Verdict:
    """A verdict for an AWS call that failed: the service's words, scrubbed, and what to try."""
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        hint = "Run `onboard doctor` to find out what is wrong with your access."
        if "AccessDenied" in code:
            hint = "Your IAM policy does not allow this look; ask your trainer (the check needs it)."
        return Verdict(check, False, scrub(f"AWS answered {code}: {message}"), hint)
    if isinstance(error, OnboardError):
        return Verdict(check, False, scrub(error.message), error.hint or "")
    return Verdict(
        check,
        False,
        scrub(f"AWS could not be reached: {error}"),
        "Check your network (and proxy), then run the check again; `onboard doctor` can help.",
        unavailable=True,
    )


def _aws_errors() -> tuple[type[Exception], ...]:
    import botocore.exceptions

    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, OnboardError)


def _clock(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:%M:%S UTC")


# ---------------------------------------------------------------------------------------------- sessions


def learner_sessions(context: CheckContext) -> list[dict[str, Any]]:
    """The learner's sessions (Active and History) of this step, newest first.

    A session counts when it started after the step began (less a few seconds of clock difference) and had
    not already ended by then: one that started and ended in those few seconds belongs to the step before.
    """
    ssm = context.client("ssm")
    since = context.began_at - CLOCK_SLACK
    owner = [{"key": "Owner", "value": context.arn}] if context.arn else []
    found: dict[str, dict[str, Any]] = {}
    for state in ("Active", "History"):
        token = None
        while True:
            request: dict[str, Any] = {"State": state, "Filters": owner, "MaxResults": 200}
            if token:
                request["NextToken"] = token
            answer = ssm.describe_sessions(**request)
            for session in answer.get("Sessions", []):
                start, end = session.get("StartDate"), session.get("EndDate")
                ended_before = end is not None and end < context.began_at
                if start is not None and start >= since and not ended_before:
                    found.setdefault(session["SessionId"], session)
            token = answer.get("NextToken")
            if not token:
                break
    return sorted(found.values(), key=lambda s: s["StartDate"], reverse=True)


def _describe(session: dict[str, Any]) -> str:
    started = _clock(session["StartDate"])
    return f"{session['SessionId']} to {session.get('Target')} ({session.get('Status')}, started {started})"


def _no_session(check: str, context: CheckContext, target: str, elsewhere: str = "") -> Verdict:
    return Verdict(
        check,
        False,
        f"no session of yours to {target} since {_clock(context.began_at)}{elsewhere}",
        f"Start one with: aws ssm start-session --target {target} --profile {context.settings.profile}",
    )


def _wrong_targets(sessions: list[dict[str, Any]], target: str) -> str:
    others = sorted({s.get("Target", "?") for s in sessions if s.get("Target") != target})
    return f"; your sessions since then went to {', '.join(others)}" if others else ""


class SessionStarted(Verifier):
    kind = "session_started"
    required = ("target",)

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        check = f"a session of yours to {target} started after the step began"
        sessions = learner_sessions(context)
        mine = [s for s in sessions if s.get("Target") == target]
        if mine:
            return Verdict(check, True, f"session {_describe(mine[0])}")
        return _no_session(check, context, target, _wrong_targets(sessions, target))


ENDED_STATUSES = ("Terminated", "Terminating", "Failed")


class SessionEnded(Verifier):
    kind = "session_ended"
    required = ("target",)

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        check = f"a session of yours to {target} has ended"

        def mine() -> list[dict[str, Any]]:
            return [s for s in learner_sessions(context) if s.get("Target") == target]

        sessions = context.settle(mine, lambda found: any(s.get("Status") in ENDED_STATUSES for s in found))
        ended = [s for s in sessions if s.get("Status") in ENDED_STATUSES]
        if ended:
            return Verdict(check, True, f"session {_describe(ended[0])}")
        if sessions:
            return Verdict(
                check,
                False,
                f"session {_describe(sessions[0])} is still open",
                f"End it: type exit in it, or run aws ssm terminate-session --session-id "
                f"{sessions[0]['SessionId']} --profile {context.settings.profile}",
            )
        return _no_session(check, context, target)


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL: s3://, path-style or virtual-hosted https."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if parts.scheme == "s3":
        return parts.netloc, path
    host = parts.hostname or ""
    virtual = re.match(r"(.+)\.s3[.-]", host)
    if virtual and host.endswith(".amazonaws.com"):  # https://bucket.s3.region.amazonaws.com/key
        return virtual.group(1), path
    bucket, _, key = path.partition("/")
    return bucket, key


class TranscriptContains(Verifier):
    """The session log (Session Manager's S3 logging) shows the lines, in order."""

    kind = "transcript_contains"
    required = ("target", "patterns")
    optional = ("explain",)

    def run(self, context: CheckContext) -> Verdict:
        target = self.data["target"]
        patterns = [re.compile(p, re.MULTILINE) for p in self.data["patterns"]]
        explain = list(self.get("explain", []))
        check = f"the log of your session to {target} shows " + " then ".join(
            f"'{p.pattern}'" for p in patterns
        )
        everywhere: list[dict[str, Any]] = []

        def mine() -> list[dict[str, Any]]:
            everywhere[:] = learner_sessions(context)
            return [s for s in everywhere if s.get("Target") == target]

        # Wait only for a session that is ending (its log is written then), never for none at all.
        sessions = context.settle(mine, lambda found: not found or found[0].get("Status") in ENDED_STATUSES)
        if not sessions:
            return _no_session(check, context, target, _wrong_targets(everywhere, target))
        best: tuple[int, str, str] | None = None  # (patterns matched, session id, what is missing)
        for session in sessions:
            if session.get("Status") not in ENDED_STATUSES:
                continue
            text = self._transcript(context, session)
            matched, position = 0, 0
            for pattern in patterns:
                found = pattern.search(text, position)
                if found is None:
                    break
                matched, position = matched + 1, found.end()
            if matched == len(patterns):
                return Verdict(check, True, f"the log of {session['SessionId']} shows every line, in order")
            if best is None or matched > best[0]:
                best = (matched, session["SessionId"], patterns[matched].pattern)
        if best is None:
            open_session = sessions[0]
            return Verdict(
                check,
                False,
                f"session {_describe(open_session)} is still open; its log is written when it ends",
                "Finish the step in the session, then type exit to end it, and check again.",
            )
        matched, session_id, missing = best
        hint = explain[matched] if matched < len(explain) else "Type the commands of the step in the session."
        return Verdict(
            check, False, f"the log of {session_id} lacks '{missing}' (after {matched} found)", hint
        )

    def _transcript(self, context: CheckContext, session: dict[str, Any]) -> str:
        url = (session.get("OutputUrl") or {}).get("S3OutputUrl")
        if not url:
            raise _NoLog(f"session {session['SessionId']} has no S3 log (session logging is off)")
        bucket, key = split_s3_url(url)
        s3 = context.client("s3")
        import botocore.exceptions

        def fetch() -> bytes | None:
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except botocore.exceptions.ClientError as missing:
                if missing.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise

        body = context.settle(fetch, lambda found: found is not None)
        if body is None:
            raise _NoLog(f"the log of {session['SessionId']} is not in s3://{bucket}/{key} yet")
        return body.decode("utf-8", errors="replace").replace("\r\n", "\n")


class _NoLog(OnboardError):
    pass


# -------------------------------------------------------------------------------------------- files


class S3Object(Verifier):
    """An object in the bucket, under the learner's key, holding the step's nonce, written after it began."""

    kind = "s3_object"
    required = ("bucket", "key")
    optional = ("contains",)

    def run(self, context: CheckContext) -> Verdict:
        import botocore.exceptions

        bucket, key = self.data["bucket"], self.data["key"]
        contains = self.get("contains", context.nonce)
        check = f"s3://{bucket}/{key} holds {contains!r}, written after the step began"
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
            return _aws_failure(check, error)
        body = answer["Body"].read().decode("utf-8", errors="replace")
        modified = answer["LastModified"]
        if modified < context.began_at - CLOCK_SLACK:
            return Verdict(
                check,
                False,
                f"s3://{bucket}/{key} was written at {_clock(modified)}, before the step began"
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
        return Verdict(
            check,
            True,
            f"s3://{bucket}/{key}: {len(body)} bytes, written {_clock(modified)}, holds the nonce",
        )

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
                f"{path} was last written at {_clock(modified)}, before the step began",
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
        return Verdict(check, True, f"{path}: {len(text)} bytes, holds every expected text")


# ---------------------------------------------------------------------------------------- the set-up


class PluginInstalled(Verifier):
    kind = "plugin_installed"

    def run(self, context: CheckContext) -> Verdict:
        from onboard.plugin.status import plugin_status

        check = "the AWS CLI finds a current session-manager-plugin"
        status = plugin_status()
        if status.ok:
            return Verdict(check, True, f"{status.active_path} is version {status.active_version}")
        return Verdict(
            check, False, "; ".join(status.problems), "Run `onboard plugin install`, then check again."
        )


class ProfileConfigured(Verifier):
    """The profile exists in the AWS files (as botocore reads them) with a region and access keys."""

    kind = "profile_configured"
    optional = ("profile", "region")

    def run(self, context: CheckContext) -> Verdict:
        import boto3
        import botocore.exceptions

        profile = self.get("profile", context.settings.profile)
        check = f"the AWS profile {profile!r} has a region and access keys"
        fix = "Run `onboard setup` to write it."
        try:
            session = boto3.Session(profile_name=profile)
            credentials = session.get_credentials()
        except botocore.exceptions.ProfileNotFound:
            return Verdict(check, False, f"there is no profile {profile!r} in your AWS files", fix)
        except botocore.exceptions.BotoCoreError as broken:
            return Verdict(
                check, False, scrub(f"the AWS files cannot be read: {broken}"), "Run `onboard doctor`."
            )
        region = session.region_name
        if not region:
            return Verdict(check, False, f"the profile {profile!r} has no region", fix)
        wanted = self.get("region")
        if wanted and region != wanted:
            return Verdict(
                check, False, f"the profile {profile!r} uses {region}, the team uses {wanted}", fix
            )
        if credentials is None:
            return Verdict(check, False, f"the profile {profile!r} has no access keys", fix)
        key_id = credentials.access_key
        return Verdict(check, True, f"profile {profile!r}: region {region}, access key ...{key_id[-4:]}")


class IdentityIs(Verifier):
    """STS says who the profile's keys belong to (and, optionally, that it is the expected user)."""

    kind = "identity"
    optional = ("user",)

    def run(self, context: CheckContext) -> Verdict:
        from onboard.identity import check_identity

        user = self.get("user")
        check = f"AWS knows your keys{f' as {user}' if user else ''}"
        settings = context.settings
        found = check_identity(
            settings.profile,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            timeout=max(1.0, min(settings.read_timeout, context.remaining())),
        )
        if user and found.user_name != user:
            return Verdict(
                check,
                False,
                f"the keys belong to {found.arn}, not {user}",
                "Write your own access keys with `onboard setup`.",
            )
        return Verdict(check, True, f"you are {found.arn}")


class CommandOutput(Verifier):
    """A command run on this computer (with AWS_PROFILE set) exits as expected and prints the pattern."""

    kind = "command_output"
    required = ("command",)
    optional = ("expect", "exit", "explain")

    def run(self, context: CheckContext) -> Verdict:
        command = self.data["command"]
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(part) for part in command]
        shown = command if isinstance(command, str) else " ".join(argv)
        expect = self.get("expect")
        wanted_exit = self.get("exit", 0)
        check = f"`{shown}` exits {wanted_exit}" + (f" and prints {expect!r}" if expect else "")
        env = {**os.environ, "AWS_PROFILE": context.settings.profile}
        if context.settings.endpoint_url:
            env["AWS_ENDPOINT_URL"] = context.settings.endpoint_url
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=context.workdir,
                timeout=max(1.0, context.remaining()),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return Verdict(
                check, False, "the command gave no answer in time", "Check your network, then try again."
            )
        except OSError as error:
            return Verdict(
                check, False, f"the command cannot run: {error.strerror}", "Install what it needs."
            )
        output = scrub(done.stdout + done.stderr).strip()
        tail = " | ".join(output.splitlines()[-3:])[:300]
        exit_ok = done.returncode != 0 if wanted_exit == "nonzero" else done.returncode == wanted_exit
        hint = self.get("explain", "Do the step's commands, then check again.")
        if not exit_ok:
            return Verdict(check, False, f"it exited {done.returncode}: {tail}", hint)
        if expect and not re.search(expect, output, re.MULTILINE):
            return Verdict(check, False, f"its output lacks {expect!r}: {tail}", hint)
        return Verdict(check, True, f"exit {done.returncode}: {tail}")


# -------------------------------------------------------------------------------------- combinators


class AllOf(Verifier):
    kind = "all"
    required = ("of",)

    def run(self, context: CheckContext) -> Verdict:
        children = [run_verifier(build(item), context) for item in self.data["of"]]
        failed = [child for child in children if not child.passed]
        evidence = f"{len(children) - len(failed)} of {len(children)} passed"
        return Verdict("all of these", not failed, evidence, failed[0].hint if failed else "", children)


class AnyOf(Verifier):
    kind = "any"
    required = ("of",)

    def run(self, context: CheckContext) -> Verdict:
        children = []
        for item in self.data["of"]:
            children.append(run_verifier(build(item), context))
            if children[-1].passed:
                break
        passed = any(child.passed for child in children)
        hint = "" if passed else children[-1].hint
        return Verdict(
            "one of these",
            passed,
            f"{sum(c.passed for c in children)} of {len(children)} passed",
            hint,
            children,
        )


VERIFIERS: dict[str, type[Verifier]] = {
    kind.kind: kind
    for kind in (
        SessionStarted,
        SessionEnded,
        TranscriptContains,
        S3Object,
        LocalFile,
        PluginInstalled,
        ProfileConfigured,
        IdentityIs,
        CommandOutput,
        AllOf,
        AnyOf,
    )
}


def verifier_problems(data: Any) -> list[str]:
    """What is wrong with one ``[[verify]]`` table (for lint): unknown kind, missing or unknown fields."""
    if not isinstance(data, dict):
        return [f"a verifier is a table with a kind, not {data!r}"]
    kind = data.get("kind")
    if kind not in VERIFIERS:
        close = difflib.get_close_matches(str(kind), list(VERIFIERS), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        return [f"unknown verifier kind {kind!r}{suggestion}; known: {', '.join(VERIFIERS)}"]
    verifier = VERIFIERS[kind]
    problems = [f"{kind} needs the field {name!r}" for name in verifier.required if name not in data]
    allowed = ("kind", *verifier.required, *verifier.optional)
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{kind} has no field {name!r}{suggestion}")
    if kind in ("all", "any"):
        items = data.get("of", [])
        if not isinstance(items, list) or not items:
            problems.append(f"{kind} needs a non-empty list: of = [{{kind = ...}}, ...]")
        else:
            for item in items:
                problems += verifier_problems(item)
    if kind == "transcript_contains" and "patterns" in data:
        for pattern in data["patterns"] if isinstance(data["patterns"], list) else [None]:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as bad:
                problems.append(f"transcript_contains: {pattern!r} is not a regular expression ({bad})")
    return problems


def build(data: dict[str, Any]) -> Verifier:
    return VERIFIERS[data["kind"]](data)


def run_verifier(verifier: Verifier, context: CheckContext) -> Verdict:
    """Run one verifier; an AWS failure is a failed verdict with its reason, never a traceback."""
    try:
        return verifier.run(context)
    except _aws_errors() as error:
        return _aws_failure(verifier.kind.replace("_", " "), error)


def run_checks(verify: list[dict[str, Any]], context: CheckContext, time_limit: float) -> list[Verdict]:
    """Every verifier of a step (placeholders filled), each within the step's time limit.

    Each runs in a daemon thread: one that has not answered by the deadline becomes a failed verdict
    and is left behind, so nothing hangs when AWS is out of reach.
    """
    context.deadline = time.monotonic() + time_limit
    verdicts: list[Verdict] = []
    for data in verify:
        verifier = build(data)
        box: list[Verdict] = []
        worker = threading.Thread(
            target=lambda v=verifier, into=box: into.append(run_verifier(v, context)), daemon=True
        )
        worker.start()
        worker.join(context.remaining())
        if box:
            verdicts.append(box[0])
        else:
            verdicts.append(
                Verdict(
                    verifier.kind.replace("_", " "),
                    False,
                    f"no answer within the time limit of {time_limit:.0f} s",
                    "AWS (or the lab) is out of reach: check your network and proxy, then check again.",
                    unavailable=True,
                )
            )
    return verdicts


# The daily-tools lesson's kinds register themselves (a module of their own: onboard.lessons.daily).
import onboard.lessons.daily  # noqa: E402, F401
