"""Hub negotiate, auth and CORS on the wire: PROTOCOL.md section 15, items 1-7, 17 and 18.

The item -> test map of the whole checklist is in test_hub_protocol.py.
"""

import json
import re

import pytest

import hubwire
import rawws
from hubwire import COMPLETION, ConformanceServer, WsHub

ID = re.compile(r"^[A-Za-z0-9_-]{22}$")  # 16 random bytes, base64url without padding
ALL_TRANSPORTS = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
                  {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
                  {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]}]


@pytest.fixture(scope="module")
def srv():
    with ConformanceServer() as s:
        yield s
        assert s.process.poll() is None, s.log_tail()


def test_item_01_negotiate_v1_body(srv):
    r = hubwire.http(srv.port, "POST", "/testhub/negotiate?negotiateVersion=1")
    assert r.status == 200
    assert r.header("Content-Type").split(";")[0] == "application/json"
    body = json.loads(r.body)
    assert list(body) == ["negotiateVersion", "connectionId", "connectionToken", "availableTransports"]
    assert body["negotiateVersion"] == 1
    assert ID.match(body["connectionId"]) and ID.match(body["connectionToken"]), body
    assert body["connectionId"] != body["connectionToken"]
    assert body["availableTransports"] == ALL_TRANSPORTS
    assert "ProtocolVersion" not in r.body.decode()
    # Random per connection.
    seen = {body["connectionId"], body["connectionToken"]}
    for _ in range(20):
        b = hubwire.negotiate(srv.port)
        assert ID.match(b["connectionId"]) and ID.match(b["connectionToken"])
        assert b["connectionId"] not in seen and b["connectionToken"] not in seen
        seen |= {b["connectionId"], b["connectionToken"]}


def test_item_01_connection_id_is_not_accepted_as_token(srv):
    body = hubwire.negotiate(srv.port)
    r = rawws.http_exchange(srv.port, rawws.upgrade_request(hubwire.with_id("/testhub", body["connectionId"])))
    assert r.status == 404


def test_item_02_negotiate_v0_has_no_token_and_id_works(srv):
    body = hubwire.negotiate(srv.port, query="")
    assert body["negotiateVersion"] == 0
    assert "connectionToken" not in body
    assert ID.match(body["connectionId"])
    assert body["availableTransports"] == ALL_TRANSPORTS
    with WsHub(srv.port, token=body["connectionId"]) as c:
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}
        assert c.invoke("GetCallerConnectionId")["result"] == body["connectionId"]


@pytest.mark.parametrize("query, text", [
    ("negotiateVersion=abc", "The client requested a non-integer protocol version."),
    ("negotiateVersion=-1", "The client requested version '-1', but the server does not support this version."),
])
def test_item_03_bad_negotiate_version_is_an_error_body(srv, query, text):
    r = hubwire.http(srv.port, "POST", f"/testhub/negotiate?{query}")
    assert r.status == 200
    assert json.loads(r.body) == {"error": text}


def test_item_03_newer_version_gets_version_1(srv):
    assert hubwire.negotiate(srv.port, query="negotiateVersion=7")["negotiateVersion"] == 1


def test_item_04_transport_order_and_disabled_websockets(srv):
    body = hubwire.negotiate(srv.port, "/testhub-nowebsockets")
    assert body["availableTransports"] == ALL_TRANSPORTS[1:]
    token = body["connectionToken"]
    r = rawws.http_exchange(srv.port, rawws.upgrade_request(hubwire.with_id("/testhub-nowebsockets", token)))
    assert r.status == 404
    # The connection is still usable with a transport the endpoint offers.
    lp = hubwire.LpHub(srv.port, "/testhub-nowebsockets", token=token)
    lp.start()
    lp.send(lp.invocation("GetActiveTransportName", [], "0"))
    assert lp.recv() == {"type": COMPLETION, "invocationId": "0", "result": "LongPolling"}


def test_item_04_messagepack_disabled_lists_text_only():
    with ConformanceServer({"messagepack": False}) as s:
        body = hubwire.negotiate(s.port)
        assert [t["transferFormats"] for t in body["availableTransports"]] == [["Text"]] * 3


def test_item_05_stateful_reconnect_only_when_asked(srv):
    asked = hubwire.negotiate(srv.port, query="negotiateVersion=1&useStatefulReconnect=true")
    assert asked["useStatefulReconnect"] is True
    assert list(asked)[-1] == "useStatefulReconnect"
    for query in ("negotiateVersion=1", "negotiateVersion=1&useStatefulReconnect=false"):
        assert "useStatefulReconnect" not in hubwire.negotiate(srv.port, query=query)


@pytest.mark.parametrize("enabled", [False, True])
def test_item_05_stateful_reconnect_only_when_enabled(enabled):
    # The conformance app always enables it; the OrderFlow hub follows [hub].
    with ConformanceServer({"stateful_reconnect": enabled}, app="orderflow") as s:
        body = hubwire.negotiate(s.port, "/hubs/orders", "negotiateVersion=1&useStatefulReconnect=true")
        assert ("useStatefulReconnect" in body) == enabled
        if enabled:
            assert body["useStatefulReconnect"] is True


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_item_06_negotiate_other_verbs_405(srv, method):
    r = hubwire.http(srv.port, method, "/testhub/negotiate?negotiateVersion=1")
    assert r.status == 405


def test_item_06_paths_and_query_keys_ignore_case_and_extra_parameters(srv):
    body = hubwire.negotiate(srv.port, "/TestHub", "NegotiateVersion=1&foo=bar&_=1700000000000&useStatefulReconnect=TRUE")
    assert body["negotiateVersion"] == 1 and body["useStatefulReconnect"] is True
    with WsHub(srv.port, "/TESTHUB", token=body["connectionToken"], query="user=x&_=1") as c:
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}
        assert c.invoke("echo", "Hi")["result"] == "Hi"


def test_item_07_redirect_body_and_target(srv):
    base = f"http://127.0.0.1:{srv.port}"
    r = hubwire.http(srv.port, "POST", f"/redirect/negotiate?negotiateVersion=1&baseUrl={base}")
    assert r.status == 200
    url = json.loads(r.body)["url"]
    m = re.fullmatch(re.escape(base) + r"/testHub\?numRedirects=(\d+)", url)
    assert m, url
    # The client negotiates again at the redirect URL (path case differs: routes ignore it)
    # and keeps its query, which the hub sees on the transport request.
    body = hubwire.negotiate(srv.port, "/testHub", f"numRedirects={m[1]}&negotiateVersion=1")
    with WsHub(srv.port, "/testHub", token=body["connectionToken"], query=f"numRedirects={m[1]}") as c:
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}
        assert c.invoke("GetNumRedirects")["result"] == int(m[1])
    # The counter moves on per request.
    r2 = hubwire.http(srv.port, "POST", f"/redirect/negotiate?negotiateVersion=1&baseUrl={base}")
    assert json.loads(r2.body)["url"] == f"{base}/testHub?numRedirects={int(m[1]) + 1}"


def jwt(srv) -> str:
    r = hubwire.http(srv.port, "GET", "/generateJwtToken")
    assert r.status == 200
    return r.body.decode()


def test_item_17_negotiate_without_token_401(srv):
    r = hubwire.http(srv.port, "POST", "/authorizedhub/negotiate?negotiateVersion=1")
    assert (r.status, r.reason, r.body) == (401, "Unauthorized", b"")


def test_item_17_bearer_header_and_access_token_query(srv):
    token = jwt(srv)
    bearer = {"Authorization": f"Bearer {token}"}
    body = hubwire.negotiate(srv.port, "/authorizedhub", headers=bearer)
    conn_token = body["connectionToken"]
    # Without a token the transport request is refused too.
    r = rawws.http_exchange(srv.port, rawws.upgrade_request(hubwire.with_id("/authorizedhub", conn_token)))
    assert r.status == 401
    # Browser WebSockets: access_token in the query.
    with WsHub(srv.port, "/authorizedhub", token=conn_token, query=f"access_token={token}") as c:
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}
        assert c.invoke("Echo", "secret")["result"] == "secret"
        assert c.invoke("GetUserNameIdentifier", invocation_id="1")["result"] == "testuser"
    # Node WebSockets: the header on the upgrade.
    with WsHub(srv.port, "/authorizedhub", headers=bearer, negotiate_first=False,
               token=hubwire.negotiate(srv.port, "/authorizedhub", headers=bearer)["connectionToken"]) as c:
        c.send_raw(hubwire.handshake())
        assert c.handshake_answer() == {}
        assert c.invoke("Echo", "header")["result"] == "header"
    # Server-Sent Events: access_token in the event stream's query (EventSource cannot set
    # headers), POSTs with the header.
    sse_token = hubwire.negotiate(srv.port, "/authorizedhub", headers=bearer)["connectionToken"]
    with hubwire.SseHub(srv.port, "/authorizedhub", token=sse_token, query=f"access_token={token}") as s:
        assert s.head.status == 200
        post_to = hubwire.with_id("/authorizedhub", sse_token)
        r = hubwire.http(srv.port, "POST", post_to, bearer, hubwire.handshake())
        assert r.status == 200
        assert s.handshake_answer() == {}
        r = hubwire.http(srv.port, "POST", post_to, {}, hubwire.json_frame(s.invocation("Echo", ["x"], "0")))
        assert r.status == 401
        r = hubwire.http(srv.port, "POST", post_to, bearer, hubwire.json_frame(s.invocation("Echo", ["x"], "0")))
        assert r.status == 200
        assert s.recv() == {"type": COMPLETION, "invocationId": "0", "result": "x"}


def test_item_17_bad_token_401(srv):
    r = hubwire.http(srv.port, "POST", "/authorizedhub/negotiate?negotiateVersion=1",
                     {"Authorization": "Bearer not.a.jwt"})
    assert r.status == 401


PREFLIGHT = {"Origin": "http://browser.example:9876", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-signalr-user-agent, x-requested-with, authorization, content-type"}


@pytest.mark.parametrize("path", ["/testhub/negotiate?negotiateVersion=1", "/testhub?id=abc"])
def test_item_18_cors_preflight(srv, path):
    r = hubwire.http(srv.port, "OPTIONS", path, PREFLIGHT)
    assert r.status in (200, 204)
    assert r.header("Access-Control-Allow-Origin") == PREFLIGHT["Origin"]
    assert r.header("Access-Control-Allow-Credentials") == "true"
    methods = {m.upper() for m in r.tokens("Access-Control-Allow-Methods")}
    assert {"GET", "POST", "DELETE"} <= methods
    allowed = set(r.tokens("Access-Control-Allow-Headers"))
    assert {"x-signalr-user-agent", "x-requested-with", "authorization", "content-type"} <= allowed


def test_item_18_cors_on_negotiate_and_transport_answers(srv):
    origin = {"Origin": PREFLIGHT["Origin"], "X-SignalR-User-Agent": "Microsoft SignalR/10.0 (10.0.11; Unknown OS; "
                                                                     "Browser; Unknown Runtime Version)"}
    r = hubwire.http(srv.port, "POST", "/testhub/negotiate?negotiateVersion=1", origin)
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == origin["Origin"]
    assert r.header("Access-Control-Allow-Credentials") == "true"
    token = json.loads(r.body)["connectionToken"]
    first = hubwire.http(srv.port, "GET", hubwire.with_id("/testhub", token), origin)
    assert first.status == 200
    assert first.header("Access-Control-Allow-Origin") == origin["Origin"]
    assert first.header("Access-Control-Allow-Credentials") == "true"
