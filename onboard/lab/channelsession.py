"""One session's data channel in the lab's data-channel server: the agent's side of the protocol for one
session, and the bytes between it and the session's shell.

A :class:`SessionChannel` outlives the websocket connections that carry it (a client that resumes dials
again and finds it). It takes the client's messages as AWS's agent does (acknowledged once the session took
them, held when ahead, refused while the shell's input queue is full), completes the handshake, starts the
session's shell (or port session) and pumps bytes both ways: queued input written as the terminal takes
it, output read when it is ready, recorded in the transcript and sent as numbered messages, reading paused
while too much output waits unacknowledged. Everything here runs in the server's event loop. Split from
:mod:`onboard.lab.datachannel`, which accepts the connections and ends the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from onboard.lab import ports
from onboard.lab.channelinput import ChannelLimits, terminal_size
from onboard.lab.instance import ShellProcess
from onboard.lab.sessions import LabInstance, LabSession
from onboard.lab.transcripts import Transcript
from onboard.session import protocol
from onboard.session.protocol import Arrival, ClientMessage, IncomingStream, OutgoingStream, PayloadType

# The data channel's logger: its lines read the same whichever module of it writes them.
log = logging.getLogger("onboard.lab.datachannel")

READ_CHUNK = 16 * 1024
#: Output sent in one message at most.
OUTPUT_BATCH = 64 * 1024
#: The shell's terminal when the client has not said its size yet (the plugin's size without a TTY).
DEFAULT_COLS, DEFAULT_ROWS = 300, 100

#: The server's way to end a session: ``end(channel, status, drain=..., closing_output=...)``.
Ender = Callable[..., Coroutine[Any, Any, None]]


@dataclass
class SessionChannel:
    """One session's data channel; it outlives the websocket connections that carry it."""

    session: LabSession
    instance: LabInstance
    transcript: Transcript
    limits: ChannelLimits
    #: Runs a coroutine in the server's loop, keeping it referenced until it is done.
    spawn: Callable[[Coroutine[Any, Any, None]], None]
    #: Ends the session (the server's: it stops the shell, tells the client, hands over the transcript).
    end: Ender
    #: The lab's other instances, which a port session may reach by address or name (as from the instance).
    neighbours: Iterable[LabInstance]
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

    # --- the client's messages ----------------------------------------------------------------------
    async def receive(self, message: ClientMessage) -> None:
        """One message from the client, handled as AWS's agent does (datachannel.go,
        handleStreamDataMessage): the expected message is acknowledged once the session took it;
        a message ahead of it is acknowledged if it can be held; a duplicate is acknowledged again (its
        first acknowledgement may have been lost with a socket)."""
        if message.message_type == protocol.ACKNOWLEDGE:
            self.outgoing.acknowledged(protocol.acknowledged_sequence(message))
            self.resume_reading()
            return
        if message.message_type != protocol.INPUT_STREAM:
            raise protocol.ProtocolError(f"a client does not send {message.message_type}")
        arrival = self.incoming.arrival(message)
        if arrival is Arrival.AHEAD:
            if not self.input_refused and self.incoming.hold(message):
                await self._acknowledge(message)
            return
        if arrival is Arrival.NEXT:
            if not await self._take(message):
                self.input_refused = True
                return
            self.input_refused = False
        await self._acknowledge(message)
        if arrival is Arrival.NEXT:
            await self._complete_handshake()
            for held in self.incoming.advance():
                await self._take(held, room_or_not=True)
                await self._complete_handshake()  # a held HandshakeResponse was acknowledged when held

    async def _complete_handshake(self) -> None:
        """Once the HandshakeResponse is taken and acknowledged: HandshakeComplete, then the session starts.

        Never before that acknowledgement, as on AWS, where the agent's reader acknowledges the response
        as it takes it and its handshake routine sends HandshakeComplete after (datachannel.go,
        handleStreamDataMessage and PerformHandshake): the official plugin (1.2.0.0) installs a port
        session's handler on HandshakeComplete before its smux client exists, and a message arriving in
        between ends its websocket reader (portsession.go Initialize, muxportforwarding.go IsStreamNotSet).
        """
        if not self.handshake_answered or self.handshake_done:
            return
        self.handshake_done = True
        elapsed = time.monotonic() - self.handshake_started
        await self.send_stream(protocol.handshake_complete(elapsed), PayloadType.HANDSHAKE_COMPLETE)
        self._start_shell()

    async def _acknowledge(self, message: ClientMessage) -> None:
        if self.connection is not None:
            await send(self.connection, protocol.acknowledge(message).encode())

    async def _take(self, message: ClientMessage, *, room_or_not: bool = False) -> bool:
        """Take one in-order message into the session; False if there is no room for it now (then it is
        not acknowledged). Held messages were acknowledged already: they are taken ``room_or_not``."""
        kind = message.payload_type
        if kind == PayloadType.HANDSHAKE_RESPONSE:
            self.handshake_answered = True
        elif kind == PayloadType.OUTPUT:
            self.last_input = time.monotonic()
            if not room_or_not and not await self._room_for_input():
                return False
            self.queued_input += message.payload
            self._write_input()
        elif kind == PayloadType.SIZE:
            self.size = terminal_size(message)
            if self.shell is not None:
                self.shell.resize(*self.size)
        elif kind == PayloadType.FLAG and isinstance(self.shell, ports.PortSession):
            self.shell.flag(message.payload)
        # Other flags and anything newer are acknowledged and otherwise ignored, as the agent does.
        return True

    async def send_stream(self, payload: bytes, payload_type: int) -> None:
        _, frame = self.outgoing.next_message(payload, payload_type)
        if self.connection is not None:
            await send(self.connection, frame)

    # --- the shell ----------------------------------------------------------------------------------
    def _start_shell(self) -> None:
        cols, rows = self.size or (DEFAULT_COLS, DEFAULT_ROWS)
        try:
            if ports.is_port_session(self.session):
                self.shell = ports.PortSession(
                    self.instance,
                    self.session,
                    self.instance.agent_version,
                    send=self._port_output,
                    ended=lambda: self.spawn(self.end(self, "Terminated")),
                    room=self._write_input,
                    batch=OUTPUT_BATCH,
                    neighbours=self.neighbours,
                )
            else:
                self.shell = ShellProcess(self.instance, self.session, cols, rows)
        except (OSError, ValueError) as err:
            log.warning("session %s: the shell did not start: %s", self.session.session_id, err)
            reason = f"The session could not start: {err}"
            self.spawn(self.end(self, "Failed", drain=False, closing_output=reason))
            return
        self.resume_reading()
        self._write_input()

    def _write_input(self) -> None:
        """Give the shell what it takes of the queued input now; wait (in the loop) to give the rest."""
        shell = self.shell
        if shell is None or self.ended:
            return  # queued until the shell starts
        taken = shell.write_some(self.queued_input)
        del self.queued_input[:taken]
        if len(self.queued_input) < self.limits.queued_input:
            self.room.set()
        # A port session says when its destinations take more (room); a terminal is waited for here.
        if self.queued_input and not self.writing and isinstance(shell, ShellProcess):
            self.writing = True
            asyncio.get_running_loop().add_writer(shell.input_fd, self._write_input)
        elif not self.queued_input and self.writing:
            self.stop_writing()

    async def _room_for_input(self) -> bool:
        """Whether the input queue has room, waiting a little for the shell to take some."""
        if len(self.queued_input) < self.limits.queued_input:
            return True
        self.room.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.room.wait(), self.limits.room_wait)
        return len(self.queued_input) < self.limits.queued_input

    def stop_writing(self) -> None:
        if self.writing and isinstance(self.shell, ShellProcess) and self.shell.input_fd >= 0:
            asyncio.get_running_loop().remove_writer(self.shell.input_fd)
        self.writing = False

    def resume_reading(self) -> None:
        shell = self.shell
        if shell is None or self.reading or self.ended:
            return
        if self.outgoing.unacknowledged_bytes >= self.limits.unacknowledged_output:
            return
        if isinstance(shell, ports.PortSession):
            shell.resume_output()
        elif shell.output_fd >= 0:
            asyncio.get_running_loop().add_reader(shell.output_fd, self._shell_readable)
        else:
            return
        self.reading = True

    def pause_reading(self) -> None:
        if self.reading and isinstance(self.shell, ports.PortSession):
            self.shell.pause_output()
        elif self.reading and isinstance(self.shell, ShellProcess) and self.shell.output_fd >= 0:
            asyncio.get_running_loop().remove_reader(self.shell.output_fd)
        self.reading = False

    async def stop_shell(self) -> None:
        """Stop the shell (in an executor: a process may take a moment to end) or close a port session's
        connections (in the loop, whose readers they are)."""
        if isinstance(self.shell, ports.PortSession):
            self.shell.terminate()
        elif self.shell is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.shell.terminate)

    def _port_output(self, payload: bytes) -> None:
        """What a port session's destinations answered: one message, then back-pressure as for a shell."""
        self.send_output(payload)
        if self.outgoing.unacknowledged_bytes >= self.limits.unacknowledged_output:
            self.pause_reading()

    def _shell_readable(self) -> None:
        assert isinstance(self.shell, ShellProcess)  # read only while the shell runs
        output, ended = read_available(self.shell.output_fd)
        if output:
            self.send_output(output)
        if ended:
            self.pause_reading()
            self.spawn(self.end(self, "Terminated"))
        elif self.outgoing.unacknowledged_bytes >= self.limits.unacknowledged_output:
            self.pause_reading()

    def send_output(self, output: bytes) -> None:
        self.transcript.record(output)
        _, frame = self.outgoing.next_message(output, PayloadType.OUTPUT)
        if self.connection is not None:
            self.spawn(send(self.connection, frame))


def read_available(fd: int) -> tuple[bytes, bool]:
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


async def send(connection: ServerConnection, frame: bytes) -> None:
    """Send one frame; a connection that closed meanwhile is the reader's to notice."""
    with contextlib.suppress(ConnectionClosed):
        await connection.send(frame)
