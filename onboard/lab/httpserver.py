"""The lab's HTTP server: werkzeug's threaded server on 127.0.0.1 (a class lab: its --listen address, over
TLS), its request log, and the lab's log file.

:func:`bind` takes the first free port of a list (the last lab's, the preferred 4566, any);
:func:`request_handler` logs each request with what the HTTP layer noted (operation, caller, error code)
and dates each answer by the lab's clock as the caller sees it; :func:`log_to` sends the log to server.log.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem

log = logging.getLogger("onboard.lab")

HOST = "127.0.0.1"
#: The port a lab prefers (LocalStack's habit); a free one is taken when it is busy.
PREFERRED_PORT = 4566


def request_handler(base: Any) -> Any:
    class LabRequestHandler(base):
        """Logs method, path, status, and the operation, caller and error code the layer noted; never a
        query string (it can carry presigned signatures and tokens). Over TLS, each connection's handshake
        runs here, in the connection's own thread, with a time limit: never in the thread that accepts."""

        tls_refused = False

        def setup(self) -> None:
            from onboard.lab.tls import HANDSHAKE_SECONDS

            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(HANDSHAKE_SECONDS)
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError) as refused:  # e.g. a client that does not trust the lab's CA
                    log.info("TLS handshake with %s failed: %s", self.client_address[0], refused)
                    self.tls_refused = True
                self.request.settimeout(None)
            super().setup()

        def handle(self) -> None:
            if not self.tls_refused:
                super().handle()

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


def log_to(path: Path) -> logging.Handler:
    """Send the lab's log (requests, sessions, start-up timings) to server.log, in either mode."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # werkzeug prints to stderr unless its logger has a handler of its own.
    logging.getLogger("werkzeug").addHandler(logging.NullHandler())
    return handler


def bind(
    application: Any,
    ports: list[int | None],
    handler: Any,
    make_server: Any,
    *,
    host: str = HOST,
    tls: ssl.SSLContext | None = None,
) -> Any:
    """A threaded HTTP server on ``host`` on the first of ``ports`` that is free (0: any free one); with
    ``tls``, HTTPS (each handshake in its connection's thread, see :func:`request_handler`)."""
    candidates = [port for port in dict.fromkeys(ports) if port is not None]
    reason = "unknown error"
    for candidate in candidates:
        try:
            server = make_server(host, candidate, application, threaded=True, request_handler=handler)
        except OSError as error:  # busy: try the next one
            reason = error.strerror or str(error)
            continue
        except SystemExit:  # werkzeug reports a busy port by exiting, after printing why to the log
            reason = "the port is in use"
            continue
        server.daemon_threads = True
        if tls is not None:
            # werkzeug's own ssl_context would shake hands in accept(), where one silent client stops all.
            server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            server.ssl_context = tls  # werkzeug reads it for wsgi.url_scheme (https)
        return server
    raise EnvironmentProblem(
        f"cannot listen on {host}:{candidates[-1]}: {reason}",
        "Pick another port with --port, or leave it out to take a free one.",
    )
