"""Origin allow-list (RFC 6455 section 10.2): protection against cross-site WebSocket hijacking.

A browser puts the page's origin in every handshake; a server that lists the origins it
trusts answers any other with 403 before upgrading. Handshakes without Origin come from
non-browser clients and are accepted.
"""

import pytest

import rawws

ALLOWED = ["https://app.example.com", "https://*.example.org", "http://localhost:8080"]


def handshake(port: int, origin: str | None, path: str = "/ws/echo") -> rawws.Response:
    omit = ("Origin",) if origin is None else ()
    headers = {} if origin is None else {"Origin": origin}
    return rawws.http_exchange(port, rawws.upgrade_request(path=path, headers=headers, omit=omit))


@pytest.fixture
def guarded(make_server):
    return make_server({"websocket": {"allowed_origins": ALLOWED}})


@pytest.mark.parametrize("origin", [
    "https://app.example.com",
    "https://APP.Example.com:443",
    "https://a.example.org",
    "https://a.b.example.org",
    "http://localhost:8080",
    None,
])
def test_listed_origins_and_non_browser_clients_are_upgraded(guarded, origin):
    response = handshake(guarded.port, origin)
    assert response.status == 101, f"{origin}: {response.status}"


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "http://app.example.com",          # scheme differs
    "https://app.example.com:8443",    # port differs
    "https://example.org",             # the pattern covers subdomains only
    "https://app.example.com.evil.test",
    "http://localhost",                # port 80, not 8080
    "null",
    "https://app.example.com/",        # not an origin serialisation
])
def test_other_origins_get_403_before_any_upgrade(guarded, origin):
    response = handshake(guarded.port, origin)
    assert response.status == 403, f"{origin}: {response.status}"
    assert response.header("Upgrade") is None
    assert response.header("Sec-WebSocket-Accept") is None
    assert b"origin not allowed" in response.body


def test_every_raw_endpoint_is_guarded(guarded):
    for path in ("/ws/echo", "/ws/broadcast", "/ws/orders"):
        assert handshake(guarded.port, "https://evil.example", path).status == 403, path
        assert handshake(guarded.port, "https://app.example.com", path).status == 101, path


def test_a_refused_origin_is_not_a_connection(guarded):
    # After 403s the server still serves listed origins, and the connection works.
    for _ in range(3):
        assert handshake(guarded.port, "https://evil.example").status == 403
    with rawws.connect(guarded.port) as sock:
        sock.sendall(rawws.upgrade_request(headers={"Origin": "https://app.example.com"}))
        response = rawws.read_response(sock)
        assert response.status == 101
        ws = rawws.RawWebSocket(sock, response.rest)
        ws.send(rawws.OP_TEXT, b"from a trusted page")
        assert ws.read_message() == (rawws.OP_TEXT, b"from a trusted page")


def test_without_a_list_every_origin_is_accepted(server):
    for origin in ("https://evil.example", "null", None):
        assert handshake(server.port, origin).status == 101, origin


def test_a_malformed_handshake_is_400_whatever_its_origin(guarded):
    request = rawws.upgrade_request(headers={"Origin": "https://evil.example"}, omit=("Sec-WebSocket-Key",))
    assert rawws.http_exchange(guarded.port, request).status == 400
