"""The report's grading of one published record, and its CSV, without a lab: what each kind of record shows.

The look-up in AWS is the ``check`` that grade_learner is handed; here it answers from a table of what
"AWS" holds, so each rule shows on its own (the lab tests play the same end to end).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from onboard.lessons.progress import LessonRecord, Progress, StepRecord
from onboard.lessons.verifiers.recheck import Recheck
from onboard.trainer.report_grading import (
    ClassReport,
    LearnerRow,
    LearnerState,
    RecordError,
    StepColumn,
    StepState,
    grade_learner,
    owner_arn,
    parse_record,
)
from onboard.trainer.report_render import render_csv

COLUMNS = (StepColumn("connect", "start", "Start", 15), StepColumn("connect", "end", "End", 15))
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)
SESSION = {"kind": "session", "ref": "kim-0123456789abcdef0", "at": "2026-12-02T10:01:00Z"}


def _record(**steps: StepRecord) -> dict:
    """The record as ``lesson publish`` writes it, published right after its latest step activity (as each
    check publishes): the stamp publishing puts in is the clock's, which would make the timeline today's."""
    progress = Progress("t", "ssm", user="kim", arn="arn:aws:iam::123456789012:user/kim")
    progress.lessons["connect"] = LessonRecord(started_at="2026-12-02T10:00:00Z", steps=dict(steps))
    progress.seal()
    record = json.loads(json.dumps(progress.record()))
    times = [t for s in steps.values() for t in (s.began_at, s.finished_at, s.last_failure_at) if t]
    record["published_at"] = max(times, default="2026-12-02T10:00:00Z")
    return record


def _passed(**fields) -> StepRecord:
    base = {"status": "passed", "began_at": "2026-12-02T10:00:00Z", "finished_at": "2026-12-02T10:02:00Z"}
    return StepRecord(**{**base, "points": 15, "max_points": 15, "evidence": [SESSION], **fields})


def _aws(*known: str):
    def check(item) -> Recheck:
        if item.kind in ("local_file", "plugin", "profile", "command"):
            return Recheck(item, None, "only the learner's computer showed it")
        return Recheck(item, item.ref in known, "as recorded" if item.ref in known else f"no {item.ref}")

    return check


def _grade(record: dict, *known: str) -> LearnerRow:
    return grade_learner("kim", parse_record(json.dumps(record).encode(), "kim"), COLUMNS, _aws(*known), NOW)


def test_a_step_whose_evidence_holds_is_verified_and_counts():
    row = _grade(_record(start=_passed()), SESSION["ref"])
    assert (row.score, row.claimed_score, row.flags, row.edited) == (15, 15, (), False)
    assert row.steps[0].state is StepState.VERIFIED and row.seconds == 120


def test_a_step_whose_evidence_aws_does_not_show_is_claimed_not_verified():
    row = _grade(_record(start=_passed()))
    assert row.score == 0 and row.claimed_score == 15
    assert row.steps[0].state is StepState.UNVERIFIED and row.steps[0].reason == f"no {SESSION['ref']}"
    assert row.flags == (f"connect/start: claimed, not verified: no {SESSION['ref']}",)


def test_a_step_passed_on_the_learner_s_computer_only_is_shown_and_not_counted():
    local = {"kind": "plugin", "ref": "/home/kim/.local/bin/session-manager-plugin"}
    row = _grade(_record(start=_passed(evidence=[local])))
    assert row.steps[0].state is StepState.LOCAL and row.score == 0 and row.local_points == 15


def test_points_raised_in_the_record_count_as_onboard_grades_them():
    record = _record(start=_passed(hints=1, points=11))  # 1 hint: 11 of 15
    record["lessons"]["connect"]["steps"]["start"]["points"] = 15
    row = _grade(record, SESSION["ref"])
    assert row.edited and row.score == 11 and row.claimed_score == 15
    assert any("does not match its seal" in flag for flag in row.flags)


def test_a_version_2_record_s_seal_is_not_held_against_it():
    record = _record(start=_passed())
    record["version"] = 2
    record["lessons"]["connect"]["steps"]["start"]["seal"] = "sealed-over-the-nonce"
    row = _grade(record, SESSION["ref"])
    assert row.flags == () and row.score == 15


def test_a_failing_step_is_where_the_learner_is_stuck_with_the_check_s_words():
    failing = StepRecord(
        status="active",
        began_at="2026-12-02T10:05:00Z",
        failed_checks=2,
        max_points=15,
        last_failure="session ended: every session of yours was left from inside",
        last_failure_at="2026-12-02T10:20:00Z",
    )
    row = _grade(_record(start=_passed(), end=failing), SESSION["ref"])
    assert row.stuck is not None and (row.stuck.step, row.stuck.failed_checks) == ("end", 2)
    assert row.stuck.seconds(NOW) == 25 * 60 and "left from inside" in row.stuck.message
    assert row.steps[1].state is StepState.FAILING and row.last_activity == "2026-12-02T10:20:00Z"


def test_a_step_begun_long_ago_without_a_check_is_stuck_too_and_a_fresh_one_is_not():
    def active(began: datetime) -> StepRecord:
        return StepRecord(status="active", began_at=began.strftime("%Y-%m-%dT%H:%M:%SZ"), max_points=15)

    assert _grade(_record(end=active(NOW - timedelta(minutes=2)))).stuck is None
    stuck = _grade(_record(end=active(NOW - timedelta(minutes=11)))).stuck
    assert stuck is not None and stuck.message == "not checked yet"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"{not json", "not JSON"),
        (b'{"format": "something-else"}', "not an onboard progress record"),
        (b'{"format": "onboard-lesson-record", "version": 99}', "written by a newer onboard"),
        (
            b'{"format": "onboard-lesson-record", "version": 3, "user": "lee"}',
            "names the user 'lee', not 'kim'",
        ),
        (b'{"format": "onboard-lesson-record", "version": 3, "lessons": []}', "not tables of steps"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_record_that_is_not_one_says_why(body, said):
    with pytest.raises(RecordError, match=said):
        parse_record(body, "kim")


def test_a_step_of_the_wrong_kinds_is_flagged_not_a_crash():
    record = _record(start=_passed())
    record["lessons"]["connect"]["steps"]["start"]["points"] = "lots"
    row = _grade(record)
    assert row.flags == ("connect/start: the step cannot be read (points is not a whole number)",)


def test_another_user_s_arn_in_a_record_does_not_borrow_their_sessions():
    assert owner_arn({"arn": "arn:aws:iam::123456789012:user/ops/kim"}, "kim", "1") == (
        "arn:aws:iam::123456789012:user/ops/kim"
    )
    assert owner_arn({"arn": "arn:aws:iam::123456789012:user/lee"}, "kim", "123456789012") == (
        "arn:aws:iam::123456789012:user/kim"
    )


def test_the_csv_quotes_what_a_spreadsheet_would_run_as_a_formula():
    row = LearnerRow("=cmd", LearnerState.NOT_STARTED, display_name='@SUM(A1)+"x"')
    report = ClassReport("bucket", NOW, COLUMNS, (row,), 30)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert rows[0]["learner"] == "'=cmd" and rows[0]["display_name"] == '\'@SUM(A1)+"x"'
    assert rows[0]["connect/start"] == "not_started"
