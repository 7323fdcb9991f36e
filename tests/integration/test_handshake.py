"""The WebSocket opening handshake, good and bad (RFC 6455 section 4.2)."""

import base64

import pytest

import rawws

# The worked example of RFC 6455 section 1.3.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def handshake(port: int, **kwargs) -> rawws.Response:
    return rawws.http_exchange(port, rawws.upgrade_request(**kwargs))


def assert_switched(response: rawws.Response, key: str) -> None:
    assert response.status == 101, f"expected 101, got {response.status}"
    assert "websocket" in response.tokens("Upgrade")
    assert "upgrade" in response.tokens("Connection")
    assert response.header("Sec-WebSocket-Accept") == rawws.accept_key(key)


def test_accept_key_helper_matches_rfc_example():
    assert rawws.accept_key(RFC_KEY) == RFC_ACCEPT


def test_rfc_example_key_gets_rfc_accept(server):
    with rawws.connect(server.port) as sock:
        sock.sendall(rawws.upgrade_request(key=RFC_KEY))
        response = rawws.read_response(sock)
        assert_switched(response, RFC_KEY)
        assert response.header("Sec-WebSocket-Accept") == RFC_ACCEPT
        # The connection really is a WebSocket now.
        ws = rawws.RawWebSocket(sock, response.rest)
        ws.send(rawws.OP_TEXT, b"after handshake")
        assert ws.read_message() == (rawws.OP_TEXT, b"after handshake")


@pytest.mark.parametrize("path", ["/ws/echo", "/ws/orders", "/ws/broadcast"])
def test_every_websocket_endpoint_upgrades(server, path):
    key = rawws.new_key()
    assert_switched(handshake(server.port, path=path, key=key), key)


@pytest.mark.parametrize("upgrade,connection", [
    ("WebSocket", "keep-alive, UPGRADE"),
    ("WEBSOCKET", "Upgrade"),
    ("websocket", "upgrade, keep-alive"),
])
def test_header_tokens_are_case_insensitive(server, upgrade, connection):
    # RFC 6455 section 4.2.1 items 3 and 4: ASCII case-insensitive tokens, Connection a list.
    key = rawws.new_key()
    response = handshake(server.port, key=key, headers={"Upgrade": upgrade, "Connection": connection})
    assert_switched(response, key)


def test_post_upgrade_is_405_with_allow(server):
    # Section 4.2.1 item 1 requires GET. The path exists but not for POST, and RFC 9110
    # 15.5.6 has the precise answer for that: 405 with an Allow header naming GET.
    response = handshake(server.port, method="POST", headers={"Content-Length": "0"})
    assert response.status == 405
    allow = response.tokens("Allow")
    assert "get" in allow and "post" not in allow


def test_http_1_0_upgrade_is_400(server):
    # Section 4.2.1 item 1: "HTTP/1.1 or higher".
    assert handshake(server.port, version="HTTP/1.0").status == 400


@pytest.mark.parametrize("key", [
    "",
    "abc",
    base64.b64encode(b"x" * 15).decode(),
    base64.b64encode(b"x" * 17).decode(),
    "!!!!!!!!!!!!!!!!!!!!!!==",
    "dGhlIHNhbXBsZSBub25jZQ",
], ids=["empty", "short", "15-bytes", "17-bytes", "not-base64", "unpadded"])
def test_invalid_key_is_400(server, key):
    # Section 4.2.1 item 5: base64 of exactly 16 bytes.
    assert handshake(server.port, headers={"Sec-WebSocket-Key": key}).status == 400


def test_missing_key_is_400(server):
    assert handshake(server.port, omit=("Sec-WebSocket-Key",)).status == 400


def test_version_8_is_426_naming_13(server):
    # Section 4.2.2 item 4 / section 4.4: 426 plus the version the server speaks.
    response = handshake(server.port, headers={"Sec-WebSocket-Version": "8"})
    assert response.status == 426
    assert response.tokens("Sec-WebSocket-Version") == ["13"]


@pytest.mark.parametrize("omit,headers", [
    (("Upgrade",), {}),
    ((), {"Upgrade": "h2c"}),
    (("Connection",), {}),
    ((), {"Connection": "keep-alive"}),
], ids=["no-upgrade", "upgrade-h2c", "no-connection", "connection-without-upgrade"])
def test_missing_upgrade_tokens_is_400(server, omit, headers):
    assert handshake(server.port, omit=omit, headers=headers).status == 400


def test_upgrade_to_unknown_path_is_404(server):
    assert handshake(server.port, path="/ws/nope").status == 404
