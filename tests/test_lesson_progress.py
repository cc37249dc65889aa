"""Progress and grading: points after hints and retries, summaries, the versioned file and its safety."""

from __future__ import annotations

import json

import pytest

from onboard.lessons.progress import (
    FORMAT,
    VERSION,
    LessonRecord,
    Progress,
    ProgressStore,
    StepRecord,
    published_step,
    step_score,
)


@pytest.mark.parametrize(
    ("points", "hints", "failed", "earned"),
    [
        (10, 0, 0, 10),
        (10, 1, 0, 8),
        (10, 0, 2, 8),
        (10, 2, 1, 4),
        (10, 4, 0, 0),
        (15, 1, 1, 10),
        (0, 1, 1, 0),
    ],
)
def test_hints_and_failed_checks_cost_points(points, hints, failed, earned):
    assert step_score(points, hints, failed) == earned


def _record() -> Progress:
    progress = Progress(team="data-team", profile="ssm", user="carol", arn="arn:aws:iam::1:user/carol")
    progress.lessons["connect"] = LessonRecord(
        status="completed",
        started_at="2026-01-01T10:00:00Z",
        completed_at="2026-01-01T10:12:30Z",
        steps={
            "start": StepRecord(
                "passed", "2026-01-01T10:00:00Z", "2026-01-01T10:04:00Z", "nonce-1", 1, 0, 8, 10
            ),
            "end": StepRecord(
                "skipped", "2026-01-01T10:04:00Z", "2026-01-01T10:05:00Z", "nonce-2", 0, 2, 0, 10
            ),
            "other": StepRecord(
                "passed", "2026-01-01T10:05:00Z", "2026-01-01T10:12:30Z", "nonce-3", 0, 0, 10, 10
            ),
        },
    )
    return progress


def test_summaries_add_up_points_time_hints_and_skips():
    summary = _record().lessons["connect"].summary()
    assert (summary["points"], summary["max_points"], summary["passed"], summary["skipped"]) == (18, 30, 2, 1)
    assert (summary["hints"], summary["failed_checks"], summary["seconds"]) == (1, 2, 750)
    course = _record().course_summary()
    assert course["lessons_completed"] == 1 and course["points"] == 18 and course["seconds"] == 750


def test_the_published_record_has_summaries_and_no_nonce():
    record = _record().record()
    assert record["format"] == "onboard-lesson-record" and record["user"] == "carol"
    start = record["lessons"]["connect"]["steps"]["start"]
    assert {key: start[key] for key in ("status", "points", "max_points", "hints", "failed_checks")} == {
        "status": "passed",
        "points": 8,
        "max_points": 10,
        "hints": 1,
        "failed_checks": 0,
    }
    assert start["seconds"] == 240 and start["began_at"] == "2026-01-01T10:00:00Z"
    assert "nonce" not in json.dumps(record)


def _evidenced() -> Progress:
    progress = _record()
    for step in progress.lessons["connect"].steps.values():
        if step.status == "passed":
            step.evidence = [{"kind": "session", "ref": "carol-0123456789abcdef0", "at": step.began_at}]
    return progress


def test_a_record_only_onboard_wrote_shows_no_hand_edit(tmp_path):
    store = ProgressStore("t", "ssm", tmp_path)
    store.save(_evidenced())
    loaded = store.load()
    assert loaded.edits() == []
    record = loaded.record()
    assert record["edited_by_hand"] == []
    assert record["lessons"]["connect"]["steps"]["start"]["evidence"][0]["ref"] == "carol-0123456789abcdef0"


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda step: step.update(points=999), "999 points, above the step's maximum 10"),
        (lambda step: step.update(hints=0), "does not match its seal"),
        (lambda step: step.update(evidence=[]), "does not match its seal"),
    ],
)
def test_a_hand_edited_record_is_detected_and_published_as_such(tmp_path, edit, said):
    store = ProgressStore("t", "ssm", tmp_path)
    store.save(_evidenced())
    data = json.loads(store.path.read_text())
    edit(data["lessons"]["connect"]["steps"]["start"])
    store.path.write_text(json.dumps(data))
    edits = store.load().edits()
    assert any(said in problem and problem.startswith("connect/start") for problem in edits), edits
    assert store.load().record()["edited_by_hand"] == edits


def test_points_that_hints_and_retries_do_not_leave_are_an_edit_even_with_a_new_seal(tmp_path):
    progress = _evidenced()
    progress.lessons["connect"].steps["start"].points = 10  # 1 hint taken: 8 at most
    progress.seal()  # whoever edits can recompute the seal; the arithmetic still tells
    assert any("1 hints and 0 failed checks leave 8" in p for p in progress.edits())


def test_a_pass_without_evidence_is_said_to_be():
    progress = _record()
    progress.seal()
    assert "connect/start: passed without any evidence" in progress.edits()


def test_the_file_round_trips_and_is_replaced_atomically(tmp_path):
    store = ProgressStore("data team/1", "ssm", tmp_path / "lessons")
    assert store.path.name == "progress-data_team_1-ssm.json"
    assert store.load().lessons == {}
    store.save(_record())
    data = json.loads(store.path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION == 3
    again = store.load()
    assert again.lessons["connect"].steps["start"].hints == 1 and again.user == "carol"
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]  # no temporary file left


@pytest.mark.parametrize(
    "content",
    ['{"format": "onboard-lesson-progress", "version": 99, "team": "t", "profile": "p"}', "{not json", "[]"],
)
def test_a_newer_or_damaged_file_is_kept_aside_not_overwritten(tmp_path, content):
    store = ProgressStore("t", "p", tmp_path / "lessons")
    store.path.parent.mkdir()
    store.path.write_text(content)
    fresh = store.load()
    assert fresh.lessons == {}
    kept = [p for p in store.path.parent.iterdir() if ".bad-" in p.name]
    assert len(kept) == 1 and kept[0].read_text() == content


def test_a_version_1_file_is_read_and_its_passes_kept_without_evidence(tmp_path):
    store = ProgressStore("t", "ssm", tmp_path)
    data = _record().to_dict()
    data["version"] = 1
    for step in data["lessons"]["connect"]["steps"].values():
        del step["evidence"], step["seal"], step["legacy"]
    store.path.write_text(json.dumps(data))
    loaded = store.load()
    assert loaded.lessons["connect"].steps["start"].legacy
    assert loaded.edits() == []


def _as_version_2(step: StepRecord, lesson: str, name: str) -> dict:
    """A step as onboard 2 wrote it: no failure fields, sealed over every field (the nonce too)."""
    import hashlib
    from dataclasses import asdict

    data = asdict(step)
    del data["last_failure"], data["last_failure_at"]
    sealed = {**data, "seal": None, "lesson": lesson, "step": name}
    data["seal"] = hashlib.sha256(json.dumps(sealed, sort_keys=True).encode()).hexdigest()
    return data


def test_a_version_2_file_keeps_its_intact_seals_and_still_shows_its_hand_edits(tmp_path):
    store = ProgressStore("t", "ssm", tmp_path)
    data = _evidenced().to_dict()
    data["version"] = 2
    steps = data["lessons"]["connect"]["steps"]
    for name in steps:
        steps[name] = _as_version_2(StepRecord(**{**steps[name], "seal": None}), "connect", name)
    steps["other"]["hints"] = 3  # edited after onboard 2 sealed it
    store.path.write_text(json.dumps(data))
    edits = store.load().edits()
    broken = [e for e in edits if "seal" in e]
    assert broken == ["connect/other: the record does not match its seal (edited by hand)"]


def test_the_published_record_s_seal_can_be_checked_without_the_nonce():
    progress = _evidenced()
    progress.seal()
    published = progress.record()["lessons"]["connect"]["steps"]["start"]
    assert published_step(published, VERSION).edits("connect", "start", 10) == []
    published["points"] = 9  # raised by hand, seal recomputed or not: both tell
    problems = published_step(published, VERSION).edits("connect", "start", 10)
    assert any("does not match its seal" in p for p in problems), problems
    assert any("1 hints and 0 failed checks leave 8" in p for p in problems), problems


def test_a_failed_check_is_kept_short_and_published():
    progress = _record()
    step = progress.lessons["connect"].steps["end"]
    step.failed("session ended: " + "x" * 500)
    assert len(step.last_failure) == 300 and step.last_failure.endswith("…") and step.last_failure_at
    published = progress.record()["lessons"]["connect"]["steps"]["end"]
    assert published["last_failure"] == step.last_failure
