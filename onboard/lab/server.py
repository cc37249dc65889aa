"""The lab server: moto and onboard's Session Manager layer on 127.0.0.1, with its data channel (a class
lab: on its --listen address, over TLS, with a kit per learner: :mod:`onboard.lab.classmode`).

``onboard lab up`` runs :func:`onboard.lab.process.run` in the foreground, or starts
``python -m onboard.lab.process`` detached (its output in the state folder's server.log). Start-up: take
the per-user lock, import moto (with its
start-up settings), seed the world, bind the HTTP port, start the data channel, warm up moto with one
signed request per service, write the team file, the access-key CSVs and lab.json, then serve until
``onboard lab down`` (an admin request), SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.lab import sandbox
from onboard.lab.httpserver import HOST, PREFERRED_PORT, bind, request_handler
from onboard.lab.motoboot import (
    Background,
    Phases,
    import_cloudformation_soon,
    import_moto_ec2,
    prepare_moto_settings,
    warm_up,
)
from onboard.lab.state import LabPaths
from onboard.lab.status import ClassLabSummary, FaultInForce, LabStatus, PluginSummary, SessionCounts
from onboard.lab.tls import url_host
from onboard.lab.world import World
from onboard.secrets import Secret

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from onboard.lab.classmode import ClassMode
    from onboard.lab.datachannel import DataChannelServer
    from onboard.lab.downloads import PublishedPlugin
    from onboard.lab.seed import AccessKeyPair, SeededWorld
    from onboard.lab.sessions import LabInstance, LabSession, SessionRegistry
    from onboard.lab.tls import LabTls

log = logging.getLogger("onboard.lab")


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
        classroom: ClassMode | None = None,
    ):
        self.paths = paths
        #: A class lab's address and class (None: the lab of one user, on 127.0.0.1 over plain HTTP).
        self.classroom = classroom
        self.host = classroom.address if classroom is not None else HOST
        #: A class lab's CA and certificate, made by start().
        self.tls: LabTls | None = None
        #: "lab": serve the lab's own plugin for download; "system": learners use AWS's installed plugin.
        self.plugin_mode = plugin
        self.world = world
        self.requested_port = port
        self.use_data_channel = data_channel
        from onboard.lab.labstate import LabState
        from onboard.lab.sessions import SessionRegistry

        #: What the HTTP layer answers from; its endpoint, secret and handlers are filled in by start().
        self.state = LabState(world=world, registry=SessionRegistry(), roles={}, endpoint_url="")
        self._http: BaseWSGIServer | None = None
        self._seeded: SeededWorld | None = None
        self.channel: DataChannelServer | None = None
        self.instances: dict[str, LabInstance] = {}
        #: (fault name, target) -> the function that undoes it.
        self.active_faults: dict[tuple[str, str], Callable[[], None]] = {}
        self.started_at = time.time()
        self.stopped = threading.Event()
        self.published: PublishedPlugin | None = None
        #: The endpoint the last lab had, when its port was taken and this one had to move.
        self.moved_from: str | None = None

    @property
    def http(self) -> BaseWSGIServer:
        if self._http is None:
            raise RuntimeError("the lab's HTTP server is not bound yet")
        return self._http

    @property
    def started(self) -> bool:
        return self._http is not None

    @property
    def seeded(self) -> SeededWorld:
        if self._seeded is None:
            raise RuntimeError("the lab's world is not seeded yet")
        return self._seeded

    @property
    def iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.world.account]["aws"]

    @property
    def endpoint_url(self) -> str:
        return self._url(self.http.server_port)

    def _url(self, port: int) -> str:
        return f"{'https' if self.tls else 'http'}://{url_host(self.host)}:{port}"

    @property
    def ca_bundle(self) -> Path | None:
        """The class lab's CA certificate, which every client of its endpoints must trust."""
        return self.tls.files.ca_cert if self.tls is not None else None

    # --- start and stop ----------------------------------------------------------------------------------

    def start(self) -> None:
        # The plugin bundles are built (or found up to date) while moto imports and the world is seeded.
        publishing = Background(self._publish_plugin)
        if self.classroom is not None:
            from onboard.lab.tls import TlsFiles, ensure_tls

            self.tls = ensure_tls(TlsFiles.of(self.paths.root), self.host)
        phase = Phases()
        prepare_moto_settings()
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from onboard.lab.api import LabApplication
        from onboard.lab.iampolicy import install_into_moto
        from onboard.lab.seed import ADMIN_USER
        from onboard.lab.state import admin_secret, remember_port, remembered_port

        import_moto_ec2()
        phase.done("moto imported")
        install_into_moto()
        moto_app = DomainDispatcherApplication(create_backend_app)
        registry = self.state.registry
        registry.on_end(self._store_transcript)
        self.state.admin_secret = admin_secret(self.paths, create=True) or ""
        from onboard.lab.adminops import admin_handlers

        self.state.admin_handlers.update(admin_handlers(self))
        from onboard.lab.agent import attach

        attach(self)
        application = LabApplication(self.state, moto_app)
        remembered = remembered_port(self.paths) if self.requested_port is None else None
        # An explicit --port, else the last lab's port (written profiles stay valid), else 4566, else any.
        candidates: list[int | None] = (
            [self.requested_port] if self.requested_port is not None else [remembered, PREFERRED_PORT, 0]
        )
        self._http = bind(
            application,
            candidates,
            request_handler(MotoRequestHandler),
            make_server,
            host=self.host,
            tls=self.tls.server_context() if self.tls else None,
        )
        if remembered is not None and remembered != self.http.server_port:
            self.moved_from = self._url(remembered)
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
        warm_up(
            self.endpoint_url,
            self.world,
            self.seeded.keys[ADMIN_USER],
            tls=self.tls.client_context() if self.tls else None,
        )
        phase.done("warmed up")
        publishing.join()
        phase.done("plugin downloads ready")
        if self.published is not None:
            self.state.downloads_dir = self.published.root
        self._write_files()
        import_cloudformation_soon()

    def _publish_plugin(self) -> None:
        from onboard.lab.downloads import publish_lab_plugin

        if self.plugin_mode == "system":
            return
        self.published = publish_lab_plugin(self.paths)

    def _seed(self) -> None:
        from onboard.lab.seed import seed

        self._seeded = seed(
            self.world,
            instances_root=self.paths.instances_dir,
            endpoint_url=self.endpoint_url,
            known_keys=self._known_keys(),
            ca_bundle=self.ca_bundle,
        )
        self.state.roles.clear()
        self.state.roles.update(self.seeded.roles)
        self.instances.clear()
        self.instances.update(self.seeded.instances)
        from onboard.lab.agent import boot_world
        from onboard.lab.preferences import seed_preferences

        seed_preferences(self.world)
        boot_world(self)

    def _known_keys(self) -> dict[str, AccessKeyPair]:
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

    def _start_data_channel(self, registry: SessionRegistry) -> None:
        try:
            from onboard.lab.datachannel import DataChannelServer
        except ImportError:  # part 2 not installed: the API still answers, sessions lead nowhere
            log.warning("no data channel: sessions start but cannot connect")
            return
        self.channel = DataChannelServer(
            registry,
            self.instances,
            host=self.host,
            port=0,
            known_secrets=self._known_secrets,
            tls=self.tls.data_channel_context() if self.tls else None,
        )
        self.channel.start()
        self.state.stream_url = self.channel.stream_url

    def _known_secrets(self) -> list[Secret | str]:
        """Every secret a learner's shell could find in the lab's state folder: what transcripts mask."""
        found: list[Secret | str] = [self.state.admin_secret] if self.state.admin_secret else []
        found += [pair.secret_access_key for pair in self.seeded.keys.values()]
        for instance in self.instances.values():
            found += [s for s in (instance.role_secret_access_key, instance.role_session_token) if s]
        return found

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
            ca_bundle=self.ca_bundle,
        )
        if self.classroom is not None and self.tls is not None:
            from onboard.lab.classmode import write_kits

            write_kits(
                self.paths,
                self.world,
                self.classroom,
                endpoint_url=self.endpoint_url,
                tls=self.tls,
                keys=self.seeded.keys,
            )
        write_state(self.paths, self.describe())

    def describe(self) -> LabStatus:
        """What lab.json and `onboard lab status` show: never a secret."""
        sessions = self.state.registry.all()
        return LabStatus(
            pid=os.getpid(),
            lab_id=self.state.lab_id,
            endpoint_url=self.endpoint_url,
            port=self.http.server_port,
            moved_from=self.moved_from,
            data_channel_port=self.channel.port if self.channel is not None else None,
            started_at=self.started_at,
            state_dir=str(self.paths.root),
            team_file=str(self.paths.team_file),
            credentials={user: str(self.paths.credentials_csv(user)) for user in self.seeded.keys},
            world=self.world.summary(),
            faults=tuple(FaultInForce(name, target) for name, target in self.active_faults),
            plugin=self._plugin_summary(),
            isolation=sandbox.isolation(),
            sessions=SessionCounts(active=sum(1 for s in sessions if s.is_active), total=len(sessions)),
            class_lab=self._class_summary(),
        )

    def _class_summary(self) -> ClassLabSummary | None:
        if self.classroom is None or self.tls is None:
            return None
        from onboard.lab.classmode import kits_dir

        return ClassLabSummary(
            address=self.classroom.address,
            learners=len(self.classroom.names),
            ca_file=str(self.tls.files.ca_cert),
            ca_fingerprint=self.tls.ca_fingerprint,
            kits_dir=str(kits_dir(self.paths)),
            warning=self.classroom.exposure_warning(),
        )

    def _plugin_summary(self) -> PluginSummary:
        if self.published is None:
            return PluginSummary(mode=self.plugin_mode)
        return PluginSummary(
            mode=self.plugin_mode,
            download_url=f"{self.endpoint_url}/_onboard/downloads/plugin/",
            version=self.published.version,
            signing_key=str(self.published.public_key),
            fingerprint=self.published.fingerprint,
        )

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

    def _store_transcript(self, session: LabSession, transcript: bytes | None) -> None:
        from moto.s3.models import s3_backends

        if session.log_location is None:  # the preferences say no S3 logging
            return
        s3 = s3_backends[self.world.account]["aws"]
        bucket, key = session.log_location
        with contextlib.suppress(Exception):  # a missing log bucket loses the log, never the session's end
            s3.put_object(bucket, key, transcript or b"")

    def reseed(self) -> None:
        """Seed the world again (after moto's backends were reset) and rewrite the lab's files."""
        self._seed()
        self._write_files()
