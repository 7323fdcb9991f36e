"""OrderFlow's live feeds on the real binary: the raw WebSocket feed (SUBSCRIBE, RESUME,
UNSUBSCRIBE, errors) and the SSE feed (resume from Last-Event-ID or ?after=), each
checked for exactly-once delivery in seq order, and the SIGKILL durability of a 201."""

import http.client
import json
import socket
import threading
import time

import pytest

import rawws
from wirehub_server import WirehubServer

OP_TEXT = 0x1
OP_BINARY = 0x2


def post_order(srv, customer="c", total=1.0):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("POST", "/api/orders", body=json.dumps({"customerId": customer, "total": total}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 201, (r.status, body)
    return json.loads(body)


def feed(srv):
    return rawws.RawWebSocket.open(srv.port, "/ws/orders/feed")


def send_json(ws, obj):
    ws.send(OP_TEXT, json.dumps(obj).encode())


def read_json(ws, timeout=10.0):
    opcode, payload = ws.read_message(timeout)
    assert opcode == OP_TEXT
    return json.loads(payload)


def read_until_subscribed(ws):
    """The events before SUBSCRIBED, and SUBSCRIBED itself."""
    events = []
    while True:
        m = read_json(ws)
        if m["type"] == "SUBSCRIBED":
            return events, m
        assert m["type"] == "ORDER_CREATED", m
        events.append(m)


@pytest.fixture
def srv():
    with WirehubServer() as s:
        yield s


def test_subscribe_then_live_events_in_order(srv):
    before = post_order(srv, "early")
    with feed(srv) as ws:
        send_json(ws, {"type": "SUBSCRIBE", "topic": "orders"})
        events, sub = read_until_subscribed(ws)
        assert events == [] and sub == {"type": "SUBSCRIBED", "topic": "orders", "seq": before["seq"]}
        created = [post_order(srv, f"c{i}", i) for i in range(5)]
        got = [read_json(ws) for _ in created]
        for o, e in zip(created, got):
            assert e == {"type": "ORDER_CREATED", "seq": o["seq"], "orderId": o["orderId"],
                         "customer": o["customerId"], "total": o["total"], "timestamp": o["createdAt"]}


def test_resume_sends_history_then_live_without_gap_or_duplicate(srv):
    created = [post_order(srv, f"h{i}") for i in range(10)]
    with feed(srv) as ws:
        send_json(ws, {"type": "RESUME", "topic": "orders", "after": created[3]["seq"]})
        events, sub = read_until_subscribed(ws)
        assert [e["seq"] for e in events] == [o["seq"] for o in created[4:]]
        assert sub["seq"] == created[-1]["seq"]
        live = post_order(srv, "live")
        assert read_json(ws)["seq"] == live["seq"]


def test_resume_while_orders_are_posted_is_exactly_once(srv):
    """Orders stream in from other threads while clients resume: every client sees each
    seq once, in order, from its resume point on (the hand-over race)."""
    stop = threading.Event()
    posted = []

    def poster():
        while not stop.is_set():
            posted.append(post_order(srv, "race")["seq"])

    threads = [threading.Thread(target=poster) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        clients = []
        for i in range(8):
            while len(posted) < 5 * (i + 1):
                time.sleep(0.001)
            after = max(posted) - 3 if i % 2 else 0
            ws = feed(srv)
            send_json(ws, {"type": "RESUME", "after": after})
            clients.append((ws, after))
        while len(posted) < 80:
            time.sleep(0.001)
    finally:
        stop.set()
        for t in threads:
            t.join()
    last = max(posted)
    for ws, after in clients:
        with ws:
            seen = []
            subscribed = False
            while not seen or seen[-1] < last:
                m = read_json(ws)
                if m["type"] == "SUBSCRIBED":
                    assert not subscribed
                    subscribed = True
                    assert m["seq"] == (seen[-1] if seen else after)
                    continue
                seen.append(m["seq"])
            assert subscribed
            assert seen == list(range(after + 1, last + 1)), f"after {after}: gaps or duplicates"


def test_unsubscribe_stops_events(srv):
    with feed(srv) as ws:
        send_json(ws, {"type": "SUBSCRIBE"})
        read_until_subscribed(ws)
        send_json(ws, {"type": "UNSUBSCRIBE", "topic": "orders"})
        assert read_json(ws) == {"type": "UNSUBSCRIBED", "topic": "orders"}
        post_order(srv)
        # An echo on the same connection proves the order's event would have come first.
        send_json(ws, {"type": "NOPE"})
        m = read_json(ws)
        assert m["type"] == "ERROR", m


@pytest.mark.parametrize("message,part", [
    (b"not json", "not valid JSON"),
    (b"[1]", "JSON object"),
    (b'{"type":"DANCE"}', "unknown message type"),
    (b'{"type":"SUBSCRIBE","topic":"prices"}', "unknown topic"),
    (b'{"type":"RESUME","after":-5}', "integer >= 0"),
    (b'{"type":"RESUME"}', "after"),
])
def test_bad_client_messages_get_an_error_and_the_connection_stays(srv, message, part):
    with feed(srv) as ws:
        ws.send(OP_TEXT, message)
        m = read_json(ws)
        assert m["type"] == "ERROR" and part in m["error"], m
        send_json(ws, {"type": "SUBSCRIBE"})
        assert read_until_subscribed(ws)[1]["type"] == "SUBSCRIBED"


def test_binary_messages_get_an_error(srv):
    with feed(srv) as ws:
        ws.send(OP_BINARY, b"\x01\x02")
        assert read_json(ws)["type"] == "ERROR"


class SseClient:
    """A raw SSE client: the response head, then events as (id, data) pairs and comments."""

    def __init__(self, srv, path="/sse/orders", headers=None):
        self.sock = socket.create_connection((srv.host, srv.port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("stream closed")
        self.buf += chunk

    def block(self):
        """The next block (lines up to a blank line), as a list of lines."""
        while b"\n\n" not in self.buf:
            self._recv()
        block, self.buf = self.buf.split(b"\n\n", 1)
        return block.decode().split("\n")

    def event(self):
        """The next event (skipping retry-only and comment blocks): (id, event name, data)."""
        while True:
            fields = {"id": None, "event": None, "data": []}
            for line in self.block():
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    fields["data"].append(value)
                elif name in ("id", "event"):
                    fields[name] = value
            if fields["data"]:
                return fields["id"], fields["event"], "\n".join(fields["data"])

    def close(self):
        self.sock.close()


def test_sse_live_events_carry_their_seq_as_id(srv):
    c = SseClient(srv)
    try:
        assert c.status == 200
        assert c.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in c.headers
        assert c.block() == ["retry: 3000"]
        o = post_order(srv, "sse")
        eid, name, data = c.event()
        assert eid == str(o["seq"]) and name is None
        assert json.loads(data)["orderId"] == o["orderId"]
    finally:
        c.close()


@pytest.mark.parametrize("how", ["header", "query"])
def test_sse_resumes_from_last_event_id_or_after(srv, how):
    created = [post_order(srv, f"s{i}") for i in range(6)]
    mark = created[2]["seq"]
    if how == "header":
        c = SseClient(srv, headers={"Last-Event-ID": str(mark)})
    else:
        c = SseClient(srv, path=f"/sse/orders?after={mark}")
    try:
        got = [int(c.event()[0]) for _ in range(3)]
        assert got == [o["seq"] for o in created[3:]]
        live = post_order(srv, "after-resume")
        assert int(c.event()[0]) == live["seq"]
    finally:
        c.close()


def expect_error_event_then_end(c, part):
    """The stream's next event is an `error` event whose message has part; then it ends."""
    try:
        _, name, data = c.event()
        assert name == "error" and part in json.loads(data)["error"], data
        with pytest.raises(EOFError):
            while True:
                c.block()
    finally:
        c.close()


def test_sse_bad_resume_point_gets_an_error_event_and_the_stream_ends(srv):
    expect_error_event_then_end(SseClient(srv, headers={"Last-Event-ID": "abc"}), "seq")


def test_every_acknowledged_order_survives_sigkill():
    """SIGKILL right after a burst of 201s: after a restart on the same data directory,
    every acknowledged order is there, and seq goes on from the last one."""
    srv = WirehubServer()
    try:
        srv.start()
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def poster(n):
            i = 0
            while not stop.is_set():
                try:
                    o = post_order(srv, f"k{n}", i)
                except (OSError, AssertionError, http.client.HTTPException):
                    return  # the server is gone: this one was not acknowledged
                with lock:
                    acked.append(o)
                i += 1

        threads = [threading.Thread(target=poster, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 150:
            time.sleep(0.001)
        srv.process.kill()  # SIGKILL while orders are still arriving
        srv.process.wait(10)
        stop.set()
        for t in threads:
            t.join()
        srv.start()  # same data directory (the server's working directory), new port
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        stored = {}
        after = 0
        while True:
            conn.request("GET", f"/api/orders?after={after}&limit=1000")
            page = json.loads(conn.getresponse().read())
            if not page["orders"]:
                break
            stored.update({o["orderId"]: o for o in page["orders"]})
            after = page["orders"][-1]["seq"]
        conn.close()
        missing = [o for o in acked if stored.get(o["orderId"]) != o]
        assert not missing, f"{len(missing)} acknowledged orders lost, e.g. {missing[:2]}"
        assert post_order(srv)["seq"] > max(o["seq"] for o in acked)
    finally:
        srv.close()


def test_a_resume_further_back_than_max_replay_is_refused_not_cut():
    with WirehubServer(config={"orderflow": {"max_replay": 3}}) as s:
        created = [post_order(s, f"m{i}") for i in range(5)]
        with feed(s) as ws:
            send_json(ws, {"type": "RESUME", "after": 0})
            m = read_json(ws)
            assert m["type"] == "ERROR" and "more than 3 events back" in m["error"], m
            # Within the limit it works on the same connection.
            send_json(ws, {"type": "RESUME", "after": created[1]["seq"]})
            events, sub = read_until_subscribed(ws)
            assert [e["seq"] for e in events] == [o["seq"] for o in created[2:]]
        expect_error_event_then_end(SseClient(s, path="/sse/orders?after=0"), "more than 3 events back")
