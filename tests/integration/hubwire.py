"""The SignalR hub protocol spoken by hand, for black-box tests of wirehub's hubs.

Negotiate, the three transports (WebSocket frames through rawws, Server-Sent Events and
long polling over raw sockets), both hub protocols (JSON + 0x1E; MessagePack behind a
VarInt length, with a small MessagePack codec of its own so the bytes are ours, not a
library's) and conformance servers with short timeouts. Every read has a deadline.
"""

import json
import socket
import struct
import time
import urllib.parse

import rawws
from rawws import OP_BINARY, OP_TEXT
from wirehub_server import WirehubServer

RS = b"\x1e"
# Hub message types (PROTOCOL.md section 8).
INVOCATION, STREAM_ITEM, COMPLETION, STREAM_INVOCATION, CANCEL, PING, CLOSE, ACK, SEQUENCE = range(1, 10)

HANDSHAKE_OK = b"{}" + RS
TIMEOUT_S = 5.0


class ConformanceServer(WirehubServer):
    """`wirehub --app signalr-conformance` with a [hub] section."""

    ready_path = "/deployment"  # the conformance app has no /healthz

    def __init__(self, hub: dict | None = None, app: str = "signalr-conformance", extra_args: list | None = None):
        super().__init__({"hub": hub} if hub else None, extra_args=["--app", app, *(extra_args or [])])
        if app != "signalr-conformance":
            self.ready_path = "/healthz"


# --- MessagePack (the subset the hub protocol uses) ----------------------------------------

class Ext:
    """A MessagePack extension value (type, data)."""

    def __init__(self, code: int, data: bytes):
        self.code, self.data = code, data

    def __eq__(self, other):
        return isinstance(other, Ext) and (self.code, self.data) == (other.code, other.data)

    def __repr__(self):
        return f"Ext({self.code}, {self.data!r})"


def mp_pack(v) -> bytes:
    """Smallest encoding of each value, as the MessagePack spec recommends."""
    if v is None:
        return b"\xc0"
    if v is True or v is False:
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v <= 0xFF:
            return b"\xcc" + bytes([v])
        if 0 <= v <= 0xFFFF:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v <= 0xFFFFFFFF:
            return b"\xce" + struct.pack(">I", v)
        if v > 0:
            return b"\xcf" + struct.pack(">Q", v)
        if v >= -0x80:
            return b"\xd0" + struct.pack(">b", v)
        if v >= -0x8000:
            return b"\xd1" + struct.pack(">h", v)
        if v >= -0x80000000:
            return b"\xd2" + struct.pack(">i", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n <= 31:
            return bytes([0xA0 | n]) + b
        if n <= 0xFF:
            return b"\xd9" + bytes([n]) + b
        if n <= 0xFFFF:
            return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n <= 0xFF:
            return b"\xc4" + bytes([n]) + bytes(v)
        if n <= 0xFFFF:
            return b"\xc5" + struct.pack(">H", n) + bytes(v)
        return b"\xc6" + struct.pack(">I", n) + bytes(v)
    if isinstance(v, (list, tuple)):
        n = len(v)
        head = bytes([0x90 | n]) if n <= 15 else (b"\xdc" + struct.pack(">H", n) if n <= 0xFFFF
                                                  else b"\xdd" + struct.pack(">I", n))
        return head + b"".join(mp_pack(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n <= 15 else (b"\xde" + struct.pack(">H", n) if n <= 0xFFFF
                                                  else b"\xdf" + struct.pack(">I", n))
        return head + b"".join(mp_pack(k) + mp_pack(x) for k, x in v.items())
    if isinstance(v, Ext):
        n = len(v.data)
        fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
        if n in fixed:
            return bytes([fixed[n]]) + struct.pack("b", v.code) + v.data
        return b"\xc7" + bytes([n]) + struct.pack("b", v.code) + v.data
    raise TypeError(f"cannot pack {type(v)}")


def mp_unpack(data: bytes):
    """One value that must fill data exactly."""
    value, end = _mp_read(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the MessagePack value")
    return value


def _mp_read(d: bytes, i: int):
    b = d[i]
    i += 1
    if b <= 0x7F:
        return b, i
    if b >= 0xE0:
        return b - 0x100, i
    if 0x80 <= b <= 0x8F:
        return _mp_map(d, i, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return _mp_array(d, i, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return d[i:i + n].decode("utf-8"), i + n
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in simple:
        return simple[b], i
    sized = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
             0xCA: ">f", 0xCB: ">d"}
    if b in sized:
        fmt = sized[b]
        return struct.unpack_from(fmt, d, i)[0], i + struct.calcsize(fmt)
    lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}
    if b in lengths:
        fmt = lengths[b]
        n = struct.unpack_from(fmt, d, i)[0]
        i += struct.calcsize(fmt)
        raw = d[i:i + n]
        return (raw.decode("utf-8") if b >= 0xD9 else bytes(raw)), i + n
    if b in (0xDC, 0xDD):
        fmt = ">H" if b == 0xDC else ">I"
        return _mp_array(d, i + struct.calcsize(fmt), struct.unpack_from(fmt, d, i)[0])
    if b in (0xDE, 0xDF):
        fmt = ">H" if b == 0xDE else ">I"
        return _mp_map(d, i + struct.calcsize(fmt), struct.unpack_from(fmt, d, i)[0])
    fixed_ext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if b in fixed_ext:
        n = fixed_ext[b]
        return Ext(struct.unpack_from("b", d, i)[0], bytes(d[i + 1:i + 1 + n])), i + 1 + n
    if b in (0xC7, 0xC8, 0xC9):
        fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[b]
        n = struct.unpack_from(fmt, d, i)[0]
        i += struct.calcsize(fmt)
        return Ext(struct.unpack_from("b", d, i)[0], bytes(d[i + 1:i + 1 + n])), i + 1 + n
    raise ValueError(f"unknown MessagePack byte 0x{b:02x}")


def _mp_array(d, i, n):
    out = []
    for _ in range(n):
        v, i = _mp_read(d, i)
        out.append(v)
    return out, i


def _mp_map(d, i, n):
    out = {}
    for _ in range(n):
        k, i = _mp_read(d, i)
        v, i = _mp_read(d, i)
        out[k] = v
    return out, i


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes) -> tuple[int, int] | None:
    """(value, prefix length), or None while the prefix is incomplete."""
    value = 0
    for i, b in enumerate(data[:5]):
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, i + 1
    if len(data) >= 5:
        raise ValueError(f"VarInt longer than 5 bytes: {data[:6]!r}")
    return None


# --- framing ---------------------------------------------------------------------------------

def json_frame(*messages) -> bytes:
    """Each message (a dict, or ready-made text) as JSON + 0x1E."""
    out = b""
    for m in messages:
        text = m if isinstance(m, (str, bytes)) else json.dumps(m, separators=(",", ":"), ensure_ascii=False)
        out += (text.encode() if isinstance(text, str) else text) + RS
    return out


def mp_frame(*messages) -> bytes:
    """Each message (a list, or packed bytes) behind its VarInt length."""
    out = b""
    for m in messages:
        body = m if isinstance(m, bytes) else mp_pack(m)
        out += varint(len(body)) + body
    return out


def split_json(data: bytes) -> tuple[list, bytes]:
    """Whole JSON messages of data (parsed) and the incomplete rest."""
    *records, rest = data.split(RS)
    return [json.loads(r) for r in records], rest


def split_mp(data: bytes) -> tuple[list, bytes]:
    out = []
    while data:
        head = read_varint(data)
        if head is None or len(data) < head[1] + head[0]:
            break
        n, k = head
        out.append(mp_unpack(data[k:k + n]))
        data = data[k + n:]
    return out, data


def handshake(protocol: str = "json", version: int = 1) -> bytes:
    return json_frame({"protocol": protocol, "version": version})


# --- HTTP ---------------------------------------------------------------------------------------

def request_bytes(method: str, target: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    fields = {"Host": "127.0.0.1"}
    if body or method in ("POST", "PUT"):
        fields["Content-Length"] = str(len(body))
    fields.update(headers or {})
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http(port: int, method: str, target: str, headers: dict | None = None, body: bytes = b"",
         timeout: float = TIMEOUT_S) -> rawws.Response:
    return rawws.http_exchange(port, request_bytes(method, target, headers, body), timeout)


def negotiate(port: int, path: str = "/testhub", query: str = "negotiateVersion=1",
              headers: dict | None = None) -> dict:
    """POST {path}/negotiate; asserts 200 and returns the JSON body."""
    r = http(port, "POST", f"{path}/negotiate" + (f"?{query}" if query else ""), headers)
    assert r.status == 200, f"negotiate answered {r.status} {r.body!r}"
    return json.loads(r.body)


def token_of(port: int, path: str = "/testhub", query: str = "negotiateVersion=1") -> str:
    return negotiate(port, path, query)["connectionToken"]


def with_id(path: str, token: str, extra: str = "") -> str:
    return f"{path}?id={urllib.parse.quote(token, safe='')}" + (f"&{extra}" if extra else "")


class HeldRequest:
    """A request sent now whose response is read later (a held long poll)."""

    def __init__(self, port: int, method: str, target: str, headers: dict | None = None, body: bytes = b""):
        self.sock = rawws.connect(port)
        self.sent_at = time.monotonic()
        self.sock.sendall(request_bytes(method, target, headers, body))

    def response(self, timeout: float = TIMEOUT_S) -> rawws.Response:
        try:
            return rawws.read_response(self.sock, timeout)
        finally:
            self.sock.close()

    def answered_within(self, seconds: float) -> bool:
        """True when response bytes arrived within seconds (they are left unread)."""
        self.sock.settimeout(seconds)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


# --- a hub client per transport --------------------------------------------------------------

class _Decoder:
    """Turns transport payloads into hub messages for one protocol."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.handshaken = False
        self.buf = b""
        self.messages: list = []
        self.handshake_answer = None

    def feed(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken:
            if RS not in self.buf:
                return
            head, self.buf = self.buf.split(RS, 1)
            self.handshake_answer = json.loads(head)
            self.handshaken = True
        split = split_json if self.protocol == "json" else split_mp
        found, self.buf = split(self.buf)
        self.messages += found


def mtype(m) -> int:
    return m["type"] if isinstance(m, dict) else m[0]


class HubClient:
    """Common reading logic: recv() returns the next hub message, Pings skipped by default."""

    protocol = "json"

    def _pump(self, deadline: float) -> None:
        raise NotImplementedError

    def send(self, *messages) -> None:
        raise NotImplementedError

    def frame(self, *messages) -> bytes:
        return json_frame(*messages) if self.protocol == "json" else mp_frame(*messages)

    def handshake_answer(self, timeout: float = TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while not self.dec.handshaken:
            self._pump(deadline)
        return self.dec.handshake_answer

    def recv(self, timeout: float = TIMEOUT_S, pings: bool = False):
        deadline = time.monotonic() + timeout
        while True:
            while not self.dec.messages:
                self._pump(deadline)
            m = self.dec.messages.pop(0)
            if pings or mtype(m) != PING:
                return m

    def recv_type(self, wanted: int, timeout: float = TIMEOUT_S):
        """The next message of a type, skipping Pings (other types fail the test)."""
        m = self.recv(timeout)
        assert mtype(m) == wanted, f"expected type {wanted}, got {m!r}"
        return m

    def nothing_within(self, seconds: float, pings: bool = False) -> None:
        """Asserts no hub message (but Pings unless pings) arrives for seconds."""
        try:
            m = self.recv(seconds, pings=pings)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {m!r}")

    # Invocations in the client's own shapes (PROTOCOL.md section 8).
    def invocation(self, target: str, args: list, invocation_id: str | None = None, stream_ids=None,
                   kind: int = INVOCATION, headers: dict | None = None):
        if self.protocol == "json":
            m = {"target": target, "arguments": args}
            if invocation_id is not None:
                m["invocationId"] = invocation_id
            if stream_ids is not None:
                m["streamIds"] = stream_ids
            if headers:
                m["headers"] = headers
            m["type"] = kind
            return m
        m = [kind, headers or {}, invocation_id, target, args]
        if stream_ids is not None:
            m.append(stream_ids)
        return m

    def invoke(self, target: str, *args, invocation_id: str = "0", timeout: float = TIMEOUT_S):
        """Invoke and return the Completion (messages before it are kept in self.before)."""
        self.send(self.invocation(target, list(args), invocation_id))
        self.before = []
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(deadline - time.monotonic())
            if mtype(m) == COMPLETION and (m.get("invocationId") if isinstance(m, dict) else m[2]) == invocation_id:
                return m
            self.before.append(m)

    def echo_roundtrip(self, text: str = "barrier", invocation_id: str = "barrier") -> None:
        """Echo as a barrier: the very next message must be its Completion."""
        self.send(self.invocation("Echo", [text], invocation_id))
        m = self.recv()
        if self.protocol == "json":
            assert m == {"type": COMPLETION, "invocationId": invocation_id, "result": text}, m
        else:
            assert m == [COMPLETION, {}, invocation_id, 3, text], m


class WsHub(HubClient):
    """A hub connection over a raw WebSocket; frames kept in self.frames (opcode, payload)."""

    def __init__(self, port: int, path: str = "/testhub", token: str | None = None, protocol: str = "json",
                 query: str = "", headers: dict | None = None, negotiate_first: bool = True,
                 negotiate_query: str = "negotiateVersion=1"):
        self.port, self.path, self.protocol = port, path, protocol
        if token is None and negotiate_first:
            token = token_of(port, path, negotiate_query)
        self.token = token
        target = with_id(path, token, query) if token else path + (f"?{query}" if query else "")
        self.ws = rawws.RawWebSocket.open(port, target, headers=headers)
        self.dec = _Decoder(protocol)
        self.frames: list[tuple[int, bytes]] = []
        self.close_frame = None

    @classmethod
    def connected(cls, port: int, path: str = "/testhub", protocol: str = "json", version: int = 1, **kw):
        """Negotiated, opened and handshaken (asserting the answer {})."""
        c = cls(port, path, protocol=protocol, **kw)
        c.send_raw(handshake(protocol, version), OP_TEXT)
        assert c.handshake_answer() == {}, c.dec.handshake_answer
        return c

    @classmethod
    def resumed(cls, port: int, path: str, token: str, sock: socket.socket, buffered: bytes = b""):
        """A connection on a socket already upgraded with an existing token (a stateful
        reconnect): no handshake, its messages come at once."""
        c = cls.__new__(cls)
        c.port, c.path, c.protocol, c.token = port, path, "json", token
        c.ws = rawws.RawWebSocket(sock, buffered)
        c.dec = _Decoder("json")
        c.dec.handshaken = True
        c.frames, c.close_frame = [], None
        return c

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ws.close_socket()

    def send_raw(self, data: bytes, opcode: int | None = None, **kw) -> None:
        if opcode is None:
            opcode = OP_TEXT if self.protocol == "json" else OP_BINARY
        self.ws.send(opcode, data, **kw)

    def send(self, *messages) -> None:
        self.send_raw(self.frame(*messages))

    def _pump(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no hub message before the deadline")
        frame = self.ws.read_frame(remaining)
        if frame.opcode == rawws.OP_CLOSE:
            self.close_frame = frame
            raise ConnectionClosed(f"WebSocket closed with {frame.close_code}")
        if frame.opcode in (rawws.OP_PING, rawws.OP_PONG):
            return
        assert frame.fin, "the server fragmented a message"
        self.frames.append((frame.opcode, frame.payload))
        self.dec.feed(frame.payload)

    def messages_until_closed(self, timeout: float = TIMEOUT_S) -> list:
        """Every hub message (Pings included) until the server's Close frame; returns them."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            while self.dec.messages:
                out.append(self.dec.messages.pop(0))
            try:
                self._pump(deadline)
            except ConnectionClosed:
                while self.dec.messages:
                    out.append(self.dec.messages.pop(0))
                return out
            except rawws.StreamClosed:
                return out

    def drop(self) -> None:
        """Loses the TCP connection without a close frame (a network failure)."""
        self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.ws.close_socket()


class ConnectionClosed(Exception):
    """The server ended the transport."""


class SseHub(HubClient):
    """A hub connection over Server-Sent Events, sending with POST."""

    def __init__(self, port: int, path: str = "/testhub", token: str | None = None, query: str = "",
                 headers: dict | None = None):
        self.port, self.path, self.protocol = port, path, "json"
        self.token = token or token_of(port, path)
        self.target = with_id(path, self.token, query)
        self.sock = rawws.connect(port)
        fields = {"Accept": "text/event-stream"}
        fields.update(headers or {})
        self.sock.sendall(request_bytes("GET", self.target, fields))
        self.head = self._read_head()
        self.raw = b""  # every body byte read so far
        self.dec = _Decoder("json")
        self.events: list[bytes] = []  # each event's data, lines joined with LF as EventSource does
        self._pending = b""

    def _read_head(self) -> rawws.Response:
        deadline = time.monotonic() + TIMEOUT_S
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = rawws._recv_some(self.sock, deadline)
            if not chunk:
                raise rawws.StreamClosed(f"closed before the head: {data!r}")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        _, status, *reason = lines[0].split(" ", 2)
        headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        r = rawws.Response(int(status), reason[0] if reason else "", headers, b"", rest)
        self._early = rest
        return r

    def read_body(self, deadline: float) -> bytes:
        if self._early:
            chunk, self._early = self._early, b""
        else:
            chunk = rawws._recv_some(self.sock, deadline)
            if not chunk:
                raise ConnectionClosed("the event stream ended")
        self.raw += chunk
        return chunk

    def _pump(self, deadline: float) -> None:
        self._pending += self.read_body(deadline)
        # Events end with an empty line (LF or CRLF line ends).
        while True:
            text = self._pending.replace(b"\r\n", b"\n")
            if b"\n\n" not in text:
                return
            event, text = text.split(b"\n\n", 1)
            self._pending = text
            data = [line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                payload = b"\n".join(data)
                self.events.append(payload)
                self.dec.feed(payload)

    def post(self, body: bytes) -> rawws.Response:
        return http(self.port, "POST", self.target, {"Content-Type": "text/plain;charset=UTF-8"}, body)

    def send(self, *messages) -> None:
        r = self.post(self.frame(*messages))
        assert r.status == 200, f"POST answered {r.status} {r.body!r}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LpHub(HubClient):
    """A hub connection over long polling: each _pump is one poll."""

    def __init__(self, port: int, path: str = "/testhub", token: str | None = None, protocol: str = "json"):
        self.port, self.path, self.protocol = port, path, protocol
        self.token = token or token_of(port, path)
        self.target = with_id(path, self.token)
        self.dec = _Decoder(protocol)
        self.polls: list[rawws.Response] = []
        self.over = False

    def poll(self, timeout: float = TIMEOUT_S) -> rawws.Response:
        r = http(self.port, "GET", self.target + f"&_={int(time.time() * 1000)}", timeout=timeout)
        self.polls.append(r)
        return r

    def start(self, version: int = 1) -> None:
        first = self.poll()
        assert first.status == 200 and first.body == b"", (first.status, first.body)
        self.send_raw(handshake(self.protocol, version))
        assert self.handshake_answer() == {}

    def _pump(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.over:
            raise TimeoutError("no hub message before the deadline")
        r = self.poll(remaining)
        if r.status == 204:
            self.over = True
            raise ConnectionClosed("poll answered 204")
        assert r.status == 200, f"poll answered {r.status} {r.body!r}"
        self.dec.feed(r.body)

    def send_raw(self, body: bytes) -> rawws.Response:
        ctype = "text/plain;charset=UTF-8" if self.protocol == "json" else "application/octet-stream"
        r = http(self.port, "POST", self.target, {"Content-Type": ctype}, body)
        assert r.status == 200, f"POST answered {r.status} {r.body!r}"
        return r

    def send(self, *messages) -> None:
        self.send_raw(self.frame(*messages))


def assert_serving(port: int, path: str = "/testhub") -> None:
    """A fresh connection negotiates, handshakes and gets an Echo answered."""
    with WsHub.connected(port, path) as c:
        assert c.invoke("Echo", "still serving") == {"type": COMPLETION, "invocationId": "0",
                                                     "result": "still serving"}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Polls predicate until it returns a truthy value; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
