"""How the tour is told: as it happens (a rich console, or nothing with --json), and the score at the end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import ExitCode
from onboard.lab.state import LabPaths

if TYPE_CHECKING:
    from rich.console import Console


# ------------------------------------------------------------------------------------------ telling


class Narrator:
    """Tells the tour as it happens: on a rich console, or not at all (``--json``).

    Once the lab is known, its state folder is written ``<lab>`` in what is told (paths under it are
    long); the JSON report keeps every path whole.
    """

    def __init__(self, out: Console | None):
        self.out = out
        self.abbreviations: dict[str, str] = {}

    def say(self, text: str = "", *, style: str | None = None) -> None:
        if self.out is None:
            return
        from onboard.output import escape

        for long, short in self.abbreviations.items():
            text = text.replace(long, short)
        self.out.print(escape(text), style=style)

    def section(self, title: str) -> None:
        self.say()
        self.say(title, style="bold")

    def step(self, lesson: dict[str, Any], step: dict[str, Any]) -> None:
        """One step's verdict: what the learner typed, each check with its evidence, the points."""
        if not step["graded"]:
            verdict, style, points = "DONE", "dim", "nothing to check"
        else:
            verdict, style = ("PASS", "green") if step["passed"] else ("FAIL", "bold red")
            points = f"{step['points']}/{step['max_points']} points"
        self.say(
            f"  {verdict}  step {step['step']}/{lesson['step_count']}: {step['title']}"
            f"  ({points}, {step['seconds']:.1f} s)",
            style=style,
        )
        for number, line in enumerate(step["typed"]):
            self.say(f"        {'typed:' if number == 0 else '      '} {line}", style="dim")
        for check in step["verdicts"]:
            if check["passed"]:
                self.say(f"        ok     {check['check']}")
            else:
                self.say(f"        FAILED {check['check']}", style="red")
            self.say(f"               {check['evidence']}", style="dim")
            if check.get("hint"):
                self.say(f"               hint: {check['hint']}", style="yellow")
        self.terminal(step.get("terminal", []))

    def terminal(self, lines: list[str]) -> None:
        if lines:
            self.say("        the learner's terminal showed, last:")
            for line in lines:
                self.say(f"          | {line}", style="dim")


def tour_score(lessons: list[dict[str, Any]]) -> dict[str, Any]:
    graded = [step for lesson in lessons for step in lesson["steps"] if step["graded"]]
    return {
        "points": sum(lesson["points"] for lesson in lessons),
        "max_points": sum(lesson["max_points"] for lesson in lessons),
        "steps_passed": sum(step["passed"] for step in graded),
        "steps_checked": len(graded),
        "steps_not_reached": sum(len(lesson["not_reached"]) for lesson in lessons),
    }


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each step that failed (or setup): where, each failed check with its evidence and hint."""
    failed = []
    setup = report["setup"]
    if setup is not None and not setup["ok"]:
        error = setup.get("error") or {}
        check = {"check": "onboard setup", "evidence": error.get("message", ""), "hint": error.get("hint")}
        failed.append({"where": "onboard setup", "checks": [check], "terminal": []})
    for lesson in report["lessons"]:
        stuck = lesson["stuck"]
        if stuck:
            check = {"check": "the learner's terminal answers", "evidence": stuck["evidence"], "hint": None}
            failed.append(
                {
                    "where": f"lesson {lesson['id']}, step {stuck['step']}: {stuck['title']}",
                    "checks": [check],
                    "terminal": stuck["terminal"],
                }
            )
        for step in lesson["steps"]:
            if step["passed"]:
                continue
            checks: list[dict[str, Any]] = []
            for verdict in step["verdicts"]:
                check = {key: verdict.get(key) for key in ("check", "evidence", "hint")}
                # two checks that failed for one reason (no session at all) are told once
                if not verdict["passed"] and all(
                    (check["evidence"], check["hint"]) != (seen["evidence"], seen["hint"]) for seen in checks
                ):
                    checks.append(check)
            failed.append(
                {
                    "where": f"lesson {lesson['id']}, step {step['step']}: {step['title']}",
                    "checks": checks,
                    "terminal": step["terminal"],
                }
            )
    return failed


def tour_exit_code(report: dict[str, Any]) -> ExitCode:
    return ExitCode.OK if report["passed"] else ExitCode.FAILURE


def render_score(out: Console, report: dict[str, Any]) -> None:
    """Section 4, printed at the end of the tour: the score, what failed, and what became of the lab."""
    say = Narrator(out)
    lab = report["lab"]
    say.abbreviations[lab["state_dir"]] = "<lab>"
    say.section("4. Score")
    for lesson in report["lessons"]:
        state = "passed" if lesson["passed"] else "FAILED"
        say.say(f"  {lesson['title']:<28} {lesson['points']:>3}/{lesson['max_points']:<3} {state}")
    score = report["score"]
    say.say(
        f"  Total: {score['points']}/{score['max_points']} points; {score['steps_passed']} of "
        f"{score['steps_checked']} checked steps passed, in {report['seconds']:.1f} s."
    )
    if report["passed"]:
        say.say("  Every step passed.", style="bold green")
    else:
        say.say(f"  Failed ({len(report['failed'])}):", style="bold red")
        for failure in report["failed"]:
            say.say(f"    {failure['where']}", style="red")
            for check in failure["checks"]:
                say.say(f"      {check['evidence']}")
                if check.get("hint"):
                    say.say(f"      hint: {check['hint']}", style="yellow")
    say.say(ending_text(lab["ending"], lab["endpoint_url"], LabPaths(Path(lab["state_dir"]))))


_ENDINGS = {
    "stopped": "The lab the tour started is stopped (add --keep to explore it afterwards).",
    "kept": (
        'The lab keeps running at {endpoint}: eval "$(onboard lab env)" to use it, '
        "`onboard lab down` to stop it."
    ),
    "reused": "Your lab keeps running at {endpoint}, as the tour found it.",
    "gone": "The lab stopped during the tour; its log is {log}.",
}


def ending_text(ending: str, endpoint_url: str, paths: LabPaths) -> str:
    return _ENDINGS[ending].format(endpoint=endpoint_url, log=paths.log_file)
