"""`onboard lesson ...` as a learner types it, against the lab: text, --json, exit codes, the shell."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
from fixtures_lessons import LEARNER, lab, lab_server, learner

from helpers import run_onboard
from onboard.lessons.progress import ProgressStore

__all__ = ["lab", "lab_server", "learner"]

pytestmark = pytest.mark.slow


def _progress_files(home) -> list:
    return list((home / ".local" / "share" / "onboard" / "lessons").glob("progress-*.json"))


def test_a_step_is_shown_hinted_checked_and_skipped_with_points_kept(learner):
    listed = run_onboard("lesson", "list")
    assert listed.exit_code == 0, listed.output
    assert "2. connect" in listed.stdout and "0/30 points, not started" in listed.stdout

    started = run_onboard("lesson", "start", "connect", "--json").json()
    assert started["command"] == "lesson.start" and started["ok"]
    step = started["data"]
    jupyter = learner.lab.instances["jupyter"]
    assert step["step"] == 1 and step["steps"] == 3
    assert step["commands"][0] == {
        "where": "local",
        "lines": [f"aws ssm start-session --target {jupyter} --profile ssm"],
    }
    assert "{{" not in step["instructions"]

    failed = run_onboard("lesson", "check")
    assert failed.exit_code == 1
    assert "FAIL a session of yours to" in failed.stdout and f"--target {jupyter}" in failed.stdout

    offered = run_onboard("lesson", "hint")  # no terminal to ask on: the cost, and how to take it
    assert offered.exit_code == 0 and "costs 4 of the 14 points left" in offered.stdout
    assert "onboard lesson hint --yes" in offered.stdout
    hint = run_onboard("lesson", "hint", "--yes", "--json").json()["data"]
    assert jupyter in hint["hint"] and hint["hints_left"] == 1 and hint["cost"] == 4
    refused = run_onboard("lesson", "next")
    assert refused.exit_code == 2 and "is not done yet" in refused.stderr

    skipped = run_onboard("lesson", "skip")
    assert skipped.exit_code == 0 and "Skipped start-a-session-and-look-around" in skipped.stdout
    assert "Step 2/3: End a session from outside" in skipped.stdout

    status = run_onboard("lesson", "status", "--json").json()["data"]
    assert status["user"] == LEARNER and status["current"]["step"] == 2
    steps = json.loads(_progress_files(learner.home)[0].read_text())["lessons"]["connect"]["steps"]
    first = steps["start-a-session-and-look-around"]
    assert (first["status"], first["hints"], first["failed_checks"], first["points"]) == ("skipped", 1, 1, 0)

    reset = run_onboard("lesson", "reset", "connect")
    assert reset.exit_code == 0 and "Reset: connect" in reset.stdout
    assert "0/30 points, not started" in run_onboard("lesson", "list").stdout


def test_resetting_the_whole_course_asks_first_and_keeps_a_backup(learner):
    assert learner.play("ready").passed
    refused = run_onboard("lesson", "reset")
    assert refused.exit_code == 2 and "forgets the whole course (ready)" in refused.stderr
    assert "--yes" in refused.stderr
    assert "15/15 points" in run_onboard("lesson", "list").stdout  # nothing was wiped
    done = run_onboard("lesson", "reset", "--yes", "--json")
    assert done.exit_code == 0, done.output
    backup = Path(done.json()["data"]["backup"])
    assert json.loads(backup.read_text())["lessons"]["ready"]["status"] == "completed"
    assert backup.stat().st_mode & 0o777 == 0o600
    assert "0/15 points, not started" in run_onboard("lesson", "list").stdout


def test_a_passed_step_has_nothing_to_hint(learner):
    runner = learner.runner()
    runner.start("ready")
    assert runner.check()["passed"]
    shown = run_onboard("lesson", "hint", "--yes")
    assert shown.exit_code == 0 and "Nothing to hint in this step: it is passed" in shown.stdout
    assert "Hint 0" not in shown.stdout
    steps = json.loads(_progress_files(learner.home)[0].read_text())["lessons"]["ready"]["steps"]
    assert steps["install-the-plugin"]["hints"] == 0


def test_the_practice_shell_has_the_profile_and_the_lab_and_a_check_passes_after_it(learner):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard", "lesson", "start", "connect", "--shell"],
        env={**os.environ, "SHELL": "/bin/bash", "PS1": "practice$ "},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect_exact("Practice shell")
        child.sendline("export PS1='practice$ '")
        child.expect_exact("practice$ ")
        child.sendline('echo "profile=$AWS_PROFILE dir=$PWD"')
        child.expect(r"profile=ssm dir=(\S+)")
        assert child.match.group(1).endswith("practice/data-team-ssm")
        child.sendline(f"aws ssm start-session --target {learner.lab.instances['jupyter']}")
        child.expect(r"Starting session with SessionId: (\S+)")
        child.expect_exact("sh-4.2$ ")
        child.sendline("whoami")
        child.expect_exact("sh-4.2$ ")
        child.sendline("exit")
        child.expect_exact("practice$ ")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    checked = run_onboard("lesson", "check", "--json")
    assert checked.exit_code == 0, checked.output
    data = checked.json()["data"]
    assert data["passed"] and data["points"] == 15 and len(data["verdicts"]) == 2


def test_a_finished_lesson_shows_its_summary_and_publishes_the_record(learner):
    played = learner.play("ready")
    assert played.passed
    published = run_onboard("lesson", "publish", "--json")
    assert published.exit_code == 0, published.output
    url = published.json()["data"]["url"]
    bucket = learner.lab.state.world.transfer_bucket
    assert url == f"s3://{bucket}/onboard/progress/{LEARNER}.json"
    record = json.loads(
        learner.lab.client("s3", "lab-admin")
        .get_object(Bucket=bucket, Key=f"onboard/progress/{LEARNER}.json")["Body"]
        .read()
    )
    assert record["user"] == LEARNER and record["lessons"]["ready"]["status"] == "completed"
    assert (
        record["course"]["points"] == 15
        and record["lessons"]["ready"]["steps"]["confirm-who-you-are"]["points"] == 5
    )
    assert "nonce" not in json.dumps(record)
    assert record["edited_by_hand"] == []
    who = record["lessons"]["ready"]["steps"]["confirm-who-you-are"]["evidence"]
    assert who == [{"kind": "identity", "ref": f"arn:aws:iam::{learner.lab.account}:user/{LEARNER}"}]
    status = run_onboard("lesson", "status")
    assert "ready: completed, 15/15 points" in status.stdout


def test_a_hand_edited_progress_file_is_published_as_edited(learner):
    assert learner.play("ready").passed
    path = _progress_files(learner.home)[0]
    data = json.loads(path.read_text())
    data["lessons"]["ready"]["steps"]["confirm-who-you-are"]["points"] = 999
    path.write_text(json.dumps(data))
    published = run_onboard("lesson", "publish", "--json")
    assert published.exit_code == 0, published.output
    edits = published.json()["data"]["edited_by_hand"]
    assert "ready/confirm-who-you-are: 999 points, above the step's maximum 5" in edits
    bucket = learner.lab.state.world.transfer_bucket
    record = json.loads(
        learner.lab.client("s3", "lab-admin")
        .get_object(Bucket=bucket, Key=f"onboard/progress/{LEARNER}.json")["Body"]
        .read()
    )
    assert record["edited_by_hand"] == edits
    again = json.loads(path.read_text())
    again["lessons"]["ready"]["steps"]["confirm-who-you-are"]["points"] = 5  # put back: still said
    path.write_text(json.dumps(again))
    assert any(
        "999 points" in e for e in run_onboard("lesson", "publish", "--json").json()["data"]["edited_by_hand"]
    )


def test_no_secret_reaches_output_or_the_progress_file(learner):
    key_id, secret = learner.lab.keys(LEARNER)
    outputs = [run_onboard("lesson", "start", "ready", "--json"), run_onboard("lesson", "check", "--json")]
    outputs.append(run_onboard("lesson", "status"))
    for ran in outputs:
        assert secret.reveal() not in ran.output
    stored = _progress_files(learner.home)[0].read_text()
    assert secret.reveal() not in stored and key_id not in stored


def test_lessons_need_a_team_file_and_a_lab_for_the_drill(learner, monkeypatch):
    monkeypatch.delenv("ONBOARD_TEAM")
    missing = run_onboard("lesson", "start", "connect")
    assert missing.exit_code == 2 and "team file" in missing.stderr and "--team" in missing.stderr
    assert run_onboard("lesson", "list").exit_code == 0  # listing needs no team file
    monkeypatch.setenv("XDG_STATE_HOME", str(learner.home / "no-lab"))
    no_lab = run_onboard("lesson", "start", "troubleshoot", "--team", str(learner.lab.team_file))
    assert no_lab.exit_code == 4 and "onboard lab up" in no_lab.stderr
    unknown = run_onboard("lesson", "start", "conect", "--team", str(learner.lab.team_file))
    assert unknown.exit_code == 2 and "Did you mean 'connect'" in unknown.stderr


def test_progress_is_kept_per_team_and_profile(learner):
    runner = learner.runner()
    runner.start("ready")
    assert ProgressStore("data-team", "ssm").load().current == "ready"
    assert ProgressStore("data-team", "other").load().current is None


def test_a_check_that_cannot_reach_aws_costs_no_points(learner):
    import dataclasses
    import socket

    runner = learner.runner()
    runner.start("connect")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        runner.settings = dataclasses.replace(
            runner.settings, endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}", read_timeout=1
        )
        checked = runner.check()
    assert not checked["passed"] and checked["unavailable"] and checked["failed_checks"] == 0
    assert all(verdict.get("unavailable") for verdict in checked["verdicts"])


def test_the_team_file_can_publish_every_finished_lesson(learner, tmp_path, monkeypatch):
    import dataclasses

    from onboard.lessons.scripted import play_course
    from onboard.team import dump_team, load_team

    team = load_team(learner.lab.team_file)
    publishing = dataclasses.replace(
        team, path=tmp_path / "team.toml", lessons=dataclasses.replace(team.lessons, publish=True)
    )
    (tmp_path / "team.toml").write_text(dump_team(publishing))
    monkeypatch.setenv("ONBOARD_TEAM", str(tmp_path / "team.toml"))
    admin_s3 = learner.lab.client("s3", "lab-admin")
    admin_s3.delete_object(Bucket=team.transfer.bucket, Key=f"onboard/progress/{LEARNER}.json")
    plays, course = play_course(learner.runner(), ["ready"], learner.env)
    assert plays[0].passed and course["points"] == 15 and course["lessons_completed"] == 1
    bucket = team.transfer.bucket
    record = json.loads(
        admin_s3.get_object(Bucket=bucket, Key=f"onboard/progress/{LEARNER}.json")["Body"].read()
    )
    assert record["lessons"]["ready"]["status"] == "completed"


TRAINERS_LESSON = """+++
id = "local-cmd"
title = "A trainer's lesson"
order = 20
minutes = 1
points = 10
+++

## Run something here

```check
points = 5

[[verify]]
kind = "command_output"
command = "echo ran >> marker.txt; echo fine"
expect = "fine"
```

## And again

```check
points = 5

[[verify]]
kind = "command_output"
command = "echo ran >> marker.txt; echo fine"
expect = "fine"
```
"""


def test_a_trainers_lesson_runs_local_commands_only_with_consent(learner, tmp_path):
    from onboard.errors import UsageError
    from onboard.lessons.runner import Runner

    folder = tmp_path / "trainer-lessons"
    folder.mkdir()
    (folder / "local-cmd.md").write_text(TRAINERS_LESSON)
    runner = Runner.open(lessons_dir=folder)
    runner.start("local-cmd")
    marker = runner.workdir / "marker.txt"
    with pytest.raises(UsageError, match="not one of onboard's own") as refused:
        runner.check()
    assert "echo ran >> marker.txt" in refused.value.message and "--allow-commands" in refused.value.hint
    assert not marker.exists()  # nothing ran
    assert runner.check(allow_commands=True)["passed"] and marker.read_text() == "ran\n"
    runner.next()
    again = Runner.open(lessons_dir=folder)  # consent kept for this lesson as it stands
    assert again.check()["passed"] and marker.read_text() == "ran\nran\n"
    (folder / "local-cmd.md").write_text(TRAINERS_LESSON.replace("echo fine", "echo fine; id"))
    changed = Runner.open(lessons_dir=folder)
    changed.reset("local-cmd")
    changed.start("local-cmd")
    with pytest.raises(UsageError, match="not one of onboard's own"):
        changed.check()  # the commands changed: asked again


def _on_a_terminal(*args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "onboard", *args],
        env=dict(os.environ),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )


def _answer(args: tuple[str, ...], question: str, answer: str) -> str:
    """Run the command on a terminal, wait for its question, answer it; what it printed after."""
    child = _on_a_terminal(*args)
    try:
        child.expect_exact(question)
        assert "Hint 1" not in child.before  # nothing is shown before the answer
        child.sendline(answer)
        child.expect(pexpect.EOF)
        return child.before
    finally:
        child.close(force=True)


def _hints_taken(home, lesson: str, step: str) -> int:
    return json.loads(_progress_files(home)[0].read_text())["lessons"][lesson]["steps"][step]["hints"]


def test_on_a_terminal_a_hint_says_what_it_costs_and_waits_for_a_yes(learner):
    jupyter = learner.lab.instances["jupyter"]
    learner.runner().start("connect")
    question = "This hint costs 4 of the 15 points left. Show it? [y/N]"
    declined = _answer(("lesson", "hint"), question, "n")
    assert jupyter not in declined and "Hint 1" not in declined
    assert _hints_taken(learner.home, "connect", "start-a-session-and-look-around") == 0
    taken = _answer(("lesson", "hint"), question, "y")
    assert "Hint 1 for step 1 (Start a session and look around) (cost 4 points):" in taken
    assert jupyter in taken
    assert _hints_taken(learner.home, "connect", "start-a-session-and-look-around") == 1


def test_on_a_terminal_resetting_the_whole_course_asks_and_no_keeps_it(learner):
    assert learner.play("ready").passed
    question = "Forget your progress in every lesson (ready)? [y/N]"
    kept = _answer(("lesson", "reset"), question, "n")
    assert "forgets the whole course (ready)" in kept and "--yes" in kept
    assert "15/15 points" in run_onboard("lesson", "list").stdout
    reset = _answer(("lesson", "reset"), question, "y")
    assert "Reset: ready." in reset and "Your progress before it is kept in" in reset
    assert "0/15 points, not started" in run_onboard("lesson", "list").stdout


def test_a_hand_edited_record_is_said_to_be_where_the_learner_reads_it(learner):
    assert learner.play("ready").passed
    path = _progress_files(learner.home)[0]
    data = json.loads(path.read_text())
    data["lessons"]["ready"]["steps"]["confirm-who-you-are"]["points"] = 999
    path.write_text(json.dumps(data))
    edit = "ready/confirm-who-you-are: 999 points, above the step's maximum 5"
    status = run_onboard("lesson", "status")
    assert status.exit_code == 0 and "Edited by hand (your trainer sees this):" in status.stdout
    assert edit in status.stdout
    assert run_onboard("lesson", "status", "--json").json()["data"]["edited_by_hand"] == [edit]
    published = run_onboard("lesson", "publish")
    assert published.exit_code == 0 and "Published your record to s3://" in published.stdout
    assert "published as edited by hand:" in published.stdout and edit in published.stdout
