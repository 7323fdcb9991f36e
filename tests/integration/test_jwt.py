"""/ws/secure behind a JWT, through the real binary (issue 4, item 3).

Tokens are made here with python3-cryptography and hmac, independently of the server's
verifier: HS256, RS256 and ES256 that must be accepted, and every way a token can be
wrong, each with the status RFC 6750 prescribes, answered before any upgrade. Also: the
three token sources, the greeting, the close at expiry, tokens absent from the logs even
at trace level, and bad key configurations refused at start-up (exit 2).
"""

import base64
import hashlib
import hmac
import json
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import rawws
from wirehub_server import WirehubServer, binary_path

SECRET = "integration-secret-of-at-least-thirty-two-bytes"
ISSUER = "https://issuer.test"
AUDIENCE = "wirehub-tests"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides) -> dict:
    now = int(time.time())
    c = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "scope": "ws:secure"}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def sign(alg: str, payload: dict, key=None, header: dict | None = None) -> str:
    head = b64(json.dumps(header or {"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    signing_input = f"{head}.{body}".encode()
    if alg == "HS256":
        sig = hmac.new(key if isinstance(key, bytes) else SECRET.encode(), signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "none":
        sig = b""
    else:
        raise ValueError(alg)
    return f"{head}.{body}.{b64(sig)}"


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (d / "rsa.pem").write_bytes(public_pem(rsa_key))
    (d / "ec.pem").write_bytes(public_pem(ec_key))
    (d / "secret").write_text(SECRET + "\n")
    return {"dir": d, "rsa": rsa_key, "ec": ec_key}


def start(jwt: dict, extra_args=(), log_level="info") -> WirehubServer:
    config = {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "leeway_s": 0, **jwt}, "log": {"level": log_level}}
    srv = WirehubServer(config, extra_args=list(extra_args))
    srv.start()
    return srv


@pytest.fixture(scope="module")
def hs_server(keys):
    srv = start({"secret_file": str(keys["dir"] / "secret"), "require": ["scope=ws:secure"]})
    yield srv
    srv.close()


def handshake(port: int, token: str | None = None, where: str = "header") -> rawws.Response:
    path, headers = "/ws/secure", {}
    if token is not None and where == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None and where == "query":
        path += f"?access_token={token}"
    elif token is not None and where == "subprotocol":
        headers["Sec-WebSocket-Protocol"] = f"access_token, {token}"
    return rawws.http_exchange(port, rawws.upgrade_request(path, headers=headers))


def open_secure(port: int, token: str) -> rawws.RawWebSocket:
    return rawws.RawWebSocket.open(port, "/ws/secure", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_public_key_algorithms_are_accepted(keys, alg):
    key = keys["rsa"] if alg == "RS256" else keys["ec"]
    srv = start({"public_key_file": str(keys["dir"] / ("rsa.pem" if alg == "RS256" else "ec.pem"))})
    try:
        with open_secure(srv.port, sign(alg, claims(sub=f"{alg}-user"), key)) as ws:
            assert ws.read_frame().payload == f"Welcome, {alg}-user".encode()
        # The other asymmetric algorithm, and HS256 signed with this very public key
        # (algorithm confusion), are refused.
        other = "ES256" if alg == "RS256" else "RS256"
        forged = sign(other, claims(), keys["ec"] if other == "ES256" else keys["rsa"])
        assert handshake(srv.port, forged).status == 401
        pem = (keys["dir"] / ("rsa.pem" if alg == "RS256" else "ec.pem")).read_bytes()
        confused = sign("HS256", claims(), pem)
        response = handshake(srv.port, confused)
        assert response.status == 401
        assert 'error="invalid_token"' in response.header("WWW-Authenticate")
    finally:
        srv.close()


@pytest.mark.parametrize("where", ["header", "query", "subprotocol"])
def test_hs256_from_each_source_is_greeted_and_echoed(hs_server, where):
    token = sign("HS256", claims(sub="bob"))
    sock = rawws.connect(hs_server.port)
    key = rawws.new_key()
    path, headers = "/ws/secure", {}
    if where == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif where == "query":
        path += f"?access_token={token}"
    else:
        headers["Sec-WebSocket-Protocol"] = f"access_token, {token}"
    sock.sendall(rawws.upgrade_request(path, key, headers))
    response = rawws.read_response(sock)
    assert response.status == 101
    assert response.header("Sec-WebSocket-Protocol") == ("access_token" if where == "subprotocol" else None)
    with rawws.RawWebSocket(sock, response.rest) as ws:
        assert ws.read_frame().payload == b"Welcome, bob"
        ws.send(rawws.OP_TEXT, b"hello secure")
        assert ws.read_frame().payload == b"hello secure"


REFUSALS = [
    # (name, token maker, status, error code in the challenge)
    ("no token", lambda k: None, 401, None),
    ("expired", lambda k: sign("HS256", claims(exp=int(time.time()) - 5)), 401, "invalid_token"),
    ("not yet valid", lambda k: sign("HS256", claims(nbf=int(time.time()) + 60)), 401, "invalid_token"),
    ("wrong issuer", lambda k: sign("HS256", claims(iss="https://evil.test")), 401, "invalid_token"),
    ("wrong audience", lambda k: sign("HS256", claims(aud="someone-else")), 401, "invalid_token"),
    ("no exp", lambda k: sign("HS256", claims(exp=None)), 401, "invalid_token"),
    ("bad signature", lambda k: sign("HS256", claims(), b"another-secret-of-at-least-32-bytes!!"), 401,
     "invalid_token"),
    ("alg none", lambda k: sign("none", claims(), header={"alg": "none"}), 401, "invalid_token"),
    ("RS256 against an HS256 key", lambda k: sign("RS256", claims(), k["rsa"]), 401, "invalid_token"),
    ("truncated", lambda k: sign("HS256", claims())[:-10], 401, "invalid_token"),
    ("two parts", lambda k: sign("HS256", claims()).rsplit(".", 1)[0], 401, "invalid_token"),
    ("garbage", lambda k: "garbage", 401, "invalid_token"),
    ("base64 of garbage", lambda k: f"{b64(b'x')}.{b64(b'y')}.{b64(b'z')}", 401, "invalid_token"),
    ("no subject", lambda k: sign("HS256", claims(sub=None)), 403, "insufficient_scope"),
    ("lacks the required scope", lambda k: sign("HS256", claims(scope="orders:read")), 403, "insufficient_scope"),
]


@pytest.mark.parametrize("name,make,status,error", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_bad_tokens_get_the_rfc6750_answer_before_any_upgrade(hs_server, keys, name, make, status, error):
    token = make(keys)
    response = handshake(hs_server.port, token)
    assert response.status == status, f"{name}: {response.status} {response.body!r}"
    assert response.header("Upgrade") is None and response.header("Sec-WebSocket-Accept") is None
    challenge = response.header("WWW-Authenticate")
    assert challenge is not None and challenge.startswith('Bearer realm="wirehub"')
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge
    if token:
        assert token.encode() not in response.body and token not in challenge


def test_two_token_sources_at_once_are_400(hs_server):
    token = sign("HS256", claims())
    response = rawws.http_exchange(hs_server.port, rawws.upgrade_request(
        f"/ws/secure?access_token={token}", headers={"Authorization": f"Bearer {token}"}))
    assert response.status == 400
    assert 'error="invalid_request"' in response.header("WWW-Authenticate")


def test_a_connection_is_closed_1008_when_its_token_expires(hs_server):
    expires = int(time.time()) + 2
    with open_secure(hs_server.port, sign("HS256", claims(exp=expires))) as ws:
        assert ws.read_frame().payload == b"Welcome, alice"
        frame = ws.read_frame(timeout=6)
        assert time.time() >= expires
        assert frame.opcode == rawws.OP_CLOSE
        assert frame.close_code == 1008
        assert frame.payload[2:] == b"token expired"


def test_tokens_never_reach_the_log_even_at_trace_level(keys):
    srv = start({"secret_file": str(keys["dir"] / "secret")}, log_level="trace")
    try:
        good = sign("HS256", claims())
        bad = sign("HS256", claims(exp=int(time.time()) - 100))
        with open_secure(srv.port, good) as ws:
            ws.read_frame()
        assert handshake(srv.port, bad, "query").status == 401
        assert handshake(srv.port, good, "subprotocol").status == 101
        srv.stop()
        log = srv.log_path.read_text(errors="replace")
        assert "listening on" in log  # the log was written at all
        for token in (good, bad):
            for part in token.split("."):
                assert part not in log
    finally:
        srv.close()


def test_without_a_key_ws_secure_is_not_mounted(server):
    assert handshake(server.port, sign("HS256", claims())).status == 404
    assert "/ws/secure is not mounted" in server.log_path.read_text()


@pytest.mark.parametrize("args,message", [
    (["--jwt-secret", "short"], "HS256 secret shorter than 256 bits"),
    (["--jwt-secret", SECRET, "--jwt-public-key", "/etc/hostname"], "give one key"),
    (["--jwt-public-key", "/etc/hostname"], "not a PEM public key"),
    (["--jwt-public-key", "/nonexistent.pem"], "/nonexistent.pem"),
    (["--jwt-secret", SECRET, "--jwt-require", "scope"], "expected claim=value"),
])
def test_bad_key_configurations_exit_2(args, message):
    result = subprocess.run([binary_path(), "--listen", "127.0.0.1:0", *args], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
