"""The lab plugin's websocket (onboard.labplugin.channel) against a real websockets server: messages whole
however they are framed, pings answered, a close seen."""

from __future__ import annotations

import threading

import pytest
from websockets.sync.server import serve

from onboard.labplugin.channel import ChannelClosed, DataChannelSocket


@pytest.fixture
def server():
    """A websockets server on 127.0.0.1 running ``handler`` for each connection; yields its ws:// URL."""
    handlers = []
    done = threading.Event()

    def handle(connection) -> None:
        handlers[0](connection)
        done.wait(10)

    with serve(handle, "127.0.0.1", 0) as running:
        thread = threading.Thread(target=running.serve_forever, daemon=True)
        thread.start()
        port = running.socket.getsockname()[1]

        def start(handler) -> DataChannelSocket:
            handlers.append(handler)
            return DataChannelSocket.open(
                f"ws://127.0.0.1:{port}/v1/data-channel/s",
                tls=None,
                max_size=2**20,
                timeout=5,
                user_agent="t",
            )

        yield start
        done.set()
        running.shutdown()


def test_fragmented_and_text_messages_come_out_whole(server):
    def handler(connection) -> None:
        connection.send([b"one ", b"message ", b"in three frames"])
        connection.send("a text message")
        connection.send(b"x" * 300_000)  # more than one read of the socket

    channel = server(handler)
    assert channel.recv() == b"one message in three frames"
    assert channel.recv() == "a text message"
    assert channel.recv() == b"x" * 300_000
    channel.close()


def test_the_servers_ping_is_answered_while_the_plugin_reads(server):
    answered = threading.Event()

    def handler(connection) -> None:
        if connection.ping().wait(5):
            answered.set()
        connection.send(b"after the pong")

    channel = server(handler)
    assert channel.recv() == b"after the pong"
    assert answered.is_set()
    channel.close()


def test_messages_go_both_ways_and_a_close_ends_reading(server):
    def handler(connection) -> None:
        connection.send(connection.recv(timeout=5))
        connection.close()

    channel = server(handler)
    channel.send(b"echo me")
    assert channel.recv() == b"echo me"
    with pytest.raises(ChannelClosed):
        channel.recv()
    with pytest.raises(ChannelClosed):
        channel.send(b"too late")
    channel.close()


def test_close_ends_a_read_blocked_in_another_thread(server):
    channel = server(lambda connection: None)
    raised = []

    def read() -> None:
        try:
            channel.recv()
        except ChannelClosed:
            raised.append(True)

    reader = threading.Thread(target=read)
    reader.start()
    channel.close()
    reader.join(5)
    assert raised == [True]


def test_the_keep_alive_ping_carries_the_payload_awss_plugin_sends():
    # session-manager-plugin, communicator/websocketchannel.go StartPings: a ping of "keepalive" (a server
    # built on websockets answers pings unseen, so this one is websockets' Sans-I/O server on a raw socket)
    import socket

    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    pings: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve_one() -> None:
            connection, _ = listener.accept()
            protocol = ServerProtocol()
            with connection:
                while not pings and (data := connection.recv(65536)):
                    protocol.receive_data(data)
                    for event in protocol.events_received():
                        if isinstance(event, Request):
                            protocol.send_response(protocol.accept(event))
                        elif isinstance(event, Frame) and event.opcode is Opcode.PING:
                            pings.append(bytes(event.data))
                    for outgoing in protocol.data_to_send():
                        connection.sendall(outgoing)

        serving = threading.Thread(target=serve_one, daemon=True)
        serving.start()
        port = listener.getsockname()[1]
        channel = DataChannelSocket.open(
            f"ws://127.0.0.1:{port}/v1/data-channel/s", tls=None, max_size=2**20, timeout=5, user_agent="t"
        )
        channel.ping()
        serving.join(5)
        channel.close()
    assert pings == [b"keepalive"]
