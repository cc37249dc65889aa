"""The lab's data-channel server: the websocket end of a Session Manager session, on 127.0.0.1 (a class
lab: on its --listen address, over TLS: a wss StreamUrl).

StartSession (the API layer) issues a stream token and the StreamUrl :meth:`DataChannelServer.stream_url`
gives; the client dials it and sends the token in its first TEXT frame. The server redeems the token
(single-use, bound to the session in the URL) and hands the connection to the session's
:class:`~onboard.lab.channelsession.SessionChannel`, which performs the handshake (SessionType
Standard_Stream), runs the session's document (a shell by default, see :mod:`onboard.lab.instance`) in a
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
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from onboard.lab import ports
from onboard.lab.channelinput import (
    PATH_PREFIX,
    ChannelLimits,
    opening_document,
    session_id_of,
    text_field,
)
from onboard.lab.channelsession import SessionChannel, read_available, send
from onboard.lab.instance import ShellProcess
from onboard.lab.sessions import MAX_SESSION_MINUTES, LabInstance, LabSession, SessionRegistry
from onboard.lab.tls import url_host
from onboard.lab.transcripts import Transcript
from onboard.secrets import Secret
from onboard.session import protocol
from onboard.session.protocol import (
    HoldBudget,
    IncomingStream,
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
#: How often resends and timeouts are checked.
TICK = 0.05
#: On a normal end, how long to wait for the last output to be acknowledged before channel_closed.
DRAIN_SECONDS = 1.0

# Websocket close codes: 1008 policy violation (token), 1002 protocol error (bad frame), 1000 normal.
CLOSE_POLICY = 1008
CLOSE_PROTOCOL = 1002


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
        self._channels: dict[str, SessionChannel] = {}
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
            channel = SessionChannel(
                session,
                instance,
                transcript,
                self.limits,
                spawn=self._spawn,
                end=self._end,
                neighbours=self.instances.values(),
                incoming=incoming,
            )
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
            await channel.send_stream(request, PayloadType.HANDSHAKE_REQUEST)
        else:
            for pending in channel.outgoing.all_pending():
                await send(connection, pending)
        try:
            async for frame in connection:
                if isinstance(frame, str):
                    raise ProtocolError("a text frame after OpenDataChannel")
                await channel.receive(protocol.decode(frame))
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
        channel: SessionChannel,
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
        channel.pause_reading()
        channel.stop_writing()
        channel.incoming.release()
        await channel.stop_shell()
        if notice and channel.connection is not None:
            _, frame = channel.outgoing.next_message(notice.encode(), PayloadType.OUTPUT)
            await send(channel.connection, frame)
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
            await send(connection, closed.encode())
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
                if isinstance(channel.shell, ShellProcess) and channel.shell.exited:
                    # the shell is gone but a background job may keep the terminal open: end anyway
                    output, _ = read_available(channel.shell.output_fd)
                    if output:
                        channel.send_output(output)
                    self._spawn(self._end(channel, "Terminated"))
                    continue
                if channel.connection is not None:
                    for frame in channel.outgoing.due_for_resend():
                        await send(channel.connection, frame)
