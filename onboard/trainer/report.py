"""`onboard trainer report`: the class at a glance, each step re-graded from what AWS keeps.

Every learner's published record (``s3://<transfer bucket>/onboard/progress/<user>.json``, written by
``onboard lesson publish``) is read with the trainer's profile, and each step it claims is looked up again in
AWS from the evidence it names (:mod:`onboard.lessons.verifiers.recheck`): the learner's own sessions in
DescribeSessions, session logs and objects in S3 with their ETag and version. The record's own word counts
for nothing (:mod:`.report_grading`): a claimed step whose evidence AWS does not show is *claimed, not
verified*, with the reason; a record edited by hand (a broken seal, points its hints and retries do not
leave) is flagged, and its points are what onboard would have given. A learner on the class list without a
record is *not started*; a record that cannot be read is a row with the reason.

The look-ups run in a thread pool over one S3 and one SSM client (botocore clients are thread-safe; they
are made up front, before the pool starts). A :class:`Report` keeps what it looked up: a re-run (``--watch``)
reads again only the records whose ETag changed and looks up only evidence it has not seen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from onboard.classroom import Learner
from onboard.errors import OnboardError
from onboard.lessons.progress import parse_stamp, stamp, utcnow
from onboard.lessons.verifiers.base import Evidence
from onboard.lessons.verifiers.recheck import Recheck, listed_etags, recheck, sessions_of, sessions_since
from onboard.lessons.verifiers.sessions import split_s3_url
from onboard.trainer.policy import PROGRESS_PREFIX
from onboard.trainer.report_grading import (
    ClassReport,
    LearnerRow,
    LearnerState,
    RecordError,
    StepColumn,
    grade_learner,
    owner_arn,
    parse_record,
)

#: Look-ups in flight at once (each worker waits on AWS, not on the CPU).
WORKERS = 24
#: A folder is listed when a run needs at least this many of its objects, and then for at most one page
#: (1000 keys) per this many: a listing never costs more calls than the HeadObjects it replaces.
BULK_OBJECTS = 20
#: The whole class's sessions are fetched at once when at least this many learners' records name some.
BULK_SESSIONS = 5


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Listed:
    name: str
    key: str
    etag: str


def learner_of(key: str) -> str | None:
    """The IAM user name a record's key names (``onboard/progress/<user>.json``), else None."""
    rest = key[len(PROGRESS_PREFIX) :]
    return rest[: -len(".json")] if rest.endswith(".json") and "/" not in rest and len(rest) > 5 else None


def list_records(s3: Any, bucket: str) -> list[Listed]:
    """Every record under the progress prefix, with its ETag (one ListObjectsV2 page per 1000)."""
    found: list[Listed] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PROGRESS_PREFIX):
        for item in page.get("Contents", []):
            name = learner_of(item["Key"])
            if name:
                found.append(Listed(name, item["Key"], item["ETag"]))
    return found


# -------------------------------------------------------------------------------------- looking up


class Lookups:
    """The look-ups in AWS one report (and every refresh of ``--watch``) shares, each made once.

    Sessions are fetched for the class at once (:meth:`prefetch`) or per learner (DescribeSessions with
    their ARN as Owner), again only when their record changed; S3 evidence once per object and version,
    from a folder's listing where :meth:`prefetch` made one, else with HeadObject.
    """

    def __init__(self, s3: Any, ssm: Any):
        self.s3, self.ssm = s3, ssm
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str | None, str | None], Recheck] = {}
        self._sessions: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._etags: dict[tuple[str, str], str | None] = {}
        self.count = 0

    def _counted(self) -> None:
        with self._lock:
            self.count += 1

    def prefetch(self, records: Sequence[tuple[str, str, dict[str, Any]]], pool: Executor) -> None:
        """Look up in bulk what many records name, where that is cheaper than one by one: the sessions of
        everyone since the oldest recorded one (a few pages of DescribeSessions instead of two calls per
        learner), and a folder's objects by listing it (ListObjectsV2 pages instead of a HeadObject each),
        each of these in ``pool`` at once. ``records``: (owner ARN, record ETag, record) read this run."""
        sessions: dict[tuple[str, str], list[str]] = {}
        objects: dict[tuple[str, str], list[str]] = {}
        for owner, etag, record in records:
            for item in _evidence(record):
                if item.get("kind") == "session":
                    sessions.setdefault((owner, etag), []).append(str(item.get("at") or ""))
                elif item.get("kind") in ("s3_object", "session_log") and not item.get("version"):
                    bucket, key = split_s3_url(str(item.get("ref", "")))
                    folder = key.split("/", 1)[0] + "/" if "/" in key else ""
                    objects.setdefault((bucket, folder), []).append(key)
        jobs = [pool.submit(self._sessions_in_bulk, sessions)]
        jobs += [
            pool.submit(self._objects_in_bulk, bucket, folder, keys)
            for (bucket, folder), keys in objects.items()
            if len(keys) >= BULK_OBJECTS
        ]
        for job in jobs:
            job.result()

    def _objects_in_bulk(self, bucket: str, folder: str, keys: list[str]) -> None:
        import botocore.exceptions

        self._counted()
        try:
            found, complete = listed_etags(self.s3, bucket, folder, max(1, len(keys) // BULK_OBJECTS))
        except botocore.exceptions.ClientError:
            return  # not allowed to list that bucket: each object is looked up on its own
        with self._lock:
            for key in keys:
                if key in found or complete:
                    self._etags[(bucket, key)] = found.get(key)

    def _sessions_in_bulk(self, wanted: dict[tuple[str, str], list[str]]) -> None:
        import botocore.exceptions

        times = [at for ats in wanted.values() for at in ats]
        if len(wanted) < BULK_SESSIONS or not times or not all(times):
            return
        since = (parse_stamp(min(times)) or utcnow()) - timedelta(minutes=1)
        self._counted()
        try:
            by_owner = sessions_since(self.ssm, stamp(since) or "")
        except botocore.exceptions.ClientError:
            return  # each learner's sessions are asked for on their own
        with self._lock:
            for owner, etag in wanted:
                self._sessions[(owner, etag)] = by_owner.get(owner, {})

    def sessions(self, owner: str, etag: str) -> dict[str, dict[str, Any]]:
        key = (owner, etag)
        with self._lock:
            known = self._sessions.get(key)
        if known is None:
            self._counted()
            known = sessions_of(self.ssm, owner)
            with self._lock:
                self._sessions = {k: v for k, v in self._sessions.items() if k[0] != owner}
                self._sessions[key] = known
        return known

    def check(self, item: Evidence, owner: str, etag: str) -> Recheck:
        if item.kind == "session":
            return recheck(item, self.ssm, self.s3, sessions=self.sessions(owner, etag))
        key = (item.kind, item.ref, item.version, item.etag)
        with self._lock:
            known = self._objects.get(key)
        if known is None:
            if item.kind in ("s3_object", "session_log") and (
                item.version or _where(item) not in self._etags
            ):
                self._counted()  # a HeadObject: not known from a listing
            known = recheck(item, self.ssm, self.s3, etags=self._etags)
            with self._lock:
                self._objects[key] = known
        return known

    def record(self, bucket: str, listed: Listed) -> bytes:
        self._counted()
        return self.s3.get_object(Bucket=bucket, Key=listed.key)["Body"].read()


# ------------------------------------------------------------------------------------------- the run


@dataclass
class Report:
    """The report's run: what to read and with which clients, and what earlier runs found (``--watch``)."""

    bucket: str
    account: str
    columns: tuple[StepColumn, ...]
    lookups: Lookups
    expected: tuple[Learner, ...] = ()
    workers: int = WORKERS
    #: Learner name -> (record ETag, the record's data or the reason it cannot be read).
    _records: dict[str, tuple[str, dict[str, Any] | str]] = field(default_factory=dict)

    def run(self, now: datetime | None = None) -> ClassReport:
        """Read the records (again only those changed since the last run) and grade every learner."""
        now = now or utcnow()
        before = self.lookups.count
        listed = {item.name: item for item in self._list()}
        changed = [item for name, item in listed.items() if self._records.get(name, ("",))[0] != item.etag]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for item, got in zip(changed, pool.map(self._read, changed), strict=True):
                self._records[item.name] = (item.etag, got)
            self.lookups.prefetch(
                [
                    (owner_arn(record, item.name, self.account), item.etag, record)
                    for item in changed
                    for record in [self._records[item.name][1]]
                    if isinstance(record, dict)
                ],
                pool,
            )
            names = self._names(listed)
            rows = list(pool.map(lambda n: self._row(n, listed.get(n), now), names))
        for gone in set(self._records) - set(listed):
            del self._records[gone]
        return ClassReport(
            bucket=self.bucket,
            generated_at=now,
            columns=self.columns,
            learners=tuple(rows),
            max_score=sum(c.points for c in self.columns),
            lookups=self.lookups.count - before,
        )

    def _list(self) -> list[Listed]:
        import botocore.exceptions

        try:
            self.lookups._counted()
            return list_records(self.lookups.s3, self.bucket)
        except botocore.exceptions.ClientError as refused:
            raise listing_refused(refused, self.bucket) from None

    def _names(self, listed: dict[str, Listed]) -> list[str]:
        expected = [learner.name for learner in self.expected]
        return list(dict.fromkeys([*expected, *sorted(listed, key=str.lower)]))

    def _read(self, item: Listed) -> dict[str, Any] | str:
        import botocore.exceptions

        from onboard.secrets import scrub

        try:
            return parse_record(self.lookups.record(self.bucket, item), item.name)
        except RecordError as bad:
            return f"s3://{self.bucket}/{item.key}: {bad}"
        except botocore.exceptions.ClientError as refused:
            error = refused.response.get("Error", {})
            said = f"{error.get('Code')}: {scrub(error.get('Message', ''))}"
            return f"s3://{self.bucket}/{item.key} cannot be read: {said}"

    def _row(self, name: str, listed: Listed | None, now: datetime) -> LearnerRow:
        display = next((lr.display_name for lr in self.expected if lr.name == name), None) or None
        if listed is None:
            return LearnerRow(name, LearnerState.NOT_STARTED, display_name=display)
        etag, record = self._records[name]
        if isinstance(record, str):
            return LearnerRow(name, LearnerState.UNREADABLE, display_name=display, problem=record)
        owner = owner_arn(record, name, self.account)
        try:
            row = grade_learner(name, record, self.columns, lambda e: self.lookups.check(e, owner, etag), now)
        except (TypeError, ValueError, KeyError, AttributeError) as bad:
            # A record that parsed but holds values of the wrong kinds: a row with the reason, never a crash.
            problem = (
                f"s3://{self.bucket}/{listed.key}: the record cannot be read ({type(bad).__name__}: {bad})"
            )
            return LearnerRow(name, LearnerState.UNREADABLE, display_name=display, problem=problem)
        return replace(row, display_name=display)


def _where(item: Evidence) -> tuple[str, str]:
    return split_s3_url(item.ref)


def _evidence(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every piece of evidence a record's passed steps name, as written (unchecked tables)."""
    found = []
    for lesson in record.get("lessons", {}).values():
        for step in (lesson.get("steps") or {}).values() if isinstance(lesson, dict) else ():
            if (
                isinstance(step, dict)
                and step.get("status") == "passed"
                and isinstance(step.get("evidence"), list)
            ):
                found += [item for item in step["evidence"] if isinstance(item, dict)]
    return found


def listing_refused(refused: Any, bucket: str) -> OnboardError:
    error = refused.response.get("Error", {})
    code = error.get("Code", "")
    where = f"s3://{bucket}/{PROGRESS_PREFIX}"
    if code in ("AccessDenied", "AllAccessDisabled", "403"):
        return OnboardError(
            f"the trainer's profile may not list {where} ({code}): "
            "the report reads every learner's record there",
            f"Allow the trainer s3:ListBucket on arn:aws:s3:::{bucket} "
            f"(at least for the prefix {PROGRESS_PREFIX}) and s3:GetObject on "
            f"arn:aws:s3:::{bucket}/{PROGRESS_PREFIX}*, or name a profile that may (--profile).",
        )
    if code == "NoSuchBucket":
        return OnboardError(
            f"the transfer bucket {bucket} does not exist", "Check [transfer] bucket in the team file."
        )
    return OnboardError(f"{where} cannot be listed: {code}: {error.get('Message', '')}")


def course_columns(lessons: Iterable[Any]) -> tuple[StepColumn, ...]:
    """The graded steps of the course's lessons, in course order."""
    return tuple(
        StepColumn(lesson.id, step.id, step.title, step.points)
        for lesson in lessons
        for step in lesson.steps
        if step.points
    )


def open_report(
    team: Any, profile: str | None, expected: Sequence[Learner] = (), *, workers: int = WORKERS
) -> Report:
    """A report on ``team``'s class with the trainer's ``profile``: the course's steps, the clients (made
    here, before any thread uses them), the account (STS)."""
    from onboard.awsclient import ClientSettings, session
    from onboard.lessons.catalog import Course
    from onboard.lessons.format import fill
    from onboard.lessons.variables import lesson_variables

    if team.transfer is None:
        raise OnboardError(
            f"the team file {team.path} names no transfer bucket: the learners' records are published there",
            "Add a [transfer] table (bucket, prefix) to the team file.",
        )
    settings = ClientSettings.for_team(team, profile)
    from botocore.config import Config

    config = settings.botocore_config().merge(Config(max_pool_connections=workers))
    boto = session(settings)
    made = {
        name: boto.client(
            name, endpoint_url=settings.resolved_endpoint(), config=config, verify=settings.ca_bundle
        )
        for name in ("s3", "ssm", "sts")
    }
    with ThreadPoolExecutor(max_workers=1) as asking:
        account = asking.submit(_account, made["sts"], profile)  # STS answers while the lessons are read
        course = Course.from_settings(team.lessons.dir, team.lessons.select)
        columns = []
        for lesson in (course.lesson(header.id) for header in course.headers()):
            values = lesson_variables(team, lesson.instance, user=None, profile="", workdir=team.path.parent)
            columns += [replace(c, title=fill(c.title, values)) for c in course_columns([lesson])]
        account_id = account.result()
    return Report(
        bucket=team.transfer.bucket,
        account=account_id,
        columns=tuple(columns),
        lookups=Lookups(made["s3"], made["ssm"]),
        expected=tuple(expected),
        workers=workers,
    )


def _account(sts: Any, profile: str | None) -> str:
    import botocore.exceptions

    from onboard.secrets import scrub

    try:
        return str(sts.get_caller_identity()["Account"])
    except botocore.exceptions.ClientError as refused:
        error = refused.response.get("Error", {})
        raise OnboardError(
            f"AWS refused the trainer's keys (profile {profile or 'default'}): "
            f"{error.get('Code')}: {scrub(error.get('Message', ''))}",
            "Run `onboard doctor --profile PROFILE` for the trainer's profile, "
            "or name another with --profile.",
        ) from None
    except botocore.exceptions.BotoCoreError as failed:
        raise OnboardError(
            f"AWS could not be asked who the trainer is: {scrub(str(failed))}",
            "Check the profile's keys and your network (`onboard doctor`), then run the report again.",
        ) from None
