"""Raw-socket HTTP and RFC 6455 framing for tests that must send what no library would.

Everything here is deliberately small and strict: frames are built byte by byte, every
read has a deadline, and an unexpected end of stream is reported, never waited out.
"""

import base64
import dataclasses
import hashlib
import os
import socket
import struct
import time

# RFC 6455 section 1.3.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

DEFAULT_TIMEOUT_S = 5.0


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def connect(port: int, timeout: float = DEFAULT_TIMEOUT_S) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    rest: bytes  # bytes that followed the response (e.g. the first frames after a 101)

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively; None when absent."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every instance of a header, lower-cased."""
        out = []
        for key, value in self.headers:
            if key.lower() == name.lower():
                out += [t.strip().lower() for t in value.split(",") if t.strip()]
        return out


class StreamClosed(Exception):
    """The peer closed the TCP connection before the expected bytes arrived."""


def _recv_some(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    sock.settimeout(remaining)
    return sock.recv(65536)


def read_response(sock: socket.socket, timeout: float = DEFAULT_TIMEOUT_S,
                  buffered: bytes = b"") -> Response:
    """Reads one HTTP/1.1 response: head, then a chunked or Content-Length body if any.

    With neither on a non-101 response the body runs to end of stream.
    """
    deadline = time.monotonic() + timeout
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = _recv_some(sock, deadline)
        if not chunk:
            raise StreamClosed(f"connection closed before a full response head; got {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    assert version.startswith("HTTP/1."), f"bad status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    response = Response(int(status), reason[0] if reason else "", headers, b"", b"")
    length = response.header("Content-Length")
    if response.status == 101 or response.status in (204, 304):
        response.rest = rest
    elif "chunked" in response.tokens("Transfer-Encoding"):
        response.body, response.rest = _read_chunked(sock, rest, deadline)
    elif length is not None:
        while len(rest) < int(length):
            chunk = _recv_some(sock, deadline)
            if not chunk:
                raise StreamClosed("connection closed inside the response body")
            rest += chunk
        response.body, response.rest = rest[:int(length)], rest[int(length):]
    else:
        while True:
            chunk = _recv_some(sock, deadline)
            if not chunk:
                break
            rest += chunk
        response.body = rest
    return response


def _read_chunked(sock: socket.socket, data: bytes, deadline: float) -> tuple[bytes, bytes]:
    """Decodes a chunked body (RFC 9112 section 7.1); returns (body, bytes after it)."""
    body = b""
    while True:
        while b"\r\n" not in data:
            data += _recv_or_fail(sock, deadline)
        size_line, data = data.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            while b"\r\n" not in data:  # no trailers expected: just the final CRLF
                data += _recv_or_fail(sock, deadline)
            return body, data.split(b"\r\n", 1)[1]
        while len(data) < size + 2:
            data += _recv_or_fail(sock, deadline)
        body, data = body + data[:size], data[size + 2:]


def _recv_or_fail(sock: socket.socket, deadline: float) -> bytes:
    chunk = _recv_some(sock, deadline)
    if not chunk:
        raise StreamClosed("connection closed inside a chunked body")
    return chunk


def http_exchange(port: int, request: bytes, timeout: float = DEFAULT_TIMEOUT_S) -> Response:
    """Sends raw request bytes on a new connection and reads the one response."""
    with connect(port, timeout) as sock:
        sock.sendall(request)
        return read_response(sock, timeout)


def upgrade_request(path: str = "/ws/echo", key: str | None = None,
                    headers: dict[str, str] | None = None, method: str = "GET",
                    version: str = "HTTP/1.1", omit: tuple[str, ...] = ()) -> bytes:
    """A WebSocket opening handshake; `headers` overrides, `omit` drops header names."""
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or new_key(),
        "Sec-WebSocket-Version": "13",
    }
    fields.update(headers or {})
    lines = [f"{method} {path} {version}"]
    lines += [f"{k}: {v}" for k, v in fields.items() if k not in omit]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                 masked: bool = True, declared_length: int | None = None) -> bytes:
    """One frame as a client sends it (RFC 6455 section 5.2).

    rsv is the 3-bit RSV1..RSV3 field; declared_length, when given, is written in the
    header instead of len(payload) (always in the 64-bit form when it exceeds 0xFFFF).
    """
    first = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    length = len(payload) if declared_length is None else declared_length
    mask_bit = 0x80 if masked else 0
    if length <= 125:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@dataclasses.dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The status code of a Close frame, None for an empty one."""
        assert self.opcode == OP_CLOSE, f"not a close frame: opcode {self.opcode}"
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


class RawWebSocket:
    """A client connection after a successful handshake, reading frames by hand."""

    def __init__(self, sock: socket.socket, buffered: bytes = b""):
        self.sock = sock
        self.buf = buffered

    @classmethod
    def open(cls, port: int, path: str = "/ws/echo", timeout: float = DEFAULT_TIMEOUT_S,
             headers: dict[str, str] | None = None):
        sock = connect(port, timeout)
        key = new_key()
        sock.sendall(upgrade_request(path, key, headers))
        response = read_response(sock, timeout)
        assert response.status == 101, f"handshake answered {response.status}"
        assert response.header("Sec-WebSocket-Accept") == accept_key(key)
        return cls(sock, response.rest)

    def close_socket(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, opcode: int, payload: bytes = b"", **kwargs) -> None:
        self.sock.sendall(encode_frame(opcode, payload, **kwargs))

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            chunk = _recv_some(self.sock, deadline)
            if not chunk:
                raise StreamClosed(f"stream ended with {len(self.buf)} of {n} bytes buffered")
            self.buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        self._fill(n, deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout: float = DEFAULT_TIMEOUT_S) -> Frame:
        """The next frame from the server; server frames must be unmasked (section 5.1)."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        assert not b1 & 0x80, "server sent a masked frame"
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2, deadline))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8, deadline))[0]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0xF, self._take(length, deadline))

    def read_message(self, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, bytes]:
        """The next data message (reassembled), skipping Ping/Pong frames."""
        deadline = time.monotonic() + timeout
        opcode, parts = None, []
        while True:
            frame = self.read_frame(deadline - time.monotonic())
            if frame.opcode in (OP_PING, OP_PONG):
                continue
            assert frame.opcode != OP_CLOSE, f"server closed with {frame.close_code}"
            if opcode is None:
                opcode = frame.opcode
            parts.append(frame.payload)
            if frame.fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout: float = DEFAULT_TIMEOUT_S) -> Frame:
        """Reads until the server's Close frame, skipping Ping/Pong; data frames fail."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self.read_frame(deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(f"no Close frame from the server within {timeout}s") from None
            except StreamClosed as e:
                raise AssertionError(f"TCP closed without a Close frame ({e})") from None
            if frame.opcode == OP_CLOSE:
                return frame
            assert frame.opcode in (OP_PING, OP_PONG), \
                f"expected Close, got opcode {frame.opcode} payload {frame.payload[:60]!r}"

    def expect_tcp_closed(self, timeout: float = DEFAULT_TIMEOUT_S, allow_reset: bool = True) -> None:
        """Asserts the server closes the TCP connection before the deadline, sending nothing more.

        A reset counts as closed when allow_reset: a server that fails a connection may close
        with our unread bytes still queued, which Linux reports as RST.
        """
        deadline = time.monotonic() + timeout
        assert self.buf == b"", f"unexpected bytes after Close: {self.buf[:60]!r}"
        while True:
            try:
                chunk = _recv_some(self.sock, deadline)
            except ConnectionResetError:
                if allow_reset:
                    return
                raise
            except TimeoutError:
                raise AssertionError(f"server kept the TCP connection open for {timeout}s") from None
            if not chunk:
                return
            raise AssertionError(f"unexpected bytes after Close: {chunk[:60]!r}")

    def expect_failed_with(self, code: int, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """The server sends Close with `code`, then closes TCP without waiting for our Close."""
        frame = self.expect_close(timeout)
        assert frame.close_code == code, f"expected close code {code}, got {frame.close_code} " \
                                         f"(reason {frame.payload[2:]!r})"
        self.expect_tcp_closed(timeout)
