"""Running checks concurrently, each in its own thread with its own time limit, in dependency order.

A check starts as soon as every check it depends on has finished; if one of those did not pass (fail,
error or skipped), it is skipped with the reason. A check that raises an OnboardError becomes a ``fail``
finding (its message and hint); any other exception becomes an ``error`` finding, never a traceback. A
check still running at its time limit becomes an ``error`` finding and is abandoned: its thread is a
daemon thread, so it can neither hold up the report nor keep the process alive.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check, Finding, Status
from onboard.errors import OnboardError
from onboard.secrets import scrub


@dataclass
class _Running:
    check: Check
    started: float
    deadline: float


def run_checks(
    checks: Sequence[Check],
    context: DoctorContext,
    *,
    timeout: float,
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    """Every check's finding, in the order of ``checks``."""
    by_id = {check.id: check for check in checks}
    for check in checks:
        unknown = [name for name in check.depends_on if name not in by_id]
        if unknown:
            raise ValueError(f"check {check.id} depends on unknown checks {unknown}")
    findings: dict[str, Finding] = {}
    context.findings = findings
    running: dict[str, _Running] = {}
    changed = threading.Condition()

    def record(check: Check, finding: Finding) -> None:
        with changed:
            if check.id in findings:  # already timed out: the late answer is dropped
                return
            findings[check.id] = finding
            running.pop(check.id, None)
            changed.notify_all()
        if on_finding is not None:
            on_finding(finding)

    def work(check: Check, started: float) -> None:
        finding = _run_one(check, context)
        record(check, finding.placed(check, time.monotonic() - started))

    waiting = list(checks)
    with changed:
        while waiting or running:
            for check in list(waiting):
                if not all(name in findings for name in check.depends_on):
                    continue
                waiting.remove(check)
                blocked = [name for name in check.depends_on if not findings[name].status.passed]
                if blocked:
                    findings[check.id] = _skipped_for(check, [findings[name] for name in blocked])
                    changed.notify_all()
                    continue
                now = time.monotonic()
                limit = check.timeout if check.timeout is not None else timeout
                running[check.id] = _Running(check, now, now + limit)
                threading.Thread(
                    target=work, args=(check, now), name=f"doctor-{check.id}", daemon=True
                ).start()
            if any(all(name in findings for name in check.depends_on) for check in waiting):
                continue  # skipping a check may have unblocked others: look again before waiting
            now = time.monotonic()
            for item in list(running.values()):
                if now >= item.deadline:
                    running.pop(item.check.id)
                    findings[item.check.id] = _timed_out(item.check, now - item.started)
            if running:
                next_deadline = min(item.deadline for item in running.values())
                changed.wait(timeout=max(0.0, next_deadline - time.monotonic()) + 0.005)
    return [findings[check.id] for check in checks]


def _run_one(check: Check, context: DoctorContext) -> Finding:
    try:
        return check.run(context)
    except OnboardError as error:
        return Finding(Status.FAIL, error.message, next=error.hint)
    except Exception as crash:  # a bug in a check must not take the report down with it
        where = traceback.extract_tb(crash.__traceback__)[-1]
        return Finding(
            Status.ERROR,
            f"the check itself failed: {type(crash).__name__}: {scrub(str(crash))}",
            (f"raised at {Path(where.filename).name}:{where.lineno} in {where.name}",),
            next="This is a bug in onboard: please report it with this output.",
        )


_HOW_IT_ENDED = {Status.FAIL: "failed", Status.ERROR: "could not run", Status.SKIPPED: "was skipped"}


def _skipped_for(check: Check, blockers: list[Finding]) -> Finding:
    reasons = "; ".join(f"{b.title!r} {_HOW_IT_ENDED[b.status]}" for b in blockers)
    blocked_by = [b.check_id for b in blockers]
    return Finding(Status.SKIPPED, f"not checked: {reasons}", data={"blocked_by": blocked_by}).placed(
        check, 0.0
    )


def _timed_out(check: Check, seconds: float) -> Finding:
    return Finding(
        Status.ERROR,
        f"did not finish within {seconds:.1f} s",
        next="Run again with a longer --timeout, or check the network (a proxy or firewall that swallows "
        "connections makes checks hang).",
    ).placed(check, seconds)
