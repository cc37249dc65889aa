"""Port sessions in the lab: the agent's side of AWS-StartPortForwardingSession(ToRemoteHost), and the web
applications each lab instance runs.

What AWS's agent does, as its counterpart in the public session-manager-plugin shows it
(src/sessionmanagerplugin/session/portsession/): the handshake asks for SessionType ``Port`` with the
document's properties (``portNumber``, ``localPortNumber``, ``type: LocalPortForwarding``, and ``host`` for
the remote-host document); agents after 3.0.196.0 then speak smux over the stream payloads
(:mod:`onboard.session.smux`), one stream per local connection, each dialled to the destination port;
older agents carry one connection's raw bytes and reconnect after the plugin's DisconnectToPort flag. The
TerminateSession flag ends the session.

The lab's web applications (the team's jupyter, airflow, redash: the world's ``services``) are small HTTP
servers on Unix sockets in a private folder, so that nothing on 127.0.0.1 reaches them: only a port
session does, as only Session Manager reaches a private instance. Each page says which instance and
application answered; ``/blob/N`` answers N bytes (for speed figures).

:class:`PortSession` looks like :class:`onboard.lab.instance.ShellProcess` to the data channel: one socket
end it writes the client's payloads to and reads the agent's payloads from.

Speed is where the lab is not AWS, and says so (README, ``onboard forward``): AWS's agent reads the
destination 1024 bytes at a time (``StreamDataPayloadSize``) and sleeps 1 ms after each message
(agent/session/plugins/port/port_mux.go ``transferDataToMgs``, port_basic.go ``WritePump``), about 1 MB/s
(aws/amazon-ssm-agent#664 measures 0.6 to 0.8 MB/s); the lab batches up to 64 KiB per message
(:data:`onboard.lab.channelsession.OUTPUT_BATCH`), tens of MB/s, so that tests and benches moving megabytes
stay quick. The protocol (framing, acknowledgements, smux) is the same either way.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from onboard.lab.sessions import PORT_DOCUMENTS, REMOTE_HOST_DOCUMENT, LabInstance, LabSession
from onboard.session import smux

log = logging.getLogger(__name__)

PORT_SESSION_TYPE = "Port"
LOCAL_PORT_FORWARDING = "LocalPortForwarding"
#: Host names that mean the instance itself.
_THIS_INSTANCE = ("localhost", "127.0.0.1", "::1")
MAX_BLOB = 64 * 1024 * 1024
_READ = 64 * 1024


def is_port_session(session: LabSession) -> bool:
    return session.document_name in PORT_DOCUMENTS


def session_properties(session: LabSession) -> dict[str, str]:
    """The handshake's SessionType properties, from the document's parameters and defaults."""

    def value(name: str, default: str) -> str:
        return (session.parameters.get(name) or [default])[0]

    properties = {
        "portNumber": value("portNumber", "80"),
        "localPortNumber": value("localPortNumber", "0"),
        "type": LOCAL_PORT_FORWARDING,
    }
    if session.document_name == REMOTE_HOST_DOCUMENT:
        properties["host"] = value("host", "")
    return properties


def session_type(session: LabSession) -> tuple[str, dict[str, str] | None]:
    """(SessionType, Properties) the agent's handshake request names for this session."""
    if is_port_session(session):
        return PORT_SESSION_TYPE, session_properties(session)
    return "Standard_Stream", None


# ------------------------------------------------------------------------------------ the applications


class _Application(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ApplicationServer

    def do_GET(self) -> None:
        server = self.server
        if self.path.startswith("/blob/"):
            try:
                size = min(int(self.path[len("/blob/") :]), MAX_BLOB)
            except ValueError:
                size = 0
            body = b"x" * size
            kind = "application/octet-stream"
        else:
            body = (
                f"<!doctype html><title>{server.application}</title>\n"
                f"<h1>{server.application} on {server.instance_name} ({server.instance_id})</h1>\n"
                f"<p>Port {server.port}, reached through a Session Manager port session.</p>\n"
            ).encode()
            kind = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Onboard-Instance", server.instance_id)
        self.send_header("X-Onboard-Application", server.application)
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:
        return "session"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s: " + format, self.server.instance_id, self.server.application, *args)


class _ApplicationServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, instance: LabInstance, application: str, port: int) -> None:
        self.instance_id = instance.instance_id
        self.instance_name = instance.name
        self.application = application
        self.port = port
        super().__init__(str(path), _Application)


class Applications:
    """The lab's web applications, started on first use, one Unix socket per (instance, port)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._servers: dict[tuple[str, int], _ApplicationServer] = {}

    def address(self, instance: LabInstance, port: int) -> str | None:
        """The socket of the application on ``instance``'s ``port``; None: nothing listens there."""
        application = _name_of(instance, port)
        if application is None:
            return None
        with self._lock:
            server = self._servers.get((instance.instance_id, port))
            if server is None:
                if self._folder is None:
                    # Short, private and off the loopback network (a Unix socket path is at most 107 bytes).
                    self._folder = Path(tempfile.mkdtemp(prefix="onboard-lab-apps-"))
                    atexit.register(shutil.rmtree, self._folder, True)
                path = self._folder / f"{instance.instance_id}-{port}.sock"
                server = _ApplicationServer(path, instance, application, port)
                threading.Thread(target=server.serve_forever, name=f"lab-app-{port}", daemon=True).start()
                self._servers[(instance.instance_id, port)] = server
            return str(server.server_address)


def _name_of(instance: LabInstance, port: int) -> str | None:
    return next((name for name, number in instance.services if number == port), None)


APPLICATIONS = Applications()


def _host_seen_from(
    instance: LabInstance, host: str, neighbours: Iterable[LabInstance]
) -> LabInstance | None:
    """The lab instance ``host`` names as seen from ``instance``: the agent dials the remote-host
    document's ``host`` from the instance, so ``localhost`` is the instance itself and another instance
    is reached by its private address or DNS name, as in a VPC."""
    if host.lower() in _THIS_INSTANCE:
        return instance
    return next((peer for peer in (instance, *neighbours) if peer.answers_to(host)), None)


# ------------------------------------------------------------------------------------ the session


class PortSession:
    """The agent's side of one port session; the data channel reads and writes :attr:`output_fd`."""

    def __init__(
        self,
        instance: LabInstance,
        session: LabSession,
        agent_version: str,
        neighbours: Iterable[LabInstance] = (),
    ) -> None:
        properties = session_properties(session)
        try:
            port = int(properties["portNumber"])
        except ValueError:
            raise ValueError(f"portNumber {properties['portNumber']!r} is not a port") from None
        reached = _host_seen_from(instance, properties.get("host", "localhost"), neighbours)
        # A host nobody in the lab answers to refuses every connection, as a database that is not there.
        self.destination = APPLICATIONS.address(reached, port) if reached is not None else None
        self.multiplexed = smux.agent_multiplexes(agent_version)
        self._outer, self._inner = socket.socketpair()
        self._outer.setblocking(False)
        self.input_fd = self.output_fd = self._outer.fileno()
        self._send_lock = threading.Lock()
        self._streams: dict[int, socket.socket] = {}
        self._basic: socket.socket | None = None
        self._closed = threading.Event()
        target = self._demultiplex if self.multiplexed else self._relay_basic
        threading.Thread(target=target, name=f"lab-port-{session.session_id}", daemon=True).start()

    # --- what the data channel calls -------------------------------------------------------------
    def write_some(self, data: bytes | bytearray) -> int:
        try:
            return self._outer.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            return len(data)  # the session is ending: drop it

    def resize(self, cols: int, rows: int) -> None:
        """Port sessions have no terminal."""

    @property
    def exited(self) -> bool:
        return False  # a port session ends when its socket end closes (TerminateSession, or terminate())

    def flag(self, payload: bytes) -> None:
        """A Flag message from the client: TerminateSession ends the session; DisconnectToPort (basic
        mode) closes the connection to the destination, which the next bytes open again."""
        value = smux.read_flag(payload)
        if value == smux.Flag.TERMINATE_SESSION:
            self._shut_inner()
        elif value == smux.Flag.DISCONNECT_TO_PORT and self._basic is not None:
            _close(self._basic)
            self._basic = None

    def terminate(self) -> None:
        self._closed.set()
        self._shut_inner()
        for connection in [*self._streams.values(), *([self._basic] if self._basic else [])]:
            _close(connection)
        self._streams.clear()
        _close(self._outer)

    # --- the agent's side -------------------------------------------------------------------------
    def _shut_inner(self) -> None:
        with contextlib.suppress(OSError):
            self._inner.shutdown(socket.SHUT_RDWR)

    def _to_client(self, data: bytes) -> bool:
        try:
            with self._send_lock:
                self._inner.sendall(data)
        except OSError:
            return False
        return True

    def _dial(self) -> socket.socket | None:
        if self.destination is None:
            return None
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.destination)
        except OSError:
            connection.close()
            return None
        return connection

    def _demultiplex(self) -> None:
        reader = smux.FrameReader()
        try:
            while not self._closed.is_set():
                data = self._inner.recv(_READ)
                if not data:
                    break
                for frame in reader.feed(data):
                    self._frame(frame)
        except (OSError, ValueError) as err:
            log.debug("port session demultiplexer stopped: %s", err)
        finally:
            for connection in list(self._streams.values()):
                _close(connection)
            self._shut_inner()

    def _frame(self, frame: smux.Frame) -> None:
        if frame.command == smux.Command.SYN:
            connection = self._dial()
            if connection is None:  # nothing listens there: the stream ends at once
                self._to_client(smux.encode(smux.Command.FIN, frame.stream_id))
                return
            self._streams[frame.stream_id] = connection
            threading.Thread(target=self._upstream, args=(frame.stream_id, connection), daemon=True).start()
        elif frame.command == smux.Command.PSH:
            connection = self._streams.get(frame.stream_id)
            if connection is not None:
                try:
                    connection.sendall(frame.data)
                except OSError:
                    self._end_stream(frame.stream_id)
        elif frame.command == smux.Command.FIN:
            connection = self._streams.get(frame.stream_id)
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_WR)
        # NOP (keep-alive) and UPD (window updates of smux v2) need nothing here.

    def _upstream(self, stream_id: int, connection: socket.socket) -> None:
        """The destination's bytes back to the client as PSH frames, then FIN."""
        try:
            while True:
                data = connection.recv(smux.MAX_FRAME_DATA)
                if not data or not self._to_client(smux.data_frames(stream_id, data)):
                    break
        except OSError:
            pass
        self._end_stream(stream_id)

    def _end_stream(self, stream_id: int) -> None:
        connection = self._streams.pop(stream_id, None)
        if connection is not None:
            _close(connection)
            self._to_client(smux.encode(smux.Command.FIN, stream_id))

    def _relay_basic(self) -> None:
        try:
            while not self._closed.is_set():
                data = self._inner.recv(_READ)
                if not data:
                    break
                if self._basic is None:
                    self._basic = self._dial()
                    if self._basic is None:
                        continue  # refused: the bytes are dropped, as a closed port drops them
                    threading.Thread(target=self._basic_downstream, args=(self._basic,), daemon=True).start()
                try:
                    self._basic.sendall(data)
                except OSError:
                    self._basic = None
        except OSError:
            pass
        finally:
            if self._basic is not None:
                _close(self._basic)
            self._shut_inner()

    def _basic_downstream(self, connection: socket.socket) -> None:
        try:
            while True:
                data = connection.recv(_READ)
                if not data or not self._to_client(data):
                    return
        except OSError:
            return


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()
