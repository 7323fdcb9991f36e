"""permessage-deflate with python-websockets as the client: every parameter combination
the client can offer, the exact agreement, echo correctness for small and large text and
binary, and proof that big messages travel compressed (RSV1 on the server's frames)."""

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate

from conftest import run
from payloads import random_bytes, utf8_text

# (client factory kwargs, the server's answer as websockets records it)
COMBINATIONS = [
    ({}, dict(remote_no_context_takeover=False, local_no_context_takeover=False,
              remote_max_window_bits=15, local_max_window_bits=15)),
    ({"client_max_window_bits": None}, dict(local_max_window_bits=15)),
    ({"server_no_context_takeover": True}, dict(remote_no_context_takeover=True)),
    ({"client_no_context_takeover": True}, dict(local_no_context_takeover=True)),
    ({"server_no_context_takeover": True, "client_no_context_takeover": True},
     dict(remote_no_context_takeover=True, local_no_context_takeover=True)),
    ({"server_max_window_bits": 8}, dict(remote_max_window_bits=8)),
    ({"server_max_window_bits": 9}, dict(remote_max_window_bits=9)),
    ({"server_max_window_bits": 12}, dict(remote_max_window_bits=12)),
    ({"server_max_window_bits": 15}, dict(remote_max_window_bits=15)),
    # zlib (and so websockets) cannot compress with an 8-bit raw window: 9 is the least.
    ({"client_max_window_bits": 9}, dict(local_max_window_bits=9)),
    ({"client_max_window_bits": 12}, dict(local_max_window_bits=12)),
    ({"server_max_window_bits": 10, "client_max_window_bits": 11, "server_no_context_takeover": True,
      "client_no_context_takeover": True},
     dict(remote_max_window_bits=10, local_max_window_bits=11, remote_no_context_takeover=True,
          local_no_context_takeover=True)),
]

MESSAGES = {
    "small-text": "hi",
    "text-1k": utf8_text(1000, seed=1),
    "binary-random-70k": random_bytes(70000, seed=2),
    "text-1MiB-compressible": ("{\"symbol\":\"ACME\",\"px\":101.25} " * 40000)[: 1 << 20],
    "binary-1MiB-compressible": bytes(1 << 20),
}


def connect(server, factory, path="/ws/echo"):
    return websockets.connect(server.url(path), extensions=[factory], compression=None, max_size=None,
                              ping_interval=None, close_timeout=5)


def record_rsv1(ws):
    """Wraps the negotiated extension's decode to record RSV1 of every incoming data frame."""
    ext = ws.extensions[0]
    seen = []
    original = ext.decode

    def decode(frame, *, max_size=None):
        if frame.opcode.value in (1, 2):
            seen.append(frame.rsv1)
        return original(frame, max_size=max_size)

    ext.decode = decode
    return seen


@pytest.mark.parametrize("kwargs, expected", COMBINATIONS, ids=lambda v: str(v) if v else "defaults")
def test_each_offer_is_agreed_and_echoes_exactly(server, kwargs, expected):
    async def scenario():
        async with connect(server, ClientPerMessageDeflateFactory(**kwargs)) as ws:
            assert len(ws.extensions) == 1 and isinstance(ws.extensions[0], PerMessageDeflate)
            for key, value in expected.items():
                assert getattr(ws.extensions[0], key) == value, key
            rsv1 = record_rsv1(ws)
            for name, message in MESSAGES.items():
                for _ in range(2):  # twice: the second relies on context takeover where agreed
                    await ws.send(message)
                    assert await ws.recv() == message, name
            compressible = [rsv1[i] for i in (6, 7, 8, 9)]  # the 1 MiB messages' echoes
            if expected.get("remote_max_window_bits", 15) == 8:
                assert rsv1 == [False] * len(rsv1), "a window of 8 cannot be compressed with: plain"
            else:
                assert rsv1[:2] == [False, False], "small messages go uncompressed"
                assert all(compressible), "big compressible messages go compressed"

    run(scenario())


def test_compression_declined_when_the_server_has_it_off(make_server_off):
    async def scenario():
        async with connect(make_server_off, ClientPerMessageDeflateFactory()) as ws:
            assert ws.extensions == []
            message = "x" * 100000
            await ws.send(message)
            assert await ws.recv() == message

    run(scenario())


def test_default_compression_argument_negotiates(server):
    async def scenario():
        async with websockets.connect(server.url("/ws/echo"), compression="deflate", max_size=None,
                                      ping_interval=None) as ws:
            assert len(ws.extensions) == 1
            for message in ["a" * 10, b"\x00" * 100000, utf8_text(300000, seed=5)]:
                await ws.send(message)
                assert await ws.recv() == message

    run(scenario())


def test_broadcast_endpoint_agrees_no_context_takeover_both_ways(server):
    async def scenario():
        async with connect(server, ClientPerMessageDeflateFactory(), "/ws/broadcast") as ws:
            ext = ws.extensions[0]
            assert ext.remote_no_context_takeover and ext.local_no_context_takeover
            rsv1 = record_rsv1(ws)
            message = "tick ACME 101.25 " * 1000
            for _ in range(3):
                await ws.send(message)
                assert await ws.recv() == message
            assert rsv1 == [True, True, True]

    run(scenario())


@pytest.fixture(scope="module")
def make_server_off():
    from wirehub_server import WirehubServer
    with WirehubServer({"websocket": {"compression": "off"}}) as srv:
        yield srv
