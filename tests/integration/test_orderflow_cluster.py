"""OrderFlow on several wirehub processes sharing one order log in a real redis-server.

Covered: orders POSTed concurrently to every node reach the raw-WebSocket and SSE feed
subscribers of every node exactly once, in seq order, with seqs 1..N and no gap; GET
/api/orders is the same on every node, and GET /api/orders/{id} right after a 201 finds
the order on the node that answered; a feed client resumes on another node from a seq
it saw on the first; Redis killed and restarted during a steady POST stream: every POST
is answered 201 or 202 (pending, in the node's outbox) and every one of them reaches
every subscriber once and in order after recovery; a node SIGKILLed: its feed client
resumes on another node with no gap; a node whose next seq was trimmed from the log
(by length, or by age: log_max_age_s) notes the gap and refuses a resume across it with
an ERROR; a resume on a node that has not read up to the resume point yet waits for it
rather than repeat orders, and a resume point it does not reach in 10 s is refused.
"""

import http.client
import json
import signal
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import rawws
from redis_server import RedisServer
from test_orders_feed import SseClient
from wirehub_server import WirehubServer, wait_for

OP_TEXT = 0x1




def call(srv, method, path, body=None):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def post(srv, customer):
    status, data = call(srv, "POST", "/api/orders", {"customerId": customer, "total": 1.25})
    return status, json.loads(data)


def metric(srv, name):
    _, body = call(srv, "GET", "/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name:
                return s.value
    return None


def log_up(srv) -> bool:
    return metric(srv, "wirehub_orderflow_log_up") == 1


def node(redis, config=None):
    return WirehubServer(config=config, extra_args=["--redis", redis.url])


def read_json(ws, timeout=20.0):
    opcode, payload = ws.read_message(timeout)
    assert opcode == OP_TEXT
    return json.loads(payload)


def subscribe(srv, after=None):
    """A raw feed client, SUBSCRIBEd (or RESUMEd after `after`); returns it with the
    history events it got before SUBSCRIBED and the seq SUBSCRIBED reported."""
    ws = rawws.RawWebSocket.open(srv.port, "/ws/orders/feed")
    cmd = {"type": "SUBSCRIBE", "topic": "orders"} if after is None else \
        {"type": "RESUME", "topic": "orders", "after": after}
    ws.send(OP_TEXT, json.dumps(cmd).encode())
    history = []
    while True:
        m = read_json(ws)
        if m["type"] == "SUBSCRIBED":
            return ws, history, m["seq"]
        assert m["type"] == "ORDER_CREATED", m
        history.append(m)


def ws_events(ws, n):
    out = []
    for _ in range(n):
        m = read_json(ws)
        assert m["type"] == "ORDER_CREATED", m
        out.append(m)
    return out


def sse_events(client, n):
    out = []
    for _ in range(n):
        eid, name, data = client.event()
        assert name is None, (name, data)
        m = json.loads(data)
        assert str(m["seq"]) == eid
        out.append(m)
    return out


def all_orders(srv):
    status, data = call(srv, "GET", "/api/orders?limit=1000")
    assert status == 200
    return json.loads(data)["orders"]


def test_orders_posted_to_every_node_reach_every_feed_once_in_seq_order():
    per_node = 15
    with RedisServer() as redis, node(redis) as a, node(redis) as b, node(redis) as c:
        nodes = (a, b, c)
        for srv in nodes:
            wait_for(lambda: log_up(srv), what="the order log to be up")
        feeds = [subscribe(srv) for srv in nodes]
        assert all(seq == 0 and history == [] for _, history, seq in feeds)
        sses = [SseClient(srv) for srv in nodes]
        accepted, errors = [], []

        def poster(srv, k):
            for i in range(per_node):
                status, body = post(srv, f"n{k}-{i}")
                if status != 201:
                    errors.append((status, body))
                    continue
                # Read-your-writes: the node that answered 201 holds the order already.
                got, data = call(srv, "GET", f"/api/orders/{body['orderId']}")
                if got != 200 or json.loads(data)["seq"] != body["seq"]:
                    errors.append(("GET after 201", got, data))
                accepted.append(body)

        threads = [threading.Thread(target=poster, args=(srv, k)) for k, srv in enumerate(nodes)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            total = per_node * len(nodes)
            assert sorted(o["seq"] for o in accepted) == list(range(1, total + 1))
            by_seq = {o["seq"]: o["orderId"] for o in accepted}
            for ws, _, _ in feeds:
                got = ws_events(ws, total)
                assert [m["seq"] for m in got] == list(range(1, total + 1))
                assert all(by_seq[m["seq"]] == m["orderId"] for m in got)
            for client in sses:
                got = sse_events(client, total)
                assert [m["seq"] for m in got] == list(range(1, total + 1))
                assert all(by_seq[m["seq"]] == m["orderId"] for m in got)
            # Nothing more than once: the next event of every feed is the next order.
            status, marker = post(b, "marker")
            assert status == 201 and marker["seq"] == total + 1
            for ws, _, _ in feeds:
                assert ws_events(ws, 1)[0]["orderId"] == marker["orderId"]
            for client in sses:
                assert sse_events(client, 1)[0]["orderId"] == marker["orderId"]
            assert all_orders(a) == all_orders(b) == all_orders(c)
            assert len(all_orders(a)) == total + 1
        finally:
            for ws, _, _ in feeds:
                ws.close_socket()
            for client in sses:
                client.close()


def test_a_feed_client_resumes_on_another_node_from_a_seq_seen_on_the_first():
    with RedisServer() as redis, node(redis) as a, node(redis) as b:
        for srv in (a, b):
            wait_for(lambda: log_up(srv), what="the order log to be up")
        ws_a, _, _ = subscribe(a)
        created = [post(a if i % 2 else b, f"r{i}")[1] for i in range(8)]
        seen = ws_events(ws_a, 4)
        ws_a.close_socket()
        last = seen[-1]["seq"]
        ws_b, history, sub_seq = subscribe(b, after=last)
        try:
            assert [m["seq"] for m in history] == [o["seq"] for o in created[4:]]
            assert sub_seq == created[-1]["seq"]
            status, live = post(a, "live")
            assert status == 201
            assert ws_events(ws_b, 1)[0]["orderId"] == live["orderId"]
        finally:
            ws_b.close_socket()
        c = SseClient(b, headers={"Last-Event-ID": str(last)})
        try:
            assert [m["seq"] for m in sse_events(c, 5)] == [o["seq"] for o in created[4:]] + [live["seq"]]
        finally:
            c.close()


def test_redis_killed_and_restarted_during_a_post_stream_loses_and_repeats_nothing():
    with RedisServer(durable=True) as redis, node(redis) as a, node(redis) as b:
        for srv in (a, b):
            wait_for(lambda: log_up(srv), what="the order log to be up")
        feeds = [subscribe(srv)[0] for srv in (a, b)]
        sses = [SseClient(srv) for srv in (a, b)]
        answers = []  # (status, body) in the order the POSTs were answered
        stop = threading.Event()

        def poster():
            i = 0
            while not stop.is_set():
                answers.append(post((a, b)[i % 2], f"s{i}"))
                i += 1

        t = threading.Thread(target=poster)
        t.start()
        try:
            wait_for(lambda: len(answers) >= 20, what="POSTs before the kill")
            # Frozen first, so that an append is in flight (sent, unanswered) when it dies:
            # the node cannot know whether Redis took it, and sends it again.
            redis.process.send_signal(signal.SIGSTOP)
            wait_for(lambda: metric(a, "wirehub_orderflow_log_unsent") + metric(b, "wirehub_orderflow_log_unsent") >= 1,
                     what="an append in flight")
            redis.kill()
            n = len(answers)
            wait_for(lambda: sum(1 for s, _ in answers[n:] if s == 202) >= 10, what="POSTs answered 202")
            assert not log_up(a) and metric(a, "wirehub_orderflow_log_outbox") >= 1
            status, body = call(a, "GET", "/readyz")
            assert status == 200 and b"order log: down" in body, body  # Redis away: still in rotation
            redis.start()
            for srv in (a, b):
                wait_for(lambda: log_up(srv), what="the order log to be up again")
            n = len(answers)
            wait_for(lambda: len(answers) >= n + 10, what="POSTs after the restart")
        finally:
            stop.set()
            t.join()
        try:
            statuses = {s for s, _ in answers}
            assert statuses <= {201, 202}, statuses
            ids = [body["orderId"] for _, body in answers]
            total = len(ids)
            for srv in (a, b):
                wait_for(lambda: metric(srv, "wirehub_orderflow_log_outbox") == 0 and
                         metric(srv, "wirehub_orderflow_log_seq") == total, what="every order in every replica")
            for ws in feeds:
                got = ws_events(ws, total)
                assert [m["seq"] for m in got] == list(range(1, total + 1))
                assert sorted(m["orderId"] for m in got) == sorted(ids)
            for client in sses:
                got = sse_events(client, total)
                assert [m["seq"] for m in got] == list(range(1, total + 1))
                assert sorted(m["orderId"] for m in got) == sorted(ids)
            # A 201's seq is the one every feed shows for that order.
            by_id = {m["orderId"]: m["seq"] for m in got}
            assert all(by_id[body["orderId"]] == body["seq"] for s, body in answers if s == 201)
            assert all_orders(a) == all_orders(b)
        finally:
            for ws in feeds:
                ws.close_socket()
            for client in sses:
                client.close()


def test_a_killed_nodes_feed_client_resumes_on_another_node_without_a_gap():
    with RedisServer() as redis, node(redis) as a, node(redis) as b:
        for srv in (a, b):
            wait_for(lambda: log_up(srv), what="the order log to be up")
        ws, _, _ = subscribe(a)
        first = [post(b, f"k{i}")[1] for i in range(5)]
        seen = ws_events(ws, 5)
        a.process.kill()
        a.process.wait(timeout=10)
        ws.close_socket()
        more = [post(b, f"m{i}")[1] for i in range(5)]
        ws_b, history, sub_seq = subscribe(b, after=seen[-1]["seq"])
        try:
            assert [m["orderId"] for m in seen] == [o["orderId"] for o in first]
            assert [m["orderId"] for m in history] == [o["orderId"] for o in more]
            assert [m["seq"] for m in seen + history] == list(range(1, 11))
            assert sub_seq == 10
        finally:
            ws_b.close_socket()


def test_a_resume_on_a_node_behind_the_resume_point_waits_for_it_instead_of_repeating_orders():
    """A feed client saw orders 1..5 on A and resumes after 5 on B, which has not read them
    yet (its Redis user may not XREAD, so its tail is held back). Once B reads the log the
    client gets SUBSCRIBED 5 and then only the orders after 5: not 1..5 again as live events."""
    with RedisServer() as redis:
        acl = ["ACL", "SETUSER", "lagging", "on", ">pw", "~*", "&*", "+@all"]
        assert redis.command(*acl, "-xread").startswith(b"+OK")
        lagging_url = f"redis://lagging:pw@127.0.0.1:{redis.port}"
        with node(redis) as a, WirehubServer(extra_args=["--redis", lagging_url]) as b:
            wait_for(lambda: log_up(a), what="A's order log to be up")
            assert [post(a, f"f{i}")[1]["seq"] for i in range(5)] == [1, 2, 3, 4, 5]
            ws = rawws.RawWebSocket.open(b.port, "/ws/orders/feed")
            sse = SseClient(b, headers={"Last-Event-ID": "5"})
            try:
                ws.send(OP_TEXT, json.dumps({"type": "RESUME", "topic": "orders", "after": 5}).encode())
                # The pong follows the RESUME, which queued its job on B's store thread; the
                # GET is answered from there after it. B holds no order yet.
                ws.send(rawws.OP_PING, b"sync")
                early = []
                while (frame := ws.read_frame(timeout=20)).opcode != rawws.OP_PONG:
                    early.append(json.loads(frame.payload))
                status, data = call(b, "GET", "/api/orders")
                assert status == 200 and (json.loads(data)["orders"], json.loads(data)["lastSeq"]) == ([], 0)

                assert redis.command(*acl, "+xread").startswith(b"+OK")
                wait_for(lambda: metric(b, "wirehub_orderflow_log_seq") == 5, what="B to read orders 1..5")
                later = [post(a, f"l{i}")[1] for i in range(3)]
                got = early + [read_json(ws)]
                while got[-1].get("seq") != 8 or got[-1]["type"] != "ORDER_CREATED":
                    got.append(read_json(ws))
                assert got[0] == {"type": "SUBSCRIBED", "topic": "orders", "seq": 5}, got
                assert [m["orderId"] for m in got[1:]] == [o["orderId"] for o in later], got
                assert [m["seq"] for m in sse_events(sse, 3)] == [6, 7, 8]
            finally:
                ws.close_socket()
                sse.close()


def test_a_resume_point_the_node_does_not_reach_is_refused_after_ten_seconds():
    """A resume from a seq the log has not handed out waits for it no longer than 10 s (the
    node checks whenever it stores orders, so orders keep coming here): then the raw feed
    answers ERROR, SSE an error event and ends the stream."""
    with RedisServer() as redis, node(redis) as a:
        wait_for(lambda: log_up(a), what="the order log to be up")
        ws = rawws.RawWebSocket.open(a.port, "/ws/orders/feed")
        sse = SseClient(a, headers={"Last-Event-ID": "1000"})
        done = threading.Event()

        def poster():
            while not done.wait(0.5):
                post(a, "meanwhile")

        started = time.monotonic()
        ws.send(OP_TEXT, json.dumps({"type": "RESUME", "topic": "orders", "after": 1000}).encode())
        t = threading.Thread(target=poster)
        t.start()
        try:
            m = read_json(ws, timeout=30)
            assert time.monotonic() - started >= 9.5
            assert m["type"] == "ERROR", m
            assert m["error"].startswith("resume point 1000 is after the last order this node holds (seq "), m
            _, name, data = sse.event()
            assert name == "error" and json.loads(data)["error"].startswith("resume point 1000 is after"), data
            with pytest.raises(EOFError):
                sse.event()
        finally:
            done.set()
            t.join()
            ws.close_socket()
            sse.close()


def test_a_node_behind_the_trimmed_log_notes_the_gap_and_refuses_a_resume_across_it():
    with RedisServer() as redis:
        # Small stream nodes, so MAXLEN ~ trims at this scale.
        assert redis.command("CONFIG", "SET", "stream-node-max-entries", "4").startswith(b"+OK")
        with node(redis, {"orderflow": {"log_max_len": 4}}) as a:
            wait_for(lambda: log_up(a), what="the order log to be up")
            for i in range(30):
                assert post(a, f"g{i}")[0] == 201
            with node(redis) as late:
                wait_for(lambda: metric(late, "wirehub_orderflow_log_seq") == 30, what="the late node to catch up")
                assert metric(late, "wirehub_orderflow_log_gaps_total") == 1
                missing = metric(late, "wirehub_orderflow_log_gap_seqs_total")
                assert 1 <= missing < 30
                # A resume from inside the gap is refused, never silently cut.
                ws = rawws.RawWebSocket.open(late.port, "/ws/orders/feed")
                try:
                    ws.send(OP_TEXT, json.dumps({"type": "RESUME", "topic": "orders", "after": 0}).encode())
                    m = read_json(ws)
                    assert m["type"] == "ERROR" and "dropped" in m["error"], m
                finally:
                    ws.close_socket()
                c = SseClient(late, headers={"Last-Event-ID": "0"})
                try:
                    _, name, data = c.event()
                    assert name == "error" and "dropped" in json.loads(data)["error"]
                finally:
                    c.close()
                # After the gap, resume works, and so does the node that saw everything.
                ws, history, _ = subscribe(late, after=int(missing))
                ws.close_socket()
                assert [m["seq"] for m in history] == list(range(int(missing) + 1, 31))
                ws, history, _ = subscribe(a, after=0)
                ws.close_socket()
                assert len(history) == 30


def stream_length(redis) -> int:
    reply = redis.command("XLEN", "wirehub:orderflow:log")
    assert reply.startswith(b":"), reply
    return int(reply[1:])


def test_entries_older_than_log_max_age_s_are_trimmed_and_a_resume_behind_them_is_refused():
    with RedisServer() as redis:
        with node(redis, {"orderflow": {"log_max_age_s": 1}}) as a:
            wait_for(lambda: log_up(a), what="the order log to be up")
            for i in range(5):
                assert post(a, f"old{i}")[0] == 201
            assert stream_length(redis) == 5  # not a second old yet: kept
            # Once a time mark after them is a second old (about two seconds), they go.
            wait_for(lambda: stream_length(redis) == 0, timeout=15, what="the old entries to be trimmed")
            assert post(a, "young")[1]["seq"] == 6
            with node(redis) as late:
                wait_for(lambda: metric(late, "wirehub_orderflow_log_seq") == 6, what="the late node to catch up")
                assert metric(late, "wirehub_orderflow_log_gaps_total") == 1
                assert metric(late, "wirehub_orderflow_log_gap_seqs_total") == 5
                ws = rawws.RawWebSocket.open(late.port, "/ws/orders/feed")
                try:
                    ws.send(OP_TEXT, json.dumps({"type": "RESUME", "topic": "orders", "after": 2}).encode())
                    m = read_json(ws)
                    assert m["type"] == "ERROR" and "seqs 1..5" in m["error"] and "dropped" in m["error"], m
                finally:
                    ws.close_socket()
                ws, history, _ = subscribe(late, after=5)
                ws.close_socket()
                assert [m["seq"] for m in history] == [6]
