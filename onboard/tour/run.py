"""`onboard lab tour`: the whole journey of a new team member, offline, in under a minute.

The tour does what a newcomer does on the first day, against the practice lab instead of AWS:

1. **The lab.** It starts the user's practice lab (``onboard lab up --detach``) and stops it at the end,
   unless ``keep``. A lab that is already running is *reused*, with a note, and left running: the user
   started it, perhaps with faults in force for a drill, and the tour must not take it away.
2. **Setup.** It runs ``python -m onboard setup`` as a subprocess, unattended, into the lab's sandbox: the
   lab's team file, the learner's access-key CSV, the lab's AWS files (AWS_CONFIG_FILE and
   AWS_SHARED_CREDENTIALS_FILE) and bin folder. The plugin is downloaded from the lab's download site and
   checked against the lab's signing key from the team file. The user's real ~/.aws and PATH are never
   touched.
3. **Lessons 1 to 4 and 7.** A scripted learner (:mod:`onboard.lessons.scripted`) types each step's commands
   into real shells in pseudo-terminals, with the real AWS CLI and the lab's plugin, and the lesson runner
   checks every step. Each verdict is reported as soon as it is known.
4. **The score.** Every step passed: exit 0. Otherwise the tour fails (ExitCode.FAILURE) and names each
   step that failed, with the evidence and the hint.

Everything the tour runs gets the *sandbox environment* (:func:`sandbox_environment`). That is the lab's
environment (``onboard lab env``) without the user's own AWS_* settings, with onboard's data and cache
folders and the shell history inside the lab's sandbox home: the plugin versions, the scripted learner's
progress, its practice files and the commands it typed all stay there. The lesson checks run in this
process, and they read the environment, so the tour switches this process's environment to the sandbox
while lessons play and restores it after.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from onboard.lab.state import LabPaths
from onboard.tour.narrate import Narrator, ending_text, failures, tour_score
from onboard.tour.play import play_lessons, tour_lesson_numbers
from onboard.tour.sandbox import TourLab, check_tools, close_lab, open_lab, sandbox_environment
from onboard.tour.setup import run_setup, setup_command, setup_summary, tell_setup

# --------------------------------------------------------------------------------------- the whole


def run_tour(paths: LabPaths, *, learner: str | None = None, keep: bool = False, say: Narrator) -> dict:
    """Run the tour against the lab in ``paths``; its report (JSON-ready, see the README).

    The lab the tour started is stopped at the end unless ``keep``, and on Ctrl-C in any case.
    """
    began = time.monotonic()
    say.section("1. The practice lab")
    tools = {"aws_cli": check_tools(_search_path(os.environ))}
    try:
        lab = open_lab(paths, learner)
    except KeyboardInterrupt:
        say.say("Interrupted while the lab was starting: it is stopped.")
        raise
    report: dict[str, Any] = {"lab": _lab_facts(lab), "tools": tools, "setup": None, "lessons": []}
    report["lab"]["seconds"] = round(time.monotonic() - began, 1)
    try:
        _tell_lab(say, lab, seconds=report["lab"]["seconds"])
        env = sandbox_environment(lab)
        say.section("2. onboard setup, unattended, into the lab's sandbox (not your ~/.aws)")
        say.say(f"  $ onboard {' '.join(setup_command(lab)[3:])}", style="dim")
        setup_began = time.monotonic()
        report["setup"] = setup_summary(run_setup(lab, env))
        report["setup"]["seconds"] = round(time.monotonic() - setup_began, 1)
        tell_setup(say, report["setup"])
        say.section(f"3. Lessons {tour_lesson_numbers()}, played by a scripted learner ({lab.learner})")
        if report["setup"]["ok"]:
            say.say("  The learner types each step's commands into real terminals; then the step is checked.")
            report["lessons"] = play_lessons(lab, env, say)
        else:
            say.say("  Not played: setup did not finish.", style="red")
    except BaseException as stopped:
        # An interrupted tour leaves nothing of its own running, --keep or not; one that failed with an
        # error keeps the lab only when asked to, for a look at what went wrong.
        interrupted = isinstance(stopped, KeyboardInterrupt)
        ending = close_lab(lab, keep=keep and not interrupted)
        say.say()
        say.say(f"{'Interrupted. ' if interrupted else ''}{ending_text(ending, lab.endpoint_url, lab.paths)}")
        raise
    report["lab"]["ending"] = close_lab(lab, keep=keep)
    report["score"] = tour_score(report["lessons"])
    report["failed"] = failures(report)
    report["passed"] = not report["failed"] and bool(report["lessons"])
    report["seconds"] = round(time.monotonic() - began, 1)
    return report


#: What became of the lab, as the end of the tour says it.
def _search_path(env: os._Environ[str] | dict[str, str]) -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])


def _lab_facts(lab: TourLab) -> dict[str, Any]:
    world = lab.state.world
    return {
        "endpoint_url": lab.endpoint_url,
        "started": lab.started,
        "state_dir": str(lab.paths.root),
        "team_file": str(lab.paths.team_file),
        "region": world.region,
        "account": world.account,
        "instances": world.instances,
        "learner": lab.learner,
        "faults": lab.faults,
    }


def _tell_lab(say: Narrator, lab: TourLab, *, seconds: float) -> None:
    facts = _lab_facts(lab)
    if lab.started:
        say.say(f"  Started a practice lab at {lab.endpoint_url} in {seconds:.1f} s.", style="green")
    else:
        say.say(
            f"  A practice lab is already running at {lab.endpoint_url}: the tour uses it", style="yellow"
        )
        say.say("  and leaves it running (stop it first with `onboard lab down` for a fresh one).")
    say.say(f"  A local AWS: region {facts['region']}, account {facts['account']}.")
    say.say(f"  Its files (<lab> below): {lab.paths.root}")
    say.abbreviations[str(lab.paths.root)] = "<lab>"
    instances = ", ".join(f"{alias} ({instance_id})" for alias, instance_id in facts["instances"].items())
    say.say(f"  Instances: {instances}")
    say.say(f"  Learner: {lab.learner}, with the access-key CSV {lab.paths.credentials_csv(lab.learner)}")
    for fault in lab.faults:
        target = f" on {fault['target']}" if fault.get("target") else ""
        say.say(f"  Fault in force: {fault['name']}{target} (steps it breaks will fail)", style="yellow")
