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
3. **Lessons 1 to 4.** A scripted learner (:mod:`onboard.lessons.scripted`) types each step's commands
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

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import EnvironmentProblem, ExitCode, UsageError
from onboard.lab import control
from onboard.lab.state import LabPaths

if TYPE_CHECKING:
    from rich.console import Console

    from onboard.lessons.scripted import StepPlay

#: Lessons 1 to 4 of the shipped course: ready, connect, sudo, transfer.
TOUR_LESSONS = ("ready", "connect", "sudo", "transfer")
SETUP_TIMEOUT = 120.0
#: How long a scripted learner waits for a prompt before the step counts as stuck.
PROMPT_TIMEOUT = 30.0


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


# ------------------------------------------------------------------------------------------ the lab


@dataclass
class TourLab:
    """The lab the tour uses, and whether the tour started it (then it also stops it)."""

    paths: LabPaths
    state: dict[str, Any]
    started: bool
    learner: str
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str:
        return self.state["endpoint_url"]


def open_lab(paths: LabPaths, learner: str | None) -> TourLab:
    """Reuse the user's running lab, or start one (with ``learner`` as its learner, when named)."""
    state = control.find_running(paths)
    if state is not None:
        state, _ = control.require_running(paths)  # a lab still starting is refused, with what to do
        learners = state["world"]["learners"]
        chosen = learner or learners[0]
        if chosen not in learners:
            raise UsageError(
                f"the running lab at {state['endpoint_url']} has no learner {chosen!r} "
                f"(its learners: {', '.join(learners)})",
                "Leave out --learner, or stop the lab (`onboard lab down`) so that the tour starts one "
                f"with {chosen}.",
            )
        faults = control.status(paths).get("faults", [])
        return TourLab(paths, state, started=False, learner=chosen, faults=faults)
    try:
        state = control.start_detached(paths, learners=[learner] if learner else None)
    except KeyboardInterrupt:
        _stop_starting_lab(paths)
        raise
    return TourLab(paths, state, started=True, learner=learner or state["world"]["learners"][0])


def _stop_starting_lab(paths: LabPaths, timeout: float = 10.0) -> None:
    """Ctrl-C while the lab was starting: stop the server process the tour had launched."""
    from onboard.lab.state import lock_is_held

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_is_held(paths):
            with contextlib.suppress(ValueError, OSError):
                # The server writes its pid into lab.pid once it holds the lock; SIGTERM makes it end cleanly.
                os.kill(int(paths.pid_file.read_text(encoding="ascii").strip()), signal.SIGTERM)
                break
        time.sleep(0.05)
    while lock_is_held(paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    paths.state_file.unlink(missing_ok=True)


def close_lab(lab: TourLab, *, keep: bool) -> str:
    """Stop the lab if the tour started it and ``keep`` is off; say what became of it."""
    if not lab.started:
        return "reused"
    if control.find_running(lab.paths) is None:
        return "gone"  # it stopped during the tour: crashed, or someone ran `onboard lab down`
    if keep:
        return "kept"
    control.stop(lab.paths)
    return "stopped"


# ---------------------------------------------------------------------------------- the sandbox


def sandbox_environment(lab: TourLab, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) pointed at the lab's sandbox, as described above.

    The user's AWS_* variables go (an AWS_REGION or AWS_PROFILE of theirs would steer the tour away from
    the lab); PATH finds the lab's bin folder first, then this interpreter's (where ``onboard`` and
    ``aws`` live in a virtualenv that is not on PATH), then the user's.
    """
    base = dict(os.environ if base is None else base)
    env = {name: value for name, value in base.items() if not name.startswith("AWS_")}
    lab_env = control.environment(lab.paths, lab.state)
    env.update(lab_env)
    interpreter_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([str(lab.paths.bin_dir), interpreter_bin, base.get("PATH", "")])
    home = lab.paths.sandbox_home
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    # The scripted learner's shells keep their history there too, not in the user's ~/.bash_history.
    env["HISTFILE"] = str(home / ".bash_history")
    # A proxy for the user's network must not sit between the AWS CLI and a server on this machine.
    users = base.get("NO_PROXY") or base.get("no_proxy")
    no_proxy = [item for item in (users, "127.0.0.1", "localhost") if item]
    env["NO_PROXY"] = env["no_proxy"] = ",".join(no_proxy)
    return env


@contextlib.contextmanager
def environment_applied(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is ``env`` inside the block, and what it was before after it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_tools(search_path: str) -> dict[str, Any]:
    """The tour's own needs, before anything starts: the AWS CLI, and pexpect for the learner's terminals."""
    from onboard.plugin.awscli import detect_awscli

    try:
        import pexpect  # noqa: F401 - only its presence is checked here
    except ImportError:
        raise EnvironmentProblem(
            "the tour's scripted learner needs pexpect (pseudo-terminals), which is not installed",
            f"Install it into onboard's environment: {sys.executable} -m pip install pexpect",
        ) from None
    found = detect_awscli(search_path)
    if not found.usable:
        raise EnvironmentProblem(
            f"the tour types `aws ssm start-session`, but the AWS CLI is not usable: {found.reason}",
            f"Install it into onboard's environment ({sys.executable} -m pip install awscli), "
            "or install AWS CLI v2 (`onboard setup --aws-cli`).",
        )
    return {"path": str(found.path), "version": found.version}


# -------------------------------------------------------------------------------------------- setup


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


def _tell_setup(say: Narrator, summary: dict[str, Any]) -> None:
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


# ------------------------------------------------------------------------------------------ lessons


def play_lessons(lab: TourLab, env: dict[str, str], say: Narrator) -> list[dict[str, Any]]:
    """Play the tour's lessons with a scripted learner in ``env``; each lesson's result as data.

    A lesson stops at its first failing step (as a learner would, to fix it); the tour still goes on
    with the next lesson, so that one fault shows everything it breaks.
    """
    from onboard.lessons.progress import Progress
    from onboard.lessons.runner import Runner

    with environment_applied(env):
        runner = Runner.open(team=lab.paths.team_file)
        # The scripted learner starts from nothing: no earlier tour's scores, nor its learner's identity.
        runner.progress = Progress(team=runner.store.team, profile=runner.profile)
        return [_play_lesson(runner, name, env, say) for name in TOUR_LESSONS]


def _play_lesson(runner, name: str, env: dict[str, str], say: Narrator) -> dict[str, Any]:
    import pexpect

    from onboard.lessons.scripted import play_lesson

    lesson = runner.course.lesson(name)
    result: dict[str, Any] = {
        "id": lesson.id,
        "title": lesson.title,
        "max_points": lesson.points,
        "step_count": len(lesson.steps),
        "steps": [],
        "stuck": None,
    }
    say.say()
    say.say(f"  Lesson {lesson.order}: {lesson.title}", style="bold")
    clock = time.monotonic()
    # What the learner's terminals showed, step by step: a failed step is shown with its last lines.
    terminal, shown = io.StringIO(), 0

    def terminal_since_last_step() -> list[str]:
        nonlocal shown
        text = terminal.getvalue()
        fresh, shown = text[shown:], len(text)
        return last_lines(fresh)

    def tell(play: StepPlay) -> None:
        nonlocal clock
        now, began = time.monotonic(), clock
        clock = now
        step = step_result(play, lesson.steps[play.step - 1].points, seconds=now - began)
        step["terminal"] = [] if play.passed else terminal_since_last_step()
        result["steps"].append(step)
        say.step(result, step)

    try:
        played = play_lesson(runner, name, env, on_step=tell, timeout=PROMPT_TIMEOUT, transcript=terminal)
        completed, passed = played.completed, played.passed
    except pexpect.ExceptionPexpect:
        # A terminal that never showed its prompt again (a session that hangs): this step fails, the
        # tour goes on with the next lesson.
        index = runner.progress.lessons[lesson.id].step
        result["stuck"] = {
            "step": index + 1,
            "title": runner.step_title(lesson, index),
            "evidence": f"the learner's terminal showed no prompt within {PROMPT_TIMEOUT:.0f} s",
            "terminal": terminal_since_last_step(),
        }
        say.say(
            f"  FAIL  step {index + 1}/{len(lesson.steps)}: {result['stuck']['title']}: "
            f"{result['stuck']['evidence']}",
            style="bold red",
        )
        say.terminal(result["stuck"]["terminal"])
        completed = passed = False
    result["completed"], result["passed"] = completed, passed
    result["points"] = sum(step["points"] for step in result["steps"])
    reached = len(result["steps"]) + (1 if result["stuck"] else 0)
    result["not_reached"] = [runner.step_title(lesson, index) for index in range(reached, len(lesson.steps))]
    return result


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def last_lines(text: str, count: int = 6) -> list[str]:
    """The last ``count`` non-blank lines a terminal showed, without control sequences or secrets."""
    from onboard.secrets import scrub

    lines = [line.rstrip() for line in _TERMINAL_CODES.sub("", text).replace("\r", "").split("\n")]
    return [scrub(line) for line in lines if line.strip()][-count:]


def step_result(play: StepPlay, max_points: int, *, seconds: float) -> dict[str, Any]:
    return {
        "step": play.step,
        "step_id": play.step_id,
        "title": play.title,
        "graded": play.graded,
        "passed": play.passed,
        "points": play.points,
        "max_points": max_points if play.graded else 0,
        "typed": play.typed,
        "verdicts": play.verdicts,
        "seconds": round(seconds, 2),
    }


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
        _tell_setup(say, report["setup"])
        say.section(f"3. Lessons 1 to {len(TOUR_LESSONS)}, played by a scripted learner ({lab.learner})")
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
        say.say(f"{'Interrupted. ' if interrupted else ''}{_ending(ending, lab.endpoint_url, lab.paths)}")
        raise
    report["lab"]["ending"] = close_lab(lab, keep=keep)
    report["score"] = _score(report["lessons"])
    report["failed"] = _failures(report)
    report["passed"] = not report["failed"] and bool(report["lessons"])
    report["seconds"] = round(time.monotonic() - began, 1)
    return report


#: What became of the lab, as the end of the tour says it.
_ENDINGS = {
    "stopped": "The lab the tour started is stopped (add --keep to explore it afterwards).",
    "kept": (
        'The lab keeps running at {endpoint}: eval "$(onboard lab env)" to use it, '
        "`onboard lab down` to stop it."
    ),
    "reused": "Your lab keeps running at {endpoint}, as the tour found it.",
    "gone": "The lab stopped during the tour; its log is {log}.",
}


def _ending(ending: str, endpoint_url: str, paths: LabPaths) -> str:
    return _ENDINGS[ending].format(endpoint=endpoint_url, log=paths.log_file)


def _search_path(env: os._Environ[str] | dict[str, str]) -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])


def _lab_facts(lab: TourLab) -> dict[str, Any]:
    world = lab.state["world"]
    return {
        "endpoint_url": lab.endpoint_url,
        "started": lab.started,
        "state_dir": str(lab.paths.root),
        "team_file": str(lab.paths.team_file),
        "region": world["region"],
        "account": world["account"],
        "instances": world["instances"],
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


def _score(lessons: list[dict[str, Any]]) -> dict[str, Any]:
    graded = [step for lesson in lessons for step in lesson["steps"] if step["graded"]]
    return {
        "points": sum(lesson["points"] for lesson in lessons),
        "max_points": sum(lesson["max_points"] for lesson in lessons),
        "steps_passed": sum(step["passed"] for step in graded),
        "steps_checked": len(graded),
        "steps_not_reached": sum(len(lesson["not_reached"]) for lesson in lessons),
    }


def _failures(report: dict[str, Any]) -> list[dict[str, Any]]:
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
    say.say(_ending(lab["ending"], lab["endpoint_url"], LabPaths(Path(lab["state_dir"]))))
