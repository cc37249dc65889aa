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
