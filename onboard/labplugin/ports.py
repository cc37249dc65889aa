"""The plugin's side of a port session (SessionType ``Port``), as AWS's plugin does it.

From src/sessionmanagerplugin/session/portsession/ of the public session-manager-plugin: listen on
``localhost:localPortNumber`` (0: any free port), print ``Port N opened for sessionId ID.`` and
``Waiting for connections...``; with agents after 3.0.196.0 run an smux client over the stream payloads,
one stream per accepted connection (:mod:`onboard.session.smux`); with older agents relay one connection
at a time and send the DisconnectToPort flag when it closes. Ctrl-C sends the TerminateSession flag.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable

from onboard.session import smux
from onboard.session.protocol import PayloadType

#: Bytes read from a local connection per data-channel message (AWS's plugin reads 1024; the lab's own
#: plugin sends whole smux frames, which the data channel carries as they are).
_READ = smux.MAX_FRAME_DATA

Send = Callable[[bytes, int], None]


def port_forwarding(session_id: str, request: dict, send: Send) -> PortForwarding | None:
    """A port forwarding when the agent's handshake request asks for SessionType Port, else None."""
    for action in request.get("RequestedClientActions") or []:
        parameters = action.get("ActionParameters") or {}
        if action.get("ActionType") == "SessionType" and parameters.get("SessionType") == "Port":
            return PortForwarding(
                session_id, parameters.get("Properties") or {}, str(request.get("AgentVersion", "")), send
            )
    return None


class PortForwarding:
    """Local connections to and from the session's stream payloads."""

    def __init__(self, session_id: str, properties: dict, agent_version: str, send: Send) -> None:
        self.session_id = session_id
        self.local_port = int(str(properties.get("localPortNumber") or "0"))
        self.multiplexed = smux.agent_multiplexes(agent_version)
        self._send = send
        self._listener: socket.socket | None = None
        self._streams: dict[int, socket.socket] = {}
        self._next_stream = smux.FIRST_CLIENT_STREAM
        self._reader = smux.FrameReader()
        self._basic: socket.socket | None = None
        self._lock = threading.Lock()
        self._accepted_once = False

    def start(self) -> None:
        """Listen, say where, and accept connections in the background."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.local_port))
        listener.listen(64)
        self._listener = listener
        port = listener.getsockname()[1]
        sys.stdout.write(f"Port {port} opened for sessionId {self.session_id}.\nWaiting for connections...\n")
        sys.stdout.flush()
        threading.Thread(target=self._accept_loop, name="plugin-accept", daemon=True).start()

    def terminate(self) -> None:
        """Ctrl-C: ask the agent to end the session (the TerminateSession flag)."""
        sys.stdout.write("Terminate signal received, exiting.\n")
        sys.stdout.flush()
        self._send(smux.flag_payload(smux.Flag.TERMINATE_SESSION), PayloadType.FLAG)

    def close(self) -> None:
        if self._listener is not None:
            _close(self._listener)
        for connection in [*self._streams.values(), *([self._basic] if self._basic else [])]:
            _close(connection)

    # --- local connections -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._accepted_once:
                self._accepted_once = True
                sys.stdout.write(f"\nConnection accepted for session [{self.session_id}]\n")
                sys.stdout.flush()
            if self.multiplexed:
                with self._lock:
                    stream_id = self._next_stream
                    self._next_stream += 2
                    self._streams[stream_id] = connection
                self._send(smux.encode(smux.Command.SYN, stream_id), PayloadType.OUTPUT)
                threading.Thread(target=self._upstream, args=(stream_id, connection), daemon=True).start()
            else:  # one connection at a time: the next waits until this one closes
                self._basic = connection
                self._upstream(None, connection)

    def _upstream(self, stream_id: int | None, connection: socket.socket) -> None:
        try:
            while True:
                data = connection.recv(_READ)
                if not data:
                    break
                self._send(
                    data if stream_id is None else smux.encode(smux.Command.PSH, stream_id, data),
                    PayloadType.OUTPUT,
                )
        except OSError:
            pass
        if stream_id is None:
            self._basic = None
            _close(connection)
            self._send(smux.flag_payload(smux.Flag.DISCONNECT_TO_PORT), PayloadType.FLAG)
            return
        with self._lock:
            known = self._streams.pop(stream_id, None) is not None
        if known:
            self._send(smux.encode(smux.Command.FIN, stream_id), PayloadType.OUTPUT)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)

    # --- the agent's payloads ----------------------------------------------------------------------
    def deliver(self, payload: bytes, payload_type: int) -> None:
        if payload_type == PayloadType.FLAG:
            if smux.read_flag(payload) == smux.Flag.CONNECT_TO_PORT_ERROR:
                sys.stdout.write("\nConnection to destination port failed, check SSM Agent logs.\n")
                sys.stdout.flush()
            return
        if not self.multiplexed:
            if self._basic is not None:
                with contextlib.suppress(OSError):
                    self._basic.sendall(payload)
            return
        for frame in self._reader.feed(payload):
            with self._lock:
                connection = self._streams.get(frame.stream_id)
            if connection is None:
                continue
            if frame.command == smux.Command.PSH:
                try:
                    connection.sendall(frame.data)
                except OSError:
                    self._drop(frame.stream_id, connection)
            elif frame.command == smux.Command.FIN:
                self._drop(frame.stream_id, connection)

    def _drop(self, stream_id: int, connection: socket.socket) -> None:
        with self._lock:
            self._streams.pop(stream_id, None)
        _close(connection)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()
