"""The lab's data-channel server: the websocket end of a Session Manager session, on 127.0.0.1 (a class
lab: on its --listen address, over TLS: a wss StreamUrl).

StartSession (the API layer) issues a stream token and the StreamUrl :meth:`DataChannelServer.stream_url`
gives; the client dials it and sends the token in its first TEXT frame. The server redeems the token
(single-use, bound to the session in the URL), performs the handshake (SessionType Standard_Stream),
then runs the session's document (a shell by default, see :mod:`onboard.lab.instance`) in a
pseudo-terminal and relays bytes both ways as numbered, acknowledged, resent-when-lost messages
(:mod:`onboard.session.protocol`).

A dropped socket does not end the session: the shell keeps running, its output waits unacknowledged,
and a client that calls ResumeSession dials again with the new token; sequence numbers continue and
the waiting output is resent. The session ends when the shell exits, on TerminateSession, after
``idle_timeout`` seconds without input, or after ``max_session_seconds``: the server sends
``channel_closed``, closes the socket and hands the transcript to the registry.

Everything runs in one asyncio loop in a background thread; the registry is the only shared state.
A bad frame (wrong digest, short header, unknown type, oversized) closes that one connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from onboard.lab import ports
from onboard.lab.channelinput import (
    PATH_PREFIX,
    ChannelLimits,
    opening_document,
    session_id_of,
    terminal_size,
    text_field,
)
from onboard.lab.instance import ShellProcess
from onboard.lab.sessions import MAX_SESSION_MINUTES, LabInstance, LabSession, SessionRegistry
from onboard.lab.tls import url_host
from onboard.lab.transcripts import Transcript
from onboard.secrets import Secret
from onboard.session import protocol
from onboard.session.protocol import (
    Arrival,
    ClientMessage,
    HoldBudget,
    IncomingStream,
    OutgoingStream,
    PayloadType,
    ProtocolError,
)

log = logging.getLogger(__name__)

#: As on AWS: 20 minutes without input ends a session.
DEFAULT_MAX_SESSION_SECONDS = MAX_SESSION_MINUTES * 60
#: How long a client has to send its OpenDataChannel frame.
OPEN_TIMEOUT = 10.0
#: Largest websocket frame accepted: a little over the protocol's payload limit.
MAX_FRAME = protocol.MAX_PAYLOAD + protocol.PAYLOAD_OFFSET
READ_CHUNK = 16 * 1024
#: Output sent in one message at most.
OUTPUT_BATCH = 64 * 1024
#: How often resends and timeouts are checked.
TICK = 0.05
#: On a normal end, how long to wait for the last output to be acknowledged before channel_closed.
DRAIN_SECONDS = 1.0

# Websocket close codes: 1008 policy violation (token), 1002 protocol error (bad frame), 1000 normal.
CLOSE_POLICY = 1008
CLOSE_PROTOCOL = 1002
#: The shell's terminal when the client has not said its size yet (the plugin's size without a TTY).
DEFAULT_COLS, DEFAULT_ROWS = 300, 100


@dataclass
class _Channel:
    """One session's data channel; it outlives the websocket connections that carry it."""

    session: LabSession
    instance: LabInstance
    transcript: Transcript
    outgoing: OutgoingStream = field(default_factory=lambda: OutgoingStream(protocol.OUTPUT_STREAM))
    incoming: IncomingStream = field(default_factory=IncomingStream)
    connection: ServerConnection | None = None
    shell: ShellProcess | ports.PortSession | None = None
    #: Input accepted (acknowledged) that the shell has not taken yet, or that came before the shell.
    queued_input: bytearray = field(default_factory=bytearray)
    #: Whether the loop waits for the terminal to take :attr:`queued_input`.
    writing: bool = False
    #: Set while :attr:`queued_input` is under the limit.
    room: asyncio.Event = field(default_factory=asyncio.Event)
    #: The expected input message was refused for lack of room: later ones are refused until it is taken,
    #: so that nothing acknowledged waits behind a message the client still has to resend.
    input_refused: bool = False
    #: The client's terminal size, if it said it before the shell started.
    size: tuple[int, int] | None = None
    handshake_started: float = 0.0
    #: The client's HandshakeResponse was taken; HandshakeComplete follows its acknowledgement.
    handshake_answered: bool = False
    #: HandshakeComplete was sent and the session started.
    handshake_done: bool = False
    client_id: str = ""
    last_input: float = field(default_factory=time.monotonic)
    opened: float = field(default_factory=time.monotonic)
    reading: bool = False
    ended: bool = False
    end_event: asyncio.Event = field(default_factory=asyncio.Event)


class DataChannelServer:
    def __init__(
        self,
        registry: SessionRegistry,
        instances: Mapping[str, LabInstance],
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float | None = None,
        max_session_seconds: float = DEFAULT_MAX_SESSION_SECONDS,
        limits: ChannelLimits | None = None,
        known_secrets: Callable[[], Iterable[Secret | str]] = tuple,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.registry = registry
        #: Every secret the lab knows (admin secret, people's keys), masked in transcripts with the role's.
        self.known_secrets = known_secrets
        self.instances = instances
        self.host = host
        self.port = port
        #: Serve wss:// with this context (a class lab's certificate); None: ws://.
        self.tls = tls
        #: Seconds without input before a session ends; None: each session's preference (idle_minutes).
        self.idle_timeout = idle_timeout
        self.max_session_seconds = max_session_seconds
        self.limits = limits or ChannelLimits()
        self._held = HoldBudget(self.limits.held_total)
        self._channels: dict[str, _Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        registry.on_terminate(self._terminate_requested)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start listening in a background thread; return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the data channel server is already running")
        self._thread = threading.Thread(target=self._run, name="lab-data-channel", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error

    @property
    def held_input_bytes(self) -> int:
        """Bytes of out-of-order input held for every session together."""
        return self._held.used

    def stream_url(self, session_id: str) -> str:
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{url_host(self.host)}:{self.port}{PATH_PREFIX}{session_id}?role=publish_subscribe"

    def stop(self) -> None:
        """End every session (transcripts are handed over), stop listening and join the thread."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None

    def drop_connection(self, session_id: str) -> bool:
        """Cut the session's socket without ending the session, like a network failure would.

        The client should call ResumeSession and dial again (lab faults and tests use this). False if
        the session has no open connection.
        """
        channel = self._channels.get(session_id)
        if channel is None or channel.connection is None or self._loop is None:
            return False
        transport = channel.connection.transport
        self._loop.call_soon_threadsafe(transport.abort)
        return True

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        try:
            self._server = await serve(
                self._serve,
                self.host,
                self.port,
                process_request=self._check_path,
                max_size=MAX_FRAME,
                compression=None,
                ping_interval=None,
                ssl=self.tls,
            )
        except BaseException as err:
            self._startup_error = err
            self._ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        ticker = asyncio.create_task(self._tick())
        self._ready.set()
        await self._stopping.wait()
        ticker.cancel()
        for channel in list(self._channels.values()):
            await self._end(channel, "Terminated", drain=False)
        self._server.close()
        await self._server.wait_closed()

    @property
    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The server's loop, for code that runs in it (so it exists)."""
        assert self._loop is not None
        return self._loop

    def _spawn(self, coroutine) -> None:
        """Run ``coroutine`` in the loop, keeping a reference until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connections -----------------------------------------------------------------------
    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        session_id = session_id_of(request.path)
        if not session_id or self.registry.get(session_id) is None:
            return connection.respond(404, "No such session\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # _serve runs only after the opening handshake
        session_id = session_id_of(connection.request.path)
        try:
            opening = await asyncio.wait_for(connection.recv(), OPEN_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionClosed):
            return
        try:
            opened = opening_document(opening)
        except ProtocolError as err:
            log.info("session %s: closing the connection on a bad OpenDataChannel frame: %s", session_id, err)
            await connection.close(CLOSE_PROTOCOL, "bad OpenDataChannel frame")
            return
        session = self._redeem(opened, session_id)
        if session is None:
            await connection.close(CLOSE_POLICY, "invalid or expired token")
            return
        instance = self.instances.get(session.target)
        if instance is None:
            await connection.close(CLOSE_POLICY, "target is not a lab instance")
            return
        channel = self._channels.get(session_id)
        if channel is None:
            secrets = [instance.role_secret_access_key, instance.role_session_token, *self.known_secrets()]
            incoming = IncomingStream(max_held_bytes=self.limits.held_per_session, budget=self._held)
            transcript = Transcript(session, [s for s in secrets if s])
            channel = _Channel(session, instance, transcript, incoming=incoming)
            self._channels[session_id] = channel
        previous = channel.connection
        channel.connection = connection
        channel.client_id = text_field(opened, "ClientId") or channel.client_id
        if previous is not None:
            await previous.close(1000, "replaced by a resumed connection")
        self.registry.mark_connected(session_id)
        if not channel.handshake_started:
            channel.handshake_started = time.monotonic()
            request = protocol.handshake_request(channel.instance.agent_version, *ports.session_type(session))
            await self._send_stream(channel, request, PayloadType.HANDSHAKE_REQUEST)
        else:
            for pending in channel.outgoing.all_pending():
                await _send(connection, pending)
        try:
            async for frame in connection:
                if isinstance(frame, str):
                    raise ProtocolError("a text frame after OpenDataChannel")
                await self._receive(channel, protocol.decode(frame))
        except ProtocolError as err:
            log.info("session %s: closing the connection on a bad frame: %s", session_id, err)
            await connection.close(CLOSE_PROTOCOL, "bad frame")
        except ConnectionClosed:
            pass
        finally:
            if channel.connection is connection:
                channel.connection = None
                # Held messages came after one this client never sent: free them with its socket.
                channel.incoming.release()
                channel.input_refused = False
                if not channel.ended:
                    self.registry.mark_disconnected(session_id)

    def _redeem(self, opened: dict, session_id: str) -> LabSession | None:
        token = text_field(opened, "TokenValue")
        if not token:
            return None
        session = self.registry.redeem_token(token)
        if session is None or session.session_id != session_id:
            return None
        return session

    async def _receive(self, channel: _Channel, message: ClientMessage) -> None:
        """One message from the client, handled as AWS's agent does (datachannel.go,
        handleStreamDataMessage): the expected message is acknowledged once the session took it;
        a message ahead of it is acknowledged if it can be held; a duplicate is acknowledged again (its
        first acknowledgement may have been lost with a socket)."""
        if message.message_type == protocol.ACKNOWLEDGE:
            channel.outgoing.acknowledged(protocol.acknowledged_sequence(message))
            self._resume_reading(channel)
            return
        if message.message_type != protocol.INPUT_STREAM:
            raise ProtocolError(f"a client does not send {message.message_type}")
        arrival = channel.incoming.arrival(message)
        if arrival is Arrival.AHEAD:
            if not channel.input_refused and channel.incoming.hold(message):
                await self._acknowledge(channel, message)
            return
        if arrival is Arrival.NEXT:
            if not await self._take(channel, message):
                channel.input_refused = True
                return
            channel.input_refused = False
        await self._acknowledge(channel, message)
        if arrival is Arrival.NEXT:
            await self._complete_handshake(channel)
            for held in channel.incoming.advance():
                await self._take(channel, held, room_or_not=True)
                await self._complete_handshake(channel)  # a held HandshakeResponse was acknowledged when held

    async def _complete_handshake(self, channel: _Channel) -> None:
        """Once the HandshakeResponse is taken and acknowledged: HandshakeComplete, then the session starts.

        Never before that acknowledgement, as on AWS, where the agent's reader acknowledges the response
        as it takes it and its handshake routine sends HandshakeComplete after (datachannel.go,
        handleStreamDataMessage and PerformHandshake): the official plugin (1.2.0.0) installs a port
        session's handler on HandshakeComplete before its smux client exists, and a message arriving in
        between ends its websocket reader (portsession.go Initialize, muxportforwarding.go IsStreamNotSet).
        """
        if not channel.handshake_answered or channel.handshake_done:
            return
        channel.handshake_done = True
        elapsed = time.monotonic() - channel.handshake_started
        await self._send_stream(channel, protocol.handshake_complete(elapsed), PayloadType.HANDSHAKE_COMPLETE)
        self._start_shell(channel)

    async def _acknowledge(self, channel: _Channel, message: ClientMessage) -> None:
        if channel.connection is not None:
            await _send(channel.connection, protocol.acknowledge(message).encode())

    async def _take(self, channel: _Channel, message: ClientMessage, *, room_or_not: bool = False) -> bool:
        """Take one in-order message into the session; False if there is no room for it now (then it is
        not acknowledged). Held messages were acknowledged already: they are taken ``room_or_not``."""
        kind = message.payload_type
        if kind == PayloadType.HANDSHAKE_RESPONSE:
            channel.handshake_answered = True
        elif kind == PayloadType.OUTPUT:
            channel.last_input = time.monotonic()
            if not room_or_not and not await self._room_for_input(channel):
                return False
            channel.queued_input += message.payload
            self._write_input(channel)
        elif kind == PayloadType.SIZE:
            channel.size = terminal_size(message)
            if channel.shell is not None:
                channel.shell.resize(*channel.size)
        elif kind == PayloadType.FLAG and isinstance(channel.shell, ports.PortSession):
            channel.shell.flag(message.payload)
        # Other flags and anything newer are acknowledged and otherwise ignored, as the agent does.
        return True

    # --- the shell --------------------------------------------------------------------------
    def _start_shell(self, channel: _Channel) -> None:
        cols, rows = channel.size or (DEFAULT_COLS, DEFAULT_ROWS)
        try:
            if ports.is_port_session(channel.session):
                channel.shell = ports.PortSession(
                    channel.instance,
                    channel.session,
                    channel.instance.agent_version,
                    neighbours=self.instances.values(),
                )
            else:
                channel.shell = ShellProcess(channel.instance, channel.session, cols, rows)
        except (OSError, ValueError) as err:
            log.warning("session %s: the shell did not start: %s", channel.session.session_id, err)
            reason = f"The session could not start: {err}"
            self._spawn(self._end(channel, "Failed", drain=False, closing_output=reason))
            return
        self._resume_reading(channel)
        self._write_input(channel)

    def _write_input(self, channel: _Channel) -> None:
        """Give the shell what it takes of the queued input now; wait (in the loop) to give the rest."""
        shell = channel.shell
        if shell is None or channel.ended:
            return  # queued until the shell starts
        taken = shell.write_some(channel.queued_input)
        del channel.queued_input[:taken]
        if len(channel.queued_input) < self.limits.queued_input:
            channel.room.set()
        if channel.queued_input and not channel.writing and shell.input_fd >= 0:
            channel.writing = True
            self._running_loop.add_writer(shell.input_fd, self._write_input, channel)
        elif not channel.queued_input and channel.writing:
            self._stop_writing(channel)

    async def _room_for_input(self, channel: _Channel) -> bool:
        """Whether the input queue has room, waiting a little for the shell to take some."""
        if len(channel.queued_input) < self.limits.queued_input:
            return True
        channel.room.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(channel.room.wait(), self.limits.room_wait)
        return len(channel.queued_input) < self.limits.queued_input

    def _stop_writing(self, channel: _Channel) -> None:
        if channel.writing and channel.shell is not None and channel.shell.input_fd >= 0:
            self._running_loop.remove_writer(channel.shell.input_fd)
        channel.writing = False

    def _resume_reading(self, channel: _Channel) -> None:
        shell = channel.shell
        if shell is None or channel.reading or channel.ended or shell.output_fd < 0:
            return
        if channel.outgoing.unacknowledged_bytes >= self.limits.unacknowledged_output:
            return
        channel.reading = True
        self._running_loop.add_reader(shell.output_fd, self._shell_readable, channel)

    def _pause_reading(self, channel: _Channel) -> None:
        if channel.reading and channel.shell is not None and channel.shell.output_fd >= 0:
            self._running_loop.remove_reader(channel.shell.output_fd)
        channel.reading = False

    def _shell_readable(self, channel: _Channel) -> None:
        assert channel.shell is not None  # read only while the shell runs
        output, ended = _read_available(channel.shell.output_fd)
        if output:
            self._send_output(channel, output)
        if ended:
            self._pause_reading(channel)
            self._spawn(self._end(channel, "Terminated"))
        elif channel.outgoing.unacknowledged_bytes >= self.limits.unacknowledged_output:
            self._pause_reading(channel)

    def _send_output(self, channel: _Channel, output: bytes) -> None:
        channel.transcript.record(output)
        _, frame = channel.outgoing.next_message(output, PayloadType.OUTPUT)
        if channel.connection is not None:
            self._spawn(_send(channel.connection, frame))

    async def _send_stream(self, channel: _Channel, payload: bytes, payload_type: int) -> None:
        _, frame = channel.outgoing.next_message(payload, payload_type)
        if channel.connection is not None:
            await _send(channel.connection, frame)

    # --- the end ----------------------------------------------------------------------------
    def _terminate_requested(self, session_id: str) -> None:
        """TerminateSession (called from an API worker thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._terminate_in_loop, session_id)

    def _terminate_in_loop(self, session_id: str) -> None:
        channel = self._channels.get(session_id)
        if channel is not None:
            self._spawn(self._end(channel, "Terminated", drain=False))
        else:  # connected to no channel yet (or its socket dropped before the handshake)
            session = self.registry.get(session_id)
            if session is not None and session.is_active:
                self.registry.mark_ended(session_id, None)

    async def _end(
        self,
        channel: _Channel,
        status: str,
        *,
        drain: bool = True,
        notice: str = "",
        closing_output: str = "",
    ) -> None:
        """End the session: stop its processes, tell the client (``notice`` as last output, or
        ``closing_output`` in channel_closed, which the plugin prints instead of its exit line), close
        the socket and hand the transcript to the registry."""
        if channel.ended:
            return
        channel.ended = True
        session_id = channel.session.session_id
        self._pause_reading(channel)
        self._stop_writing(channel)
        channel.incoming.release()
        if channel.shell is not None:
            await asyncio.get_running_loop().run_in_executor(None, channel.shell.terminate)
        if notice and channel.connection is not None:
            _, frame = channel.outgoing.next_message(notice.encode(), PayloadType.OUTPUT)
            await _send(channel.connection, frame)
        deadline = time.monotonic() + (DRAIN_SECONDS if drain else 0.2)
        while (
            channel.connection is not None and channel.outgoing.unacknowledged and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)
        connection = channel.connection
        if connection is not None:
            closed = protocol.channel_closed(session_id, channel.client_id, closing_output)
            if closing_output:
                channel.transcript.record(f"\r\n{closing_output}\r\n".encode())
            await _send(connection, closed.encode())
            await connection.close(1000, "session ended")
        self._channels.pop(session_id, None)
        transcript = channel.transcript.render()
        await asyncio.get_running_loop().run_in_executor(
            None, self.registry.mark_ended, session_id, transcript, status
        )
        channel.end_event.set()

    async def _tick(self) -> None:
        """Resend overdue output; end idle and over-long sessions."""
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for channel in list(self._channels.values()):
                if channel.ended:
                    continue
                idle = (
                    self.idle_timeout if self.idle_timeout is not None else channel.session.idle_minutes * 60
                )
                if now - channel.last_input > idle:
                    notice = "\r\nYour session timed out due to inactivity and has been terminated.\r\n"
                    self._spawn(self._end(channel, "Terminated", drain=False, notice=notice))
                    continue
                if now - channel.opened > self.max_session_seconds:
                    notice = "\r\nYour session has reached its maximum duration and has been terminated.\r\n"
                    self._spawn(self._end(channel, "Terminated", drain=False, notice=notice))
                    continue
                if channel.shell is not None and channel.shell.exited:
                    # the shell is gone but a background job may keep the terminal open: end anyway
                    output, _ = _read_available(channel.shell.output_fd)
                    if output:
                        self._send_output(channel, output)
                    self._spawn(self._end(channel, "Terminated"))
                    continue
                if channel.connection is not None:
                    for frame in channel.outgoing.due_for_resend():
                        await _send(channel.connection, frame)


def _read_available(fd: int) -> tuple[bytes, bool]:
    """What the terminal has ready (up to OUTPUT_BATCH bytes), and whether the shell side is gone.

    A pty hands out a few KiB per read; batching them makes fewer, larger messages (each costs a
    digest and an acknowledgement), which keeps `cat` of a large file fast.
    """
    chunks: list[bytes] = []
    size = 0
    while size < OUTPUT_BATCH:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError:  # EIO: every process on the terminal has gone
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _send(connection: ServerConnection, frame: bytes) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(frame)
