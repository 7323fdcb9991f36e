"""Several wirehub processes joined by a real redis-server (--redis), black-box.

Covered: a /ws/broadcast message sent on one node reaches the clients of every node
exactly once, from any node; the backplane's metrics; Redis killed and restarted while
a node keeps broadcasting: the nodes stay up, their own clients get everything at once,
and the other node — held back (SIGSTOP) until the first is reconnected — still gets every
message, buffered ones included, once and in order; a node with Redis unreachable at
start serves its own clients and joins once Redis appears; bad --redis values exit 2 with
a message.
"""

import http.client
import signal
import subprocess

from prometheus_client.parser import text_string_to_metric_families

import rawws
from redis_server import RedisServer
from wirehub_server import WirehubServer, binary_path, free_port, wait_for

OP_TEXT = 0x1


def metric(srv, name: str, **labels) -> float | None:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


def readyz(srv) -> tuple[int, str]:
    """/readyz's status and its backplane line."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("GET", "/readyz")
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, next((line for line in body.splitlines() if line.startswith("backplane:")), "")


def backplane_up(srv) -> bool:
    return metric(srv, "wirehub_backplane_up", kind="redis") == 1


def logged(srv, text: str) -> bool:
    """True when the server's log holds text."""
    return text in srv.log_path.read_text(errors="replace")


def node(redis: RedisServer) -> WirehubServer:
    return WirehubServer(extra_args=["--redis", redis.url])


def texts(ws: rawws.RawWebSocket, n: int, timeout: float = 10.0) -> list[str]:
    out = []
    for _ in range(n):
        opcode, payload = ws.read_message(timeout)
        assert opcode == OP_TEXT
        out.append(payload.decode())
    return out


def test_a_broadcast_on_any_node_reaches_every_node_once():
    with RedisServer() as redis, node(redis) as a, node(redis) as b, node(redis) as c:
        for srv in (a, b, c):
            wait_for(lambda: backplane_up(srv), what="the backplane to be up")
        clients = [rawws.RawWebSocket.open(srv.port, "/ws/broadcast") for srv in (a, b, b, c)]
        try:
            clients[0].send(OP_TEXT, b"from a")
            clients[3].send(OP_TEXT, b"from c")
            for ws in clients:
                got = texts(ws, 2)
                assert sorted(got) == ["from a", "from c"], got
            # Nothing else arrived in between: the next message of each is a new marker.
            clients[1].send(OP_TEXT, b"marker")
            for ws in clients:
                assert texts(ws, 1) == ["marker"]
        finally:
            for ws in clients:
                ws.close_socket()
        assert metric(b, "wirehub_backplane_delivered_total", kind="redis") == 2  # from a, from c
        assert metric(b, "wirehub_backplane_published_total", kind="redis") == 1  # marker
        assert metric(b, "wirehub_backplane_refused_total", kind="redis") == 0
        assert metric(b, "wirehub_backplane_duplicates_total", kind="redis") == 0
        assert metric(b, "wirehub_backplane_malformed_total", kind="redis") == 0


def test_redis_killed_and_restarted_while_a_node_broadcasts():
    with RedisServer() as redis, node(redis) as a, node(redis) as b:
        for srv in (a, b):
            wait_for(lambda: backplane_up(srv), what="the backplane to be up")
        # a's messages held during the outage wait for the peers it saw before: b among them.
        wait_for(lambda: metric(a, "wirehub_backplane_peers", kind="redis") == 1, what="a to see b")
        sender = rawws.RawWebSocket.open(a.port, "/ws/broadcast")
        on_a = rawws.RawWebSocket.open(a.port, "/ws/broadcast")
        on_b = rawws.RawWebSocket.open(b.port, "/ws/broadcast")
        stopped = False
        try:
            sent = []

            def send(i: int) -> None:
                sender.send(OP_TEXT, f"m{i}".encode())
                sent.append(f"m{i}")

            for i in range(20):
                send(i)
            assert texts(on_b, 20) == sent
            status, line = readyz(a)
            assert status == 200 and line.startswith("backplane: redis up,") and line.endswith("refused 0"), line
            redis.kill()
            wait_for(lambda: not backplane_up(a) and not backplane_up(b), what="both nodes to see Redis gone")
            for i in range(20, 40):  # buffered on a for b; a's own clients get them at once
                send(i)
            # Once a's own client has them, a has handled them: they wait in its buffer.
            assert texts(on_a, 40) == sent
            # (At least: replies to earlier PUBLISHes may have been lost with Redis; those are
            # re-sent too, and b drops what it already has.)
            assert metric(a, "wirehub_backplane_buffered_messages", kind="redis") >= 20
            # Still ready (every node shares this Redis), and saying why not all is well.
            status, line = readyz(a)
            assert status == 200 and line.startswith("backplane: redis down"), (status, line)
            # b cannot reconnect before a does: flushed at once, a's buffer would pass b by
            # (pub/sub keeps nothing for an absent subscriber).
            b.signal(signal.SIGSTOP)
            stopped = True
            redis.start()
            wait_for(lambda: metric(a, "wirehub_backplane_flush_waits_total", kind="redis") == 1,
                     what="a to wait for b")
            assert not backplane_up(a)  # its link is back, its buffer still held
            b.signal(signal.SIGCONT)
            stopped = False
            wait_for(lambda: backplane_up(a) and backplane_up(b), timeout=20, what="both nodes to reconnect")
            assert logged(a, "every peer subscribed again")
            for i in range(40, 60):
                send(i)
            # a's own clients: everything, in order, at once.
            assert texts(on_a, 20) == sent[40:]
            assert texts(sender, 60) == sent
            # b: every message, the buffered ones too, once and in order.
            assert texts(on_b, 40) == sent[20:]
            assert metric(a, "wirehub_backplane_reconnects_total", kind="redis") >= 2
            assert metric(a, "wirehub_backplane_peers_missed_total", kind="redis") == 0
            assert metric(a, "wirehub_backplane_buffered_messages", kind="redis") == 0
            assert a.process.poll() is None and b.process.poll() is None
        finally:
            if stopped:
                b.signal(signal.SIGCONT)
            for ws in (sender, on_a, on_b):
                ws.close_socket()


def test_a_node_starts_without_redis_and_joins_when_it_appears():
    redis = RedisServer()  # its port, not started yet
    with WirehubServer(extra_args=["--redis", redis.url]) as a:
        assert metric(a, "wirehub_backplane_up", kind="redis") == 0
        with rawws.RawWebSocket.open(a.port, "/ws/broadcast") as ws:
            ws.send(OP_TEXT, b"local")
            assert texts(ws, 1) == ["local"]  # served while Redis is absent
        with redis, node(redis) as b:
            wait_for(lambda: backplane_up(a) and backplane_up(b), timeout=20, what="both nodes up")
            with rawws.RawWebSocket.open(a.port, "/ws/broadcast") as on_a, \
                    rawws.RawWebSocket.open(b.port, "/ws/broadcast") as on_b:
                on_b.send(OP_TEXT, b"joined")
                assert texts(on_a, 1) == ["joined"]


def test_bad_redis_values_exit_2_with_a_message(tmp_path):
    for value, expected in [("redis://127.0.0.1:0", "port"), ("http://127.0.0.1:6379", "redis://"),
                            ("rediss://127.0.0.1:6379", "TLS"), ("redis://", "host")]:
        r = subprocess.run([binary_path(), "--listen", f"127.0.0.1:{free_port()}", "--redis", value],
                           capture_output=True, text=True, timeout=20, cwd=tmp_path)
        assert r.returncode == 2, (value, r.returncode, r.stderr)
        assert expected in r.stderr, (value, r.stderr)
