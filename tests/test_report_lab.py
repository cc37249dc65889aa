"""`onboard trainer report` against a class in the lab: what each learner did, re-graded from AWS.

The class (tests/fixtures_report.py) is played once per module by the scripted learner with the real AWS
CLI; the report runs as the trainer would run it (``python -m onboard trainer report``, a real process).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from fixtures_report import DAN_DISPLAY, END, FORGED_SESSION, START, SWITCH, played_class

from helpers import run_onboard

__all__ = ["played_class"]

pytestmark = pytest.mark.slow

CONNECT_START, CONNECT_END, SUDO_SWITCH = f"connect/{START}", f"connect/{END}", f"sudo/{SWITCH}"


def _report(played, *args: str, user: str = "trainer", columns: int | None = None):
    env = played.report_env(user)
    if columns is not None:
        env = {**env, "COLUMNS": str(columns)}
    command = ("trainer", "report", "--class", str(played.class_csv), "--profile", "trainer", *args)
    return run_onboard(*command, env=env)


@pytest.fixture(scope="module")
def as_json(played_class):
    ran = _report(played_class, "--json")
    assert ran.exit_code == 0, ran.output
    body = ran.json()
    assert body["command"] == "trainer.report" and body["ok"]
    assert played_class.lab.keys("trainer")[1].reveal() not in ran.output  # the trainer's secret: never
    return {row["name"]: row for row in body["data"]["learners"]}


def _step(row: dict, key: str) -> dict:
    return next(step for step in row["steps"] if step["key"] == key)


def test_the_honest_learner_s_steps_are_verified_from_her_sessions(as_json, played_class):
    ann = as_json["ann"]
    assert ann["state"] == "read" and ann["flags"] == [] and ann["stuck"] is None
    assert [_step(ann, k)["state"] for k in (CONNECT_START, CONNECT_END)] == ["verified", "verified"]
    assert ann["score"] == ann["claimed_score"] == 30
    checks = _step(ann, CONNECT_START)["checks"]
    assert any(
        c["kind"] == "session" and c["ref"] == played_class.sessions["ann"] and c["holds"] for c in checks
    )
    assert ann["seconds"] > 0 and ann["last_activity"]


def test_a_hand_edited_record_is_flagged_and_counted_as_onboard_grades_it(as_json):
    ben = as_json["ben"]
    assert ben["claimed_score"] == 99 + 15 and ben["score"] == 30
    flags = " | ".join(ben["flags"])
    assert f"{CONNECT_START}: the record does not match its seal (edited by hand)" in flags
    assert "99 points, above the step's maximum 15" in flags
    assert _step(ben, CONNECT_START)["state"] == "verified"  # the work was done: the points were not


def test_a_step_claimed_on_someone_else_s_or_no_session_is_not_verified(as_json, played_class):
    cat = as_json["cat"]
    assert _step(cat, CONNECT_START)["state"] == "verified"
    end, switch = _step(cat, CONNECT_END), _step(cat, SUDO_SWITCH)
    assert end["state"] == switch["state"] == "claimed_not_verified"
    assert end["reason"] == f"AWS knows no session {played_class.sessions['ann']} of this learner"
    assert FORGED_SESSION in switch["reason"]
    assert cat["score"] == 15 and cat["claimed_score"] == 15 + 14 + 15
    assert any(f.startswith(f"{CONNECT_END}: claimed, not verified") for f in cat["flags"])
    assert not any("seal" in f for f in cat["flags"])  # the seals were recomputed: the evidence tells


def test_the_stuck_learner_shows_where_since_when_and_the_failing_check(as_json):
    dan = as_json["dan"]
    assert dan["display_name"] == DAN_DISPLAY
    stuck = dan["stuck"]
    assert stuck["lesson"] == "connect" and stuck["step"] == END and stuck["failed_checks"] == 1
    assert "was left from inside" in stuck["message"] and stuck["seconds"] >= 0
    assert _step(dan, CONNECT_END)["state"] == "failing" and dan["score"] == 15


def test_an_unreadable_record_and_a_learner_without_one_are_rows(as_json):
    assert as_json["eve"]["state"] == "unreadable" and "not JSON" in as_json["eve"]["problem"]
    assert as_json["fay"]["state"] == "not_started" and as_json["fay"]["steps"] == []
    assert list(as_json) == ["ann", "ben", "cat", "eve", "fay", "dan"]  # the class list's order


def test_the_text_report_shows_the_same(played_class):
    # Wide enough that no cell folds: at 80 columns, where a cell breaks depends on how long "stuck for" is.
    ran = _report(played_class, columns=200)
    assert ran.exit_code == 0, ran.output
    text = ran.stdout
    assert "30/" in text and "(claims 114)" in text
    assert f"on connect/{END} for " in text and "was left from inside" in text
    assert "not started" in text and "record unreadable" in text and "eve.json: not JSON" in text
    assert "edited by hand" in text and "2 claimed, not" in text
    assert f"{CONNECT_END}: claimed, not verified: AWS knows no session" in text
    assert f"{DAN_DISPLAY}): on connect/{END}" in text  # printed as text, not taken as markup


def test_the_csv_has_a_row_per_learner_with_each_step_s_state(played_class):
    ran = _report(played_class, "--csv")
    assert ran.exit_code == 0, ran.output
    rows = {row["learner"]: row for row in csv.DictReader(io.StringIO(ran.stdout))}
    assert rows["ann"]["score"] == "30" and rows["ann"][CONNECT_END] == "verified"
    assert rows["cat"][CONNECT_END] == "claimed_not_verified" and rows["dan"][CONNECT_END] == "failing"
    assert rows["dan"]["stuck_step"] == CONNECT_END and "was left from inside" in rows["dan"]["stuck_message"]
    assert rows["eve"]["status"] == "unreadable" and rows["fay"]["status"] == "not_started"
    assert "does not match its seal" in rows["ben"]["flags"]


def test_the_html_page_is_written_and_escapes_the_learners_words(played_class, tmp_path):
    page = tmp_path / "class.html"
    ran = _report(played_class, "--html", str(page))
    assert ran.exit_code == 0, ran.output
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "&lt;script&gt;" in text
    assert text.count('class="cell verified"') >= 4 and 'class="cell claimed_not_verified"' in text
    assert 'class="cell failing"' in text and "http" not in text.split("<body>")[0]


def test_a_trainer_profile_that_may_not_list_the_records_is_told_the_fix(played_class, tmp_path):
    iam = played_class.lab.client("iam", "lab-admin")
    iam.create_user(UserName="helper")
    try:
        iam.put_user_policy(
            UserName="helper",
            PolicyName="no-listing",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["sts:GetCallerIdentity", "ssm:Describe*"],
                            "Resource": "*",
                        },
                        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                    ],
                }
            ),
        )
        key = iam.create_access_key(UserName="helper")["AccessKey"]
        aws = tmp_path / "aws"
        aws.mkdir()
        (aws / "config").write_text(f"[profile trainer]\nregion = {played_class.lab.region}\n")
        (aws / "credentials").write_text(
            f"[trainer]\naws_access_key_id = {key['AccessKeyId']}\n"
            f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        )
        env = {
            **played_class.report_env(),
            "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        }
        ran = run_onboard("trainer", "report", "--profile", "trainer", env=env)
        assert ran.exit_code == 1, ran.output
        bucket = played_class.lab.state.world.transfer_bucket
        assert f"may not list s3://{bucket}/onboard/progress/ (AccessDenied)" in ran.stderr
        assert f"Allow the trainer s3:ListBucket on arn:aws:s3:::{bucket}" in ran.stderr
        assert "Traceback" not in ran.output and key["SecretAccessKey"] not in ran.output
    finally:
        for listed in iam.list_access_keys(UserName="helper")["AccessKeyMetadata"]:
            iam.delete_access_key(UserName="helper", AccessKeyId=listed["AccessKeyId"])
        iam.delete_user_policy(UserName="helper", PolicyName="no-listing")
        iam.delete_user(UserName="helper")


def _chromium_or_skip() -> str:
    import os
    import shutil

    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: scripts/test installs it (Debian package chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")


def _blobs(image, colour: str) -> int:
    """How many separate rectangles of exactly ``colour`` the screenshot shows (heat map cells, legend)."""
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    width, height = image.size
    pixels = image.load()
    seen: set[tuple[int, int]] = set()
    blobs = 0
    for y in range(height):
        for x in range(width):
            if (x, y) in seen or pixels[x, y] != rgb:
                continue
            stack, size = [(x, y)], 0
            seen.add((x, y))
            while stack:
                px, py = stack.pop()
                size += 1
                for nx, ny in ((px + 1, py), (px - 1, py), (px, py + 1), (px, py - 1)):
                    if (
                        0 <= nx < width
                        and 0 <= ny < height
                        and (nx, ny) not in seen
                        and pixels[nx, ny] == rgb
                    ):
                        seen.add((nx, ny))
                        stack.append((nx, ny))
            blobs += size >= 100  # a cell or the legend's square, not a stray pixel of text
    return blobs


def test_the_html_page_renders_in_a_browser_with_the_heat_map_a_person_sees(played_class, tmp_path):
    import subprocess

    from PIL import Image

    from onboard.trainer.report_grading import StepState
    from onboard.trainer.report_html import COLOURS

    chromium = _chromium_or_skip()
    page = tmp_path / "class.html"
    ran = _report(played_class, "--html", str(page))
    assert ran.exit_code == 0, ran.output
    shot = tmp_path / "class.png"
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    # Both at once: a screenshot of what a person sees, and the DOM as the page left it.
    screenshot = subprocess.Popen(
        [
            *common,
            "--force-device-scale-factor=1",
            "--window-size=1600,1400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], env=env, capture_output=True, text=True, timeout=60
    )
    assert screenshot.wait(timeout=60) == 0 and dom.returncode == 0
    assert "<title>Class report: 6 learners</title>" in dom.stdout  # no learner's script ran
    assert "&lt;script&gt;document.title=" in dom.stdout
    assert dom.stdout.count('class="cell ') == 6 * 17
    image = Image.open(shot).convert("RGB")
    # Each state's cells, plus its square in the legend: ann 2, ben 2, cat 1, dan 1 verified; cat's 2
    # claims not verified; dan's failing step.
    assert _blobs(image, COLOURS[StepState.VERIFIED]) == 6 + 1
    assert _blobs(image, COLOURS[StepState.UNVERIFIED]) == 2 + 1
    assert _blobs(image, COLOURS[StepState.FAILING]) == 1 + 1
    assert _blobs(image, COLOURS[StepState.NOT_STARTED]) == 6 * 17 - 9 + 1


def test_a_rerun_reads_only_the_records_that_changed(played_class, tmp_path):
    from onboard.team import find_team
    from onboard.trainer.report import open_report

    with pytest.MonkeyPatch.context() as mp:
        for name, value in played_class.report_env().items():
            if name.startswith("AWS_"):
                mp.setenv(name, value)
        report = open_report(find_team(played_class.lab.team_file), "trainer")
        first = report.run()
        again = report.run()
    assert first.lookups > 6 and again.lookups == 1  # the listing only: no record, no evidence again
    scores = [(row.name, row.score, row.claimed_score, row.flags) for row in first.learners]
    assert [(row.name, row.score, row.claimed_score, row.flags) for row in again.learners] == scores


def test_watch_redraws_as_records_change_and_ends_cleanly_on_ctrl_c(played_class):
    import sys

    import pexpect
    from fixtures_report import _learner_env, _upload

    env = {**played_class.report_env(), "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard", "trainer", "report", "--profile", "trainer", "--watch", "--interval", "1"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(60, 160),
    )
    eve_env = _learner_env(played_class.lab, played_class.root, "eve")
    try:
        child.expect("Unreadable:")
        _upload(
            played_class.lab,
            eve_env,
            "eve",
            json.dumps({"format": "onboard-lesson-record", "version": 3, "user": "eve", "lessons": {}}),
        )
        child.expect(r"eve\s*│\s*0/220")  # redrawn with eve's new record
        child.sendintr()
        child.expect("Stopped watching")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0 and "Traceback" not in (child.before or "")
    finally:
        child.close(force=True)
        _upload(played_class.lab, eve_env, "eve", "{this is not a record")
