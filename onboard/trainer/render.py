"""The trainer commands' results for people (the same data ``--json`` prints)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from onboard.output import escape

if TYPE_CHECKING:
    from rich.console import Console


def render_policies(out: Console, data: dict[str, Any]) -> None:
    for key, title in (("learner_policy", "Learner policy"), ("instance_policy", "Instance role policy")):
        policy = data[key]
        out.print(f"[bold]{title}[/bold]: {escape(policy['name'])} - {escape(policy['description'])}")
        if "explain" in policy:
            for item in policy["explain"]:
                out.print(f"  [cyan]{escape(item['sid'])}[/cyan]")
                out.print(f"    why: {escape(item['why'])}")
                out.print(f"    without it: {escape(item['without'])}")
        out.print(escape(json.dumps(policy["document"], indent=2)))
        out.print()
    validation = data.get("validation")
    if validation is not None:
        if not validation["ran"]:
            out.print(f"[yellow]not validated:[/yellow] {escape(validation['note'])}")
        elif not validation["findings"]:
            out.print("[green]IAM Access Analyzer found nothing to report.[/green]")
        for finding in validation["findings"]:
            out.print(
                f"{escape(finding['kind'])} {escape(finding['policy'])} {escape(finding['where'])}: "
                f"{escape(finding['code'])}: {escape(finding['details'])}"
            )


_ACTION_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red"}


def render_provision(out: Console, data: dict[str, Any]) -> None:
    """The plan as a table of created, changed and removed resources, then the learners' keys and kits."""
    from rich.table import Table

    change_set = data["change_set"]
    out.print(f"[bold]Stack[/bold] {escape(data['stack'])} ({escape(change_set['type'].lower())})")
    if data["no_changes"]:
        out.print("Nothing changes: the stack already matches the class.")
    else:
        table = Table("action", "resource", "type", "name", "replacement")
        for change in change_set["changes"]:
            style = _ACTION_STYLE.get(change["action"], "")
            table.add_row(
                f"[{style}]{escape(change['action'])}[/{style}]" if style else escape(change["action"]),
                escape(change["logical_id"]),
                escape(change["type"]),
                escape(change["physical_id"] or "(new)"),
                escape(change["replacement"]),
            )
        out.print(table)
        counts = {action: 0 for action in ("Add", "Modify", "Remove")}
        for change in change_set["changes"]:
            counts[change["action"]] = counts.get(change["action"], 0) + 1
        out.print(f"{counts['Add']} to create, {counts['Modify']} to change, {counts['Remove']} to remove.")
    for kept in data["kept"]:
        out.print(f"kept as it is: {escape(kept)}")
    out.print(f"The change set {escape(change_set['name'])} was {escape(change_set['fate'])}.")
    if data["applied"]:
        out.print(f"The stack is {escape(data['stack_status'])}.")
    created = [learner for learner in data["learners"] if learner["key"] == "created"]
    if created:
        out.print(f"{len(created)} new access keys; their kits are in {escape(data['kits_dir'])}:")
        for learner in created:
            out.print(
                f"  {escape(learner['name'])}: {escape(learner['kit'])} (and {escape(learner['kit'])}.zip)"
            )
    kept_keys = [learner for learner in data["learners"] if learner["key"] == "has-kit"]
    if kept_keys:
        out.print(f"{len(kept_keys)} learners already have a key and a kit: no new key.")
    for learner in data["learners"]:
        if learner["fix"]:
            out.print(
                f"[yellow]{escape(learner['name'])} has a key and no kit:[/yellow] {escape(learner['fix'])}"
            )


def render_deprovision(out: Console, data: dict[str, Any]) -> None:
    if data["status"] is None:
        out.print(f"There is no stack {escape(data['stack'])}: nothing of the class to remove.")
        return
    out.print(
        f"Deleted {len(data['keys_deleted'])} access keys and {data['objects_deleted']} objects, "
        f"then the stack {escape(data['stack'])} ({escape(data['stack_status'] or '')})."
    )
    for failure in data["failures"]:
        out.print(f"[red]failed:[/red] {escape(failure)}")
    if data["clean"]:
        out.print(
            f"Nothing of the class is left: {len(data['users'])} users, their keys, {len(data['policies'])} "
            f"policies, {len(data['roles'])} role, {len(data['instance_profiles'])} instance profile, "
            f"{len(data['buckets'])} buckets and the learners' objects are gone."
        )
    for leftover in data["leftovers"]:
        out.print(f"[red]still there:[/red] {escape(leftover['kind'])} {escape(leftover['name'])}")
