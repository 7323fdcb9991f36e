"""The closing handshake and server-side timeouts (RFC 6455 sections 5.5.1, 7)."""

import time

import pytest

import rawws
from rawws import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_valid_close_code_is_echoed_then_tcp_closed(server, code):
    # Section 5.5.1: the endpoint answers Close with Close, typically echoing the code;
    # section 7.1.1: the server then closes the TCP connection first.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_CLOSE, rawws.close_payload(code, "goodbye ✓".encode()))
        frame = ws.expect_close()
        assert frame.close_code == code
        ws.expect_tcp_closed(allow_reset=False)


def test_empty_close_is_answered_then_tcp_closed(server):
    # Section 7.4.1: 1005 means "no code received" and never goes on the wire.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_CLOSE)
        frame = ws.expect_close()
        assert frame.close_code in (None, 1000)
        ws.expect_tcp_closed(allow_reset=False)


def test_nothing_is_echoed_after_close(server):
    # Section 5.5.1: after sending Close an endpoint sends no more data frames.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send_raw(rawws.encode_frame(OP_CLOSE, rawws.close_payload(1000))
                    + rawws.encode_frame(OP_TEXT, b"too late"))
        assert ws.expect_close().close_code == 1000
        ws.expect_tcp_closed()


def test_server_pings_at_ping_interval(make_server):
    # A ping after each ping_interval_ms of silence: the pong resets the silence, so with
    # pongs sent 50 ms after each ping the pings come 250 ms apart, not every other
    # interval (400 ms), which is what re-arming a full interval after each timeout gave.
    interval = 0.2
    srv = make_server({"websocket": {"ping_interval_ms": int(interval * 1000)}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        seen = []
        for _ in range(6):
            frame = ws.read_frame(timeout=3.0)
            assert frame.opcode == OP_PING, f"expected Ping, got opcode {frame.opcode}"
            seen.append(time.monotonic())
            time.sleep(0.05)
            ws.send(OP_PONG, frame.payload)
        period = (seen[-1] - seen[0]) / (len(seen) - 1)
        assert interval <= period < 1.6 * interval, f"pings {period * 1000:.0f} ms apart"


def test_idle_connection_is_closed(make_server):
    srv = make_server({"websocket": {"idle_timeout_ms": 300}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        started = time.monotonic()
        frame = ws.expect_close(timeout=3.0)
        assert frame.close_code == 1001, f"idle close code {frame.close_code}"
        assert time.monotonic() - started >= 0.2, "closed long before idle_timeout_ms"
        ws.send(OP_CLOSE, rawws.close_payload(1001))
        ws.expect_tcp_closed(timeout=3.0)


def test_traffic_keeps_connection_from_idling_out(make_server):
    srv = make_server({"websocket": {"idle_timeout_ms": 400}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        for i in range(8):  # 8 x 100 ms: twice the idle timeout, with a message every 100 ms
            ws.send(OP_TEXT, b"tick %d" % i)
            assert ws.read_message() == (OP_TEXT, b"tick %d" % i)
            time.sleep(0.1)


def test_unanswered_server_close_is_cut_after_close_timeout(make_server):
    # The server starts the close (idle timeout); a client that never answers is dropped.
    srv = make_server({"websocket": {"idle_timeout_ms": 200, "close_timeout_ms": 300}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        ws.expect_close(timeout=3.0)
        started = time.monotonic()
        ws.expect_tcp_closed(timeout=3.0)
        assert time.monotonic() - started < 2.0
