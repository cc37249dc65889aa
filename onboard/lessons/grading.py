"""Grading one step: run its checks, and turn the verdicts into the step's status, points and evidence.

A check that could not look (AWS out of reach) costs nothing; a wrong answer costs a retry (a tenth of
the step's points). A pass keeps the evidence every verdict rests on, for the record; a failure keeps
what the failing check saw (the trainer's report shows it beside a learner who is stuck).
"""

from __future__ import annotations

from typing import Any

from onboard.lessons.format import Step, fill_data
from onboard.lessons.progress import StepRecord, stamp, step_score, utcnow


def settled(lesson_status: str, step: Step, state: StepRecord) -> dict[str, Any] | None:
    """What `check` says of a step there is nothing (more) to check in, or None."""
    if lesson_status == "completed":
        return {"passed": True, "verdicts": [], "note": "the lesson is complete", "points": state.points}
    if not step.graded:
        return {"passed": True, "verdicts": [], "note": "nothing to check in this step", "points": 0}
    if state.status in ("passed", "skipped"):
        return {
            "passed": state.status == "passed",
            "verdicts": [],
            "note": f"already {state.status}",
            "points": state.points,
        }
    return None


def grade_step(step: Step, state: StepRecord, context: Any, values: dict[str, str]) -> dict[str, Any]:
    """Run the step's checks (placeholders filled) and record the outcome in ``state``."""
    from onboard.lessons.verifiers import run_checks

    verdicts = run_checks([fill_data(item, values) for item in step.verify], context, step.time_limit)
    passed = all(verdict.passed for verdict in verdicts)
    unavailable = any(v.unavailable for v in verdicts) and all(v.passed or v.unavailable for v in verdicts)
    if passed:
        state.status, state.finished_at = "passed", stamp(utcnow())
        state.points = step_score(step.points, state.hints, state.failed_checks)
        state.evidence = [item.to_dict() for verdict in verdicts for item in verdict.all_found()]
    elif not unavailable:
        state.failed_checks += 1
        state.failed(failure_message(next(v for v in verdicts if not v.passed)))
    return {
        "passed": passed,
        "verdicts": [verdict.to_dict() for verdict in verdicts],
        "points": state.points,
        "max_points": step.points,
        "failed_checks": state.failed_checks,
        "unavailable": unavailable,
    }


def failure_message(verdict: Any) -> str:
    """What a failed verdict saw, from its innermost failed check ("session started: no session ...")."""
    while verdict.children and any(not child.passed for child in verdict.children):
        verdict = next(child for child in verdict.children if not child.passed)
    return f"{verdict.check}: {verdict.evidence}"


def hint_cost(step: Step, state: StepRecord) -> int:
    """The points the next hint takes off what the step can still earn."""
    return step_score(step.points, state.hints, state.failed_checks) - step_score(
        step.points, state.hints + 1, state.failed_checks
    )
