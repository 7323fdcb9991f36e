"""Bad input on a hub connection: each gets the reference behaviour (PROTOCOL.md sections
6-9: a handshake error, a Close with an error, or the message ignored), and afterwards a
fresh connection is served as before.
"""

import pytest

import hubwire
import rawws
from hubwire import CLOSE, COMPLETION, PING, RS, STREAM_ITEM, ConformanceServer, LpHub, WsHub, mtype
from rawws import OP_BINARY, OP_TEXT

CLOSED_WITH_ERROR = "Connection closed with an error."


@pytest.fixture(scope="module")
def srv():
    with ConformanceServer() as s:
        yield s
        assert s.process.poll() is None, s.log_tail()


@pytest.fixture(autouse=True)
def still_serving(request):
    yield
    if "srv" in request.fixturenames:
        hubwire.assert_serving(request.getfixturevalue("srv").port)


def closed_with_error(c: WsHub) -> str:
    """Reads to the end: exactly one Close message with an error, then close frame 1000."""
    msgs = [m for m in c.messages_until_closed() if mtype(m) != PING]
    assert len(msgs) == 1 and mtype(msgs[0]) == CLOSE, msgs
    error = msgs[0]["error"] if isinstance(msgs[0], dict) else msgs[0][1]
    assert error.startswith(CLOSED_WITH_ERROR), error
    assert c.close_frame is not None and c.close_frame.close_code == 1000
    return error


@pytest.mark.parametrize("handshake", [
    b"not json" + RS,
    b"[1,2]" + RS,
    b'{"protocol":1,"version":1}' + RS,
    b'{"protocol":"json"}' + RS,
    b'{"protocol":"json","version":"1"}' + RS,
    b'{"version":1}' + RS,
])
def test_malformed_handshake(srv, handshake):
    with WsHub(srv.port) as c:
        c.send_raw(handshake)
        answer = c.handshake_answer()
        assert list(answer) == ["error"] and answer["error"], answer
        assert c.messages_until_closed() == []


def test_unknown_protocol(srv):
    with WsHub(srv.port) as c:
        c.send_raw(hubwire.handshake("protobuf"))
        assert c.handshake_answer() == {"error": "The protocol 'protobuf' is not supported."}
        assert c.messages_until_closed() == []


def test_oversized_handshake_is_canceled(srv):
    with WsHub(srv.port) as c:
        c.send_raw(b'{"protocol":"json","version":1,"pad":"' + b"x" * 40000)
        assert c.handshake_answer() == {"error": "Handshake was canceled."}
        assert c.messages_until_closed() == []


def test_handshake_in_binary_frame_is_accepted(srv):
    # Frame types carry no meaning inbound (ASP.NET reads bytes either way).
    with WsHub(srv.port) as c:
        c.send_raw(hubwire.handshake(), OP_BINARY)
        assert c.handshake_answer() == {}
        c.echo_roundtrip()


def test_binary_frame_on_json_connection(srv):
    with WsHub.connected(srv.port) as c:
        c.send_raw(c.frame(c.invocation("Echo", ["bin"], "0")), OP_BINARY)
        assert c.recv() == {"type": COMPLETION, "invocationId": "0", "result": "bin"}
        assert c.frames[-1][0] == OP_TEXT  # answered in the protocol's frame type


def test_oversized_json_message(srv):
    with WsHub.connected(srv.port) as c:
        c.send_raw(b'{"type":1,"target":"Echo","arguments":["' + b"x" * 40000)  # no end, over the limit
        assert "maximum message size" in closed_with_error(c)


@pytest.mark.parametrize("prefix", [b"\x80\x80\x80\x80\x80\x01", b"\xff\xff\xff\xff\x08"])
def test_bad_varint(srv, prefix):
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        c.send_raw(prefix + b"\x91\x06")
        closed_with_error(c)


@pytest.mark.parametrize("message", [
    b"{",
    b"not json",
    b'{"type":1,"target":"Echo","arguments":["x"],"invocationId":"0"',  # then RS: cut short
    b"[1]",
    b"{}",
    b'{"type":"1","target":"Echo","arguments":[]}',
    b'{"type":1,"target":5,"arguments":[]}',
    b'{"type":1,"target":"Echo","arguments":"x"}',
    b'{"type":1,"target":"Echo"}',
    b'{"type":1,"target":"Echo","arguments":[],"invocationId":5}',
    b'{"type":2,"invocationId":"1"}',
    b'{"type":3,"invocationId":"1","result":1,"error":"x"}',
    b'{"type":4,"target":"Stream","arguments":[]}',
    b'{"type":5}',
    b'{"type":8}',
    b'\xff\xfe{"type":6}',
])
def test_invalid_json_message(srv, message):
    with WsHub.connected(srv.port) as c:
        opcode = OP_BINARY if message.startswith(b"\xff") else OP_TEXT  # a Text frame must be UTF-8
        c.send_raw(message + RS, opcode)
        closed_with_error(c)


@pytest.mark.parametrize("message", [
    hubwire.mp_pack("not an array"),
    hubwire.mp_pack([]),
    hubwire.mp_pack(["1", {}, "0", "Echo", []]),
    hubwire.mp_pack([1, {}, "0", 5, []]),
    hubwire.mp_pack([1, {}, "0", "Echo"]),
    hubwire.mp_pack([3, {}, "1", 9, 1]),
    hubwire.mp_pack([2, {}, "1"]),
    b"\xc1",  # never used
    b"\x95\x01\x80",  # cut short inside the array
])
def test_invalid_messagepack_message(srv, message):
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        c.send_raw(hubwire.varint(len(message)) + message)
        closed_with_error(c)


def test_unknown_message_type_ignored(srv):
    # Newer protocol versions may add types: old peers skip them.
    with WsHub.connected(srv.port) as c:
        c.send({"type": 99, "whatever": [1]}, {"type": 10})
        c.echo_roundtrip()


@pytest.mark.parametrize("argument", [5, None, ["x"], {"a": 1}, True])
def test_wrong_argument_types(srv, argument):
    with WsHub.connected(srv.port) as c:
        assert c.invoke("Echo", argument) == {
            "type": COMPLETION, "invocationId": "0",
            "error": "Failed to invoke 'Echo' due to an error on the server. InvalidDataException: Error binding "
                     "arguments. Make sure that the types of the provided values match the types of the hub method "
                     "being invoked."}
        c.echo_roundtrip()


def test_completion_for_unknown_id_ignored(srv):
    with WsHub.connected(srv.port) as c:
        c.send({"type": COMPLETION, "invocationId": "nobody", "result": 1},
               {"type": COMPLETION, "invocationId": "nobody2", "error": "x"},
               {"type": COMPLETION, "invocationId": "nobody3"})
        c.echo_roundtrip()


def test_stream_item_for_unknown_stream_ignored(srv):
    with WsHub.connected(srv.port) as c:
        c.send({"type": STREAM_ITEM, "invocationId": "nostream", "item": "x"})
        c.echo_roundtrip()
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        c.send([STREAM_ITEM, {}, "nostream", "x"])
        c.echo_roundtrip()


def test_sequence_and_ack_on_a_connection_without_stateful_reconnect(srv):
    with WsHub.connected(srv.port) as c:
        c.send({"type": 8, "sequenceId": 5}, {"type": 9, "sequenceId": 7})
        c.echo_roundtrip()


def test_bad_post_body_long_polling(srv):
    lp = LpHub(srv.port)
    lp.start()
    lp.send_raw(b"garbage" + RS)
    m = lp.recv()
    assert m["type"] == CLOSE and m["error"].startswith(CLOSED_WITH_ERROR), m
    assert lp.poll().status == 204

