"""Starting, finding and steering the user's lab from another process (what `onboard lab ...` calls).

The lab's files are in :class:`~onboard.lab.state.LabPaths` (the state folder). A lab is *running* when its
server holds lab.lock; a lab.json without a held lock is what a crash or ``kill -9`` leaves behind, and is
cleared by the next command that looks.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from onboard.errors import EnvironmentProblem, OnboardError
from onboard.lab.client import AdminClient, health
from onboard.lab.state import LabPaths, admin_secret, read_state
from onboard.lab.status import LabStatus

if TYPE_CHECKING:
    from onboard.lab.classmode import ClassMode

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    _DETACHED_FLAGS = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
else:
    _DETACHED_FLAGS = 0
START_TIMEOUT = 60.0


def find_running(paths: LabPaths) -> LabStatus | None:
    """The running lab's state (lab.json), or None; a stale lab.json (crashed lab) is removed."""
    from onboard.lab.state import lock_is_held

    state = read_state(paths)
    if not lock_is_held(paths):
        if state is not None:
            paths.state_file.unlink(missing_ok=True)
        return None
    return state


def require_running(paths: LabPaths) -> tuple[LabStatus, AdminClient]:
    state = find_running(paths)
    if state is None or not state.ready:
        raise EnvironmentProblem(
            "no practice lab is running for this user",
            "Start one with `onboard lab up --detach` (or `onboard lab up` in another terminal).",
        )
    secret = admin_secret(paths)
    if not secret:
        raise EnvironmentProblem(
            f"the lab's admin secret is missing from {paths.admin_secret_file}",
            "Restart the lab: `onboard lab down` then `onboard lab up`.",
        )
    return state, AdminClient(state.endpoint_url, secret, tls=client_tls(paths, state.endpoint_url))


def ca_bundle(paths: LabPaths, endpoint_url: str) -> Path | None:
    """The CA certificate a class lab's https endpoint is trusted with (None for a plain-HTTP lab)."""
    from onboard.lab.tls import TlsFiles

    return TlsFiles.of(paths.root).ca_cert if endpoint_url.startswith("https://") else None


def client_tls(paths: LabPaths, endpoint_url: str) -> ssl.SSLContext | None:
    """What this process trusts the lab's endpoint with: the class lab's CA only, or nothing (http)."""
    from onboard.lab.tls import client_context

    bundle = ca_bundle(paths, endpoint_url)
    return client_context(bundle) if bundle is not None else None


def _server_args(
    paths: LabPaths,
    port: int | None,
    learners: list[str] | None,
    world_file: Path | None,
    plugin: str,
    classroom: ClassMode | None,
    class_file: Path | None,
) -> list[str]:
    args = ["--state", str(paths.root.resolve()), "--plugin", plugin]
    if port is not None:
        args += ["--port", str(port)]
    if classroom is not None:
        args += ["--listen", classroom.address]
    if class_file is not None:
        args += ["--class", str(Path(class_file).resolve())]
    elif learners or classroom is not None:
        args += ["--learners", ",".join(classroom.names if classroom is not None else learners or [])]
    if world_file is not None:
        args += ["--world", str(Path(world_file).resolve())]
    return args


def check_system_plugin() -> dict[str, Any]:
    """For `lab up --plugin system`: whether AWS's installed plugin can reach the lab, or why not."""
    from onboard.labplugin.system import check_system_plugin as check

    ok, version, explanation = check()
    if not ok:
        raise EnvironmentProblem(
            explanation, "Start the lab without --plugin system to use the lab's own plugin."
        )
    return {"mode": "system", "version": version, "explanation": explanation}


def check_can_start(
    paths: LabPaths,
    world_file: Path | None,
    learners: list[str] | None,
    classroom: ClassMode | None = None,
) -> None:
    """Fail early, in the caller's process, on a lab already running, a bad world/learner list, or a class
    lab where learners' shells cannot be sandboxed."""
    from onboard.lab.state import lock_is_held
    from onboard.lab.world import load_world

    if find_running(paths) is not None or lock_is_held(paths):
        state = read_state(paths)
        where = f"at {state.endpoint_url}" if state is not None else "(still starting)"
        raise EnvironmentProblem(
            f"a practice lab is already running for this user {where}",
            "Use it, or stop it first with `onboard lab down`.",
        )
    if classroom is not None:
        from onboard.lab.classmode import require_sandbox

        require_sandbox()
        learners = classroom.names
    world = load_world(world_file)
    if learners:
        world.with_learners(learners)


def start_detached(
    paths: LabPaths,
    *,
    port: int | None = None,
    learners: list[str] | None = None,
    world_file: Path | None = None,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
    plugin: str = "lab",
    classroom: ClassMode | None = None,
    class_file: Path | None = None,
) -> LabStatus:
    """Start the lab as a background process and wait until it answers; return its state.

    ``env`` replaces the server's environment (tests pass an isolated one); default: this process's.
    ``classroom`` (read from ``class_file`` or ``learners``) makes it a class lab.
    """
    check_can_start(paths, world_file, learners, classroom)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.state_file.unlink(missing_ok=True)
    with open(paths.log_file, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onboard.lab.process",
                *_server_args(paths, port, learners, world_file, plugin, classroom, class_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            # `python -m` puts its working folder first on the import path: started from a folder holding an
            # `onboard` package (a checkout, a download), the lab would run that code. Its own state folder
            # holds none.
            cwd=paths.root,
            # On Windows the same detachment: no console, its own process group (Ctrl-C does not reach it).
            creationflags=_DETACHED_FLAGS,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvironmentProblem(
                f"the lab stopped while starting (exit code {process.returncode}):\n{_log_tail(paths)}",
                f"The whole log is in {paths.log_file}.",
            )
        state = read_state(paths)
        if (
            state is not None
            and state.pid == process.pid
            and state.ready
            and health(state.endpoint_url, tls=client_tls(paths, state.endpoint_url))
        ):
            return state
        time.sleep(0.05)
    process.terminate()
    raise EnvironmentProblem(f"the lab did not become ready within {timeout:.0f} s", f"See {paths.log_file}.")


def _log_tail(paths: LabPaths, lines: int = 12) -> str:
    try:
        return "\n".join(paths.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(paths: LabPaths, timeout: float = 15.0) -> dict[str, Any]:
    """Stop the running lab (sessions end, transcripts are stored); return what was stopped.

    The lab is asked through its admin endpoint; one that no longer answers gets SIGTERM (it then
    still ends its sessions), and if that does not stop it either, the error says which pid to kill.
    """
    state, admin = require_running(paths)
    how = "asked"
    try:
        admin.call("shutdown")
    except OnboardError:
        how = "terminated"
        _terminate(state.pid)
    if not _wait_stopped(paths, timeout):
        raise EnvironmentProblem(
            f"the lab (pid {state.pid}) did not stop within {timeout:.0f} s",
            f"Stop it by hand: kill -9 {state.pid}",
        )
    paths.state_file.unlink(missing_ok=True)
    return {"stopped": True, "how": how, "pid": state.pid, "endpoint_url": state.endpoint_url}


def _terminate(pid: int) -> None:
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)


def _wait_stopped(paths: LabPaths, timeout: float) -> bool:
    from onboard.lab.state import lock_is_held

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lock_is_held(paths):
            return True
        time.sleep(0.05)
    return False


def status(paths: LabPaths) -> dict[str, Any]:
    stale = paths.state_file.exists()
    state = find_running(paths)
    if state is None:
        return {"running": False, "state_dir": str(paths.root), "cleaned_stale_state": stale}
    _, admin = require_running(paths)
    live = admin.call("status")
    return {"running": True, **live}


def reset(paths: LabPaths) -> dict[str, Any]:
    _, admin = require_running(paths)
    return admin.call("reset")


def fault(paths: LabPaths, name: str, target: str | None) -> dict[str, Any]:
    _, admin = require_running(paths)
    return admin.call("fault", {"name": name, "target": target})


def clear_faults(paths: LabPaths) -> dict[str, Any]:
    _, admin = require_running(paths)
    return admin.call("fault/clear")


# --- profiles written for an earlier port ---------------------------------------------------------------


@dataclass(frozen=True)
class MovedEndpoint:
    """A profile in the lab's ~/.aws/config that points at the lab's old port."""

    profile: str
    written: str
    running: str

    @property
    def fix_command(self) -> str:
        """The one command that points the profile at the running lab (the AWS CLI edits its own file)."""
        return f"aws configure set endpoint_url {self.running} --profile {self.profile}"

    @property
    def message(self) -> str:
        return (
            f"the profile {self.profile!r} still points at {self.written}, but the lab now listens at "
            f"{self.running} (its old port was taken). Fix the profile with: {self.fix_command}"
        )


def moved_endpoints(paths: LabPaths, endpoint_url: str) -> list[MovedEndpoint]:
    """The profiles of the lab's own AWS config whose loopback endpoint_url is not the running lab's."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(paths.aws_dir / "config", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return []  # setup and doctor explain a broken config file; this only looks for a stale port
    moved = []
    for section in parser.sections():
        written = parser.get(section, "endpoint_url", fallback="").strip()
        host = urlsplit(written).hostname if written else None
        if host in ("127.0.0.1", "localhost") and written.rstrip("/") != endpoint_url:
            profile = section.removeprefix("profile ").strip()
            moved.append(MovedEndpoint(profile=profile, written=written, running=endpoint_url))
    return moved


def moved_endpoint_hint(url: str, profile: str) -> str | None:
    """For doctor: when ``url`` (a loopback endpoint that does not answer) is a lab's old address and this
    user's lab runs elsewhere now, the command that fixes ``profile``."""
    state = find_running(LabPaths.for_user())
    if state is None or state.endpoint_url == url.rstrip("/"):
        return None
    return MovedEndpoint(profile=profile, written=url, running=state.endpoint_url).message


# --- the lab's environment -----------------------------------------------------------------------------


def environment(paths: LabPaths, state: LabStatus) -> dict[str, str]:
    """The variables that point the AWS CLI, boto3 and onboard at the lab instead of the real ~/.aws and
    onboard's real data folders.

    The endpoint goes in AWS_ENDPOINT_URL (honoured by the AWS CLI v1 and boto3), so ``aws`` talks to the
    lab even before ``onboard setup`` has written a profile. Plugin downloads go to the lab too, in either
    plugin mode, so nothing run in the lab's environment looks up AWS's download site. PATH has the lab's bin
    first, or last with ``--plugin system`` (where AWS's installed plugin must win over the lab's).
    """
    system_path = os.environ.get("PATH", "")
    bin_dir = str(paths.bin_dir)
    endpoint = state.endpoint_url
    bundle = ca_bundle(paths, endpoint)
    # A class lab's https endpoint is trusted with its CA (honoured by the AWS CLI, boto3 and onboard).
    trust = {"AWS_CA_BUNDLE": str(bundle)} if bundle is not None else {}
    # A proxy for the user's network must not sit between the AWS CLI and the lab (botocore, urllib and
    # the plugin go through HTTP(S)_PROXY for any host NO_PROXY does not name, loopback included).
    users = os.environ.get("NO_PROXY") or os.environ.get("no_proxy")
    lab_host = urlsplit(endpoint).hostname
    no_proxy = ",".join(dict.fromkeys(item for item in (users, lab_host, "127.0.0.1", "localhost") if item))
    return {
        **trust,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "AWS_CONFIG_FILE": str(paths.aws_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(paths.aws_dir / "credentials"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "ONBOARD_TEAM": str(paths.team_file),
        "ONBOARD_BIN_DIR": bin_dir,
        # What onboard may change in a lab shell: doctor's fixes stay inside it (never the real ~/.bashrc),
        # and so do the plugin versions, lesson progress and downloads onboard keeps (its data and cache
        # folders are the sandbox home's, as in the tour); its state folder stays, where the lab is found.
        "ONBOARD_LAB_SANDBOX": str(paths.sandbox_home.parent),
        "XDG_DATA_HOME": str(paths.sandbox_home / ".local" / "share"),
        "XDG_CACHE_HOME": str(paths.sandbox_home / ".cache"),
        "ONBOARD_PLUGIN_DOWNLOAD_URL": f"{endpoint}/_onboard/downloads/plugin/",
        "PATH": (
            system_path + os.pathsep + bin_dir
            if state.uses_system_plugin
            else bin_dir + os.pathsep + system_path
        ),
    }


def run_shell(paths: LabPaths) -> int:
    """A subshell (the user's $SHELL) with the lab's environment; its exit code."""
    state, _ = require_running(paths)
    program = os.environ.get("SHELL") or "/bin/sh"
    env = {**os.environ, **environment(paths, state), "ONBOARD_LAB_SHELL": "1"}
    try:
        return subprocess.call([program], env=env)
    except OSError as error:
        raise OnboardError(
            f"cannot start the shell {program}: {error.strerror}", "Set SHELL to a shell that exists."
        ) from None
