"""The tour's set-up: `onboard setup` run unattended into the lab's sandbox, and what it said."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from onboard.errors import ExitCode
from onboard.tour.narrate import Narrator
from onboard.tour.sandbox import TourLab

# -------------------------------------------------------------------------------------------- setup


SETUP_TIMEOUT = 120.0


def setup_command(lab: TourLab) -> list[str]:
    """``onboard setup`` as the tour runs it: unattended, into the lab's sandbox, installing no AWS CLI."""
    return [
        sys.executable,
        "-m",
        "onboard",
        "setup",
        "--team",
        str(lab.paths.team_file),
        "--credentials-csv",
        str(lab.paths.credentials_csv(lab.learner)),
        "--bin-dir",
        str(lab.paths.bin_dir),
        "--no-aws-cli",
        "--yes",
        "--json",
    ]


def run_setup(lab: TourLab, env: dict[str, str]) -> dict[str, Any]:
    """Run setup as a user would (a subprocess); its JSON envelope, or an error envelope of our own."""
    import json

    from onboard.secrets import scrub

    try:
        done = subprocess.run(
            setup_command(lab),
            capture_output=True,
            text=True,
            env=env,
            timeout=SETUP_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return _setup_failure(f"onboard setup gave no answer within {SETUP_TIMEOUT:.0f} s")
    try:
        envelope = json.loads(done.stdout)
    except ValueError:
        last = scrub((done.stderr or done.stdout).strip())[-500:]
        return _setup_failure(f"onboard setup exited {done.returncode} without a result: {last}")
    envelope["exit_code"] = done.returncode
    return envelope


def _setup_failure(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "exit_code": int(ExitCode.FAILURE),
        "error": {"message": message, "hint": "Run the same setup command by hand to see its screens."},
    }


def setup_summary(envelope: dict[str, Any]) -> dict[str, Any]:
    """What the tour shows and reports of setup: the plugin, the profile, the identity, or the error."""
    data = envelope.get("data") or {}
    plugin = data.get("plugin") or {}
    identity = data.get("identity") or {}
    summary: dict[str, Any] = {
        "ok": bool(envelope.get("ok")) and bool(identity.get("ok")),
        "exit_code": envelope.get("exit_code"),
        "plugin": {
            "action": plugin.get("action"),
            # a kept plugin is described by its status: the version onboard installed
            "version": plugin.get("version") or plugin.get("installed_version"),
            "link": plugin.get("link"),
            "verified_by": plugin.get("verified_by"),
            "signature_key": plugin.get("signature_key"),
        },
        "profile": data.get("profile"),
        "region": data.get("region"),
        "files": data.get("files"),
        "written": [item["path"] for item in data.get("written", [])],
        "identity": identity.get("arn"),
        "warnings": envelope.get("warnings", []),
    }
    if envelope.get("error"):
        summary["error"] = envelope["error"]
    elif identity and not identity.get("ok"):
        summary["error"] = identity.get("error")
    return summary


def tell_setup(say: Narrator, summary: dict[str, Any]) -> None:
    plugin = summary["plugin"]
    if plugin.get("action") == "installed":
        key = f", key {plugin['signature_key']}" if plugin.get("signature_key") else ""
        say.say(f"  Plugin {plugin['version']} downloaded from the lab and installed at {plugin['link']}")
        say.say(f"    signature checked ({plugin['verified_by']}{key})", style="dim")
    elif plugin.get("action") == "kept":
        say.say(f"  Plugin {plugin['version']} was already installed at {plugin['link']} (kept)")
    files = summary.get("files") or {}
    if summary.get("profile"):
        written = "written to" if summary["written"] else "already in"
        paths = ", ".join(item["path"] for item in files.values())
        say.say(f"  Profile {summary['profile']} (region {summary['region']}) {written} {paths}")
    if summary.get("identity"):
        say.say(f"  AWS (the lab) knows the keys as {summary['identity']}", style="green")
    for warning in summary["warnings"]:
        say.say(f"  note: {warning}", style="dim")
    if not summary["ok"]:
        error = summary.get("error") or {}
        say.say(f"  Setup failed: {error.get('message', 'see above')}", style="bold red")
        if error.get("hint"):
            say.say(f"  hint: {error['hint']}", style="yellow")
    say.say(f"  ({summary['seconds']:.1f} s)", style="dim")
