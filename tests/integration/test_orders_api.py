"""OrderFlow's REST API on the real binary: creation, listing, lookup, and every refusal
with its precise status and {"error", "field"} body."""

import base64
import hashlib
import hmac
import http.client
import json
import re
import subprocess
import threading
import time

import pytest

from wirehub_server import WirehubServer, binary_path

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def call(srv, method, path, body=None, headers=None, raw=None):
    """(status, headers dict (lower-case names), parsed JSON or None, raw body)."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    payload = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    parsed = None
    if hdrs.get("content-type", "").startswith("application/json"):
        parsed = json.loads(payload)
    return r.status, hdrs, parsed, payload


@pytest.fixture(scope="module")
def srv():
    with WirehubServer() as s:
        yield s


def test_create_returns_201_with_the_stored_order_and_location(srv):
    status, headers, order, _ = call(srv, "POST", "/api/orders",
                                     {"customerId": "alice", "total": 12.5, "items": [{"sku": "A", "qty": 2}]})
    assert status == 201
    assert UUID4.match(order["orderId"]), order
    assert isinstance(order["seq"], int) and order["seq"] >= 1
    assert order["customerId"] == "alice" and order["total"] == 12.5
    assert order["items"] == [{"sku": "A", "qty": 2}]
    assert RFC3339_MS.match(order["createdAt"]), order["createdAt"]
    assert headers["location"] == f"/api/orders/{order['orderId']}"
    # The Location names the same order.
    status, _, fetched, _ = call(srv, "GET", headers["location"])
    assert status == 200 and fetched == order


def test_get_unknown_order_is_404_with_json(srv):
    status, _, body, _ = call(srv, "GET", "/api/orders/00000000-0000-4000-8000-000000000000")
    assert status == 404
    assert body == {"error": "order not found", "field": "orderId"}


@pytest.mark.parametrize("body,field,part", [
    ({"total": 1}, "customerId", "required"),
    ({"customerId": "", "total": 1}, "customerId", "empty"),
    ({"customerId": 5, "total": 1}, "customerId", "must be a string"),
    ({"customerId": "c"}, "total", "required"),
    ({"customerId": "c", "total": "12"}, "total", "must be a number"),
    ({"customerId": "c", "total": -1}, "total", "negative"),
    ({"customerId": "c", "total": 1, "items": {"a": 1}}, "items", "must be an array"),
    ([1, 2], "", "JSON object"),
])
def test_invalid_orders_get_400_naming_the_field(srv, body, field, part):
    status, _, err, _ = call(srv, "POST", "/api/orders", body)
    assert status == 400
    assert err["field"] == field and part in err["error"], err


@pytest.mark.parametrize("raw,part", [
    (b"{not json", "not valid JSON"),
    (b'{"customerId":"c","total":1e999}', "out of range"),
    (b'{"customerId":"c","total":NaN}', "not valid JSON"),
    (b'{"customerId":"\xff","total":1}', "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_malformed_bodies_get_400(srv, raw, part):
    status, _, err, _ = call(srv, "POST", "/api/orders", raw=raw, headers={"Content-Type": "application/json"})
    assert status == 400
    assert err["field"] == "" and part in err["error"], err


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_wrong_content_type_is_415(srv, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, err, _ = call(srv, "POST", "/api/orders", raw=b'{"customerId":"c","total":1}', headers=headers)
    assert status == 415
    assert "application/json" in err["error"]


def test_json_with_charset_is_accepted(srv):
    status, *_ = call(srv, "POST", "/api/orders", raw=b'{"customerId":"c","total":1}',
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 201


def test_body_over_the_limit_is_413_and_nothing_is_stored(srv):
    _, _, before, _ = call(srv, "GET", "/api/orders?tail=1")
    big = json.dumps({"customerId": "c", "total": 1, "items": ["x" * 70000]}).encode()
    status, *_ = call(srv, "POST", "/api/orders", raw=big, headers={"Content-Type": "application/json"})
    assert status == 413
    _, _, after, _ = call(srv, "GET", "/api/orders?tail=1")
    assert after["lastSeq"] == before["lastSeq"]


def test_listing_pages_oldest_first_and_tail_gives_the_newest():
    with WirehubServer() as s:
        created = [call(s, "POST", "/api/orders", {"customerId": f"c{i}", "total": i})[2] for i in range(7)]
        status, _, page, _ = call(s, "GET", "/api/orders?after=0&limit=3")
        assert status == 200
        assert [o["seq"] for o in page["orders"]] == [o["seq"] for o in created[:3]]
        assert page["orders"][0] == created[0]
        assert page["lastSeq"] == created[-1]["seq"]
        _, _, page2, _ = call(s, "GET", f"/api/orders?after={created[2]['seq']}&limit=3")
        assert page2["orders"] == created[3:6]
        _, _, tail, _ = call(s, "GET", "/api/orders?tail=2")
        assert tail["orders"] == created[5:]
        _, _, everything, _ = call(s, "GET", "/api/orders")
        assert everything["orders"] == created  # default: after 0, 100 at most
        _, _, capped, _ = call(s, "GET", "/api/orders?limit=5000")
        assert capped["orders"] == created  # capped to 1000, which is more than there are


@pytest.mark.parametrize("query,field", [
    ("after=-1", "after"), ("after=x", "after"), ("limit=0", "limit"), ("limit=abc", "limit"),
    ("tail=0", "tail"), ("after=1&tail=2", "tail"),
])
def test_bad_list_parameters_are_400(srv, query, field):
    status, _, err, _ = call(srv, "GET", f"/api/orders?{query}")
    assert status == 400 and err["field"] == field, (query, err)


def test_api_key_guards_post_when_configured():
    with WirehubServer(config={"orderflow": {"api_key": "k-123456"}}) as s:
        order = {"customerId": "c", "total": 1}
        status, headers, err, _ = call(s, "POST", "/api/orders", order)
        assert status == 401 and "www-authenticate" in headers
        assert call(s, "POST", "/api/orders", order, headers={"X-API-Key": "wrong"})[0] == 401
        assert call(s, "POST", "/api/orders", order, headers={"X-API-Key": "k-123456"})[0] == 201
        assert call(s, "POST", "/api/orders", order, headers={"Authorization": "Bearer k-123456"})[0] == 201
        assert call(s, "GET", "/api/orders")[0] == 200  # reads stay open


def test_concurrent_posts_get_distinct_increasing_seqs():
    with WirehubServer() as s:
        results = []
        lock = threading.Lock()

        def worker(n):
            for i in range(25):
                status, _, order, _ = call(s, "POST", "/api/orders", {"customerId": f"w{n}", "total": i})
                with lock:
                    results.append((status, order))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(status == 201 for status, _ in results)
        seqs = sorted(order["seq"] for _, order in results)
        assert seqs == list(range(1, 201))
        _, _, listed, _ = call(s, "GET", "/api/orders?limit=1000")
        assert [o["seq"] for o in listed["orders"]] == seqs


def test_readyz_answers_once_the_store_does(srv):
    status, _, _, body = call(srv, "GET", "/readyz")
    assert status == 200 and body == b"ready\n"


def test_an_unusable_data_directory_stops_the_server_with_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    s = WirehubServer(extra_args=["--data", str(blocker / "sub")])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "data directory" in s.log_tail() or "data directory" in str(e.value)
    s.close()


def hs256(payload: dict, secret: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


def test_jwt_guards_post_when_required():
    secret = "orders-secret-of-at-least-thirty-two-bytes!"
    config = {"orderflow": {"require_jwt": True}, "jwt": {"secret": secret, "require": ["scope=orders:write"]}}
    with WirehubServer(config=config) as s:
        order = {"customerId": "c", "total": 1}
        now = int(time.time())
        good = hs256({"sub": "svc", "exp": now + 300, "scope": "orders:write"}, secret)
        status, headers, err, _ = call(s, "POST", "/api/orders", order)
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="wirehub"'
        status, headers, err, _ = call(s, "POST", "/api/orders", order,
                                       headers={"Authorization": "Bearer " + hs256({"exp": now + 300}, "x" * 40)})
        assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
        expired = hs256({"sub": "svc", "exp": now - 3600, "scope": "orders:write"}, secret)
        assert call(s, "POST", "/api/orders", order, headers={"Authorization": "Bearer " + expired})[0] == 401
        no_scope = hs256({"sub": "svc", "exp": now + 300}, secret)
        status, headers, _, _ = call(s, "POST", "/api/orders", order, headers={"Authorization": "Bearer " + no_scope})
        assert status == 403 and 'error="insufficient_scope"' in headers["www-authenticate"]
        assert call(s, "POST", "/api/orders", order, headers={"Authorization": "Bearer " + good})[0] == 201
        assert call(s, "POST", f"/api/orders?access_token={good}", order)[0] == 201


def test_require_jwt_without_a_key_exits_2(tmp_path):
    config = tmp_path / "wirehub.toml"
    config.write_text("[orderflow]\nrequire_jwt = true\n")
    r = subprocess.run([binary_path(), "--listen", "127.0.0.1:0", "--config", str(config)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "require_jwt" in r.stderr


def test_an_open_post_on_a_wildcard_address_is_warned_about(tmp_path):
    # Binds 0.0.0.0 (port 0: any free one); it must say before listening that POST is open.
    proc = subprocess.Popen([binary_path(), "--listen", "0.0.0.0:0", "--data", str(tmp_path)],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or "listening on" not in lines[-1]:
            line = proc.stderr.readline()
            assert line, f"the server stopped: {lines}"
            lines.append(line)
        assert any("POST /api/orders is open" in l for l in lines), lines
    finally:
        proc.terminate()
        proc.wait(10)
