"""A scripted learner: types a lesson's commands into real terminals and has each step checked.

Used by the lab tour and the end-to-end tests. :class:`ScriptedLearner` drives a real shell in a
pseudo-terminal (pexpect, which the lab extra brings): it types each ``sh`` line on "the computer", and
each ``session`` line inside the session that ``aws ssm start-session`` opened there. A computer line
typed while a session is open goes to a second terminal, as a person would do it (``aws ssm
terminate-session`` from another window); ``<session-id>`` in such a line is the id the first terminal
printed. A port session (``onboard forward``, or ``aws ssm start-session`` with a port-forwarding document)
keeps its terminal too: the lines after it go to the second terminal, and at the end of the step the
learner stops the tunnel with Ctrl-C, as the lesson tells them to. :func:`play_lesson` plays a lesson
step by step through a :class:`~onboard.lessons.runner.Runner` and returns each step's verdicts.

``edit`` lets a test play a learner's mistake: it gets ``(where, line)`` and returns the line to type
instead, or None to leave it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The prompt of the learner's own shell: unlike any remote prompt.
LOCAL_PROMPT = "learner-computer> "
#: Remote prompts, as EC2 instances show them: ssm-user's ``sh`` on Amazon Linux (``sh-4.2$``) and on
#: Ubuntu (``$`` at the start of a line), and a login shell after sudo on Amazon Linux
#: (``[analyst@ip-10-0-1-23 ~]$``) and on Ubuntu (``analyst@ip-10-0-1-23:~$``).
REMOTE_PROMPT = re.compile(
    r"(?:sh-\d[\d.]*\$ |\[[^\]\r\n]+\][$#] |[\w.-]+@[\w.-]+:[^\r\n$#]*[$#] |(?m:^)[$#] )"
)
SESSION_STARTED = re.compile(r"Starting session with SessionId: (\S+)")
SESSION_ENDED = re.compile(r"Exiting session with sessionId: (\S+)\.")
SESSION_ID_PLACEHOLDER = "<session-id>"
#: What the plugin prints once a port session listens (src/sessionmanagerplugin/session/portsession/).
TUNNEL_OPEN = re.compile(r"Waiting for connections\.\.\.")

Edit = Callable[[str, str], "str | None"]


@dataclass
class StepPlay:
    step: int
    step_id: str
    title: str
    typed: list[str]
    graded: bool
    passed: bool
    points: int
    verdicts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LessonPlay:
    lesson: str
    steps: list[StepPlay]
    completed: bool
    summary: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.completed and all(step.passed for step in self.steps)


class ScriptedLearner:
    """One learner's terminals: the computer's shell, a second one on demand, and any open session."""

    def __init__(self, env: dict[str, str], workdir: Path, *, timeout: float = 30, transcript=None):
        self.env = {**env, "PS1": LOCAL_PROMPT, "PROMPT_COMMAND": "", "TERM": "dumb"}
        self.workdir = workdir
        self.timeout = timeout
        self.transcript = transcript
        self.main = self._terminal()
        self.second: Any = None
        self.session_id: str | None = None
        self.in_session = False
        #: A port session holds the first terminal (it prints no prompt until Ctrl-C ends it).
        self.tunnel_open = False

    def _terminal(self):
        import pexpect

        child = pexpect.spawn(
            "bash",
            ["--norc", "--noprofile"],
            env=self.env,
            cwd=str(self.workdir),
            encoding="utf-8",
            codec_errors="replace",
            timeout=self.timeout,
            dimensions=(40, 200),
        )
        child.logfile_read = self.transcript
        child.expect_exact(LOCAL_PROMPT)
        return child

    def type(self, where: str, line: str) -> str:
        """Type ``line`` on the computer (``local``) or in the open session (``session``), wait, return it."""
        line = line.replace(SESSION_ID_PLACEHOLDER, self.session_id or SESSION_ID_PLACEHOLDER)
        if where == "session":
            self._in_session(line)
        elif self.in_session or self.tunnel_open:
            self._second_terminal(line)
        else:
            self._on_computer(line)
        return line

    def _on_computer(self, line: str) -> None:
        import pexpect

        self.main.sendline(line)
        found = self.main.expect([SESSION_STARTED, re.escape(LOCAL_PROMPT), pexpect.EOF])
        if found == 0:
            self.session_id = self.main.match.group(1)
            if self.main.expect([REMOTE_PROMPT, TUNNEL_OPEN]) == 0:
                self.in_session = True
            else:
                self.tunnel_open = True

    def _in_session(self, line: str) -> None:
        if not self.in_session:
            return  # the session did not start (a mistake earlier): typing into the computer would mislead
        self.main.sendline(line)
        if self.main.expect([SESSION_ENDED, REMOTE_PROMPT]) == 0:
            self.main.expect_exact(LOCAL_PROMPT)
            self.in_session = False

    def _second_terminal(self, line: str) -> None:
        import pexpect

        if self.second is None:
            self.second = self._terminal()
        second = self.second
        second.sendline(line)
        second.expect_exact(LOCAL_PROMPT)
        # The first terminal sees its session end (or keeps it, when the id was wrong).
        if (
            "terminate-session" in line
            and self.main.expect([SESSION_ENDED, pexpect.TIMEOUT], timeout=10) == 0
        ):
            self.main.expect_exact(LOCAL_PROMPT)
            self.in_session = False

    def play(self, commands: list[dict[str, Any]], edit: Edit | None = None) -> list[str]:
        """Type every command block of a step; return what was typed."""
        typed = []
        for block in commands:
            for line in block["lines"]:
                chosen = edit(block["where"], line) if edit else line
                if chosen is None:
                    continue
                typed.append(self.type(block["where"], chosen))
        return typed

    def leave_session(self) -> None:
        """End a session left open (a learner's mistake may leave one): exit until the computer answers;
        a tunnel is stopped with Ctrl-C."""
        if self.tunnel_open:
            self.main.sendintr()
            self.main.expect_exact(LOCAL_PROMPT)
            self.tunnel_open = False
        for _ in range(4):
            if not self.in_session:
                return
            self._in_session("exit")

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.leave_session()
        for child in (self.main, self.second):
            if child is not None:
                child.close(force=True)


def play_lesson(
    runner,
    name: str,
    env: dict[str, str],
    *,
    edit: Edit | None = None,
    on_step: Callable[[StepPlay], None] | None = None,
    timeout: float = 30,
    transcript=None,
) -> LessonPlay:
    """Play lesson ``name`` from its first step; stop at the first step whose check fails."""
    view = runner.start(name)
    learner = ScriptedLearner(
        {**env, "AWS_PROFILE": runner.profile}, runner.workdir, timeout=timeout, transcript=transcript
    )
    steps: list[StepPlay] = []
    try:
        while True:
            typed = learner.play(view["commands"], edit)
            learner.leave_session()
            checked = runner.check()
            play = StepPlay(
                step=view["step"],
                step_id=view["step_id"],
                title=view["title"],
                typed=typed,
                graded=view["graded"],
                passed=checked["passed"],
                points=checked.get("points", 0),
                verdicts=checked["verdicts"],
            )
            steps.append(play)
            if on_step is not None:
                on_step(play)
            if not play.passed:
                return LessonPlay(name, steps, completed=False)
            view = runner.next()
            if view["completed"]:
                return LessonPlay(name, steps, completed=True, summary=view["summary"])
    finally:
        learner.close()


def play_course(
    runner,
    names: list[str],
    env: dict[str, str],
    *,
    on_step: Callable[[StepPlay], None] | None = None,
    timeout: float = 30,
) -> tuple[list[LessonPlay], dict[str, Any]]:
    """Play lessons in order (the lab tour: ready, connect, sudo, transfer); stop at the first failure.

    Returns each lesson's play and the course summary (points, time) from the learner's progress.
    """
    plays = []
    for name in names:
        plays.append(play_lesson(runner, name, env, on_step=on_step, timeout=timeout))
        if not plays[-1].passed:
            break
    return plays, runner.progress.course_summary()
