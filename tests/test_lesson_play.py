"""End to end: a scripted learner plays each lesson in the lab with the real AWS CLI and the lab plugin."""

from __future__ import annotations

import pytest
from fixtures_lessons import lab, lab_server, learner, lesson_lab

__all__ = ["lab", "lab_server", "learner", "lesson_lab"]

pytestmark = pytest.mark.slow


def test_connect_passes_every_step(learner):
    played = learner.play("connect")
    assert played.passed, [(s.title, s.verdicts) for s in played.steps]
    assert played.summary["points"] == 30
