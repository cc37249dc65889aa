"""The lab plugin's websocket to the data channel: websockets' Sans-I/O client protocol over a socket the
plugin's receiver thread reads itself.

websockets' threaded client reads its socket in a thread of its own and hands each message to the
caller's thread through a condition variable: for a port session, that hand-over (a wake-up and a GIL
hand-over for each 64 KiB message) was the plugin's largest cost after the system calls. Here
:meth:`DataChannelSocket.recv` reads, parses and returns in the caller's thread; other threads send
under a lock. The wire is websockets' own (handshake, framing, masking, ping replies, closing).
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
import threading
import time

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, WebSocketException
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

#: Bytes asked of the socket at once: a whole 64 KiB message and its headers in one read.
RECV_SIZE = 256 * 1024


class ChannelClosed(Exception):
    """The websocket is closed (by either side, or the network)."""


class DataChannelSocket:
    """One websocket connection; :meth:`open` it, then :meth:`recv` in one thread and :meth:`send` in any."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol, events: list) -> None:
        self._socket = sock
        self._protocol = protocol
        self._events: collections.deque = collections.deque(events)
        #: A fragmented message's pieces so far, and whether it is text.
        self._fragments: list[bytes | bytearray | memoryview] = []
        self._text = False
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, *, tls: ssl.SSLContext | None, max_size: int, timeout: float, user_agent: str
    ) -> DataChannelSocket:
        """Connect and complete the opening handshake within ``timeout`` seconds; OSError (refused, timed
        out, TLS) or WebSocketException (the server said no) otherwise."""
        uri = parse_uri(url)
        deadline = time.monotonic() + timeout
        sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
        try:
            # Keystrokes and acknowledgements are tiny: without this, Nagle's algorithm holds each one back
            # until the previous is acknowledged (tens of milliseconds per echo).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if uri.secure:
                sock = (tls or ssl.create_default_context()).wrap_socket(sock, server_hostname=uri.host)
            protocol = ClientProtocol(uri, max_size=max_size)
            request = protocol.connect()
            request.headers["User-Agent"] = user_agent
            protocol.send_request(request)
            _send_all(sock, protocol)
            events: list = []
            while protocol.state is State.CONNECTING:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                data = sock.recv(RECV_SIZE)
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events.extend(protocol.events_received())
            if protocol.handshake_exc is not None:
                raise protocol.handshake_exc
            if protocol.state is not State.OPEN:
                raise ConnectionError("the server closed the connection during the opening handshake")
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        # The first event is the server's handshake response; frames that came with it follow.
        return cls(sock, protocol, events[1:])

    def recv(self) -> bytes | str:
        """The next message (a binary frame's bytes, a text frame's text); ChannelClosed once closed."""
        while True:
            while self._events:
                message = self._message(self._events.popleft())
                if message is not None:
                    return message
            with self._lock:
                _send_all(self._socket, self._protocol)  # pong, and the reply to the server's close
            if self._protocol.state is State.CLOSED:
                raise ChannelClosed
            try:
                data = self._socket.recv(RECV_SIZE)
            except OSError as err:
                raise ChannelClosed from err
            with self._lock:
                if data:
                    self._protocol.receive_data(data)
                else:
                    self._protocol.receive_eof()
                self._events.extend(self._protocol.events_received())
            if not data and not self._events:
                raise ChannelClosed

    def _message(self, frame: Frame) -> bytes | str | None:
        if frame.opcode not in (Opcode.BINARY, Opcode.TEXT, Opcode.CONT):
            return None  # ping (answered by the protocol), pong, close
        if frame.opcode is not Opcode.CONT:
            self._fragments = [frame.data]
            self._text = frame.opcode is Opcode.TEXT
        else:
            self._fragments.append(frame.data)
        if not frame.fin:
            return None
        data = b"".join(self._fragments)
        self._fragments = []
        return data.decode() if self._text else data

    def send(self, message: bytes | str) -> None:
        """Send one message (text for str); ChannelClosed if the connection is closed."""
        with self._lock:
            try:
                if isinstance(message, str):
                    self._protocol.send_text(message.encode())
                else:
                    self._protocol.send_binary(message)
            except InvalidState as err:
                raise ChannelClosed from err
            try:
                _send_all(self._socket, self._protocol)
            except OSError as err:
                raise ChannelClosed from err

    def ping(self) -> None:
        """A keep-alive ping, with AWS's plugin's payload (websocketchannel.go StartPings)."""
        with self._lock:
            if self._protocol.state is State.OPEN:
                self._protocol.send_ping(b"keepalive")
                _send_all(self._socket, self._protocol)

    def close(self) -> None:
        """Send the closing frame (if still open) and close the socket, which ends a blocked :meth:`recv`."""
        with self._lock:
            try:
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close(1000)
                    _send_all(self._socket, self._protocol)
            except (OSError, WebSocketException):
                pass  # closing anyway
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()


def _send_all(sock: socket.socket, protocol: ClientProtocol) -> None:
    """Write what the protocol has to send (an empty chunk means: end of our side, which close() does)."""
    data = b"".join(protocol.data_to_send())
    if data:
        sock.sendall(data)
