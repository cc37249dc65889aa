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
    from pathlib import Path

    from rich.console import RenderableType

    from onboard.trainer.report import Report

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
    """The whole report as one rich renderable (printed once, or redrawn by ``--watch``): the table, then
    who is stuck (with the failing check's words), the flags and the records that cannot be read."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{len(report.learners)} learners, records at s3://{report.bucket}/onboard/progress/",
        caption=f"at {report.generated_at:%H:%M:%S} UTC; steps: "
        + " ".join(f"{MARKS[s][0]} {LEGEND[s]}" for s in StepState),
        caption_justify="left",
    )
    table.add_column("learner", max_width=40, overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("steps", no_wrap=True)
    table.add_column("time", justify="right")
    table.add_column("last activity")
    table.add_column("status", overflow="fold")
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
            Text(status(report, row)),
        )
    parts: list[RenderableType] = [table]
    sections = (
        ("Stuck", "bold yellow", [(row, stuck_line(report, row)) for row in report.learners if row.stuck]),
        ("Flagged", "bold red", [(row, flag) for row in report.learners for flag in row.flags]),
        ("Unreadable", "bold red", [(row, row.problem or "") for row in report.learners if row.problem]),
    )
    for title, style, lines in sections:
        if lines:
            parts.append(Text(f"\n{title}:", style=style))
            parts += [Text(f"  {who(row)}: {line}") for row, line in lines]
    return Group(*parts)


def status(report: ClassReport, row: LearnerRow) -> str:
    """One short word on the learner (the table's last column; the details follow the table)."""
    if row.state is LearnerState.NOT_STARTED:
        return "not started"
    if row.state is LearnerState.UNREADABLE:
        return "record unreadable"
    said = []
    if row.stuck:
        said.append(f"stuck for {duration(row.stuck.seconds(report.generated_at))}")
    if row.edited:
        said.append("edited by hand")
    unverified = sum(step.state is StepState.UNVERIFIED for step in row.steps)
    if unverified:
        said.append(f"{unverified} claimed, not verified")
    return ", ".join(said) or "ok"


def stuck_line(report: ClassReport, row: LearnerRow) -> str:
    stuck = row.stuck
    if stuck is None:
        return ""
    return (
        f"on {stuck.lesson}/{stuck.step} for {duration(stuck.seconds(report.generated_at))} "
        f"({stuck.failed_checks} failed check{'' if stuck.failed_checks == 1 else 's'}): {stuck.message}"
    )


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


def watch_report(report: Report, interval: float, html: Path | None = None) -> int:
    """Redraw the report every ``interval`` seconds until Ctrl-C (exit 0). Each refresh reads again only
    the records that changed (their ETag) and looks up only evidence not seen yet; a refresh that fails
    keeps the last table and says why."""
    import time

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from onboard.errors import OnboardError
    from onboard.output import console
    from onboard.trainer.report_html import write_html

    out = console()
    shown: RenderableType = Text("Reading the records...")
    try:
        with Live(shown, console=out, auto_refresh=False, screen=False, transient=False) as live:
            while True:
                try:
                    result = report.run()
                except OnboardError as failed:  # AWS out of reach for a moment: keep the last table, say so
                    live.update(Group(shown, Text(f"refresh failed: {failed.message}", style="yellow")))
                else:
                    if html is not None:
                        write_html(result, html)
                    shown = report_view(result)
                    live.update(shown)
                live.refresh()
                time.sleep(interval)
    except KeyboardInterrupt:
        out.print("[dim]Stopped watching.[/dim]")
        return 0
