"""A small pure-Python Session Manager client on a raw websocket, for tests and the bench.

It speaks the data channel as a third-party client does (OpenDataChannel, the handshake, numbered and
acknowledged messages, resends after a retransmission timeout), but lets the caller choose what the
official plugin fixes: how large its input messages are (``chunk``; the plugin sends 1 KiB, some clients
64 KiB), what it sends before the handshake, and how fast. Sending never waits for acknowledgements: every
message goes out at once and is resent until the server acknowledges it, as fast as the protocol allows.

    client = SessionClient.open(stream_url, token, chunk=64 * 1024)
    client.handshake()
    client.send_input(b"echo hi\\r")
    client.read_until(b"hi")
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from onboard.session import protocol
from onboard.session.protocol import ClientMessage, IncomingStream, OutgoingStream, PayloadType

CLIENT_VERSION = "1.2.764.0"
RESEND_TICK = 0.01


@dataclass
class Received:
    """What the server sent, in order: shell output, and the channel_closed message if it came."""

    output: bytearray = field(default_factory=bytearray)
    payload_types: list[int] = field(default_factory=list)
    closed: ClientMessage | None = None
    close_code: int | None = None
    #: Sequence numbers of our messages the server acknowledged, as the acknowledgements came.
    acknowledged: list[int] = field(default_factory=list)


class SessionClient:
    def __init__(self, connection: ClientConnection, *, chunk: int = protocol.STREAM_CHUNK) -> None:
        self.connection = connection
        self.chunk = chunk
        self.outgoing = OutgoingStream(protocol.INPUT_STREAM)
        self.incoming = IncomingStream()
        self.received = Received()
        self.handshake_request: ClientMessage | None = None
        self._changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._done = threading.Event()
        self._threads = [
            threading.Thread(target=self._receive_loop, name="smclient-receive", daemon=True),
            threading.Thread(target=self._resend_loop, name="smclient-resend", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def open(
        cls, stream_url: str, token: str, *, tls: ssl.SSLContext | None = None, **options
    ) -> SessionClient:
        """Dial ``stream_url`` (wss: verified with ``tls``); send the OpenDataChannel frame with ``token``."""
        connection = connect(
            stream_url, ssl=tls, proxy=None, open_timeout=10, max_size=None, compression=None
        )
        connection = connection.__enter__()  # owned here (websockets 17 warns otherwise); close() closes it
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # keystrokes go out at once
        connection.send(protocol.open_data_channel(token, CLIENT_VERSION))
        return cls(connection, **options)

    # --- sending ----------------------------------------------------------------------------
    def send_stream(self, payload: bytes, payload_type: int = PayloadType.OUTPUT) -> int:
        """Number and send one stream message (resent until acknowledged); its sequence number."""
        with self._send_lock:
            message, frame = self.outgoing.next_message(payload, payload_type)
            self._send_frame(frame)
        return message.sequence_number

    def send_raw(self, message: ClientMessage) -> None:
        """One message exactly as given (its own sequence number), sent once and never resent."""
        with self._send_lock:
            self._send_frame(message.encode())

    def send_input(self, data: bytes) -> None:
        """Keystrokes or pasted data, in messages of at most ``chunk`` bytes, without waiting."""
        for start in range(0, len(data), self.chunk):
            self.send_stream(data[start : start + self.chunk])

    def send_size(self, cols: int, rows: int) -> None:
        self.send_stream(protocol.size_payload(cols, rows), PayloadType.SIZE)

    def handshake(self, timeout: float = 10) -> None:
        """Answer the server's HandshakeRequest (waiting for it) and wait for HandshakeComplete."""
        self._wait(lambda: self.handshake_request is not None, timeout, "no HandshakeRequest")
        assert self.handshake_request is not None
        self.send_stream(
            protocol.handshake_response(CLIENT_VERSION, self.handshake_request.json()),
            PayloadType.HANDSHAKE_RESPONSE,
        )
        self._wait(
            lambda: PayloadType.HANDSHAKE_COMPLETE in self.received.payload_types,
            timeout,
            "no HandshakeComplete",
        )

    def wait_acknowledged(self, timeout: float = 30) -> None:
        """Until the server has acknowledged every message sent so far."""
        self._wait(lambda: self.outgoing.unacknowledged == 0, timeout, "input left unacknowledged")

    # --- receiving --------------------------------------------------------------------------
    def read_until(self, marker: bytes, timeout: float = 10) -> bytes:
        """Output received so far once it contains ``marker``."""
        self._wait(lambda: marker in self.received.output, timeout, f"{marker!r} never came")
        return bytes(self.received.output)

    def wait_closed(self, timeout: float = 10) -> Received:
        """Until the server closed the socket; everything it sent."""
        self._wait(self._done.is_set, timeout, "the server did not close the channel")
        return self.received

    def close(self) -> None:
        self._done.set()
        self.connection.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> SessionClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --- threads ----------------------------------------------------------------------------
    def _send_frame(self, frame: bytes) -> None:
        try:
            self.connection.send(frame)
        except ConnectionClosed:
            self._done.set()

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._done.is_set():
                    raise TimeoutError(f"{what} (within {timeout} s, socket closed: {self._done.is_set()})")
                self._changed.wait(min(remaining, 0.1))

    def _receive_loop(self) -> None:
        try:
            for frame in self.connection:
                if isinstance(frame, bytes):
                    self._handle(protocol.decode(frame))
        except ConnectionClosed:
            pass
        finally:
            if self.connection.protocol.close_rcvd is not None:
                self.received.close_code = self.connection.protocol.close_rcvd.code
            self._done.set()
            with self._changed:
                self._changed.notify_all()

    def _handle(self, message: ClientMessage) -> None:
        with self._changed:
            if message.message_type == protocol.ACKNOWLEDGE:
                sequence = protocol.acknowledged_sequence(message)
                self.received.acknowledged.append(sequence)
                with self._send_lock:
                    self.outgoing.acknowledged(sequence)
            elif message.message_type == protocol.CHANNEL_CLOSED:
                self.received.closed = message
            elif message.message_type == protocol.OUTPUT_STREAM:
                acknowledge, ready = self.incoming.receive(message)
                if acknowledge:
                    with self._send_lock:
                        self._send_frame(protocol.acknowledge(message).encode())
                for item in ready:
                    self.received.payload_types.append(item.payload_type)
                    if item.payload_type == PayloadType.HANDSHAKE_REQUEST:
                        self.handshake_request = item
                    elif item.payload_type in (PayloadType.OUTPUT, PayloadType.STDERR):
                        self.received.output += item.payload
            self._changed.notify_all()

    def _resend_loop(self) -> None:
        while not self._done.wait(RESEND_TICK):
            with self._send_lock:
                for frame in self.outgoing.due_for_resend():
                    self._send_frame(frame)
