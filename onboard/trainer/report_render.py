"""The trainer's report for people (a rich table, redrawn live with ``--watch``) and as CSV.

Both read the typed :class:`~onboard.trainer.report_grading.ClassReport`; ``--json`` prints its
``to_dict()`` in the JSON envelope and ``--html`` is :mod:`.report_html`. Learner names, display names and
messages are the learners' own words: rich markup in them is escaped, and a CSV cell that a spreadsheet
would run as a formula is quoted as text.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from onboard.output import escape
from onboard.trainer.report_grading import ClassReport, LearnerRow, LearnerState, StepState

if TYPE_CHECKING:
    from rich.console import RenderableType

#: One character and a colour per step state: the text report's heat map strip.
MARKS: dict[StepState, tuple[str, str]] = {
    StepState.VERIFIED: ("✔", "green"),
    StepState.LOCAL: ("✓", "cyan"),
    StepState.UNVERIFIED: ("!", "bold red"),
    StepState.FAILING: ("✘", "yellow"),
    StepState.ACTIVE: ("…", "blue"),
    StepState.SKIPPED: ("-", "dim"),
    StepState.NOT_STARTED: ("·", "dim"),
}
LEGEND = {
    StepState.VERIFIED: "verified in AWS",
    StepState.LOCAL: "passed on the learner's computer (nothing in AWS to look up)",
    StepState.UNVERIFIED: "claimed, not verified",
    StepState.FAILING: "failing",
    StepState.ACTIVE: "in progress",
    StepState.SKIPPED: "skipped",
    StepState.NOT_STARTED: "not started",
}


def duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def who(row: LearnerRow) -> str:
    return f"{row.name} ({row.display_name})" if row.display_name else row.name


def states(report: ClassReport, row: LearnerRow) -> list[StepState]:
    """The state of each of the course's steps for ``row``, in column order."""
    found = {f"{s.lesson}/{s.step}": s.state for s in row.steps}
    return [found.get(column.key, StepState.NOT_STARTED) for column in report.columns]


def report_view(report: ClassReport) -> RenderableType:
    """The whole report as one rich renderable (printed once, or redrawn by ``--watch``)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{len(report.learners)} learners, records at s3://{report.bucket}/onboard/progress/",
        caption=f"at {report.generated_at:%H:%M:%S} UTC; steps: "
        + " ".join(f"{MARKS[s][0]} {LEGEND[s]}" for s in StepState),
        caption_justify="left",
    )
    for name, justify in (("learner", "left"), ("score", "right"), ("steps", "left"), ("time", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("last activity")
    table.add_column("stuck / note", overflow="fold")
    for row in report.learners:
        strip = Text()
        for state in states(report, row):
            strip.append(*MARKS[state])
        score = f"{row.score}/{report.max_score}"
        if row.claimed_score != row.score:
            score += f" (claims {row.claimed_score})"
        table.add_row(
            Text(who(row)),
            score if row.state is LearnerState.READ else "-",
            strip,
            duration(row.seconds) if row.seconds else "-",
            (row.last_activity or "-").replace("T", " ").replace("Z", ""),
            Text(_note(report, row)),
        )
    parts: list[RenderableType] = [table]
    flagged = [row for row in report.learners if row.flags]
    if flagged:
        parts.append(Text("\nFlagged:", style="bold red"))
        for row in flagged:
            for flag in row.flags:
                parts.append(Text(f"  {who(row)}: {flag}"))
    return Group(*parts)


def _note(report: ClassReport, row: LearnerRow) -> str:
    if row.state is LearnerState.NOT_STARTED:
        return "not started (no record published)"
    if row.state is LearnerState.UNREADABLE:
        return f"record unreadable: {row.problem}"
    if row.stuck:
        stuck = row.stuck
        return (
            f"stuck on {stuck.lesson}/{stuck.step} for {duration(stuck.seconds(report.generated_at))}: "
            f"{stuck.message}"
        )
    return "edited by hand" if any("seal" in f or "points" in f for f in row.flags) else ""


def render_text(report: ClassReport) -> None:
    from onboard.output import console

    console().print(report_view(report))


#: A cell starting with one of these is a formula to a spreadsheet (CSV injection): it is quoted as text.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def render_csv(report: ClassReport) -> str:
    """One row per learner: the totals, where they are stuck, the flags, and each step's state."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "learner",
            "display_name",
            "status",
            "problem",
            "score",
            "max_score",
            "claimed_score",
            "seconds",
            "last_activity",
            "stuck_step",
            "stuck_seconds",
            "stuck_message",
            "flags",
            *(column.key for column in report.columns),
        ]
    )
    for row in report.learners:
        stuck = row.stuck
        writer.writerow(
            _cell(value)
            for value in (
                row.name,
                row.display_name,
                row.state.value,
                row.problem,
                row.score,
                report.max_score,
                row.claimed_score,
                row.seconds,
                row.last_activity,
                f"{stuck.lesson}/{stuck.step}" if stuck else None,
                stuck.seconds(report.generated_at) if stuck else None,
                stuck.message if stuck else None,
                "; ".join(row.flags),
                *(state.value for state in states(report, row)),
            )
        )
    return out.getvalue()


def note_html_written(path: str) -> None:
    from onboard.output import console

    console(stderr=True).print(f"Wrote the report page to {escape(path)}.")
