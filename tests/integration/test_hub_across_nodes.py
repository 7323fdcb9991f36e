"""A hub's requests spread over three nodes (no sticky sessions), black-box.

Three `wirehub --app signalr-conformance --redis ...` processes and a real redis-server.
Each request of one hub connection goes to the node the test names, as a load balancer
without affinity would send it:
- an event stream opened on B for a connection negotiated on A, its POSTs (handshake,
  invocations) on A and C, its answers on the stream; a second stream elsewhere 409;
- long polling whose first poll, POSTs and later polls rotate over A, B and C; a DELETE on
  another node ends it;
- a WebSocket opened on B for a connection negotiated on A; a negotiate version 0
  connection (its id is its token) routed the same way;
- a token no node has gets 404 from a node with the backplane, as on one node (an upgrade
  request held meanwhile, then answered, keeps its HTTP connection for the next request);
- a long-polling client whose node was killed gets 404 on another node, not a hang.
"""

import time

import pytest

import hubwire
import rawws
from hubwire import COMPLETION, SseHub, WsHub, LpHub, handshake, with_id
from redis_server import RedisServer
from test_scale_out import backplane_up
from wirehub_server import wait_for


@pytest.fixture(scope="module")
def nodes():
    with RedisServer() as redis:
        servers = [hubwire.ConformanceServer(extra_args=["--redis", redis.url]) for _ in range(3)]
        for s in servers:
            s.__enter__()
        try:
            for s in servers:
                wait_for(lambda s=s: backplane_up(s), what="the backplane to be up")
            yield [s.port for s in servers]
        finally:
            for s in servers:
                s.__exit__(None, None, None)


def post(port: int, token: str, body: bytes) -> rawws.Response:
    # A node that does not know the token asks the others for up to 3 s before its 404.
    return hubwire.http(port, "POST", with_id("/testhub", token), {"Content-Type": "text/plain;charset=UTF-8"}, body,
                        timeout=15)


def invocation(target: str, *args, invocation_id: str) -> dict:
    return {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}


def test_an_event_stream_on_one_node_takes_posts_through_the_others(nodes):
    a, b, c = nodes
    negotiated = hubwire.negotiate(a)
    token = negotiated["connectionToken"]
    # The stream opens on B, which did not negotiate it; the request's headers are B's to read.
    with SseHub(b, token=token, headers={"X-Probe": "opened-on-b"}) as s:
        assert s.head.status == 200
        r = post(c, token, handshake())
        assert (r.status, r.body) == (200, b"")
        assert s.handshake_answer() == {}
        for i, via in enumerate([a, c, b, a, c]):
            r = post(via, token, hubwire.json_frame(invocation("Echo", f"via-{i}", invocation_id=str(i))))
            assert r.status == 200, r.body
            assert s.recv_type(COMPLETION) == {"type": COMPLETION, "invocationId": str(i), "result": f"via-{i}"}
        assert post(a, token, hubwire.json_frame(invocation("GetCallerConnectionId", invocation_id="id"))).status == 200
        assert s.recv_type(COMPLETION)["result"] == negotiated["connectionId"]
        assert post(c, token, hubwire.json_frame(invocation("GetHeader", "X-Probe", invocation_id="h"))).status == 200
        assert s.recv_type(COMPLETION)["result"] == "opened-on-b"
        # One stream per connection, wherever the second one asks; another transport is refused.
        second = rawws.http_exchange(c, hubwire.request_bytes("GET", with_id("/testhub", token),
                                                              {"Accept": "text/event-stream"}))
        assert second.status == 409, second.body
        ws = rawws.http_exchange(a, rawws.upgrade_request(with_id("/testhub", token)))
        assert ws.status == 400, ws.body
        assert hubwire.http(c, "DELETE", with_id("/testhub", token)).status == 400
    # The stream is gone: its POSTs get 404 on every node (the owner answers for the others).
    wait_for(lambda: post(a, token, b"{}\x1e").status == 404, timeout=10, what="the connection to end")
    assert post(c, token, b"{}\x1e").status == 404


def test_a_version_0_connection_id_routes_like_a_token(nodes):
    a, b, c = nodes
    negotiated = hubwire.negotiate(a, query="")  # version 0: no token, the id is used
    assert "connectionToken" not in negotiated
    token = negotiated["connectionId"]
    with SseHub(b, token=token) as s:
        assert s.head.status == 200
        assert post(c, token, handshake()).status == 200
        assert s.handshake_answer() == {}
        assert post(a, token, hubwire.json_frame(invocation("Echo", "v0", invocation_id="0"))).status == 200
        assert s.recv_type(COMPLETION)["result"] == "v0"


def test_long_polling_rotates_over_every_node(nodes):
    a, b, c = nodes
    token = hubwire.negotiate(a)["connectionToken"]
    client = LpHub(b, token=token)  # the first poll on B: the connection moves there
    client.start()
    order = [c, a, b]
    for i in range(9):
        client.port = order[i % 3]  # this invocation's POST
        client.send(invocation("Echo", f"m{i}", invocation_id=str(i)))
        client.port = order[(i + 1) % 3]  # and its poll
        assert client.recv_type(COMPLETION) == {"type": COMPLETION, "invocationId": str(i), "result": f"m{i}"}
    # A held poll on one node, data posted on another: the poll answers at once.
    held = hubwire.HeldRequest(a, "GET", with_id("/testhub", token) + "&_=held")
    assert not held.answered_within(0.3)
    assert post(c, token, hubwire.json_frame(invocation("Echo", "wake", invocation_id="w"))).status == 200
    r = held.response()
    assert r.status == 200 and b'"result":"wake"' in r.body, r.body
    held.close()
    # Another transport for it is refused, wherever it is asked.
    sse = rawws.http_exchange(c, hubwire.request_bytes("GET", with_id("/testhub", token), {"Accept": "text/event-stream"}))
    assert sse.status == 400, sse.body
    # DELETE on a node that does not have it: 202, then the connection is over everywhere.
    assert hubwire.http(a, "DELETE", with_id("/testhub", token)).status == 202
    for port in (a, b, c):
        r = hubwire.http(port, "GET", with_id("/testhub", token) + "&_=after", timeout=15)
        assert r.status in (204, 404), (port, r.status, r.body)


def test_a_websocket_opens_on_another_node_than_its_negotiate(nodes):
    a, b, c = nodes
    negotiated = hubwire.negotiate(a)
    with WsHub(b, token=negotiated["connectionToken"]) as ws:
        ws.send_raw(handshake())
        assert ws.handshake_answer() == {}
        assert ws.invoke("GetCallerConnectionId")["result"] == negotiated["connectionId"]
        # A second socket with its token, on the negotiating node: 409 from the owner.
        r = rawws.http_exchange(a, rawws.upgrade_request(with_id("/testhub", negotiated["connectionToken"])))
        assert r.status == 409, r.body
        # POST is not for WebSocket connections, whichever node it reaches.
        assert post(c, negotiated["connectionToken"], b"x").status == 405


def test_a_token_no_node_has_gets_404(nodes):
    a, _, _ = nodes
    started = time.monotonic()
    unknown = hubwire.token_of(a)[:22] + "A" * 22  # a real connection's id, a wrong secret
    assert post(a, "B" * 44, b"{}\x1e").status == 404
    assert post(a, unknown, b"{}\x1e").status == 404
    assert hubwire.http(a, "GET", with_id("/testhub", "not-one-of-ours"), timeout=15).status == 404
    assert time.monotonic() - started < 15


def test_an_upgrade_held_for_other_nodes_answers_and_keeps_its_connection(nodes):
    a, _, _ = nodes
    # A WebSocket upgrade and then a plain request on the same TCP connection: the upgrade
    # waits for the other nodes (none has the token), is answered 404, and the request
    # behind it is answered next.
    sock = rawws.connect(a, timeout=15)
    try:
        sock.sendall(rawws.upgrade_request(with_id("/testhub", "C" * 44)) +
                     hubwire.request_bytes("POST", "/testhub/negotiate?negotiateVersion=1"))
        first = rawws.read_response(sock, timeout=15)
        assert first.status == 404 and first.body == b"No Connection with that ID\n", first
        second = rawws.read_response(sock, timeout=15, buffered=first.rest)
        assert second.status == 200 and b'"connectionToken"' in second.body, second
    finally:
        sock.close()


def test_a_long_polling_client_whose_node_died_gets_404_elsewhere():
    with RedisServer() as redis, \
            hubwire.ConformanceServer(extra_args=["--redis", redis.url]) as a, \
            hubwire.ConformanceServer(extra_args=["--redis", redis.url]) as b:
        for s in (a, b):
            wait_for(lambda s=s: backplane_up(s), what="the backplane to be up")
        client = LpHub(a.port)
        client.start()
        assert client.invoke("Echo", "before")["result"] == "before"
        a.process.kill()
        a.process.wait(timeout=10)
        r = hubwire.http(b.port, "GET", with_id("/testhub", client.token) + "&_=after", timeout=15)
        assert r.status == 404, (r.status, r.body)
        hubwire.assert_serving(b.port)
