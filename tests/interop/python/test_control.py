"""Ping/Pong and the closing handshake with python-websockets as the client."""

import asyncio

import pytest
import websockets

from conftest import run


def connect(server, path="/ws/echo"):
    return websockets.connect(server.url(path), ping_interval=None, close_timeout=5)


@pytest.mark.parametrize("payload", [b"", b"ping-1", bytes(range(125))], ids=["empty", "short", "125-bytes"])
def test_ping_gets_pong_with_same_payload(server, payload):
    async def scenario():
        async with connect(server) as ws:
            # websockets resolves the waiter only for a Pong carrying this exact payload.
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 5)

    run(scenario())


def test_pings_interleaved_with_messages(server):
    async def scenario():
        async with connect(server) as ws:
            waiters = []
            for i in range(10):
                waiters.append(await ws.ping(b"p%d" % i))
                await ws.send(f"m{i}")
            for i in range(10):
                assert await ws.recv() == f"m{i}"
            await asyncio.wait_for(asyncio.gather(*waiters), 5)

    run(scenario())


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
def test_client_close_code_is_echoed(server, code):
    async def scenario():
        ws = await connect(server)
        await ws.close(code=code, reason="closing with %d" % code)
        assert ws.close_code == code

    run(scenario())


def test_default_close_after_traffic_is_1000(server):
    async def scenario():
        ws = await connect(server)
        await ws.send("x")
        assert await ws.recv() == "x"
        await ws.close()
        assert ws.close_code == 1000

    run(scenario())


def test_orders_endpoint_replies_with_echo_prefix(server):
    async def scenario():
        async with connect(server, "/ws/orders") as ws:
            for text in ["BUY 10 ACME", "", "späti ✓"]:
                await ws.send(text)
                assert await ws.recv() == "Echo: " + text

    run(scenario())
