"""A class in its own practice lab for the report's tests: learners who did different things, once per module.

``played_class`` starts a lab with the learners below and has each act as a learner would (the scripted
learner typing the lesson's commands into real terminals with the real AWS CLI and the lab plugin; records
published with `lesson publish`, or, for the cheats, uploaded with the real AWS CLI as the learner):

- ann does lesson ``connect`` honestly;
- ben does it honestly, then uploads his record with the first step's points raised (a hand edit);
- cat does the first step, then claims the second on evidence that is not hers (ann's session) and a
  ``sudo`` step on a session that does not exist, with the seals recomputed (a savvy cheat);
- dan leaves the session with ``exit`` where the step wants it ended from outside: stuck on it (his team
  file says ``publish = true``: each check publishes his record);
- eve's record is not JSON;
- fay is on the class list and has published nothing.

The module-scoped fixture isolates HOME, XDG and AWS_* itself (the per-test isolation runs after it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_lab import RunningLab, isolated_environment, start_lab, stop_lab

START = "start-a-session-and-look-around"
END = "end-a-session-from-outside"
SWITCH = "switch-to-target-user-and-come-back"
LEARNERS = ("ann", "ben", "cat", "dan", "eve", "fay")
DAN_DISPLAY = 'Dan <script>document.title="pwned"</script>'
FORGED_SESSION = 'cat-<script>alert("x")</script>'


@dataclass
class PlayedClass:
    lab: RunningLab
    root: Path
    class_csv: Path
    trainer_env: dict[str, str]
    sessions: dict[str, str]  # learner -> the id of the first session they opened

    def report_env(self, user: str = "trainer") -> dict[str, str]:
        env = self.lab.aws_env(self.root / f"home-{user}", user, profile="trainer")
        return {**self.trainer_env, **{k: v for k, v in env.items() if k.startswith("AWS_")}}


def _learner_env(lab: RunningLab, root: Path, name: str) -> dict[str, str]:
    from onboard.labplugin.launcher import write_launcher

    base = isolated_environment(root / name)
    env = {**base, **{k: v for k, v in lab.aws_env(Path(base["HOME"]), name).items() if k.startswith("AWS_")}}
    plugin_dir = write_launcher(root / name / "lab-bin").parent
    env["PATH"] = os.pathsep.join([str(plugin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    env["ONBOARD_TEAM"] = str(lab.team_file)
    env["XDG_STATE_HOME"] = lab.env["XDG_STATE_HOME"]
    return env


def _as(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Make this process's environment ``env``'s (the in-process runner reads AWS_* and XDG from it)."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "ONBOARD_", "XDG_")) and name not in env:
            mp.delenv(name)
    for name, value in env.items():
        if name.startswith(("AWS_", "ONBOARD_", "XDG_")) or name in ("HOME", "PATH", "NO_COLOR"):
            mp.setenv(name, value)


def _runner():
    from onboard.lessons.runner import Runner

    return Runner.open()


def _upload(lab: RunningLab, env: dict[str, str], name: str, body: str) -> None:
    """The learner puts a record of their own making in place, with the real AWS CLI."""
    import subprocess

    from fixtures_lab import AWS_CLI

    path = Path(env["HOME"]) / "record.json"
    path.write_text(body, encoding="utf-8")
    bucket = lab.state.world.transfer_bucket
    done = subprocess.run(
        [
            str(AWS_CLI),
            "s3",
            "cp",
            str(path),
            f"s3://{bucket}/onboard/progress/{name}.json",
            "--profile",
            "ssm",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _leaves_with_exit(env: dict[str, str]):
    """Lesson connect, its second step done wrong: the session left with exit, not ended from outside."""
    from onboard.lessons.scripted import play_lesson

    played = play_lesson(
        _runner(), "connect", env, edit=lambda where, line: None if "terminate-session" in line else line
    )
    assert [step.passed for step in played.steps] == [True, False]
    return played


def _first_session(play) -> str:
    return next(
        e["ref"] for v in play.steps[0].verdicts for e in v.get("found", []) if e["kind"] == "session"
    )


@pytest.fixture(scope="module")
def played_class(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlayedClass]:
    from onboard.lessons.progress import LessonRecord, StepRecord, step_score
    from onboard.lessons.scripted import play_lesson

    root = tmp_path_factory.mktemp("class")
    lab = start_lab(root / "lab", learners=LEARNERS)
    sessions: dict[str, str] = {}
    try:
        with pytest.MonkeyPatch.context() as mp:
            envs = {name: _learner_env(lab, root, name) for name in LEARNERS}

            _as(mp, envs["ann"])
            ann = play_lesson(_runner(), "connect", envs["ann"])
            assert ann.passed, ann
            sessions["ann"] = _first_session(ann)
            _runner().publish()

            _as(mp, envs["ben"])
            ben = play_lesson(_runner(), "connect", envs["ben"])
            assert ben.passed, ben
            record = _runner().progress.record()
            record["lessons"]["connect"]["steps"][START]["points"] = 99
            _upload(lab, envs["ben"], "ben", json.dumps(record))

            _as(mp, envs["cat"])
            cat = _leaves_with_exit(envs["cat"])
            sessions["cat"] = _first_session(cat)
            runner = _runner()
            end = runner.progress.lessons["connect"].steps[END]
            end.status, end.points = "passed", step_score(15, 0, end.failed_checks)
            end.finished_at, end.last_failure, end.last_failure_at = end.began_at, None, None
            end.evidence = [{"kind": "session", "ref": sessions["ann"], "at": end.began_at}]
            runner.progress.lessons["sudo"] = LessonRecord(
                status="completed",
                started_at=end.began_at,
                completed_at=end.began_at,
                steps={
                    SWITCH: StepRecord(
                        status="passed",
                        began_at=end.began_at,
                        finished_at=end.began_at,
                        points=15,
                        max_points=15,
                        evidence=[{"kind": "session", "ref": FORGED_SESSION, "at": end.began_at}],
                    )
                },
            )
            runner.progress.seal()
            runner.progress.edited_by_hand = []
            _upload(lab, envs["cat"], "cat", json.dumps(runner.progress.record()))

            # dan's team publishes after every check ([lessons] publish = true): no `lesson publish` needed.
            publishing = lab.team_file.with_name("team-publish.toml")
            publishing.write_text(lab.team_file.read_text().replace("publish = false", "publish = true"))
            envs["dan"]["ONBOARD_TEAM"] = str(publishing)
            _as(mp, envs["dan"])
            _leaves_with_exit(envs["dan"])

            _upload(lab, envs["eve"], "eve", "{this is not a record")

        class_csv = root / "class.csv"
        rows = [
            "name,display_name",
            *(f"{n}," for n in LEARNERS if n != "dan"),
            f'dan,"{DAN_DISPLAY.replace(chr(34), chr(34) * 2)}"',
        ]
        class_csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
        trainer_env = isolated_environment(root / "trainer")
        trainer_env["ONBOARD_TEAM"] = str(lab.team_file)
        yield PlayedClass(lab, root, class_csv, trainer_env, sessions)
    finally:
        stop_lab(lab)
