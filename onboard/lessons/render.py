"""How lesson results read for people (the same data is what ``--json`` prints)."""

from __future__ import annotations

import re
from typing import Any

from onboard.output import escape

#: A fenced command block's opening line, and the label each kind gets: where its lines are typed.
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)[ \t]*(?P<info>[A-Za-z]+)[ \t]*$", re.MULTILINE)
COMPUTER_LABEL = "On your computer (a terminal):"
SERVER_LABEL = "On the server (inside the session):"


def labelled(instructions: str) -> str:
    """The instructions with a visible label above each command block: your computer, or the server."""
    from onboard.lessons.format import LOCAL_FENCES, SESSION_FENCE

    def label(found: re.Match[str]) -> str:
        info = found.group("info").lower()
        if info == SESSION_FENCE:
            return f"**{SERVER_LABEL}**\n\n{found.group('fence')}sh"
        if info in LOCAL_FENCES:
            return f"**{COMPUTER_LABEL}**\n\n{found.group(0)}"
        return found.group(0)

    return _FENCE.sub(label, instructions)


#: A fenced block: its lines are commands (or other text to copy as it stands).
_BLOCK = re.compile(
    r"^(?P<fence>```+|~~~+)[ \t]*[A-Za-z]*[ \t]*\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)


def print_instructions(out, markdown: str) -> None:
    """Instructions as a learner reads them: prose wraps at the terminal's width between words (only a
    word longer than a whole line, a long path, is folded); each line of a command block is printed
    whole, never wrapped or cut, so it copies as it must be typed (the terminal folds a long one)."""
    from rich.markdown import Markdown
    from rich.text import Text

    position = 0
    for block in [*_BLOCK.finditer(markdown), None]:
        prose = markdown[position : block.start() if block else len(markdown)]
        if prose.strip():
            out.print(Markdown(prose), soft_wrap=False)
        if block is None:
            break
        out.print()
        for line in block.group("code").rstrip("\n").splitlines():
            out.print(Text(f"    {line}", style="bold"), soft_wrap=True)
        out.print()
        position = block.end()


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def render_list(out, data: dict[str, Any]) -> None:
    out.print(f"Lessons for team {escape(data['team'])}, profile {escape(data['profile'])}:")
    for row in data["lessons"]:
        mark = {"completed": "[green]done[/green]", "in_progress": "[yellow]in progress[/yellow]"}.get(
            row["status"], "not started"
        )
        lab = " (practice lab)" if row["requires"] == "lab" else ""
        current = "  <- current" if row["current"] else ""
        out.print(
            f"  {row['order']}. {row['id']:<16} {escape(row['title'])}{lab}: {row['minutes']} min, "
            f"{row['earned']}/{row['points']} points, {mark}{current}"
        )
    course = data["course"]
    out.print(f"Course: {course['points']} points, {course['lessons_completed']} lesson(s) completed.")
    out.print("Start one: onboard lesson start NAME")


def render_step(out, data: dict[str, Any]) -> None:
    for warning in data.get("warnings", []):
        out.print(f"[yellow]note:[/yellow] {escape(warning)}")
    if data.get("skipped"):
        out.print(f"Skipped {escape(data['skipped'])} (no points).")
    if data.get("completed"):
        render_summary(out, data)
        return
    resumed = " (resumed)" if data.get("resumed") else ""
    out.print(f"[bold]{escape(data['lesson_title'])}[/bold]{resumed}")
    if data.get("intro"):
        print_instructions(out, data["intro"])
    points = f", {data['points']} points" if data["graded"] else ""
    out.print(f"\n[bold]Step {data['step']}/{data['steps']}: {escape(data['title'])}[/bold]{points}")
    print_instructions(out, labelled(data["instructions"]))
    out.print(
        f"\nPractice folder: {escape(data['workdir'])} (profile {escape(data['profile'])})", soft_wrap=False
    )
    if data["graded"]:
        out.print(
            "When you are done: onboard lesson check   (stuck? onboard lesson hint; or onboard lesson skip)",
            soft_wrap=False,
        )
    else:
        out.print("Then: onboard lesson next")


def render_check(out, data: dict[str, Any]) -> None:
    if data.get("note"):
        out.print(f"Step {data['step']} ({escape(data['title'])}): {escape(data['note'])}.")
    for verdict in data["verdicts"]:
        _render_verdict(out, verdict, "")
    if (data.get("published") or {}).get("error"):
        out.print(f"[yellow]Not published for your trainer[/yellow]: {escape(data['published']['error'])}")
    if not data["verdicts"]:
        return
    if data["passed"]:
        out.print(f"[green]Step {data['step']} passed[/green]: {data['points']}/{data['max_points']} points.")
        following = "finish the lesson" if data.get("last_step") else "go on"
        out.print(f"Next: onboard lesson next (to {following})")
    elif data.get("unavailable"):
        out.print("[yellow]Could not check[/yellow]: AWS did not answer. This costs no points; check again.")
    else:
        out.print(
            f"[red]Not yet[/red] (failed checks so far: {data['failed_checks']}). Fix it and check again."
        )


def _render_verdict(out, verdict: dict[str, Any], indent: str) -> None:
    mark = "[green]PASS[/green]" if verdict["passed"] else "[red]FAIL[/red]"
    out.print(f"{indent}{mark} {escape(verdict['check'])}", soft_wrap=False)
    out.print(f"{indent}     seen: {escape(verdict['evidence'])}", soft_wrap=False)
    if verdict.get("hint"):
        out.print(f"{indent}     fix:  {escape(verdict['hint'])}", soft_wrap=False)
    for child in verdict.get("children", []):
        _render_verdict(out, child, indent + "    ")


def render_hint(out, data: dict[str, Any]) -> None:
    where = f"step {data['step']} ({escape(data['title'])})"
    if data.get("note"):
        out.print(f"{escape(data['note']).capitalize()} ({where}).", soft_wrap=False)
        return
    if data["hint"] is None:
        out.print(
            f"A hint for {where} costs {data['cost']} of the {data['points_left']} points left; "
            "to see it: onboard lesson hint --yes",
            soft_wrap=False,
        )
        return
    cost = f"{data['cost']} point" + ("" if data["cost"] == 1 else "s")
    out.print(f"Hint {data['hints_taken']} for {where} (cost {cost}):", soft_wrap=False)
    out.print(f"  {escape(data['hint'])}", soft_wrap=False)
    out.print(f"({data['hints_left']} more; each costs a quarter of the step's points.)", soft_wrap=False)


def render_summary(out, data: dict[str, Any]) -> None:
    summary = data["summary"]
    out.print(f"[bold green]Lesson complete: {escape(data['lesson_title'])}[/bold green]", soft_wrap=False)
    out.print(
        f"  {summary['points']}/{summary['max_points']} points; {summary['passed']} step(s) passed, "
        f"{summary['skipped']} skipped, {summary['hints']} hint(s), "
        f"{summary['failed_checks']} failed check(s); "
        f"time {_minutes(summary['seconds'])}",
        soft_wrap=False,
    )
    _render_course(out, data["course"])
    if data.get("published"):
        out.print(f"Published to {escape(data['published']['url'])}.", soft_wrap=False)


def _render_course(out, course: dict[str, Any]) -> None:
    out.print(
        f"Course so far: {course['points']}/{course['max_points']} points, "
        f"{course['lessons_completed']} lesson(s) completed, time {_minutes(course['seconds'])}.",
        soft_wrap=False,
    )


def render_status(out, data: dict[str, Any]) -> None:
    who = f" as {escape(data['user'])}" if data.get("user") else ""
    out.print(f"Team {escape(data['team'])}, profile {escape(data['profile'])}{who}", soft_wrap=False)
    for name, summary in data["lessons"].items():
        out.print(
            f"  {name}: {summary['status']}, {summary['points']}/{summary['max_points']} points, "
            f"{summary['hints']} hint(s), {summary['skipped']} skipped",
            soft_wrap=False,
        )
    current = data.get("current")
    if current:
        out.print(
            f"Current: {current['lesson']} step {current['step']}/{current['steps']}: "
            f"{escape(current['title'])}",
            soft_wrap=False,
        )
    else:
        out.print("No lesson running; see onboard lesson list.", soft_wrap=False)
    _render_course(out, data["course"])
    if data.get("edited_by_hand"):
        out.print("[yellow]Edited by hand (your trainer sees this):[/yellow]", soft_wrap=False)
        _render_edits(out, data["edited_by_hand"])


def _render_edits(out, edits: list[str]) -> None:
    for edit in edits:
        out.print(f"  {escape(edit)}", soft_wrap=False)


def render_published(out, data: dict[str, Any]) -> None:
    out.print(f"Published your record to {escape(data['url'])}.", soft_wrap=False)
    if data.get("edited_by_hand"):
        out.print("[yellow]It is published as edited by hand:[/yellow]", soft_wrap=False)
        _render_edits(out, data["edited_by_hand"])


def render_lint(out, data: dict[str, Any]) -> None:
    for problem in data["problems"]:
        note = "note: " if problem.get("severity") == "note" else ""
        out.print(f"{escape(problem['file'])}:{problem['line']}: {note}{escape(problem['message'])}")
    count = sum(problem.get("severity") != "note" for problem in data["problems"])
    files = len(data["files"])
    out.print(
        f"{files} lesson file(s), {count} problem(s)." if count else f"{files} lesson file(s): all good."
    )
