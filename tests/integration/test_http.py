"""HTTP/1.1 answers of the real server to well-formed and malformed requests (RFC 9110, 9112)."""

import select
import time

import pytest

import rawws


def request(method: str = "GET", path: str = "/healthz", version: str = "HTTP/1.1",
            extra: str = "") -> bytes:
    return (f"{method} {path} {version}\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"
            .encode("latin-1"))


def padded_head(total: int) -> bytes:
    """A GET /healthz head of exactly `total` bytes, request line through the empty line."""
    base = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: {}\r\n\r\n"
    pad = total - len(base.format(""))
    assert pad > 0
    head = base.format("a" * pad).encode("ascii")
    assert len(head) == total
    return head


def test_healthz_answers_200(server):
    assert rawws.http_exchange(server.port, request()).status == 200


def test_unknown_path_is_404(server):
    assert rawws.http_exchange(server.port, request(path="/no/such/path")).status == 404


def test_post_to_healthz_is_405_with_allow(server):
    # RFC 9110 section 15.5.6: a 405 MUST carry Allow with the supported methods.
    response = rawws.http_exchange(server.port, request("POST", extra="Content-Length: 0\r\n"))
    assert response.status == 405
    assert "get" in response.tokens("Allow"), f"Allow was {response.header('Allow')!r}"


@pytest.mark.parametrize("path", ["/ws/echo", "/ws/orders", "/ws/broadcast"])
def test_plain_get_to_websocket_path_is_400(server, path):
    assert rawws.http_exchange(server.port, request(path=path)).status == 400


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /healthz FOO/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
], ids=["no-spaces", "method-only", "bad-protocol-name", "field-without-colon"])
def test_malformed_request_is_400(server, raw):
    assert rawws.http_exchange(server.port, raw).status == 400


def test_http_2_0_request_line_is_505(server):
    # RFC 9110 section 15.6.6: a major version the server does not support.
    assert rawws.http_exchange(server.port, request(version="HTTP/2.0")).status == 505


def test_content_length_with_transfer_encoding_is_400(server):
    # RFC 9112 section 6.1: both framings at once is how requests get smuggled; reject.
    raw = request(extra="Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n"
    assert rawws.http_exchange(server.port, raw).status == 400


def test_oversized_head_with_default_limit_is_431(server):
    assert rawws.http_exchange(server.port, padded_head(20000)).status == 431


def test_head_just_under_default_limit_is_served(server):
    assert rawws.http_exchange(server.port, padded_head(16000)).status == 200


def test_max_head_bytes_is_inclusive(make_server):
    srv = make_server({"http": {"max_head_bytes": 1024}})
    assert rawws.http_exchange(srv.port, padded_head(1024)).status == 200
    assert rawws.http_exchange(srv.port, padded_head(1025)).status == 431


def _expect_408_or_closed(sock, started: float, limit_s: float) -> None:
    """The server either answers 408 or closes; either way before `limit_s` has passed."""
    try:
        response = rawws.read_response(sock, timeout=limit_s - (time.monotonic() - started))
        assert response.status == 408, f"stalled request answered {response.status}"
    except (rawws.StreamClosed, ConnectionResetError):
        pass
    except TimeoutError:
        pytest.fail(f"server kept a stalled request head open for more than {limit_s}s")
    assert time.monotonic() - started < limit_s


def test_stalled_request_head_times_out(make_server):
    srv = make_server({"http": {"header_timeout_ms": 300}})
    with rawws.connect(srv.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        _expect_408_or_closed(sock, started, limit_s=1.5)


def test_dribbled_request_head_times_out(make_server):
    # Slowloris proper: one byte every 50 ms must not keep resetting the head timer.
    srv = make_server({"http": {"header_timeout_ms": 300}})
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"z" * 200
    with rawws.connect(srv.port) as sock:
        started = time.monotonic()
        for byte in head:
            # The 50 ms wait doubles as the drip pace; anything readable (an answer or
            # end of stream) means the server has acted, which the check below judges.
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable or time.monotonic() - started > 1.5:
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
        _expect_408_or_closed(sock, started, limit_s=1.5)


def test_healthy_server_still_serves_after_errors(server):
    for raw in (b"GARBAGE\r\n\r\n", padded_head(20000), request(version="HTTP/2.0")):
        rawws.http_exchange(server.port, raw)
    assert rawws.http_exchange(server.port, request()).status == 200


def test_head_gets_the_get_head_without_a_body_and_pipelining_continues(server):
    # RFC 9110 9.3.2: HEAD answers with GET's header fields (Content-Length included) and
    # no content; the next pipelined response must follow immediately, intact.
    sock = rawws.connect(server.port)
    try:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    first, sep, rest = data.partition(b"\r\n\r\n")
    assert sep and first.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 3" in first.lower()
    assert rest.startswith(b"HTTP/1.1 200 "), f"HEAD response carried a body: {rest[:40]!r}"
    assert rest.endswith(b"\r\n\r\nok\n")
