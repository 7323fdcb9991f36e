"""permessage-deflate (RFC 7692) against the real binary with raw sockets: the exact
handshake answers, RSV1 on the wire, the limits on inflated messages, the close codes,
and the shared-mode broadcast frame."""

import zlib

import pytest

import rawws

EXT = "Sec-WebSocket-Extensions"


def deflate(data: bytes, compressor=None) -> bytes:
    """RFC 7692 7.2.1: raw DEFLATE, sync flush, trailing 00 00 ff ff removed."""
    c = compressor or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(payload: bytes, decompressor=None) -> bytes:
    d = decompressor or zlib.decompressobj(-15)
    return d.decompress(payload + b"\x00\x00\xff\xff")


def open_ws(port, offers, path="/ws/echo"):
    """Handshakes with one Sec-WebSocket-Extensions line per offer; returns (ws, answer)."""
    sock = rawws.connect(port)
    key = rawws.new_key()
    request = rawws.upgrade_request(path, key).decode("latin-1")
    extra = "".join(f"{EXT}: {o}\r\n" for o in offers)
    sock.sendall((request[:-2] + extra + "\r\n").encode("latin-1"))
    response = rawws.read_response(sock)
    assert response.status == 101, response.status
    assert response.header("Sec-WebSocket-Accept") == rawws.accept_key(key)
    return rawws.RawWebSocket(sock, response.rest), response.header(EXT)


@pytest.mark.parametrize("offers, answer", [
    ([], None),
    (["permessage-deflate"], "permessage-deflate"),
    (["permessage-deflate; client_max_window_bits"], "permessage-deflate"),
    (["permessage-deflate; client_max_window_bits=10"], "permessage-deflate; client_max_window_bits=10"),
    (["permessage-deflate; server_max_window_bits=8"], "permessage-deflate; server_max_window_bits=8"),
    (['permessage-deflate; server_max_window_bits="12"'], "permessage-deflate; server_max_window_bits=12"),
    (["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (["permessage-deflate; server_max_window_bits"], None),          # value required
    (["permessage-deflate; server_max_window_bits=16"], None),
    (["permessage-deflate; client_max_window_bits=08"], None),       # leading zero
    (["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
    (["permessage-deflate; bogus"], None),
    (["permessage-deflate; bogus, permessage-deflate; server_max_window_bits=9"],
     "permessage-deflate; server_max_window_bits=9"),
    (["x-webkit-deflate-frame", "permessage-deflate; server_no_context_takeover"],
     "permessage-deflate; server_no_context_takeover"),
    (['permessage-deflate; x="a,b", permessage-deflate'], "permessage-deflate"),
    (['permessage-deflate; client_max_window_bits="10'], None),    # unterminated quote
], ids=lambda v: repr(v)[:60])
def test_handshake_answers_exactly(server, offers, answer):
    ws, got = open_ws(server.port, offers)
    with ws:
        assert got == answer
        # Whatever was agreed, the connection works.
        ws.send(rawws.OP_TEXT, b"ok")
        assert ws.read_message() == (rawws.OP_TEXT, b"ok")


def test_large_reply_is_compressed_with_rsv1_and_small_reply_is_not(server):
    ws, answer = open_ws(server.port, ["permessage-deflate"])
    with ws:
        assert answer == "permessage-deflate"
        tx = zlib.compressobj(6, zlib.DEFLATED, -15)
        rx = zlib.decompressobj(-15)  # context takeover both ways
        big = b'{"symbol":"ACME","side":"buy","qty":100} ' * 500
        for _ in range(3):
            ws.send(rawws.OP_TEXT, deflate(big, tx), rsv=4)
            frame = ws.read_frame()
            assert frame.fin and frame.opcode == rawws.OP_TEXT and frame.rsv == 4
            assert len(frame.payload) < len(big) // 10
            assert inflate(frame.payload, rx) == big
        ws.send(rawws.OP_TEXT, b"tiny")  # under compression_min_bytes: plain, RSV1 clear
        frame = ws.read_frame()
        assert (frame.rsv, frame.payload) == (0, b"tiny")


def test_window_of_8_is_answered_and_replies_go_uncompressed(server):
    ws, answer = open_ws(server.port, ["permessage-deflate; server_max_window_bits=8"])
    with ws:
        assert answer == "permessage-deflate; server_max_window_bits=8"
        big = b"abc" * 1000
        ws.send(rawws.OP_BINARY, deflate(big), rsv=4)
        frame = ws.read_frame()
        assert (frame.rsv, frame.payload) == (0, big)


@pytest.fixture(scope="module")
def small_limit_server():
    from wirehub_server import WirehubServer
    with WirehubServer({"websocket": {"max_message_bytes": 65536}}) as srv:
        yield srv


def test_decompression_bomb_closes_1009(small_limit_server):
    ws, _ = open_ws(small_limit_server.port, ["permessage-deflate"])
    with ws:
        bomb = deflate(bytes(32 << 20))  # 32 MiB of zeros in ~32 KiB
        assert len(bomb) < 65536
        ws.send(rawws.OP_BINARY, bomb, rsv=4)
        ws.expect_failed_with(1009)


def test_inflated_size_at_the_limit_is_delivered(small_limit_server):
    ws, _ = open_ws(small_limit_server.port, ["permessage-deflate"])
    with ws:
        ws.send(rawws.OP_BINARY, deflate(bytes(65536)), rsv=4)
        frame = ws.read_frame()
        assert frame.rsv == 4 and inflate(frame.payload) == bytes(65536)


@pytest.mark.parametrize("frames, code", [
    ([(rawws.OP_BINARY, b"\xff\xff\xff", True, 4)], 1007),                       # not DEFLATE
    ([(rawws.OP_TEXT, deflate(b"\xc3\x28 invalid"), True, 4)], 1007),          # UTF-8 checked after inflating
    ([(rawws.OP_TEXT, deflate(b"abc")[:2], False, 4), (0, deflate(b"abc")[2:], True, 4)], 1002),  # RSV1 on continuation
    ([(rawws.OP_PING, b"", True, 4)], 1002),                                    # RSV1 on a control frame
    ([(rawws.OP_TEXT, deflate(b"abc"), True, 2)], 1002),                        # RSV2
], ids=["corrupt", "utf8", "rsv1-continuation", "rsv1-ping", "rsv2"])
def test_failures_close_with_the_right_code(server, frames, code):
    ws, _ = open_ws(server.port, ["permessage-deflate"])
    with ws:
        for opcode, payload, fin, rsv in frames:
            ws.send(opcode, payload, fin=fin, rsv=rsv)
        ws.expect_failed_with(code)


def test_rsv1_without_negotiation_is_1002(server):
    ws, answer = open_ws(server.port, [])
    with ws:
        assert answer is None
        ws.send(rawws.OP_TEXT, deflate(b"hello"), rsv=4)
        ws.expect_failed_with(1002)


def test_compression_off_declines_every_offer(make_server):
    srv = make_server({"websocket": {"compression": "off", "broadcast_compression": "off"}})
    for path in ("/ws/echo", "/ws/broadcast"):
        ws, answer = open_ws(srv.port, ["permessage-deflate"], path)
        with ws:
            assert answer is None


def test_shared_broadcast_frame_is_identical_for_every_receiver(server):
    # /ws/broadcast is in shared mode: no context takeover either way, even unasked.
    clients = [open_ws(server.port, ["permessage-deflate; client_max_window_bits"], "/ws/broadcast") for _ in range(3)]
    try:
        for _, answer in clients:
            assert answer == "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        message = b"price update: ACME 101.25 " * 200
        sender = clients[0][0]
        sender.send(rawws.OP_TEXT, deflate(message), rsv=4)
        frames = [ws.read_frame() for ws, _ in clients]
        assert all(f.rsv == 4 for f in frames)
        assert len({f.payload for f in frames}) == 1, "one compressed frame shared by all"
        assert inflate(frames[0].payload) == message  # a fresh window decodes it
        # The client resets its window too: a second message compressed afresh is accepted.
        sender.send(rawws.OP_TEXT, deflate(message), rsv=4)
        assert all(inflate(ws.read_frame().payload) == message for ws, _ in clients)
    finally:
        for ws, _ in clients:
            ws.close_socket()


def test_broadcast_to_mixed_receivers(server):
    plain, _ = open_ws(server.port, [], "/ws/broadcast")
    packed, _ = open_ws(server.port, ["permessage-deflate"], "/ws/broadcast")
    small_window, answer = open_ws(server.port, ["permessage-deflate; server_max_window_bits=9"], "/ws/broadcast")
    assert answer.endswith("server_max_window_bits=9")
    try:
        message = b"0123456789abcdef" * 640  # repeats within even a 512-byte window
        plain.send(rawws.OP_BINARY, message)
        f_plain, f_packed, f_small = plain.read_frame(), packed.read_frame(), small_window.read_frame()
        assert (f_plain.rsv, f_plain.payload) == (0, message)
        assert f_packed.rsv == 4 and inflate(f_packed.payload) == message
        assert f_small.rsv == 4 and inflate(f_small.payload, zlib.decompressobj(-9)) == message
    finally:
        for ws in (plain, packed, small_window):
            ws.close_socket()
