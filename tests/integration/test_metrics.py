"""GET /metrics on the real binary: strict Prometheus text (parsed by Debian's
prometheus_client), and counters that move as clients act."""

import http.client
import json
import socket

from prometheus_client.parser import text_string_to_metric_families

import rawws
from wirehub_server import WirehubServer


def scrape(srv):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    return families, body


def value(families, name, **labels):
    """The sample `name` with exactly these labels (a family name, or a sample name such
    as x_total or x_count)."""
    for f in families.values():
        for s in f.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise AssertionError(f"no sample {name}{labels}")


def post_order(srv):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.request("POST", "/api/orders", body=json.dumps({"customerId": "m", "total": 1}),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    conn.close()


def test_metrics_parse_and_move():
    with WirehubServer() as srv:
        before, text = scrape(srv)
        for name in ("wirehub_connections", "wirehub_handshakes", "wirehub_messages", "wirehub_message_bytes",
                     "wirehub_publish_delivery_seconds", "wirehub_event_loop_lag_seconds",
                     "wirehub_http_requests", "wirehub_orders_created"):
            assert name in before, f"{name} missing from\n{text[:2000]}"

        echo = {"transport": "websocket", "endpoint": "/ws/echo"}
        feed = {"transport": "websocket", "endpoint": "/ws/orders/feed"}
        with rawws.RawWebSocket.open(srv.port, "/ws/echo") as ws:
            ws.send(0x1, b"hello")
            assert ws.read_message()[1] == b"hello"
            during, _ = scrape(srv)
            assert value(during, "wirehub_connections", **echo) == 1
        sse = {"transport": "sse", "endpoint": "/sse/orders"}
        stream = socket.create_connection((srv.host, srv.port), timeout=10)
        stream.sendall(b"GET /sse/orders HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with rawws.RawWebSocket.open(srv.port, "/ws/orders/feed") as sub:
            sub.send(0x1, b'{"type":"SUBSCRIBE"}')
            sub.read_message()
            post_order(srv)
            sub.read_message()  # the event arrived: its delivery was measured
            while b"ORDER_CREATED" not in received:
                received += stream.recv(65536)
            after, _ = scrape(srv)
        assert value(after, "wirehub_connections", **sse) == 1
        assert value(after, "wirehub_messages_total", direction="out", **sse) == 1
        assert value(after, "wirehub_publish_delivery_seconds_count", **sse) >= 1
        assert value(after, "wirehub_handshakes_total", endpoint="/sse/orders", result="accepted") == 1
        stream.close()

        assert value(after, "wirehub_orders_created_total") == value(before, "wirehub_orders_created_total") + 1
        assert value(after, "wirehub_messages_total", direction="in", **echo) == 1
        assert value(after, "wirehub_messages_total", direction="out", **echo) == 1
        assert value(after, "wirehub_message_bytes_total", direction="in", **echo) == 5
        assert value(after, "wirehub_handshakes_total", endpoint="/ws/echo", result="accepted") == 1
        assert value(after, "wirehub_publish_delivery_seconds_count", **feed) >= 1

        # A refused handshake is counted by its reason.
        response = rawws.http_exchange(srv.port, b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert response.status == 400
        refused, _ = scrape(srv)
        assert value(refused, "wirehub_handshakes_total", endpoint="/ws/echo", result="bad_request") == 1
        assert value(refused, "wirehub_http_requests_total") > value(before, "wirehub_http_requests_total")
