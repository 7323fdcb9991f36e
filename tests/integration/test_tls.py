"""TLS end to end: the real binary with --tls-cert/--tls-key/--tls-listen beside its plain
listener, driven by Python's ssl module (OpenSSL underneath, but our server code is not
involved on the client side) and python-websockets over wss. A throwaway CA and two
server certificates are made with the openssl command for this module."""

import asyncio
import http.client
import pathlib
import socket
import ssl
import subprocess

import pytest
import websockets

from tls_pki import make_pki
from wirehub_server import WirehubServer, binary_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    config = tmp_path_factory.mktemp("config") / "wirehub.toml"
    config.write_text('[tls]\nsni = [{ cert_file = "%s", key_file = "%s" }]\n' % (pki["other_cert"], pki["other_key"]))
    with WirehubServer(tls=(pki["cert"], pki["key"]), extra_args=["--config", str(config)]) as srv:
        yield srv
        if srv.process.poll() is not None:
            pytest.fail(f"wirehub exited during the tests with {srv.process.returncode}\n{srv.log_tail()}")


def client_context(pki, alpn=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_socket(srv, ctx, server_hostname="localhost"):
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def test_https_healthz_verifies_against_the_ca(tls_server, pki):
    conn = http.client.HTTPSConnection("127.0.0.1", tls_server.tls_port, timeout=5, context=client_context(pki))
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() == b"ok\n"
    conn.close()


def test_the_plain_listener_still_serves_beside_it(tls_server):
    conn = http.client.HTTPConnection("127.0.0.1", tls_server.port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()


def test_alpn_selects_http11(tls_server, pki):
    with tls_socket(tls_server, client_context(pki, ["h2", "http/1.1"])) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        assert s.version() in ("TLSv1.2", "TLSv1.3")


def test_alpn_without_http11_gets_no_application_protocol(tls_server, pki):
    with pytest.raises(ssl.SSLError, match="(?i)no.application.protocol"):
        tls_socket(tls_server, client_context(pki, ["h2"])).close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_are_accepted(tls_server, pki, version):
    ctx = client_context(pki)
    ctx.minimum_version = ctx.maximum_version = version
    with tls_socket(tls_server, ctx) as s:
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLSVersion.TLSv1_1 itself
def test_tls11_is_refused_by_the_server(tls_server, pki):
    ctx = client_context(pki)
    # Let this client's own OpenSSL build a TLS 1.1 hello at all (security level 0), so
    # that what refuses it is the server.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as err:
        tls_socket(tls_server, ctx).close()
    # The server's protocol_version alert, not this client refusing to try.
    assert "ALERT_PROTOCOL_VERSION" in str(err.value).upper(), str(err.value)


def peer_dns_names(sock) -> set:
    return {v for k, v in sock.getpeercert().get("subjectAltName", ()) if k == "DNS"}


def test_sni_selects_the_matching_certificate(tls_server, pki):
    ctx = client_context(pki)
    with tls_socket(tls_server, ctx, "other.test") as s:
        assert "other.test" in peer_dns_names(s)
    with tls_socket(tls_server, ctx, "api.other.test") as s:  # the wildcard
        assert "other.test" in peer_dns_names(s)
    with tls_socket(tls_server, ctx, "localhost") as s:
        assert peer_dns_names(s) == {"localhost"}
    ctx.check_hostname = False
    with tls_socket(tls_server, ctx, "unknown.example") as s:  # no match: the default
        assert peer_dns_names(s) == {"localhost"}


def test_wss_echo_with_python_websockets(tls_server, pki):
    big = bytes(range(256)) * 4096  # 1 MiB

    async def scenario():
        uri = f"wss://localhost:{tls_server.tls_port}/ws/echo"
        async with websockets.connect(uri, ssl=client_context(pki), max_size=None, ping_interval=None,
                                      close_timeout=5) as ws:
            await ws.send("hello over wss ✓")
            assert await ws.recv() == "hello over wss ✓"
            await ws.send(big)
            assert await ws.recv() == big
            for i in range(100):
                await ws.send(f"m{i}")
            assert [await ws.recv() for _ in range(100)] == [f"m{i}" for i in range(100)]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_plaintext_on_the_tls_port_is_closed_cleanly(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        try:
            while chunk := s.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1" not in received
    conn = http.client.HTTPConnection("127.0.0.1", tls_server.port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200, "the server is still up"


def test_tls_on_the_plain_port_fails_the_handshake(tls_server, pki):
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        client_context(pki).wrap_socket(raw, server_hostname="localhost")
    raw.close()


def run_binary(*args, timeout=10):
    return subprocess.run([binary_path(), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("case", ["cert only", "key only", "listen only", "mismatched key", "missing cert",
                                  "key as cert", "bad listen"])
def test_bad_tls_flags_exit_2_with_a_message(pki, case):
    args, needle = {
        "cert only": (["--tls-cert", pki["cert"]], "--tls-key"),
        "key only": (["--tls-key", pki["key"]], "--tls-cert"),
        "listen only": (["--tls-listen", "127.0.0.1:0"], "--tls-listen"),
        "mismatched key": (["--tls-cert", pki["cert"], "--tls-key", pki["other_key"]], "does not match"),
        "missing cert": (["--tls-cert", "/no/such/cert.pem", "--tls-key", pki["key"]], "/no/such/cert.pem"),
        "key as cert": (["--tls-cert", pki["key"], "--tls-key", pki["key"]], pki["key"]),
        "bad listen": (["--tls-cert", pki["cert"], "--tls-key", pki["key"], "--tls-listen", "nowhere"], "nowhere"),
    }[case]
    result = run_binary("--listen", "127.0.0.1:0", *args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
