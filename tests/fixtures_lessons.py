"""A learner in the practice lab for the lesson tests: ~/.aws, the lab plugin, the team file, a runner.

Import explicitly::

    from fixtures_lessons import lab, lab_server, learner  # noqa: F401

``learner`` sets up the learner ``carol`` in this test's home and
environment (in-process runner and the scripted learner's shells alike) and hands out a
:class:`LessonLearner`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_lab import RunningLab, lab, lab_server

from onboard.labplugin.launcher import write_launcher

__all__ = ["lab", "lab_server", "learner"]

LEARNER = "carol"


@dataclass
class LessonLearner:
    lab: RunningLab
    env: dict[str, str]
    home: Path

    def runner(self):
        from onboard.lessons.runner import Runner

        return Runner.open()

    def play(self, name: str, **options):
        from onboard.lessons.scripted import play_lesson

        return play_lesson(self.runner(), name, self.env, **options)


@pytest.fixture
def learner(lab: RunningLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path):
    env = lab.aws_env(isolated_home, LEARNER)
    plugin_dir = write_launcher(tmp_path / "lab-bin").parent
    # ~/.local/bin first: where `onboard plugin install` (lesson 1) puts the plugin it fetches from the lab.
    user_bin = isolated_home / ".local" / "bin"
    env["PATH"] = os.pathsep.join(
        [str(user_bin), str(plugin_dir), str(Path(sys.executable).parent), env["PATH"]]
    )
    env["ONBOARD_TEAM"] = str(lab.team_file)
    # The lab's state folder, so that `onboard lab fault clear` and the drill's set-up find the lab.
    env["XDG_STATE_HOME"] = lab.env["XDG_STATE_HOME"]
    for name in (
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
        "PATH",
        "ONBOARD_TEAM",
    ):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    _empty_learner_folder(lab)
    _after_the_last_session(lab)
    yield LessonLearner(lab, env, isolated_home)
    lab.clear_faults()
    _empty_learner_folder(lab)


def _empty_learner_folder(running: RunningLab) -> None:
    """Earlier tests' files would be the learner's "recent uploads": each test starts with none."""
    s3 = running.client("s3", "lab-admin")
    bucket = running.state.world.transfer_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"users/{LEARNER}/").get("Contents", [])
    for item in listed:
        s3.delete_object(Bucket=bucket, Key=item["Key"])


def check_context(running: RunningLab, workdir: Path, *, began_at=None, nonce: str = "nonce-0123abcd"):
    """A CheckContext as the runner builds it: the learner's profile ssm at the lab, their ARN."""
    from datetime import datetime, timezone

    from onboard.awsclient import ClientSettings
    from onboard.lessons.verifiers import CheckContext

    settings = ClientSettings(
        profile="ssm",
        region=running.region,
        endpoint_url=running.endpoint_url,
        read_timeout=8,
        max_attempts=1,
    )
    return CheckContext(
        settings=settings,
        began_at=began_at or datetime.now(timezone.utc),
        nonce=nonce,
        workdir=workdir,
        arn=f"arn:aws:iam::{running.account}:user/{LEARNER}",
        user=LEARNER,
    )


def _after_the_last_session(running: RunningLab) -> None:
    """Wait until the learner's newest session (an earlier test's) is older than the verifiers' clock slack.

    Checks accept sessions that started up to CLOCK_SLACK before a step began (clocks differ a little
    from AWS's); a session an earlier test started a moment ago would otherwise count for this test.
    """
    import time
    from datetime import datetime, timezone

    from onboard.lessons.verifiers import CLOCK_SLACK

    ssm = running.client("ssm", "lab-admin")
    owner = f"arn:aws:iam::{running.account}:user/{LEARNER}"
    newest = None
    for state in ("Active", "History"):
        for session in ssm.describe_sessions(State=state, Filters=[{"key": "Owner", "value": owner}])[
            "Sessions"
        ]:
            newest = max(newest or session["StartDate"], session["StartDate"])
    if newest is not None:
        wait = (newest + CLOCK_SLACK - datetime.now(timezone.utc)).total_seconds()
        time.sleep(max(0.0, wait + 0.5))
