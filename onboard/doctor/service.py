"""One doctor run: check, then (with --fix) repair what the user agrees to, check again, and report both."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from onboard.doctor.context import DoctorContext, DoctorOptions
from onboard.doctor.model import Check, Finding, Group, Status
from onboard.errors import ExitCode, OnboardError

#: Bumped when a field of ``doctor --json``'s data changes meaning or disappears.
REPORT_VERSION = 1
#: Rounds of fix-then-check-again that --fix goes through at most.
MAX_FIX_ROUNDS = 3


class FixOutcome(str, Enum):
    APPLIED = "applied"
    DECLINED = "declined"
    FAILED = "failed"


#: The status a group shows: its worst finding's, in this order.
_WORST_FIRST = (Status.ERROR, Status.FAIL, Status.WARN, Status.OK, Status.SKIPPED)


@dataclass(frozen=True)
class GroupSummary:
    """One line of the report's summary: a group, its worst status, and how many findings of each status."""

    name: Group
    status: Status
    counts: dict[Status, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "status": self.status.value,
            "counts": {status.value: count for status, count in self.counts.items()},
        }


@dataclass(frozen=True)
class AppliedFix:
    check_id: str
    fix_id: str
    describe: str
    outcome: FixOutcome
    done: str = ""
    backups: tuple[str, ...] = ()
    then: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check_id,
            "fix": self.fix_id,
            "describe": self.describe,
            "outcome": self.outcome.value,
            "done": self.done,
            "backups": list(self.backups),
            "then": self.then,
        }


@dataclass
class Report:
    context: DoctorContext
    findings: list[Finding]
    #: The findings before fixes, when --fix applied any.
    before: list[Finding] | None = None
    fixes: list[AppliedFix] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        statuses = {finding.status for finding in self.findings}
        if statuses & {Status.FAIL, Status.ERROR}:
            return ExitCode.FAILURE
        if Status.WARN in statuses:
            return ExitCode.WARNINGS
        return ExitCode.OK

    def groups(self) -> list[GroupSummary]:
        """A summary per group that has findings, in the report's order (every finding is in one)."""
        summary = []
        for group in Group:
            members = [f for f in self.findings if f.group is group]
            if not members:
                continue
            counts = {status: n for status in Status if (n := sum(f.status is status for f in members))}
            worst = next(status for status in _WORST_FIRST if status in counts)
            summary.append(GroupSummary(group, worst, counts))
        return summary

    def to_dict(self) -> dict[str, Any]:
        ctx = self.context
        data: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "profile": ctx.profile,
            "profile_source": ctx.profile_source,
            "team": str(ctx.team.path) if ctx.team is not None else None,
            "targets": [{"alias": t.alias, "id": t.id} for t in ctx.targets],
            "status": {ExitCode.OK: "ok", ExitCode.WARNINGS: "warn"}.get(self.exit_code, "fail"),
            "groups": [group.to_dict() for group in self.groups()],
            "findings": [finding.to_dict() for finding in self.findings],
        }
        if self.before is not None:
            data["before"] = [finding.to_dict() for finding in self.before]
        if self.fixes:
            data["fixes"] = [fix.to_dict() for fix in self.fixes]
        return data


def diagnose(
    options: DoctorOptions,
    *,
    environ: Mapping[str, str] | None = None,
    checks: Callable[[DoctorContext], Sequence[Check]] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> tuple[DoctorContext, list[Finding]]:
    """Run every check once. ``checks`` replaces the standard list (tests, scripts with their own checks)."""
    from onboard.doctor.checks import build_checks
    from onboard.doctor.runner import run_checks

    ctx = DoctorContext.create(options, environ)
    chosen = (checks or build_checks)(ctx)
    if checks is None:
        ctx.warm_up()
    return ctx, run_checks(chosen, ctx, timeout=options.timeout, on_finding=on_finding)


def run_doctor(
    options: DoctorOptions | None = None,
    *,
    fix: bool = False,
    confirm: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] | None = None,
    checks: Callable[[DoctorContext], Sequence[Check]] | None = None,
) -> Report:
    """Check; with ``fix``, offer each fix to ``confirm`` (default: yes to all), then check again."""
    options = options or DoctorOptions()
    ctx, findings = diagnose(options, environ=environ, checks=checks)
    if not fix:
        return Report(ctx, findings)
    confirm = confirm or (lambda _question: True)
    before, applied = findings, []
    offered: set[str] = set()
    # A fix can reveal the next problem (a fresh install whose folder is not on PATH): a few rounds at most.
    for _round in range(MAX_FIX_ROUNDS):
        round_fixes = []
        for finding in findings:
            if finding.fix is None or finding.status is Status.OK or finding.fix.id in offered:
                continue
            offered.add(finding.fix.id)
            round_fixes.append(_apply(finding, confirm))
        applied += round_fixes
        if not any(item.outcome is FixOutcome.APPLIED for item in round_fixes):
            break
        ctx, findings = diagnose(options, environ=environ, checks=checks)
    if findings is before:
        return Report(ctx, findings, fixes=applied)
    return Report(ctx, findings, before=before, fixes=applied)


def _apply(finding: Finding, confirm: Callable[[str], bool]) -> AppliedFix:
    fix = finding.fix
    assert fix is not None
    if not confirm(fix.describe):
        return AppliedFix(finding.check_id, fix.id, fix.describe, FixOutcome.DECLINED)
    try:
        result = fix.apply()
    except OnboardError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return AppliedFix(finding.check_id, fix.id, fix.describe, FixOutcome.FAILED, f"{error.message}{hint}")
    except OSError as error:
        return AppliedFix(
            finding.check_id, fix.id, fix.describe, FixOutcome.FAILED, f"{error.strerror or error}"
        )
    return AppliedFix(
        finding.check_id, fix.id, fix.describe, FixOutcome.APPLIED, result.done, result.backups, result.then
    )
