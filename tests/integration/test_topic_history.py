"""Topic history on /ws/topics, /sse/topics and POST /api/topics/{T}, black-box.

Covered: one node — the commands' errors and the REST publish's 400s; envelopes and SSE
ids; a resume on a restarted node (a new numbering) gets a reset, never messages of
another numbering. Three nodes and a real redis-server — one numbering for every node
while two nodes publish at once; a WebSocket client resumes on another node and an SSE
client resumes by Last-Event-ID on a third, each with exactly what it missed; the
history is bounded by count (a resume from before it: reset) and by age; a node killed
with SIGKILL while messages flow: its client resumes on another node with no gap and no
repeat; Redis restarted without persistence: live subscribers get a reset and go on with
the new numbering, and an old position gets a reset.
"""

import http.client
import json
import queue
import signal
import socket
import threading
import time

import rawws
from redis_server import RedisServer
from test_orders_feed import SseClient
from test_scale_out import metric
from wirehub_server import WirehubServer, wait_for

OP_TEXT = 0x1


def post(srv, topic: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    conn.request("POST", f"/api/topics/{topic}", body=body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


class TopicClient:
    """A /ws/topics client speaking its JSON commands."""

    def __init__(self, srv):
        self.ws = rawws.RawWebSocket.open(srv.port, "/ws/topics")

    def command(self, **cmd) -> None:
        self.ws.send(OP_TEXT, json.dumps(cmd).encode())

    def next(self, timeout: float = 10.0) -> dict:
        opcode, payload = self.ws.read_message(timeout)
        assert opcode == OP_TEXT
        return json.loads(payload)

    def resume(self, topic: str, position: str) -> None:
        self.command(type="subscribe", topic=topic, position=position)

    def fresh(self, topic: str) -> str:
        """Subscribes from "" and returns the reset's position (the client is then subscribed)."""
        self.resume(topic, "")
        reset = self.next()
        assert reset.get("reset") is True, reset
        return reset["position"]

    def close(self) -> None:
        self.ws.close_socket()


def silent(client: TopicClient, timeout: float = 0.3) -> bool:
    try:
        client.ws.read_message(timeout)
    except (TimeoutError, OSError):
        return True
    return False


def sse_events(srv, path: str, headers: dict | None = None):
    s = SseClient(srv, path, headers)
    assert s.status == 200
    return s


# ---------------------------------------------------------------- one node


def test_bad_commands_and_bad_publishes_get_precise_errors():
    with WirehubServer() as srv:
        c = TopicClient(srv)
        for raw, expected in [
            (b"not json", "expected a JSON object"),
            (json.dumps({"type": "jump", "topic": "t"}).encode(), 'unknown type "jump"'),
            (json.dumps({"type": "subscribe", "topic": "a b"}).encode(), '"topic" must be'),
            (json.dumps({"type": "subscribe", "topic": "x" * 129}).encode(), '"topic" must be'),
            (json.dumps({"type": "subscribe", "topic": "t", "position": 5}).encode(), '"position" must be a string'),
            (json.dumps({"type": "publish", "topic": "t"}).encode(), '"data" must be a string'),
            (json.dumps({"type": "unsubscribe", "topic": "t"}).encode(), 'not subscribed to "t"'),
        ]:
            c.ws.send(OP_TEXT, raw)
            answer = c.next()
            assert answer["type"] == "error" and expected in answer["message"], (raw, answer)
        c.fresh("t")
        c.resume("t", "")
        assert c.next() == {"type": "error", "message": 'already subscribed to "t"'}
        assert post(srv, "bad%20topic", b"x")[0] == 400
        assert post(srv, "t", b"\xff\xfe")[0] == 400
        status, body = post(srv, "t", b"ok")
        assert (status, json.loads(body)) == (202, {"topic": "t"})
        m = c.next()
        assert (m["topic"], m["seq"], m["data"]) == ("t", 1, "ok")
        s = sse_events(srv, "/sse/topics")  # no topic
        event = s.event()
        assert event[1] == "error" and "topic=T" in event[2]


def test_a_restarted_node_answers_an_old_position_with_a_reset():
    with WirehubServer() as srv:
        c = TopicClient(srv)
        c.fresh("t")
        stream = sse_events(srv, "/sse/topics?topic=t")
        assert stream.event()[1] == "reset"
        for i in range(3):
            post(srv, "t", f"m{i}".encode())
        old = [c.next()["position"] for _ in range(3)][-1]
        old_sse = [stream.event()[0] for _ in range(3)][-1]  # each endpoint numbers its own
        c.close()
        srv.stop()
        srv.start()  # same port, empty history: a new epoch
        post(srv, "t", b"n1")
        post(srv, "t", b"n2")
        post(srv, "t", b"n3")
        post(srv, "t", b"n4")  # seq 4 exists again, under another epoch
        back = TopicClient(srv)
        back.resume("t", old)
        reset = back.next()
        assert reset["reset"] is True and reset["seq"] == 4
        assert reset["position"].split("-")[0] != old.split("-")[0]
        assert silent(back)
        s = sse_events(srv, "/sse/topics?topic=t", {"Last-Event-ID": old_sse})
        event_id, name, data = s.event()
        assert name == "reset" and json.loads(data)["seq"] == 4 and event_id.endswith("-4")
        assert event_id.split("-")[0] != old_sse.split("-")[0]


# ---------------------------------------------------------------- several nodes


def nodes(redis, n=3, topics=None):
    config = {"topics": topics} if topics else None
    return [WirehubServer(config=config, extra_args=["--redis", redis.url]) for _ in range(n)]


def backplane_up(srv) -> bool:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("GET", "/readyz")
    body = conn.getresponse().read().decode()
    conn.close()
    return "backplane: redis up" in body


def start_all(servers):
    for s in servers:
        s.start()
    wait_for(lambda: all(backplane_up(s) for s in servers), timeout=15, what="every node's backplane up")


def test_one_numbering_across_nodes_and_a_resume_on_any_node():
    with RedisServer() as redis:
        a, b, c = nodes(redis)
        try:
            start_all([a, b, c])
            on_b, on_c = TopicClient(b), TopicClient(c)
            pos_b, pos_c = on_b.fresh("t"), on_c.fresh("t")
            assert pos_b == pos_c  # one epoch, from Redis
            sse_a = sse_events(a, "/sse/topics?topic=t")
            assert sse_a.event()[1] == "reset"
            count = 200
            # Two nodes publish at once: every node sees one order.
            def publish(srv, prefix):
                for i in range(count // 2):
                    assert post(srv, "t", f"{prefix}{i}".encode())[0] == 202
            threads = [threading.Thread(target=publish, args=(a, "a")), threading.Thread(target=publish, args=(b, "b"))]
            for t in threads:
                t.start()
            got_b = [on_b.next() for _ in range(count)]
            got_c = [on_c.next() for _ in range(count)]
            for t in threads:
                t.join()
            assert [m["seq"] for m in got_b] == list(range(1, count + 1))
            assert [m["data"] for m in got_b] == [m["data"] for m in got_c]
            assert sorted(m["data"] for m in got_b) == sorted([f"a{i}" for i in range(100)] + [f"b{i}" for i in range(100)])
            # Each publisher's own order is kept.
            for prefix in "ab":
                mine = [int(m["data"][1:]) for m in got_b if m["data"][0] == prefix]
                assert mine == list(range(100))
            # The WebSocket client of b stopped at 50; it comes back on c.
            on_b.close()
            post(a, "t", b"while away")
            back = TopicClient(c)
            back.resume("t", got_b[49]["position"])
            replay = [back.next() for _ in range(count + 1 - 50)]
            assert [m["seq"] for m in replay] == list(range(51, count + 2))
            assert replay[-1]["data"] == "while away"
            assert silent(back)
            # The SSE client that was there from the start (on a) got all of them, each once,
            # each publisher's in its order. The SSE endpoint has its own numbering (its
            # own channel), so two publishers may interleave otherwise there.
            live = [sse_a.event() for _ in range(count + 1)]
            assert sorted(e[2] for e in live) == sorted([m["data"] for m in got_b] + ["while away"])
            for prefix in "ab":
                assert [int(e[2][1:]) for e in live if e[2][0] == prefix and e[2] != "while away"] == list(range(100))
            assert live[-1][2] == "while away"
            epoch = live[0][0].split("-")[0]
            assert [e[0] for e in live] == [f"{epoch}-{i}" for i in range(1, count + 2)]
            # An SSE client resumes by Last-Event-ID on c, from a position a's client saw.
            s = sse_events(c, "/sse/topics?topic=t", {"Last-Event-ID": live[189][0]})
            events = [s.event() for _ in range(11)]
            assert events == live[190:]
        finally:
            for s in (a, b, c):
                s.close()


def test_history_across_nodes_is_bounded_by_count_and_by_age():
    with RedisServer() as redis:
        a, b = nodes(redis, 2, {"history_messages": 5, "history_max_age_s": 2})
        try:
            start_all([a, b])
            c = TopicClient(a)
            c.fresh("t")
            for i in range(12):
                post(b, "t", f"m{i}".encode())
            got = [c.next() for _ in range(12)]
            # Kept: the last 5 (8..12). From 7: all of them; from 6: 7 is gone, a reset.
            r = TopicClient(b)
            r.resume("t", got[6]["position"])
            assert [m["seq"] for m in [r.next() for _ in range(5)]] == [8, 9, 10, 11, 12]
            gone = TopicClient(b)
            gone.resume("t", got[5]["position"])
            reset = gone.next()
            assert reset["reset"] is True and reset["position"] == got[-1]["position"]
            # Two seconds on, nothing published since: every kept one aged out, so even a
            # resume from 11 (12 missing) gets a reset; one from 12 is up to date.
            def aged_out() -> bool:
                probe = TopicClient(a)
                probe.resume("t", got[10]["position"])
                answer = probe.next()
                probe.close()
                return answer.get("reset") is True
            assert not aged_out()
            wait_for(aged_out, timeout=10, what="the history to age out")
            current = TopicClient(a)
            current.resume("t", got[11]["position"])
            assert silent(current)
            post(b, "t", b"after")
            assert current.next()["seq"] == 13
        finally:
            a.close()
            b.close()


def test_a_killed_nodes_client_resumes_on_another_node_with_no_gap():
    with RedisServer() as redis:
        a, b, c = nodes(redis)
        try:
            start_all([a, b, c])
            client = TopicClient(a)
            client.fresh("t")
            stop = threading.Event()
            sent = []
            def publish():
                i = 0
                while not stop.is_set() and i < 2000:
                    if post(c, "t", str(i).encode())[0] == 202:
                        sent.append(str(i))
                    i += 1
            t = threading.Thread(target=publish)
            t.start()
            got = [client.next() for _ in range(30)]
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            back = TopicClient(b)
            back.resume("t", got[-1]["position"])
            while len(got) < 300:
                m = back.next()
                assert "reset" not in m, m
                got.append(m)
            stop.set()
            t.join()
            assert [m["seq"] for m in got] == list(range(1, len(got) + 1))
            assert [m["data"] for m in got] == sent[: len(got)]
        finally:
            stop.set()
            for s in (a, b, c):
                s.close()


def test_redis_restarted_without_its_data_resets_live_and_resuming_clients():
    with RedisServer() as redis:
        a, b = nodes(redis, 2)
        try:
            start_all([a, b])
            live = TopicClient(b)
            live.fresh("t")
            stream = sse_events(b, "/sse/topics?topic=t")
            assert stream.event()[1] == "reset"
            post(a, "t", b"before")
            before = live.next()
            assert before["seq"] == 1
            assert stream.event()[2] == "before"
            redis.kill()
            redis.start()  # no persistence: the numbering is gone
            wait_for(lambda: backplane_up(a) and backplane_up(b), timeout=20, what="both backplanes up again")
            assert post(a, "t", b"after")[0] == 202
            reset = live.next()
            assert reset["reset"] is True and reset["seq"] == 0
            assert reset["position"].split("-")[0] != before["position"].split("-")[0]
            after = live.next()
            assert (after["seq"], after["data"]) == (1, "after")
            assert metric(b, "wirehub_topic_gaps_total", transport="websocket", endpoint="/ws/topics",
                          result="reset") == 1
            sse_reset, sse_after = stream.event(), stream.event()  # likewise over SSE
            assert sse_reset[1] == "reset" and sse_reset[0].endswith("-0")
            assert sse_after[2] == "after" and sse_after[0] == sse_reset[0][:-1] + "1"
            old = TopicClient(a)
            old.resume("t", before["position"])
            again = old.next()
            assert again["reset"] is True and again["position"] == after["position"]
        finally:
            a.close()
            b.close()


class LaggingSubscriberLink:
    """A TCP proxy to Redis that holds what Redis sends on subscriber connections (those
    whose client sent SUBSCRIBE) for `lag` seconds; other connections pass at once.
    cut_subscribers(s) closes the subscriber connections and refuses new connections for s
    seconds (the node's publish connection stays up)."""

    def __init__(self, redis_port: int, lag: float):
        self.redis_port, self.lag = redis_port, lag
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.sockets = []
        self.subscribers = []
        self.refuse_until = 0.0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_subscribers(self, seconds: float) -> None:
        self.refuse_until = time.monotonic() + seconds
        for client, upstream in self.subscribers:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.subscribers = []

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refuse_until:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.redis_port))
            self.sockets += [client, upstream]
            subscriber = threading.Event()
            delayed = queue.Queue()
            threading.Thread(target=self._up, args=(client, upstream, subscriber), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, delayed, subscriber), daemon=True).start()
            threading.Thread(target=self._write, args=(client, delayed), daemon=True).start()

    def _up(self, client, upstream, subscriber):
        try:
            while data := client.recv(65536):
                if b"SUBSCRIBE" in data.upper() and not subscriber.is_set():
                    subscriber.set()
                    self.subscribers.append((client, upstream))
                upstream.sendall(data)
        except OSError:
            pass
        upstream.close()

    def _down(self, upstream, delayed, subscriber):
        try:
            while data := upstream.recv(65536):
                delayed.put((time.monotonic() + (self.lag if subscriber.is_set() else 0), data))
        except OSError:
            pass
        delayed.put((0, b""))

    def _write(self, client, delayed):
        while True:
            due, data = delayed.get()
            if not data:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                client.sendall(data)
            except OSError:
                break
        client.close()

    def close(self):
        self.closed.set()
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_a_resume_on_a_node_whose_subscription_lags_gets_each_message_once():
    """Node b's subscriber connection gets Redis' messages 0.8 s late, its reads at once: a
    client resuming on b is replayed from the read, and the same messages arriving later on
    b's subscription must not reach it again (its floor), while b's live client gets them."""
    with RedisServer() as redis:
        link = LaggingSubscriberLink(redis.port, 0.8)
        a = WirehubServer(extra_args=["--redis", redis.url])
        b = WirehubServer(extra_args=["--redis", f"redis://127.0.0.1:{link.port}"])
        try:
            start_all([a, b])
            on_a, on_b = TopicClient(a), TopicClient(b)
            on_a.fresh("t")
            on_b.fresh("t")  # b watches t: its cache follows the (late) subscription
            sse_a = sse_events(a, "/sse/topics?topic=t")
            sse_b = sse_events(b, "/sse/topics?topic=t")
            assert sse_a.event()[1] == "reset" and sse_b.event()[1] == "reset"
            for i in range(1, 11):
                post(a, "t", f"m{i}".encode())
            got_a = [on_a.next() for _ in range(10)]
            sse_got_a = [sse_a.event() for _ in range(10)]
            # Now, with m1..m10 still on their way to b: resume on b after m2.
            r = TopicClient(b)
            r.resume("t", got_a[1]["position"])
            sse_r = sse_events(b, "/sse/topics?topic=t", {"Last-Event-ID": sse_got_a[1][0]})
            replay = [r.next() for _ in range(8)]
            assert [m["data"] for m in replay] == [f"m{i}" for i in range(3, 11)]
            assert [sse_r.event()[2] for _ in range(8)] == [f"m{i}" for i in range(3, 11)]
            late = [on_b.next() for _ in range(10)]  # b's live client: every one, once
            assert [m["seq"] for m in late] == list(range(1, 11))
            post(a, "t", b"m11")
            assert on_b.next()["data"] == "m11"
            nxt = r.next()
            assert (nxt["seq"], nxt["data"]) == (11, "m11"), nxt  # not m3..m10 again
            assert silent(r)
            assert [sse_b.event()[2] for _ in range(11)] == [f"m{i}" for i in range(1, 12)]
            assert sse_r.event()[2] == "m11"  # likewise over SSE
        finally:
            a.close()
            b.close()
            link.close()


def test_a_node_whose_subscription_lapsed_fills_the_gap_from_redis():
    """Node b's subscriber connection is cut and kept out for 1 s while a publishes: b's
    live clients still get every message, once, in order, without a reset — b reads what
    it missed from the Stream when the next message shows the hole."""
    with RedisServer() as redis:
        link = LaggingSubscriberLink(redis.port, 0)
        a = WirehubServer(extra_args=["--redis", redis.url])
        b = WirehubServer(extra_args=["--redis", f"redis://127.0.0.1:{link.port}"])
        try:
            start_all([a, b])
            on_b = TopicClient(b)
            on_b.fresh("t")
            stream = sse_events(b, "/sse/topics?topic=t")
            assert stream.event()[1] == "reset"
            post(a, "t", b"m1")
            assert on_b.next()["data"] == "m1"
            assert stream.event()[2] == "m1"
            link.cut_subscribers(1.0)
            wait_for(lambda: not backplane_up(b), timeout=10, what="b to notice its link is down")
            for i in range(2, 7):
                post(a, "t", f"m{i}".encode())  # b cannot see these as they pass
            wait_for(lambda: backplane_up(b), timeout=20, what="b's subscriptions back")
            post(a, "t", b"m7")
            got = [on_b.next() for _ in range(6)]
            assert [(m.get("reset"), m["seq"], m["data"]) for m in got] == [(None, i, f"m{i}") for i in range(2, 8)]
            assert silent(on_b)
            assert [stream.event()[2] for _ in range(6)] == [f"m{i}" for i in range(2, 8)]
            # The hole was there, and filled: once per endpoint, no reset.
            for transport, path in (("websocket", "/ws/topics"), ("sse", "/sse/topics")):
                assert metric(b, "wirehub_topic_gaps_total", transport=transport, endpoint=path, result="filled") == 1
                assert metric(b, "wirehub_topic_gaps_total", transport=transport, endpoint=path, result="reset") == 0
        finally:
            a.close()
            b.close()
            link.close()
