"""Stateful reconnect on the wire: PROTOCOL.md section 12 and section 15, items 40-44.

The conformance app offers stateful reconnect to clients that ask (negotiate with
useStatefulReconnect=true) and handshake with version 2. The item -> test map of the whole
checklist is in test_hub_protocol.py.
"""

import time

import pytest

import hubwire
import rawws
from hubwire import ACK, COMPLETION, INVOCATION, PING, SEQUENCE, ConformanceServer, WsHub, mtype

STATEFUL = "negotiateVersion=1&useStatefulReconnect=true"


@pytest.fixture(scope="module")
def srv():
    with ConformanceServer() as s:
        yield s
        assert s.process.poll() is None, s.log_tail()


def done(invocation_id, **kw):
    return {"type": COMPLETION, "invocationId": invocation_id, **kw}


def stateful(port: int, version: int = 2) -> WsHub:
    return WsHub.connected(port, version=version, negotiate_query=STATEFUL)


def recv_data(c: WsHub, timeout: float = hubwire.TIMEOUT_S):
    """The next message that is neither Ping nor Ack."""
    deadline = time.monotonic() + timeout
    while True:
        m = c.recv(deadline - time.monotonic())
        if mtype(m) != ACK:
            return m


def wait_ack(c: WsHub, sequence_id: int, timeout: float = 3.0) -> float:
    """Waits for the server's Ack of sequence_id (data messages fail); returns when it came."""
    deadline = time.monotonic() + timeout
    while True:
        m = c.recv(deadline - time.monotonic())
        assert mtype(m) == ACK, f"expected Ack, got {m!r}"
        if m["sequenceId"] == sequence_id:
            return time.monotonic()
        assert m["sequenceId"] < sequence_id, m


def resume(port: int, token: str, timeout: float = 3.0) -> WsHub:
    """Opens the WebSocket again with the same token, as the client does after a drop (no
    handshake). Retries while the server has not yet seen the old socket go (409)."""
    deadline = time.monotonic() + timeout
    target = hubwire.with_id("/testhub", token)
    while True:
        probe = rawws.connect(port)
        key = rawws.new_key()
        probe.sendall(rawws.upgrade_request(target, key))
        r = rawws.read_response(probe)
        if r.status == 101:
            assert r.header("Sec-WebSocket-Accept") == rawws.accept_key(key)
            return WsHub.resumed(port, "/testhub", token, probe, r.rest)
        probe.close()
        assert r.status == 409 and time.monotonic() < deadline, f"resume answered {r.status} {r.body!r}"
        time.sleep(0.05)


def test_item_40_version_2_handshake_enables_acks(srv):
    with stateful(srv.port) as c:
        t0 = time.monotonic()
        c.send(c.invocation("Echo", ["a"], "0"))
        assert recv_data(c) == done("0", result="a")
        assert wait_ack(c, 1) - t0 <= 3.0


def test_item_40_version_1_handshake_disables_it(srv):
    with stateful(srv.port, version=1) as c:
        c.send(c.invocation("Echo", ["a"], "0"))
        assert c.recv() == done("0", result="a")
        c.nothing_within(2.5)  # no Ack (nor anything else)
        token = c.token
        c.drop()
    target = hubwire.with_id("/testhub", token)
    hubwire.wait_for(lambda: hubwire.http(srv.port, "POST", target, body=b"x").status == 404, 5.0,
                     "the dropped version-1 connection to be disposed")


def test_item_41_ungraceful_loss_keeps_connection_graceful_close_ends_it(srv):
    c = stateful(srv.port)
    cid = c.invoke("GetCallerConnectionId")["result"]
    wait_ack(c, 1)
    c.drop()
    r = resume(srv.port, c.token)
    # The server's answer was not acknowledged: it comes again.
    assert r.recv() == {"type": SEQUENCE, "sequenceId": 1}
    assert recv_data(r) == done("0", result=cid)
    # The client's Sequence: it sent one trackable message, acknowledged.
    r.send({"type": SEQUENCE, "sequenceId": 2})
    assert r.invoke("GetCallerConnectionId", invocation_id="1")["result"] == cid
    # A close frame is a real end: the token is gone.
    r.ws.send(rawws.OP_CLOSE, rawws.close_payload(1000))
    r.messages_until_closed()
    r.ws.close_socket()
    target = hubwire.with_id("/testhub", c.token)
    hubwire.wait_for(lambda: hubwire.http(srv.port, "POST", target, body=b"x").status == 404, 5.0,
                     "the closed connection to be disposed")


def test_item_41_kept_only_for_disconnect_timeout():
    timeout_ms = 1000
    with ConformanceServer({"disconnect_timeout_ms": timeout_ms}) as s:
        c = stateful(s.port)
        c.echo_roundtrip()
        c.drop()
        t0 = time.monotonic()
        target = hubwire.with_id("/testhub", c.token)
        hubwire.wait_for(lambda: hubwire.http(s.port, "POST", target, body=b"x").status == 404, 5.0,
                         "the dropped stateful connection to be disposed")
        assert time.monotonic() - t0 >= 0.5 * timeout_ms / 1000
        assert rawws.http_exchange(s.port, rawws.upgrade_request(target)).status == 404


def test_item_42_sequence_first_then_replay_in_order(srv):
    c = stateful(srv.port)
    c.send(*[c.invocation("Echo", [f"m{i}"], str(i)) for i in range(3)])
    answers = [recv_data(c) for _ in range(3)]
    assert answers == [done(str(i), result=f"m{i}") for i in range(3)]
    c.drop()  # none of them acknowledged
    r = resume(srv.port, c.token)
    assert r.recv() == {"type": SEQUENCE, "sequenceId": 1}
    assert [recv_data(r) for _ in range(3)] == answers
    r.send({"type": SEQUENCE, "sequenceId": 4})
    assert r.invoke("Echo", "after", invocation_id="3") == done("3", result="after")
    r.ws.close_socket()


def test_item_43_replayed_invocation_not_executed_twice(srv):
    c = stateful(srv.port)
    c.send(c.invocation("InvokeWithString", ["once"], "0"))
    assert recv_data(c) == {"type": INVOCATION, "target": "Message", "arguments": ["once"]}
    assert recv_data(c) == done("0")
    c.send({"type": ACK, "sequenceId": 2})  # the server's buffer is now empty
    c.drop()  # our invocation was not acknowledged yet as far as we know: we replay it
    r = resume(srv.port, c.token)
    assert r.recv() == {"type": SEQUENCE, "sequenceId": 3}  # trimmed by our Ack: nothing to replay
    r.send({"type": SEQUENCE, "sequenceId": 1}, r.invocation("InvokeWithString", ["once"], "0"))
    assert r.invoke("Echo", "next", invocation_id="1") == done("1", result="next")
    assert r.before == [], f"the replayed invocation ran again: {r.before!r}"
    # Our second trackable message is id 2; the duplicate took none.
    deadline = time.monotonic() + 3.0
    while True:
        m = r.recv(deadline - time.monotonic())
        assert mtype(m) == ACK, m
        if m["sequenceId"] >= 2:
            assert m["sequenceId"] == 2, m
            break
    r.ws.close_socket()


def test_item_44_ack_trims_replay_buffer(srv):
    c = stateful(srv.port)
    c.send(*[c.invocation("Echo", [f"m{i}"], str(i)) for i in range(3)])
    answers = [recv_data(c) for _ in range(3)]
    c.send({"type": ACK, "sequenceId": 2})
    wait_ack(c, 3)  # the server's Ack of our three invocations: our Ack came before it
    c.drop()
    r = resume(srv.port, c.token)
    assert r.recv() == {"type": SEQUENCE, "sequenceId": 3}
    assert recv_data(r) == answers[2]
    r.send({"type": SEQUENCE, "sequenceId": 4})
    assert r.invoke("Echo", "after", invocation_id="3") == done("3", result="after")
    assert [m for m in r.before if mtype(m) != ACK] == []  # nothing else was replayed
    r.ws.close_socket()


def test_item_44_buffer_limit_holds_messages_until_acked():
    with ConformanceServer({"stateful_reconnect_buffer_bytes": 200}) as s:
        c = stateful(s.port)
        text = "x" * 100  # each Completion is ~150 bytes: one fits the buffer at a time
        c.send(*[c.invocation("Echo", [text], str(i)) for i in range(3)])
        assert recv_data(c) == done("0", result=text)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # only Acks may come while the buffer is full
            try:
                m = c.recv(deadline - time.monotonic())
            except TimeoutError:
                break
            assert mtype(m) == ACK, f"sent past the buffer limit: {m!r}"
        c.send({"type": ACK, "sequenceId": 1})
        assert recv_data(c) == done("1", result=text)
        c.send({"type": ACK, "sequenceId": 2})
        assert recv_data(c) == done("2", result=text)
        c.ws.close_socket()
