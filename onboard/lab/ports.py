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

:class:`PortSession` is the data channel's counterpart of :class:`onboard.lab.instance.ShellProcess`: it takes
the client's payloads and hands back the agent's, all in the data channel's event loop.

Speed is where the lab is not AWS, and says so (README, ``onboard forward``): AWS's agent reads the
destination 1024 bytes at a time (``StreamDataPayloadSize``) and sleeps 1 ms after each message
(agent/session/plugins/port/port_mux.go ``transferDataToMgs``, port_basic.go ``WritePump``), about 1 MB/s
(aws/amazon-ssm-agent#664 measures 0.6 to 0.8 MB/s); the lab batches up to 64 KiB per message
(:data:`onboard.lab.channelsession.OUTPUT_BATCH`), tens of MB/s, so that tests and benches moving megabytes
stay quick. The protocol (framing, acknowledgements, smux) is the same either way.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable
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

#: Input bytes waiting for destinations that do not read, beyond which the session takes no more input
#: (the data channel then queues it, and stops acknowledging once its own queue is full).
BACKLOG = 256 * 1024


def read_size(batch: int) -> int:
    """Bytes read from a destination at once so that their PSH frames, headers included, fill one
    message of at most ``batch`` bytes (65520 data bytes in two frames for a 64 KiB message)."""
    frames = -(-batch // (smux.MAX_FRAME_DATA + smux.HEADER.size))
    return batch - frames * smux.HEADER.size


class _Destination:
    """One connection to the destination (a smux stream's, or basic mode's one), non-blocking."""

    def __init__(self, connection: socket.socket, stream_id: int | None) -> None:
        connection.setblocking(False)
        self.connection = connection
        self.stream_id = stream_id
        #: The client's bytes the destination has not taken yet.
        self.pending = bytearray()
        #: The client sent FIN: shut the destination's write side once :attr:`pending` is written.
        self.finished = False
        self.reading = False
        self.writing = False


class PortSession:
    """The agent's side of one port session, run in the data channel's event loop (construct it there).

    The client's payloads go in through :meth:`write_some` (smux frames, or basic mode's raw bytes); what
    the destination answers goes out through ``send`` as payloads of at most ``batch`` bytes (PSH frames,
    or raw bytes). ``ended`` is called when the client's TerminateSession flag ends the session; ``room``
    when destinations that would not take more input took some (call :meth:`write_some` again).

    Everything happens in the loop's thread, without threads of its own: handing bytes between threads
    costs a GIL handover per read, which made a 1 MB answer take ten times as long through the tunnel.
    """

    def __init__(
        self,
        instance: LabInstance,
        session: LabSession,
        agent_version: str,
        *,
        send: Callable[[bytes], None],
        ended: Callable[[], None],
        room: Callable[[], None],
        batch: int,
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
        self._loop = asyncio.get_running_loop()
        self._send = send
        self._ended = ended
        self._room = room
        self._read_size = read_size(batch) if self.multiplexed else batch
        self._reader = smux.FrameReader()
        self._streams: dict[int, _Destination] = {}
        self._basic: _Destination | None = None
        self._paused = False
        self._closed = False

    # --- what the data channel calls -------------------------------------------------------------
    def write_some(self, data: bytes | bytearray) -> int:
        """Take the client's bytes (all of them), or none while destinations hold :data:`BACKLOG`."""
        if self._closed:
            return len(data)  # the session is ending: drop it
        if self._backlog() >= BACKLOG:
            return 0
        if not self.multiplexed:
            self._to_basic(bytes(data))
            return len(data)
        try:
            for frame in self._reader.feed(data):
                self._frame(frame)
        except ValueError as err:  # not smux: nothing more this session says can be understood
            log.debug("port session stopped on a bad frame: %s", err)
            self._ended()
        return len(data)

    def pause_output(self) -> None:
        """Stop reading the destinations (too much output waits for acknowledgement)."""
        self._paused = True
        for destination in self._destinations():
            self._stop_reading(destination)

    def resume_output(self) -> None:
        self._paused = False
        for destination in self._destinations():
            self._start_reading(destination)

    def resize(self, cols: int, rows: int) -> None:
        """Port sessions have no terminal."""

    def flag(self, payload: bytes) -> None:
        """A Flag message from the client: TerminateSession ends the session; DisconnectToPort (basic
        mode) closes the connection to the destination, which the next bytes open again."""
        value = smux.read_flag(payload)
        if value == smux.Flag.TERMINATE_SESSION:
            self._ended()
        elif value == smux.Flag.DISCONNECT_TO_PORT and self._basic is not None:
            self._drop(self._basic)

    def terminate(self) -> None:
        """Close every connection (in the loop's thread)."""
        self._closed = True
        for destination in self._destinations():
            self._drop(destination)

    # --- the agent's side -------------------------------------------------------------------------
    def _destinations(self) -> list[_Destination]:
        return [*self._streams.values(), *([self._basic] if self._basic is not None else [])]

    def _backlog(self) -> int:
        return sum(len(destination.pending) for destination in self._destinations())

    def _dial(self, stream_id: int | None) -> _Destination | None:
        if self.destination is None:
            return None
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.destination)  # a local socket: at once, or refused
        except OSError:
            connection.close()
            return None
        destination = _Destination(connection, stream_id)
        self._start_reading(destination)
        return destination

    def _frame(self, frame: smux.Frame) -> None:
        if frame.command == smux.Command.SYN:
            destination = self._dial(frame.stream_id)
            if destination is None:  # nothing listens there: the stream ends at once
                self._send(smux.encode(smux.Command.FIN, frame.stream_id))
            else:
                self._streams[frame.stream_id] = destination
            return
        destination = self._streams.get(frame.stream_id)
        if destination is None:
            return
        if frame.command == smux.Command.PSH:
            self._write(destination, frame.data)
        elif frame.command == smux.Command.FIN:
            destination.finished = True
            self._flush(destination)
        # NOP (keep-alive) and UPD (window updates of smux v2) need nothing here.

    def _to_basic(self, data: bytes) -> None:
        if self._basic is None:
            self._basic = self._dial(None)
            if self._basic is None:
                return  # refused: the bytes are dropped, as a closed port drops them
        self._write(self._basic, data)

    def _write(self, destination: _Destination, data: bytes) -> None:
        destination.pending += data
        self._flush(destination)

    def _flush(self, destination: _Destination) -> None:
        """Write what the destination takes now; wait (in the loop) to write the rest."""
        try:
            while destination.pending:
                sent = destination.connection.send(destination.pending)
                del destination.pending[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._end(destination)
            return
        if destination.pending and not destination.writing:
            destination.writing = True
            self._loop.add_writer(destination.connection, self._writable, destination)
        elif not destination.pending:
            if destination.writing:
                destination.writing = False
                self._loop.remove_writer(destination.connection)
            if destination.finished:
                with contextlib.suppress(OSError):
                    destination.connection.shutdown(socket.SHUT_WR)

    def _writable(self, destination: _Destination) -> None:
        """A destination takes more: write to it, and once under the backlog, ask for more input (never
        from inside :meth:`write_some`, whose caller has not yet dropped what it handed over)."""
        before = self._backlog()
        self._flush(destination)
        if before >= BACKLOG > self._backlog():
            self._room()

    def _start_reading(self, destination: _Destination) -> None:
        if not destination.reading and not self._paused and not self._closed:
            destination.reading = True
            self._loop.add_reader(destination.connection, self._readable, destination)

    def _stop_reading(self, destination: _Destination) -> None:
        if destination.reading:
            destination.reading = False
            self._loop.remove_reader(destination.connection)

    def _readable(self, destination: _Destination) -> None:
        """The destination's bytes back to the client (PSH frames in smux mode), or its end."""
        try:
            data = destination.connection.recv(self._read_size)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._end(destination)
        elif destination.stream_id is None:
            self._send(data)
        else:
            self._send(smux.data_frames(destination.stream_id, data))

    def _end(self, destination: _Destination) -> None:
        """The destination closed (or failed): close our end; a smux stream tells the client with FIN."""
        self._drop(destination)
        if destination.stream_id is not None and not self._closed:
            self._send(smux.encode(smux.Command.FIN, destination.stream_id))

    def _drop(self, destination: _Destination) -> None:
        self._stop_reading(destination)
        if destination.writing:
            destination.writing = False
            self._loop.remove_writer(destination.connection)
        if destination.stream_id is not None:
            self._streams.pop(destination.stream_id, None)
        elif self._basic is destination:
            self._basic = None
        _close(destination.connection)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()
