"""The trainer's report as one self-contained HTML page: the table and a per-step heat map.

Everything is inline (CSS in a ``<style>`` element, no script, no font, image or stylesheet fetched), so the
page opens from a file, an e-mail or an archive, offline, years later. Learner names, display names and
messages are the learners' own words: every one is escaped (``html.escape``, quotes too) before it goes
into the page. The page is written with :func:`onboard.fileio.atomic_write`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from onboard.trainer.report_grading import ClassReport, LearnerRow, LearnerState, StepState
from onboard.trainer.report_render import LEGEND, duration, states, status, stuck_line, who

#: The heat map's colours, one per step state (the tests read them back from a screenshot).
COLOURS: dict[StepState, str] = {
    StepState.VERIFIED: "#1b8a3a",
    StepState.LOCAL: "#8fd19e",
    StepState.UNVERIFIED: "#d7263d",
    StepState.FAILING: "#f4a300",
    StepState.ACTIVE: "#3d7dd8",
    StepState.SKIPPED: "#9a9a9a",
    StepState.NOT_STARTED: "#e6e6e6",
}

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.meta { color: #555; margin: 0 0 16px; }
table { border-collapse: collapse; margin-bottom: 24px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
table.heat td.cell { width: 28px; height: 28px; padding: 0; border: 2px solid #fff; }
table.heat th.step { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; }
ul.flags { margin: 0; padding-left: 18px; color: #a0001a; }
.legend span { display: inline-block; width: 14px; height: 14px; margin: 0 4px 0 12px; }
""" + "".join(
    f"td.{state.value}, .legend span.{state.value} {{ background: {colour}; }}\n"
    for state, colour in COLOURS.items()
)


def render_html(report: ClassReport) -> str:
    """The page as text."""
    title = f"Class report: {len(report.learners)} learners"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Records at s3://{escape(report.bucket)}/onboard/progress/, '
        f"each step looked up again in AWS at {report.generated_at:%Y-%m-%d %H:%M:%S} UTC. "
        "Scores count verified steps only.</p>",
        _table(report),
        "<h2>Steps</h2>",
        '<p class="legend">'
        + "".join(f'<span class="{s.value}"></span>{escape(LEGEND[s])}' for s in StepState)
        + "</p>",
        _heat_map(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _table(report: ClassReport) -> str:
    rows = [
        '<table class="learners"><thead><tr><th>Learner</th><th>Score</th><th>Claimed</th><th>Time</th>'
        "<th>Last activity</th><th>Stuck / note</th><th>Flags</th></tr></thead><tbody>"
    ]
    for row in report.learners:
        read = row.state is LearnerState.READ
        flags = "".join(f"<li>{escape(flag)}</li>" for flag in row.flags)
        rows.append(
            f'<tr class="learner {row.state.value}" data-learner="{escape(row.name)}">'
            f"<td>{escape(who(row))}</td>"
            f'<td class="num">{f"{row.score}/{report.max_score}" if read else "-"}</td>'
            f'<td class="num">{row.claimed_score if read else "-"}</td>'
            f'<td class="num">{duration(row.seconds) if row.seconds else "-"}</td>'
            f"<td>{escape(row.last_activity or '-')}</td>"
            f"<td>{escape(stuck_line(report, row) or status(report, row))}</td>"
            f"<td>{f'<ul class=flags>{flags}</ul>' if flags else ''}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _heat_map(report: ClassReport) -> str:
    head = "".join(f'<th class="step" title="{escape(c.title)}">{escape(c.key)}</th>' for c in report.columns)
    rows = [f'<table class="heat"><thead><tr><th>Learner</th>{head}</tr></thead><tbody>']
    for row in report.learners:
        cells = "".join(
            f'<td class="cell {state.value}" title="{escape(_tip(row, key, state))}"></td>'
            for key, state in zip((c.key for c in report.columns), states(report, row), strict=True)
        )
        rows.append(f'<tr data-learner="{escape(row.name)}"><th>{escape(who(row))}</th>{cells}</tr>')
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _tip(row: LearnerRow, key: str, state: StepState) -> str:
    step = row.step(key)
    reason = f": {step.reason}" if step and step.reason else ""
    return f"{key}: {LEGEND[state]}{reason}"


def write_html(report: ClassReport, path: Path) -> None:
    """Write the page to ``path`` in one step (0644: a page to share, no secret in it)."""
    from onboard.fileio import atomic_write

    atomic_write(path, render_html(report).encode("utf-8"), mode=0o644)
