"""The plugin's side of a session: what runs once :mod:`onboard.labplugin.invocation` has read the AWS
CLI's arguments.

The plugin prints ``Starting session with SessionId:``,
relays keystrokes and output until the server sends ``channel_closed``, prints ``Exiting session with
sessionId:``, and exits 0. If the socket drops, it calls ResumeSession at ENDPOINT (with PROFILE and
REGION) and dials again, continuing its sequence numbers.

Threads: the main thread reads the keyboard and runs the signal handlers (SIGINT, SIGQUIT and SIGTSTP
arrive ignored from the AWS CLI: they are forwarded as 0x03, 0x1c, 0x1a); a sender thread numbers and
sends input; a receiver thread acknowledges and writes output and redials after a drop; a timer thread
resends overdue input and reports window-size changes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from onboard.labplugin import VERSION
from onboard.labplugin.invocation import Invocation, PluginError, check_stream_url, parse_arguments
from onboard.labplugin.ports import PortForwarding, port_forwarding
from onboard.labplugin.terminal import CbreakTerminal, terminal_size
from onboard.secrets import Secret
from onboard.session import protocol
from onboard.session.protocol import IncomingStream, OutgoingStream, PayloadType

if TYPE_CHECKING:  # websockets is imported when the plugin connects (the first prompt comes sooner)
    from onboard.labplugin.channel import DataChannelSocket

#: Signals the plugin forwards to the remote terminal, as bytes the remote pty turns back into signals.
FORWARDED_SIGNALS = {"SIGINT": b"\x03", "SIGQUIT": b"\x1c", "SIGTSTP": b"\x1a"}
SIZE_POLL_SECONDS = 0.5
TIMER_TICK = 0.05
RESUME_ATTEMPTS = 5
#: After Ctrl-C in a port session: how long channel_closed may take before the plugin exits anyway.
TERMINATE_GRACE_SECONDS = 1.0
#: Wait for the handshake this long before giving up on a server that accepted the socket.
HANDSHAKE_TIMEOUT = 30.0
#: Opening the websocket (TCP, TLS and its opening handshake) may take this long.
CONNECT_TIMEOUT = 10.0
#: A keep-alive ping this often, as AWS's plugin (communicator/websocketchannel.go StartPings with
#: config.PingTimeInterval, 5 minutes; it does not wait for the pong either).
PING_SECONDS = 5 * 60.0


class ChannelUnavailable(PluginError):
    """The websocket could not be opened (refused, timed out, or the server said no)."""


class ShellSession:
    """One session's client side; :meth:`run` returns when the server closes the channel."""

    def __init__(self, invocation: Invocation, *, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
        self.invocation = invocation
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self._token = invocation.token
        self._stream_url = invocation.stream_url
        self._outgoing = OutgoingStream(protocol.INPUT_STREAM)
        self._incoming = IncomingStream()
        self._lock = threading.Lock()  # guards the outgoing stream and sending on the socket
        self._input: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()
        self._connection: DataChannelSocket | None = None
        self._handshake_done = threading.Event()
        self._closed = threading.Event()
        self._size: tuple[int, int] | None = None
        self.error: str | None = None
        self.gave_up = False
        #: What the server said when it closed the channel (AWS's agent explains idle timeouts there).
        self.closing_output = ""
        #: Set when the agent asks for a port session (SessionType Port): no keyboard, no terminal size.
        self.port: PortForwarding | None = None

    # --- entry ------------------------------------------------------------------------------
    def run(self) -> None:
        self._connect()
        threads = [
            threading.Thread(target=self._receive_loop, name="plugin-receive", daemon=True),
            threading.Thread(target=self._send_loop, name="plugin-send", daemon=True),
            threading.Thread(target=self._timer_loop, name="plugin-timer", daemon=True),
        ]
        # Before the receiver can complete the handshake: a port session says it waits for connections
        # from there, and a Ctrl-C after that must end it (SIGINT arrives ignored until these are set).
        self._install_signal_handlers()
        for thread in threads:
            thread.start()
        with CbreakTerminal(self.stdin_fd):
            self._read_keyboard()
        self._input.put(None)
        if self.port is not None:
            self.port.close()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
        if self.gave_up:  # as AWS's plugin does after its resends run out
            with contextlib.suppress(Exception):
                terminate_session(self.invocation)
        if self.error:
            raise PluginError(self.error)

    def _install_signal_handlers(self) -> None:
        for name, byte in FORWARDED_SIGNALS.items():
            signal.signal(getattr(signal, name), lambda *_, byte=byte: self._signalled(byte))
        if hasattr(signal, "SIGWINCH"):
            signal.signal(signal.SIGWINCH, lambda *_: self._report_size())

    def _signalled(self, byte: bytes) -> None:
        if self.port is not None:  # a port session has no remote terminal: Ctrl-C ends it
            self.port.terminate()
            # As AWS's plugin: exit right after sending the flag, whether or not the agent answers.
            threading.Timer(TERMINATE_GRACE_SECONDS, self._closed.set).start()
        else:
            self._input.put((byte, PayloadType.OUTPUT))

    def _read_keyboard(self) -> None:
        reading = True
        while not self._closed.is_set():
            if not reading or not self._handshake_done.is_set() or self.port is not None:
                self._closed.wait(0.1)
                continue
            try:
                ready, _, _ = select.select([self.stdin_fd], [], [], 0.1)
            except InterruptedError:
                continue
            if not ready:
                continue
            data = os.read(self.stdin_fd, protocol.STREAM_CHUNK)
            if not data:
                reading = False  # no more input (not a terminal): wait for the server to close
                continue
            if data == b"\n":  # Enter without a terminal's ICRNL undone: the remote shell wants CR
                data = b"\r"
            self._input.put((data, PayloadType.OUTPUT))

    # --- the socket ---------------------------------------------------------------------------
    def _connect(self) -> None:
        from websockets.exceptions import WebSocketException

        from onboard.labplugin.channel import ChannelClosed, DataChannelSocket
        from onboard.labplugin.trust import stream_tls_context

        # wss: what AWS's plugin trusts, plus the profile's CA bundle (see onboard.labplugin.trust).
        secure = self._stream_url.startswith("wss://")
        try:
            connection = DataChannelSocket.open(
                self._stream_url,
                tls=stream_tls_context(self.invocation.profile) if secure else None,
                max_size=protocol.MAX_PAYLOAD + protocol.PAYLOAD_OFFSET,
                timeout=CONNECT_TIMEOUT,
                user_agent=f"onboard-labplugin/{VERSION}",
            )
            connection.send(protocol.open_data_channel(self._token.reveal(), VERSION))
        except (OSError, ChannelClosed, WebSocketException) as err:
            raise ChannelUnavailable(
                f"could not open the data channel at {_without_query(self._stream_url)}: {err}"
            ) from None
        with self._lock:
            self._connection = connection
            for frame in self._outgoing.all_pending():
                self._send_frame(frame)

    def _send_frame(self, frame: bytes) -> None:
        """Send one frame; the caller holds the lock. A dropped socket is the receiver's to handle."""
        from onboard.labplugin.channel import ChannelClosed

        if self._connection is None:
            return
        with contextlib.suppress(ChannelClosed):
            self._connection.send(frame)

    def _send_stream(self, payload: bytes, payload_type: int) -> None:
        with self._lock:
            _, frame = self._outgoing.next_message(payload, payload_type)
            self._send_frame(frame)

    def _receive_loop(self) -> None:
        from onboard.labplugin.channel import ChannelClosed

        while not self._closed.is_set():
            try:
                if self._connection is None:
                    raise ChannelClosed
                frame = self._connection.recv()
            except ChannelClosed:
                if self._closed.is_set() or not self._resume():
                    self._closed.set()
                    return
                continue
            if isinstance(frame, str):
                continue
            try:
                self._handle(protocol.decode(frame))
            except protocol.ProtocolError:
                continue  # a corrupt frame is dropped; the server resends what we did not ack

    def _handle(self, message: protocol.ClientMessage) -> None:
        if message.message_type == protocol.ACKNOWLEDGE:
            with self._lock:
                self._outgoing.acknowledged(protocol.acknowledged_sequence(message))
            return
        if message.message_type == protocol.CHANNEL_CLOSED:
            with contextlib.suppress(protocol.ProtocolError, AttributeError):
                self.closing_output = str(message.json().get("Output") or "")
            self._closed.set()
            return
        if message.message_type != protocol.OUTPUT_STREAM:
            return  # start_publication / pause_publication: nothing to do for a shell
        acknowledge, ready = self._incoming.receive(message)
        if acknowledge:
            with self._lock:
                self._send_frame(protocol.acknowledge(message).encode())
        for item in ready:
            self._process(item)

    def _process(self, message: protocol.ClientMessage) -> None:
        kind = message.payload_type
        if kind == PayloadType.HANDSHAKE_REQUEST:
            request = message.json()
            self.port = port_forwarding(self.invocation.session_id, request, self._send_stream)
            response = protocol.handshake_response(VERSION, request)
            self._send_stream(response, PayloadType.HANDSHAKE_RESPONSE)
        elif kind == PayloadType.HANDSHAKE_COMPLETE:
            note = (message.json() or {}).get("CustomerMessage") or ""
            if note:
                _write_all(self.stdout_fd, note.encode() + b"\n")
            self._handshake_done.set()
            if self.port is not None:
                self.port.start()
            else:
                self._report_size(force=True)
        elif self.port is not None and kind in (PayloadType.OUTPUT, PayloadType.FLAG):
            self.port.deliver(message.payload, kind)
        elif kind in (PayloadType.OUTPUT, PayloadType.ERROR):
            _write_all(self.stdout_fd, message.payload)
        elif kind == PayloadType.STDERR:
            _write_all(2, message.payload)

    def _send_loop(self) -> None:
        while True:
            item = self._input.get()
            if item is None:
                return
            data, payload_type = item
            if not self._handshake_done.is_set():
                continue
            for start in range(0, len(data), protocol.STREAM_CHUNK):
                self._send_stream(data[start : start + protocol.STREAM_CHUNK], payload_type)

    def _timer_loop(self) -> None:
        next_size_check = time.monotonic() + SIZE_POLL_SECONDS
        next_ping = time.monotonic() + PING_SECONDS
        handshake_deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        while not self._closed.wait(TIMER_TICK):
            with self._lock:
                for frame in self._outgoing.due_for_resend():
                    self._send_frame(frame)
                gave_up = self._outgoing.gave_up
            if gave_up:
                self.error = "the lab stopped acknowledging input; the session was terminated"
                self.gave_up = True
                self._closed.set()
            if not self._handshake_done.is_set() and time.monotonic() > handshake_deadline:
                self.error = "the data channel did not complete its handshake"
                self._closed.set()
            if time.monotonic() >= next_size_check:
                next_size_check += SIZE_POLL_SECONDS
                self._report_size()
            if time.monotonic() >= next_ping and self._connection is not None:
                next_ping += PING_SECONDS
                with contextlib.suppress(OSError):
                    self._connection.ping()

    def _report_size(self, force: bool = False) -> None:
        if not self._handshake_done.is_set() or self.port is not None:
            return
        size = terminal_size()
        if force or size != self._size:
            self._size = size
            self._input.put((protocol.size_payload(*size), PayloadType.SIZE))

    # --- resuming -----------------------------------------------------------------------------
    def _resume(self) -> bool:
        """After a dropped socket: ResumeSession for a new token, then dial again. False if it failed."""
        for attempt in range(RESUME_ATTEMPTS):
            time.sleep(min(0.1 * 2**attempt, 2.0))
            try:
                answer = resume_session(self.invocation)
            except Exception as err:  # any API failure: try again, then give up with its message
                self.error = f"ResumeSession failed: {type(err).__name__}: {err}"
                continue
            if not answer.get("TokenValue"):
                self.error = "the session timed out and cannot be resumed"
                return False
            self._token = Secret(answer["TokenValue"])
            self._stream_url = answer.get("StreamUrl") or self._stream_url
            try:
                check_stream_url(self._stream_url)
                self._connect()
            except ChannelUnavailable as err:  # another attempt
                self.error = str(err)
                continue
            except PluginError as err:
                self.error = str(err)
                return False
            self.error = None
            return True
        return False


def _ssm_client(invocation: Invocation):
    """An SSM client for the profile, region and endpoint the AWS CLI used (boto3 is imported only now)."""
    import boto3

    session = boto3.Session(profile_name=invocation.profile or None, region_name=invocation.region or None)
    return session.client("ssm", endpoint_url=invocation.endpoint or None)


def resume_session(invocation: Invocation) -> dict:
    return _ssm_client(invocation).resume_session(SessionId=invocation.session_id)


def terminate_session(invocation: Invocation) -> None:
    _ssm_client(invocation).terminate_session(SessionId=invocation.session_id)


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 0.1)
            continue
        view = view[written:]


def run(argv: list[str]) -> int:
    """Run one session as the AWS CLI asked (``argv`` without the program name); the exit code."""
    try:
        invocation = parse_arguments(argv, os.environ)
    except PluginError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    sys.stdout.write(f"\nStarting session with SessionId: {invocation.session_id}\n")
    sys.stdout.flush()
    session = ShellSession(invocation)
    try:
        session.run()
    except PluginError as err:
        sys.stderr.write(f"\nSessionId: {invocation.session_id} : {err}\n")
        return 1
    if session.closing_output:  # as AWS's plugin: the reason replaces the exit line
        sys.stdout.write(f"\n\nSessionId: {invocation.session_id} : {session.closing_output}\n\n")
    else:
        sys.stdout.write(f"\n\nExiting session with sessionId: {invocation.session_id}.\n\n")
    sys.stdout.flush()
    return 0
