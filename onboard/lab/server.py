"""The lab server process: moto and onboard's Session Manager layer on 127.0.0.1, with its data channel.

``onboard lab up`` runs :func:`run` in the foreground, or starts ``python -m onboard.lab.server`` detached
(its output in the state folder's server.log). Start-up: take the per-user lock, import moto (with its
start-up settings), seed the world, bind the HTTP port, start the data channel, warm up moto with one
signed request per service, write the team file, the access-key CSVs and lab.json, then serve until
``onboard lab down`` (an admin request), SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem, OnboardError
from onboard.lab.state import LabPaths
from onboard.lab.world import World
from onboard.secrets import Secret

log = logging.getLogger("onboard.lab")

HOST = "127.0.0.1"
#: The port a lab prefers (LocalStack's habit); a free one is taken when it is busy.
PREFERRED_PORT = 4566


def _prepare_moto_settings() -> None:
    """This process's environment for moto: set before the first moto import, which reads it once.

    The user's own AWS settings are dropped (an AWS_PROFILE naming a profile of theirs would break the
    botocore session moto makes, and the lab must never read the real ~/.aws): the lab, and the shells its
    instances run, see no AWS configuration but their own.
    """
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # Every request is authenticated and authorised from the first one on (seeding bypasses HTTP).
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")


def _import_moto_ec2() -> None:
    """Import moto's EC2 models with one region list instead of eleven.

    Their class bodies call ``boto3.session.Session().get_available_regions(...)`` eleven times, and each
    new session parses botocore's endpoint data again: over a second of ``lab up``. During this one import
    the calls share one session and remember their answers, which depend only on the arguments.
    """
    import functools

    import boto3.session

    original = boto3.session.Session.get_available_regions
    shared = boto3.session.Session()  # one session: its loader parses each data file once

    @functools.cache
    def remembered(service_name: str, partition_name: str, allow_non_regional: bool) -> tuple[str, ...]:
        return tuple(original(shared, service_name, partition_name, allow_non_regional))

    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        return list(remembered(service_name, partition_name, allow_non_regional))

    boto3.session.Session.get_available_regions = get_available_regions
    try:
        import moto.ec2.models  # noqa: F401 - imported for its side effect: the models are built once
    finally:
        boto3.session.Session.get_available_regions = original


class LabLock:
    """One lab per user: an exclusive lock on lab.lock, released by the OS when the process dies."""

    def __init__(self, paths: LabPaths):
        self.paths = paths
        self._handle: Any = None

    def acquire(self) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.paths.lock_file, "a+")  # noqa: SIM115 - held for the life of the lab
        try:
            _lock_exclusive(handle)
        except OSError:
            handle.close()
            raise EnvironmentProblem(
                "a lab is already running for this user",
                "See it with `onboard lab status`; stop it with `onboard lab down`.",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def lock_is_held(paths: LabPaths) -> bool:
    """Whether a live lab process holds the lock (a crashed one does not)."""
    if not paths.lock_file.exists():
        return False
    with open(paths.lock_file, "a+") as handle:
        try:
            _lock_exclusive(handle)
        except OSError:
            return True
        _unlock(handle)
        return False


def _lock_exclusive(handle: Any) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(handle: Any) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class LabServer:
    """A running lab: moto's backends seeded with ``world``, the HTTP layer, the data channel."""

    def __init__(
        self,
        paths: LabPaths,
        world: World,
        *,
        port: int | None = None,
        data_channel: bool = True,
        plugin: str = "lab",
    ):
        self.paths = paths
        #: "lab": serve the lab's own plugin for download; "system": learners use AWS's installed plugin.
        self.plugin_mode = plugin
        self.world = world
        self.requested_port = port
        self.use_data_channel = data_channel
        self.http: Any = None
        self.channel: Any = None
        self.seeded: Any = None
        self.state: Any = None
        self.instances: dict[str, Any] = {}
        self.active_faults: dict[tuple[str, str], Any] = {}
        self.started_at = time.time()
        self.stopped = threading.Event()
        self.published: Any = None
        #: The endpoint the last lab had, when its port was taken and this one had to move.
        self.moved_from: str | None = None

    @property
    def iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.world.account]["aws"]

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.http.server_port}"

    # --- start and stop ----------------------------------------------------------------------------------

    def start(self) -> None:
        # The plugin bundles are built (or found up to date) while moto imports and the world is seeded.
        publishing = _Background(self._publish_plugin)
        phase = _Phases()
        _prepare_moto_settings()
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from onboard.lab.api import LabApplication, LabState
        from onboard.lab.iampolicy import install_into_moto
        from onboard.lab.sessions import SessionRegistry
        from onboard.lab.state import admin_secret, remember_port, remembered_port

        _import_moto_ec2()
        phase.done("moto imported")
        install_into_moto()
        moto_app = DomainDispatcherApplication(create_backend_app)
        registry = SessionRegistry()
        registry.on_end(self._store_transcript)
        self.state = LabState(world=self.world, registry=registry, roles={}, endpoint_url="")
        self.state.admin_secret = admin_secret(self.paths, create=True) or ""
        self.state.admin_handlers.update(self._admin_handlers())
        from onboard.lab.agent import attach

        attach(self)
        application = LabApplication(self.state, moto_app)
        remembered = remembered_port(self.paths) if self.requested_port is None else None
        # An explicit --port, else the last lab's port (written profiles stay valid), else 4566, else any.
        candidates: list[int | None] = (
            [self.requested_port] if self.requested_port is not None else [remembered, PREFERRED_PORT, 0]
        )
        self.http = _bind(application, candidates, _request_handler(MotoRequestHandler), make_server)
        if remembered is not None and remembered != self.http.server_port:
            self.moved_from = f"http://{HOST}:{remembered}"
            log.warning("port %s is taken: the lab moved to %s", remembered, self.endpoint_url)
        remember_port(self.paths, self.http.server_port)
        self.state.endpoint_url = self.endpoint_url
        self._seed()
        phase.done(f"world seeded ({len(self.world.learners)} learners)")
        if self.use_data_channel:
            self._start_data_channel(registry)
        self._serving = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.2}, name="lab-http", daemon=True
        )
        self._serving.start()
        self._warm_up()
        phase.done("warmed up")
        publishing.join()
        phase.done("plugin downloads ready")
        if self.published is not None:
            self.state.downloads_dir = self.published.root
        self._write_files()

    def _publish_plugin(self) -> None:
        from onboard.lab.downloads import publish_lab_plugin

        if self.plugin_mode == "system":
            return
        self.published = publish_lab_plugin(self.paths)

    def _seed(self) -> None:
        from onboard.lab.seed import seed

        self.seeded = seed(
            self.world,
            instances_root=self.paths.instances_dir,
            endpoint_url=self.endpoint_url,
            known_keys=self._known_keys(),
        )
        self.state.roles.clear()
        self.state.roles.update(self.seeded.roles)
        self.instances.clear()
        self.instances.update(self.seeded.instances)
        from onboard.lab.agent import boot_world

        boot_world(self)

    def _known_keys(self) -> dict[str, Any]:
        """Keys this lab issued before (its CSVs), so that set-up profiles survive restarts and resets."""
        from onboard.lab.seed import ADMIN_USER, AccessKeyPair
        from onboard.lab.state import read_credentials_csv

        known = {}
        for user in (ADMIN_USER, self.world.trainer, *self.world.learners):
            path = self.paths.credentials_csv(user)
            if path.exists():
                with contextlib.suppress(OSError, ValueError, KeyError):
                    key_id, secret = read_credentials_csv(path)
                    known[user] = AccessKeyPair(user, key_id, secret)
        return known

    def _start_data_channel(self, registry: Any) -> None:
        try:
            from onboard.lab.datachannel import DataChannelServer
        except ImportError:  # part 2 not installed: the API still answers, sessions lead nowhere
            log.warning("no data channel: sessions start but cannot connect")
            return
        self.channel = DataChannelServer(
            registry, self.instances, host=HOST, port=0, known_secrets=self._known_secrets
        )
        self.channel.start()
        self.state.stream_url = self.channel.stream_url

    def _known_secrets(self) -> list[Secret | str]:
        """Every secret a learner's shell could find in the lab's state folder: what transcripts mask."""
        found: list[Secret | str] = [self.state.admin_secret] if self.state.admin_secret else []
        found += [pair.secret_access_key for pair in self.seeded.keys.values()]
        for instance in self.instances.values():
            found += [instance.role_secret_access_key, instance.role_session_token]
        return found

    def _warm_up(self) -> None:
        """One signed request per service, so the first real request is as fast as the rest."""
        from onboard.lab.client import signed_request
        from onboard.lab.seed import ADMIN_USER

        admin = self.seeded.keys[ADMIN_USER]
        calls = [
            (
                "ec2",
                "POST",
                "/",
                b"Action=DescribeInstances&Version=2016-11-15",
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            (
                "sts",
                "POST",
                "/",
                b"Action=GetCallerIdentity&Version=2011-06-15",
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            (
                "iam",
                "POST",
                "/",
                b"Action=GetUser&Version=2010-05-08",
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            ("s3", "GET", f"/{self.world.transfer_bucket}?list-type=2", b"", {}),
            (
                "ssm",
                "POST",
                "/",
                b"{}",
                {
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "AmazonSSM.DescribeInstanceInformation",
                },
            ),
        ]
        for service, method, path, body, headers in calls:
            with contextlib.suppress(OSError):
                signed_request(
                    self.endpoint_url,
                    service,
                    self.world.region,
                    admin.access_key_id,
                    admin.secret_access_key,
                    method=method,
                    path=path,
                    body=body,
                    headers=headers,
                )

    def _write_files(self) -> None:
        from onboard.lab.state import write_credentials_csv, write_state
        from onboard.lab.teamfile import write_team_file

        current = {self.paths.credentials_csv(user) for user in self.seeded.keys}
        for user, pair in self.seeded.keys.items():
            write_credentials_csv(
                self.paths.credentials_csv(user), pair.access_key_id, pair.secret_access_key
            )
        # Keys of people no longer in the world would only be dead secrets lying around: remove them.
        for stale in self.paths.credentials_dir.glob("*_accessKeys.csv"):
            if stale not in current:
                stale.unlink()
        self.paths.aws_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths.bin_dir.mkdir(parents=True, exist_ok=True)
        published = self.published
        write_team_file(
            self.paths,
            self.world,
            self.endpoint_url,
            published.root if published else None,
            signing_key=published.public_key if published else None,
            fingerprint=published.fingerprint if published else None,
        )
        write_state(self.paths, self.describe())

    def describe(self) -> dict[str, Any]:
        """What lab.json and `onboard lab status` show: never a secret."""
        return {
            "status": "ready",
            "pid": os.getpid(),
            "lab_id": self.state.lab_id,
            "endpoint_url": self.endpoint_url,
            "port": self.http.server_port,
            "moved_from": self.moved_from,
            "data_channel_port": self.channel.port if self.channel is not None else None,
            "started_at": self.started_at,
            "state_dir": str(self.paths.root),
            "team_file": str(self.paths.team_file),
            "credentials": {user: str(self.paths.credentials_csv(user)) for user in self.seeded.keys},
            "world": self.world.summary(),
            "faults": [{"name": name, "target": target} for name, target in self.active_faults],
            "plugin": self._plugin_summary(),
            "sessions": {
                "active": sum(1 for s in self.state.registry.all() if s.is_active),
                "total": len(self.state.registry.all()),
            },
        }

    def _plugin_summary(self) -> dict[str, Any]:
        if self.published is None:
            return {"mode": self.plugin_mode}
        return {
            "mode": self.plugin_mode,
            "download_url": f"{self.endpoint_url}/_onboard/downloads/plugin/",
            "version": self.published.version,
            "signing_key": str(self.published.public_key),
            "fingerprint": self.published.fingerprint,
        }

    def wait(self) -> None:
        """Block until the lab is told to stop (admin shutdown, SIGTERM, Ctrl-C) and has stopped serving."""
        while not self.stopped.wait(0.5):
            pass
        self._serving.join()

    def request_stop(self) -> None:
        if not self.stopped.is_set():
            self.stopped.set()
            threading.Thread(target=self.http.shutdown, daemon=True).start()

    def close(self) -> None:
        """Stop the data channel (sessions end, transcripts are stored) and the HTTP server."""
        if self.channel is not None:
            with contextlib.suppress(Exception):
                self.channel.stop()
        with contextlib.suppress(Exception):
            self.http.server_close()
        self.paths.state_file.unlink(missing_ok=True)

    # --- transcripts -------------------------------------------------------------------------------------

    def _store_transcript(self, session: Any, transcript: bytes | None) -> None:
        from moto.s3.models import s3_backends

        s3 = s3_backends[self.world.account]["aws"]
        with contextlib.suppress(Exception):  # a missing log bucket loses the log, never the session's end
            s3.put_object(self.world.log_bucket, self.state.log_key(session.session_id), transcript or b"")

    # --- admin operations --------------------------------------------------------------------------------

    def _admin_handlers(self) -> dict[str, Any]:
        return {
            "status": lambda _: self.describe(),
            "fault": self._apply_fault,
            "fault/clear": lambda _: self._clear_faults(),
            "fault/list": lambda _: {"faults": _fault_list(), "active": self.describe()["faults"]},
            "reset": lambda _: self._reset(),
            "shutdown": lambda _: self._shutdown(),
        }

    def _apply_fault(self, request: dict[str, Any]) -> dict[str, Any]:
        from onboard.errors import UsageError
        from onboard.lab.faults import FAULTS, resolve_target

        name = str(request.get("name", ""))
        fault = FAULTS.get(name)
        if fault is None:
            raise UsageError(
                f"no fault named {name!r}", f"Faults: {', '.join(FAULTS)} (see `onboard lab fault list`)."
            )
        target = resolve_target(self, fault, request.get("target"))
        if (name, target) not in self.active_faults:
            self.active_faults[(name, target)] = fault.apply(self, target)
        self._refresh_state()
        return {"fault": name, "target": target or None, "user_sees": fault.info.user_sees}

    def _clear_faults(self) -> dict[str, Any]:
        cleared = [{"name": name, "target": target or None} for name, target in self.active_faults]
        for undo in reversed(list(self.active_faults.values())):
            undo()
        self.active_faults.clear()
        self._refresh_state()
        return {"cleared": cleared}

    def _reset(self) -> dict[str, Any]:
        """Re-seed the world from scratch on the same ports; the same access keys stay valid."""
        from moto.moto_api._internal.models import moto_api_backend

        for session in self.state.registry.all():
            if session.is_active:
                self.state.registry.request_termination(session.session_id)
        self.state.registry.forget_ended()
        self.active_faults.clear()
        self.state.offline.clear()
        moto_api_backend.reset()
        self._seed()
        self._write_files()
        return self.describe()

    def _shutdown(self) -> dict[str, Any]:
        self.request_stop()
        return {"stopping": True, "pid": os.getpid()}

    def _refresh_state(self) -> None:
        from onboard.lab.state import write_state

        write_state(self.paths, self.describe())


def _request_handler(base: Any) -> Any:
    class LabRequestHandler(base):
        """Logs method, path, status, and the operation, caller and error code the layer noted; never a
        query string (it can carry presigned signatures and tokens)."""

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            from onboard.lab.requestlog import line

            path = getattr(self, "path", "?").split("?", 1)[0]
            log.info("%s", line(getattr(self, "command", "?"), path, code))

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The answer's Date: the lab's clock as this caller sees it (moved by the clock-skew fault)."""
            from onboard.lab.requestlog import clock_offset

            moment = time.time() if timestamp is None else timestamp
            return str(super().date_time_string(moment + clock_offset()))

    return LabRequestHandler


def _log_to(path: Path) -> logging.Handler:
    """Send the lab's log (requests, sessions, start-up timings) to server.log, in either mode."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # werkzeug prints to stderr unless its logger has a handler of its own.
    logging.getLogger("werkzeug").addHandler(logging.NullHandler())
    return handler


class _Phases:
    """Start-up timings for the log: where the seconds of `lab up` go."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        log.info("%s in %.2f s", what, now - self._last)
        self._last = now


class _Background:
    """Run ``work`` in a thread; :meth:`join` waits and re-raises what it raised."""

    def __init__(self, work: Any):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Any) -> None:
        try:
            work()
        except BaseException as error:  # handed to the joining thread
            self._error = error

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _fault_list() -> list[dict[str, Any]]:
    from onboard.labfaults import describe_faults

    return describe_faults()


def _bind(application: Any, ports: list[int | None], handler: Any, make_server: Any) -> Any:
    """A threaded HTTP server on 127.0.0.1 on the first of ``ports`` that is free (0: any free one)."""
    candidates = [port for port in dict.fromkeys(ports) if port is not None]
    reason = "unknown error"
    for candidate in candidates:
        try:
            server = make_server(HOST, candidate, application, threaded=True, request_handler=handler)
        except OSError as error:  # busy: try the next one
            reason = error.strerror or str(error)
            continue
        except SystemExit:  # werkzeug reports a busy port by exiting, after printing why to the log
            reason = "the port is in use"
            continue
        server.daemon_threads = True
        return server
    raise EnvironmentProblem(
        f"cannot listen on {HOST}:{candidates[-1]}: {reason}",
        "Pick another port with --port, or leave it out to take a free one.",
    )


def run(
    paths: LabPaths, world: World, *, port: int | None = None, plugin: str = "lab", on_ready: Any = None
) -> int:
    """Run a lab in this process until it is told to stop; return the exit code."""
    lock = LabLock(paths)
    lock.acquire()
    handler = _log_to(paths.log_file)
    server = LabServer(paths, world, port=port, plugin=plugin)
    previous = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: server.request_stop())
        server.start()
        if on_ready is not None:
            on_ready(server)
        server.wait()
        return 0
    finally:
        with contextlib.suppress(Exception):
            if server.http is not None:
                server.close()
        for signum, previous_handler in previous.items():
            signal.signal(signum, previous_handler)
        logging.getLogger().removeHandler(handler)
        handler.close()
        lock.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onboard.lab.server", description="Run the practice lab.")
    parser.add_argument("--state", required=True, type=Path, help="the lab's state folder")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--learners", default=None, help="comma-separated learner names")
    parser.add_argument("--plugin", choices=("lab", "system"), default="lab")
    args = parser.parse_args(argv)
    from onboard.lab.world import load_world

    try:
        world = load_world(args.world)
        if args.learners:
            world = world.with_learners(args.learners.split(","))
        return run(
            LabPaths(args.state),
            world,
            port=args.port,
            plugin=args.plugin,
            on_ready=lambda s: log.info("lab ready at %s", s.endpoint_url),
        )
    except OnboardError as error:
        sys.stderr.write(f"error: {error.message}\n")
        if error.hint:
            sys.stderr.write(f"hint: {error.hint}\n")
        return int(error.exit_code)


if __name__ == "__main__":
    sys.exit(main())
