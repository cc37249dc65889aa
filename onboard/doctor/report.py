"""The doctor report for people: a summary line per group, then what needs doing (every detail with -v).

It renders the same ``data`` dict that ``--json`` prints, so the two never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onboard.output import escape

if TYPE_CHECKING:
    from rich.console import Console

_MARKS = {
    "ok": "[green]ok[/green]",
    "warn": "[yellow]warn[/yellow]",
    "fail": "[red]FAIL[/red]",
    "error": "[red]ERROR[/red]",
    "skipped": "[dim]skipped[/dim]",
}
_PLAIN = {"ok": "ok", "warn": "warn", "fail": "FAIL", "error": "ERROR", "skipped": "skipped"}
_WORDS = {"ok": "ok", "warn": "warning", "fail": "failed", "error": "error", "skipped": "skipped"}


def renderer(verbose: bool, *, command: str = "onboard doctor"):
    def render(out: Console, data: dict[str, Any]) -> None:
        render_report(out, data, verbose=verbose, command=command)

    return render


def render_report(
    out: Console, data: dict[str, Any], *, verbose: bool, command: str = "onboard doctor"
) -> None:
    """``command`` names the check family in the heading and the ``--fix`` hints (doctor, check-account)."""
    source = "the team file" if data["profile_source"].startswith("the team file") else data["profile_source"]
    out.print(f"{command}: profile {escape(data['profile'])} (from {escape(source)})")
    if data.get("team"):
        out.print(f"team file: {escape(data['team'])}")
    if data.get("fixes"):
        _render_fixes(out, data)
    out.print()
    for group in data["groups"]:
        counts = ", ".join(f"{n} {_WORDS[s]}" for s, n in group["counts"].items())
        mark = _MARKS[group["status"]]
        padding = " " * (8 - len(_PLAIN[group["status"]]))
        out.print(f"{group['name']:<13} {mark}{padding}{counts}")
    shown = [f for f in data["findings"] if verbose or f["status"] != "ok"]
    if shown:
        out.print()
    for finding in shown:
        _render_finding(out, finding, verbose=verbose, command=command)
    out.print()
    out.print(_verdict(data))


def _render_finding(out: Console, finding: dict[str, Any], *, verbose: bool, command: str) -> None:
    out.print(
        f"{_MARKS[finding['status']]} {escape(finding['group'])} / {escape(finding['title'])}: "
        f"{escape(finding['summary'])}"
    )
    if verbose or finding["status"] in ("fail", "error"):
        for line in finding["evidence"]:
            out.print(f"    {escape(line)}")
    if finding.get("next"):
        out.print(f"    next: {escape(finding['next'])}")
    if finding.get("fix"):
        out.print(f"    fix:  {command} --fix  ({escape(finding['fix']['describe'])})")
    if finding.get("doc") and (verbose or finding["status"] != "ok"):
        out.print(f"    docs: {escape(finding['doc'])}")


def _render_fixes(out: Console, data: dict[str, Any]) -> None:
    out.print()
    out.print("Fixes:")
    for fix in data["fixes"]:
        out.print(f"  {fix['outcome']}: {escape(fix['describe'])}")
        if fix["done"]:
            out.print(f"    {escape(fix['done'])}")
        for backup in fix["backups"]:
            out.print(f"    backup: {escape(backup)}")
        if fix.get("then"):
            out.print(f"    then: {escape(fix['then'])}")
    if data.get("before") is not None:
        before = {f["id"]: f["status"] for f in data["before"]}
        changed = [f for f in data["findings"] if before.get(f["id"]) not in (None, f["status"])]
        if changed:
            out.print("Before -> after:")
            for finding in changed:
                out.print(f"  {escape(finding['title'])}: {before[finding['id']]} -> {finding['status']}")


def _verdict(data: dict[str, Any]) -> str:
    findings = data["findings"]
    failed = sum(f["status"] in ("fail", "error") for f in findings)
    warned = sum(f["status"] == "warn" for f in findings)
    if failed:
        return (
            f"{_count(failed, 'problem')} to fix, {_count(warned, 'warning')} (exit code 1). "
            "Fix the first one first: later checks often depend on it."
        )
    if warned:
        return f"{_count(warned, 'warning')}, nothing broken (exit code 3)."
    return "Everything checked is in order (exit code 0)."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
