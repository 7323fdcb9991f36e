"""/ws/echo with python-websockets as the client: every size and type comes back exact."""

import asyncio

import pytest
import websockets

from conftest import run
from payloads import random_bytes, utf8_text

SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024]
COMPRESSION = [None, "deflate"]  # the server may or may not accept the deflate offer


def connect(server, compression=None):
    return websockets.connect(server.url("/ws/echo"), max_size=None, compression=compression,
                              ping_interval=None, close_timeout=5)


@pytest.mark.parametrize("compression", COMPRESSION, ids=["plain", "deflate-offered"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_echo_exact(server, kind, size, compression):
    message = utf8_text(size, seed=size) if kind == "text" else random_bytes(size, seed=size)

    async def scenario():
        async with connect(server, compression) as ws:
            await ws.send(message)
            reply = await ws.recv()
            assert type(reply) is type(message)
            assert reply == message

    run(scenario())


def test_many_messages_keep_their_order(server):
    async def scenario():
        async with connect(server) as ws:
            messages = [f"msg {i} ✓" if i % 2 else random_bytes(i, seed=i) for i in range(200)]
            for m in messages:
                await ws.send(m)
            for m in messages:
                assert await ws.recv() == m

    run(scenario())


@pytest.mark.parametrize("fragments", [
    ["Hello, ", "fragmented ", "wörld ", "😀"],
    [b"\x00\x01", b"", b"\xff" * 70000, b"end"],
], ids=["text", "binary"])
def test_fragmented_message_echoed_as_one(server, fragments):
    # websockets sends an iterable as one message of several frames (RFC 6455 section 5.4).
    async def scenario():
        async with connect(server) as ws:
            await ws.send(fragments)
            reply = await ws.recv()
            assert reply == fragments[0][:0].join(fragments)
            await ws.send("after")
            assert await ws.recv() == "after"

    run(scenario())


def test_concurrent_clients_each_get_their_own_echo(server):
    async def client(n):
        async with connect(server) as ws:
            for i in range(20):
                await ws.send(f"client {n} message {i}")
                assert await ws.recv() == f"client {n} message {i}"

    async def scenario():
        await asyncio.gather(*(client(n) for n in range(10)))

    run(scenario())
