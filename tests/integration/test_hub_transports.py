"""Hub transports and their HTTP statuses on the wire: PROTOCOL.md section 15, items 8-16.

The item -> test map of the whole checklist is in test_hub_protocol.py.
"""

import time

import pytest

import hubwire
import rawws
from hubwire import COMPLETION, HANDSHAKE_OK, INVOCATION, ConformanceServer, HeldRequest, LpHub, SseHub, WsHub

LONG_POLL_MS = 1500


@pytest.fixture(scope="module")
def srv():
    with ConformanceServer({"long_poll_timeout_ms": LONG_POLL_MS}) as s:
        yield s
        assert s.process.poll() is None, s.log_tail()


def upgrade(port: int, target: str) -> rawws.Response:
    return rawws.http_exchange(port, rawws.upgrade_request(target))


def sse_get(port: int, target: str) -> rawws.Response:
    return hubwire.http(port, "GET", target, {"Accept": "text/event-stream"})


def test_item_08_websocket_valid_token_101(srv):
    with WsHub(srv.port) as c:  # RawWebSocket.open asserts 101 and the accept key
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}


def test_item_08_websocket_unknown_token_404_before_upgrade(srv):
    r = upgrade(srv.port, "/testhub?id=AAAAAAAAAAAAAAAAAAAAAA")
    assert r.status == 404
    assert r.header("Upgrade") is None and r.header("Sec-WebSocket-Accept") is None


def test_item_08_websocket_without_id_is_a_new_connection(srv):
    ids = set()
    for _ in range(2):
        with WsHub(srv.port, negotiate_first=False) as c:
            c.send_raw(hubwire.handshake())
            assert c.handshake_answer() == {}
            cid = c.invoke("GetCallerConnectionId")["result"]
            assert isinstance(cid, str) and len(cid) == 22
            ids.add(cid)
    assert len(ids) == 2


def test_item_09_second_websocket_409(srv):
    with WsHub.connected(srv.port) as c:
        assert upgrade(srv.port, hubwire.with_id("/testhub", c.token)).status == 409
        c.echo_roundtrip()  # the first one is untouched


def test_item_09_second_event_stream_409(srv):
    with SseHub(srv.port) as s:
        assert s.head.status == 200
        assert sse_get(srv.port, s.target).status == 409


@pytest.mark.parametrize("first, second", [("ws", "sse"), ("ws", "lp"), ("sse", "ws"), ("sse", "lp"),
                                           ("lp", "ws"), ("lp", "sse")])
def test_item_09_switching_transport_400(srv, first, second):
    token = hubwire.token_of(srv.port)
    target = hubwire.with_id("/testhub", token)
    held = None
    if first == "ws":
        held = rawws.RawWebSocket.open(srv.port, target)
    elif first == "sse":
        held = SseHub(srv.port, token=token)
    else:
        assert hubwire.http(srv.port, "GET", target).status == 200
    try:
        if second == "ws":
            r = upgrade(srv.port, target)
        elif second == "sse":
            r = sse_get(srv.port, target)
        else:
            r = hubwire.http(srv.port, "GET", target)
        assert r.status == 400, (r.status, r.body)
    finally:
        if first == "ws":
            held.close_socket()
        elif held:
            held.close()


def test_item_10_event_stream_head_at_once(srv):
    # SseHub reads the head before anything is sent: it must come without a handshake.
    with SseHub(srv.port) as s:
        assert s.head.status == 200
        assert s.head.header("Content-Type").split(";")[0] == "text/event-stream"
        cache = s.head.tokens("Cache-Control")
        assert "no-cache" in cache or "no-store" in cache
        assert s.head.header("Content-Encoding") is None


def test_item_10_event_stream_comment_before_handshake(srv):
    # ASP.NET writes a ":" comment line right after the head: some browsers (Firefox) fire
    # EventSource's `open` only once body bytes arrive, and the client sends its handshake
    # only after `open` (PROTOCOL.md 4.2).
    with SseHub(srv.port) as s:
        deadline = time.monotonic() + 2.0
        while b"\n" not in s.raw:
            s.read_body(deadline)
        assert s.raw.startswith(b":"), s.raw


@pytest.mark.parametrize("target, status", [("/testhub", 400), ("/testhub?id=AAAAAAAAAAAAAAAAAAAAAA", 404)])
def test_item_10_event_stream_missing_or_unknown_id(srv, target, status):
    assert sse_get(srv.port, target).status == status


def test_item_11_event_stream_events_hold_whole_messages(srv):
    text = "line1\nline2\r\nline3\rend"
    with SseHub(srv.port) as s:
        assert s.post(hubwire.handshake()).status == 200
        assert s.handshake_answer() == {}
        s.send(s.invocation("Echo", [text], "0"), s.invocation("InvokeWithString", ["two\nlines"], "1"))
        got = [s.recv() for _ in range(3)]
        assert got == [{"type": COMPLETION, "invocationId": "0", "result": text},
                       {"type": INVOCATION, "target": "Message", "arguments": ["two\nlines"]},
                       {"type": COMPLETION, "invocationId": "1"}]
        # Each event's data (lines rejoined with LF) is whole messages, ending with 0x1E.
        assert s.events and all(e.endswith(hubwire.RS) for e in s.events), s.events
        assert s.events[0] == HANDSHAKE_OK or s.events[0].startswith(HANDSHAKE_OK)


def test_item_12_first_poll_at_once_later_polls_held_then_empty(srv):
    target = hubwire.with_id("/testhub", hubwire.token_of(srv.port))
    t0 = time.monotonic()
    first = hubwire.http(srv.port, "GET", target + "&_=1")
    assert time.monotonic() - t0 < 1.0
    assert (first.status, first.body) == (200, b"")
    assert first.header("Content-Length") == "0"
    assert first.header("Content-Type") == "application/octet-stream"
    held = HeldRequest(srv.port, "GET", target + "&_=2")
    assert not held.answered_within(0.5 * LONG_POLL_MS / 1000)
    r = held.response(timeout=LONG_POLL_MS / 1000 + 3)
    elapsed = time.monotonic() - held.sent_at
    assert (r.status, r.body) == (200, b"")
    assert 0.5 * LONG_POLL_MS / 1000 <= elapsed <= LONG_POLL_MS / 1000 + 2.5, elapsed
    # The connection lives on: the next poll is held again, and data answers it.
    lp = LpHub(srv.port, token=target.split("id=")[1])
    lp.send_raw(hubwire.handshake())
    assert lp.handshake_answer() == {}


def test_item_13_poll_returns_everything_queued(srv):
    lp = LpHub(srv.port)
    lp.start()
    lp.send(*[lp.invocation("Echo", [f"m{i}"], str(i)) for i in range(5)])
    # All five answers are queued by now or soon: one or more polls, each whole messages.
    got = []
    deadline = time.monotonic() + hubwire.TIMEOUT_S
    while len(got) < 5:
        r = lp.poll(deadline - time.monotonic())
        assert r.status == 200
        assert r.header("Content-Type") == "application/octet-stream"
        assert r.body.endswith(hubwire.RS)
        msgs, rest = hubwire.split_json(r.body)
        assert rest == b""
        got += msgs
    assert got == [{"type": COMPLETION, "invocationId": str(i), "result": f"m{i}"} for i in range(5)]


def test_item_13_poll_binary_messagepack(srv):
    lp = LpHub(srv.port, protocol="messagepack")
    lp.start()
    lp.send(lp.invocation("Echo", ["bin"], "0"))
    assert lp.recv() == [COMPLETION, {}, "0", 3, "bin"]
    assert lp.polls[-1].header("Content-Type") == "application/octet-stream"


def test_item_14_delete_202_pending_poll_204_then_404(srv):
    lp = LpHub(srv.port)
    lp.start()
    held = HeldRequest(srv.port, "GET", lp.target + "&_=9")
    assert not held.answered_within(0.3)
    r = hubwire.http(srv.port, "DELETE", lp.target)
    assert r.status == 202
    assert held.response().status == 204
    for method in ("GET", "POST", "DELETE"):
        assert hubwire.http(srv.port, method, lp.target, body=b"{}" + hubwire.RS if method == "POST" else b"").status \
               == 404, method


def test_item_14_delete_on_websocket_and_event_stream_400(srv):
    with WsHub.connected(srv.port) as c:
        assert hubwire.http(srv.port, "DELETE", hubwire.with_id("/testhub", c.token)).status == 400
        c.echo_roundtrip()
    with SseHub(srv.port) as s:
        assert hubwire.http(srv.port, "DELETE", s.target).status == 400
        assert s.post(hubwire.handshake()).status == 200
        assert s.handshake_answer() == {}


def test_item_15_post_statuses(srv):
    with SseHub(srv.port) as s:
        r = s.post(hubwire.handshake())
        assert (r.status, r.body) == (200, b"")
        assert s.handshake_answer() == {}
    assert hubwire.http(srv.port, "POST", "/testhub", body=b"x").status == 400
    assert hubwire.http(srv.port, "POST", "/testhub?id=AAAAAAAAAAAAAAAAAAAAAA", body=b"x").status == 404
    with WsHub.connected(srv.port) as c:
        r = hubwire.http(srv.port, "POST", hubwire.with_id("/testhub", c.token), body=hubwire.json_frame(
            c.invocation("Echo", ["no"], "0")))
        assert r.status == 405
        c.nothing_within(0.3)  # the body was not taken as input


def test_item_16_orphaned_connections_disposed_after_disconnect_timeout():
    timeout_ms = 1000
    with ConformanceServer({"disconnect_timeout_ms": timeout_ms}) as s:
        # Negotiated, never used (a transport fallback leaves these behind). A POST does
        # not attach a transport: 400 while the connection exists, 404 once disposed.
        token = hubwire.token_of(s.port)
        target = hubwire.with_id("/testhub", token)
        t0 = time.monotonic()
        assert hubwire.http(s.port, "POST", target, body=b"x").status == 400
        hubwire.wait_for(lambda: hubwire.http(s.port, "POST", target, body=b"x").status == 404, 5.0,
                         "the unused connection to be disposed")
        assert time.monotonic() - t0 >= 0.5 * timeout_ms / 1000
        assert upgrade(s.port, target).status == 404
        # Long polling between polls: disposed when no poll comes (POSTs are no polls).
        lp = LpHub(s.port)
        lp.start()
        t0 = time.monotonic()
        ping = hubwire.json_frame({"type": hubwire.PING})
        hubwire.wait_for(lambda: hubwire.http(s.port, "POST", lp.target, body=ping).status == 404, 5.0,
                         "the idle long-polling connection to be disposed")
        assert time.monotonic() - t0 >= 0.5 * timeout_ms / 1000
