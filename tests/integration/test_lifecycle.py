"""Process lifecycle: SIGTERM closes WebSockets with 1001 and the server exits 0."""

import signal
import subprocess
import time

import pytest

import rawws


def test_sigterm_with_no_clients_exits_0(make_server):
    srv = make_server()
    srv.signal(signal.SIGTERM)
    try:
        assert srv.wait_exit(timeout=10) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("server still running 10 s after SIGTERM")


def test_sigterm_closes_websockets_with_1001_and_exits_0(make_server):
    srv = make_server()
    clients = [rawws.RawWebSocket.open(srv.port, path) for path in
               ("/ws/echo", "/ws/orders", "/ws/broadcast")]
    try:
        for ws in clients:  # every session is fully open before the signal
            ws.send(rawws.OP_TEXT, b"hi")
            ws.read_message()
        srv.signal(signal.SIGTERM)
        for ws in clients:
            assert ws.expect_close(timeout=5).close_code == 1001
            ws.send(rawws.OP_CLOSE, rawws.close_payload(1001))
            ws.expect_tcp_closed(timeout=5)
            ws.close_socket()  # as a real client does on end of stream
        assert srv.wait_exit(timeout=10) == 0
    finally:
        for ws in clients:
            ws.close_socket()


def test_sigterm_with_unresponsive_client_exits_0_after_close_timeout(make_server):
    srv = make_server({"websocket": {"close_timeout_ms": 300}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        srv.signal(signal.SIGTERM)
        assert ws.expect_close(timeout=5).close_code == 1001
        ws.expect_tcp_closed(timeout=5)  # without our Close: the server cut it itself
        assert srv.wait_exit(timeout=5) == 0


def test_listener_is_closed_after_sigterm(make_server):
    srv = make_server()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=10) == 0
    with pytest.raises(ConnectionRefusedError):
        rawws.connect(srv.port, timeout=2).close()


def test_sigterm_exit_does_not_wait_out_close_timeout_of_finished_sessions(make_server):
    # A session whose closing handshake and TCP close have both completed must leave
    # nothing armed (timers, fds) that keeps the server from exiting promptly.
    srv = make_server({"websocket": {"close_timeout_ms": 4000}})
    with rawws.RawWebSocket.open(srv.port) as ws:
        ws.send(rawws.OP_CLOSE, rawws.close_payload(1000))
        assert ws.expect_close().close_code == 1000
        ws.expect_tcp_closed(allow_reset=False)
    started = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=10) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"exit took {elapsed:.2f}s with no open connection (close_timeout_ms is 4 s)"
