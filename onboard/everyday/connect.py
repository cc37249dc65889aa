"""``onboard connect``: StartSession through botocore, then the Session Manager plugin, as the AWS CLI does.

What the AWS CLI does for ``aws ssm start-session`` (awscli/customizations/sessionmanager.py, read in the
CLI installed here, and /work/shared/reference/session-manager-protocol.md section 1): call StartSession,
ask ``session-manager-plugin --version``, put ``{"SessionId","TokenValue","StreamUrl"}`` in the
environment variable ``AWS_SSM_START_SESSION_RESPONSE`` and pass that variable's NAME as the plugin's first
argument, then ``REGION StartSession PROFILE REQUEST_JSON ENDPOINT``, with SIGINT, SIGQUIT and SIGTSTP
ignored while the plugin runs (the plugin forwards them to the remote terminal). Unlike the CLI, onboard
never puts the stream token on a command line: a plugin too old to read the variable is refused. And where
the CLI runs the plugin as a child (``check_call``) and waits beside it, ``onboard connect`` checks the plugin
while it makes its client, and then becomes the plugin (:func:`become_plugin`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from onboard.errors import EnvironmentProblem, OnboardError, UsageError
from onboard.everyday.reach import Reach, error_code, is_denied
from onboard.team import OS_USER

PLUGIN = "session-manager-plugin"
RESPONSE_VARIABLE = "AWS_SSM_START_SESSION_RESPONSE"
#: Plugins up to this version read the response from argv only (awscli: LAST_PLUGIN_VERSION_WITHOUT_ENV_VAR).
LAST_VERSION_WITHOUT_ENV_VAR = (1, 2, 497, 0)
SSM_USER = "ssm-user"
INTERACTIVE_COMMAND = "AWS-StartInteractiveCommand"
_VERSION = re.compile(r"^\s*(\d+(?:\.\d+){0,3})\s*$")
_Started = TypeVar("_Started")


@dataclass(frozen=True)
class SessionRequest:
    """StartSession's arguments: the target, the session document and its parameters."""

    target: str
    document: str | None = None
    parameters: dict[str, list[str]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        request: dict[str, Any] = {"Target": self.target}
        if self.document:
            request["DocumentName"] = self.document
        if self.parameters:
            request["Parameters"] = self.parameters
        return request


def default_user(reach: Reach, instance_id: str) -> str | None:
    """The team file's OS user for this instance (None: ssm-user, Session Manager's own)."""
    if reach.team is None:
        return None
    return next((i.connect_as for i in reach.team.instances if i.id == instance_id), None)


def check_os_user(option: str, user: str | None) -> None:
    """Refuse a user name that is no OS user's (it goes into ``sudo -iu`` on the instance); commands call
    it before anything is looked up, so a mistyped name is a usage error whatever else is missing."""
    if user is not None and not OS_USER.fullmatch(user):
        raise UsageError(
            f"{option} {user!r} is not an OS user name",
            "OS user names are lower-case letters, digits, _ and -.",
        )


def shell_request(instance_id: str, user: str | None) -> SessionRequest:
    """A shell as ``user``: AWS-StartInteractiveCommand running ``sudo -iu USER`` (ssm-user: plain)."""
    if user is None or user == SSM_USER:
        return SessionRequest(instance_id)
    check_os_user("--user", user)
    return SessionRequest(instance_id, INTERACTIVE_COMMAND, {"command": [f"sudo -iu {user}"]})


# ----------------------------------------------------------------------------------------- the plugin


def find_plugin() -> str:
    """The plugin on PATH (where the AWS CLI looks), if it reads the response from the environment."""
    found = shutil.which(PLUGIN)
    if not found:
        raise EnvironmentProblem(
            f"{PLUGIN} is not on PATH", "Install it: onboard plugin install (then open a new terminal)."
        )
    try:
        done = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as failed:
        raise EnvironmentProblem(
            f"{found} --version did not run: {failed}", "Reinstall it: onboard plugin install."
        ) from None
    match = _VERSION.match(done.stdout)
    if done.returncode != 0 or not match:
        raise EnvironmentProblem(
            f"{found} --version printed no version (exit code {done.returncode})",
            "Reinstall it: onboard plugin install.",
        )
    version = tuple(int(part) for part in match.group(1).split("."))
    if version + (0,) * (4 - len(version)) <= LAST_VERSION_WITHOUT_ENV_VAR:
        raise EnvironmentProblem(
            f"{found} is version {match.group(1)}, too old to read the session from the environment "
            "(it would need the stream token on its command line, where other users can see it)",
            "Install a current plugin: onboard plugin install.",
        )
    return found


#: Ctrl-C, Ctrl-\ and Ctrl-Z: ignored here while the plugin runs, as the AWS CLI does; the plugin sends them
#: to the instance.
USER_SIGNALS = ("SIGINT", "SIGQUIT", "SIGTSTP")
#: What Python's subprocess resets in a child (restore_signals): Python itself ignores SIGPIPE and SIGXFSZ.
RESTORED_FOR_CHILDREN = ("SIGPIPE", "SIGXFZ", "SIGXFSZ")


@contextlib.contextmanager
def signals_handled(names: tuple[str, ...], handler: signal.Handlers) -> Iterator[None]:
    """The signals ``names`` (those this platform has) set to ``handler`` inside the block."""
    saved = {name: signal.signal(getattr(signal, name), handler) for name in names if hasattr(signal, name)}
    try:
        yield
    finally:
        for name, previous in saved.items():
            signal.signal(getattr(signal, name), previous)


def user_signals_ignored() -> contextlib.AbstractContextManager[None]:
    return signals_handled(USER_SIGNALS, signal.SIG_IGN)


# ----------------------------------------------------------------------------------------- a session


def start_session(reach: Reach, ssm: Any, request: SessionRequest) -> dict[str, Any]:
    """StartSession; TargetNotConnected and AccessDenied come back explained with doctor's findings."""
    import botocore.exceptions

    try:
        return ssm.start_session(**request.to_api())
    except botocore.exceptions.ClientError as refused:
        raise explain_refusal(reach, request, refused) from None
    except botocore.exceptions.BotoCoreError as failed:
        from onboard.secrets import scrub

        raise OnboardError(
            f"StartSession did not reach Session Manager: {scrub(str(failed))}",
            "Run `onboard doctor` to check the network and the profile.",
        ) from None


def explain_refusal(reach: Reach, request: SessionRequest, refused: Exception) -> OnboardError:
    from onboard.secrets import scrub

    code = error_code(refused)
    message = scrub(str(refused))
    if code == "TargetNotConnected":
        summary = f"Session Manager cannot reach {request.target}: its SSM agent is not connected"
    elif is_denied(refused):
        what = f"the document {request.document}" if request.document else request.target
        summary = f"the profile {reach.profile!r} may not start a session on {what}"
    else:
        return OnboardError(f"StartSession failed: {message}", "Run `onboard doctor` to see why.")
    findings = doctor_findings(reach, request.target)
    hint = "; ".join(findings) if findings else f"AWS said: {message}"
    return OnboardError(f"{summary}.", f"onboard doctor found: {hint}" if findings else hint)


def doctor_findings(reach: Reach, target: str) -> list[str]:
    """What ``onboard doctor --target TARGET`` finds wrong, one line each (empty when it finds nothing)."""
    from onboard.doctor import DoctorOptions, Status
    from onboard.doctor.service import diagnose

    team = str(reach.team.path) if reach.team else None
    try:
        _, findings = diagnose(DoctorOptions(profile=reach.profile, team=team, targets=(target,)))
    except OnboardError:
        return []
    lines = []
    for finding in findings:
        if finding.status in (Status.FAIL, Status.ERROR):
            line = f"{finding.title}: {finding.summary}"
            lines.append(f"{line} (next: {finding.next})" if finding.next else line)
    return lines


def plugin_invocation(
    reach: Reach, ssm: Any, request: SessionRequest, response: dict[str, Any], plugin: str
) -> tuple[list[str], dict[str, str]]:
    """The plugin's argv and environment, as the AWS CLI builds them: the session in the environment."""
    session = {key: response[key] for key in ("SessionId", "TokenValue", "StreamUrl")}
    environment = {**os.environ, RESPONSE_VARIABLE: json.dumps(session)}
    argv = [
        plugin,
        RESPONSE_VARIABLE,
        ssm.meta.region_name,
        "StartSession",
        reach.profile,
        json.dumps(request.to_api()),
        ssm.meta.endpoint_url,
    ]
    return argv, environment


def run_plugin(reach: Reach, ssm: Any, request: SessionRequest, response: dict[str, Any], plugin: str) -> int:
    """Run the plugin on the started session as a child sharing this terminal; its exit code.

    If the plugin cannot be started at all, the session is terminated so that it does not linger.
    """
    argv, environment = plugin_invocation(reach, ssm, request, response, plugin)
    with user_signals_ignored():
        process = started(ssm, response["SessionId"], plugin, lambda: subprocess.Popen(argv, env=environment))
        return process.wait()


def become_plugin(
    reach: Reach, ssm: Any, request: SessionRequest, response: dict[str, Any], plugin: str
) -> int:
    """End the command by running the plugin in its place, for a command with nothing to do afterwards.

    On POSIX this process becomes the plugin (exec): the same terminal, environment and ignored user
    signals the AWS CLI gives its child, and no onboard left waiting beside it; the plugin's exit code is
    the command's. Elsewhere (Windows has no exec that keeps the console) it is :func:`run_plugin`.
    """
    if os.name != "posix":
        return run_plugin(reach, ssm, request, response, plugin)
    argv, environment = plugin_invocation(reach, ssm, request, response, plugin)
    with user_signals_ignored(), signals_handled(RESTORED_FOR_CHILDREN, signal.SIG_DFL):
        for stream in (sys.stdout, sys.stderr):
            stream.flush()

        def replace_this_process() -> NoReturn:
            os.execve(plugin, argv, environment)  # noqa: S606 - the plugin found on PATH and checked

        return started(ssm, response["SessionId"], plugin, replace_this_process)


def started(ssm: Any, session_id: str, plugin: str, start: Callable[[], _Started]) -> _Started:
    """``start()`` the plugin; if it cannot start at all, the session is terminated (it would linger)."""
    try:
        return start()
    except OSError as failed:
        terminate_quietly(ssm, session_id)
        raise EnvironmentProblem(
            f"{plugin} could not be started: {failed.strerror}; the session was terminated",
            "Reinstall the plugin: onboard plugin install.",
        ) from None


def terminate_quietly(ssm: Any, session_id: str) -> None:
    with contextlib.suppress(Exception):
        ssm.terminate_session(SessionId=session_id)


def plugin_and_client(reach: Reach) -> tuple[str, Any]:
    """The checked plugin and an SSM client, made at once (``--version`` is a process of its own, the
    client mostly imports); both before StartSession: no session is left behind for want of a plugin."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        plugin = pool.submit(find_plugin)
        ssm = reach.client("ssm")
        return plugin.result(), ssm


def connect(reach: Reach, target: str, user: str | None) -> int:
    """Open a shell on ``target`` (an instance id) as ``user`` (None: the team file's, else ssm-user)."""
    request = shell_request(target, user or default_user(reach, target))
    plugin, ssm = plugin_and_client(reach)
    response = start_session(reach, ssm, request)
    return become_plugin(reach, ssm, request, response, plugin)
