"""The SignalR hub protocol on the wire against `wirehub --app signalr-conformance`.

PROTOCOL.md (shared/signalr) section 15 is the server checklist; every item has tests named
test_item_NN_..., in this file (19-39) or beside it:

  1  negotiate v1 body, ids          test_hub_negotiate: test_item_01_negotiate_v1_body,
                                     test_item_01_connection_id_is_not_accepted_as_token
  2  negotiate v0                    test_hub_negotiate: test_item_02_negotiate_v0_has_no_token_and_id_works
  3  bad negotiateVersion            test_hub_negotiate: test_item_03_bad_negotiate_version_is_an_error_body,
                                     test_item_03_newer_version_gets_version_1
  4  transports, order, formats      test_hub_negotiate: test_item_04_transport_order_and_disabled_websockets,
                                     test_item_04_messagepack_disabled_lists_text_only
  5  useStatefulReconnect            test_hub_negotiate: test_item_05_stateful_reconnect_only_when_asked,
                                     test_item_05_stateful_reconnect_only_when_enabled
  6  405, case, extra query          test_hub_negotiate: test_item_06_negotiate_other_verbs_405,
                                     test_item_06_paths_and_query_keys_ignore_case_and_extra_parameters
  7  redirect                        test_hub_negotiate: test_item_07_redirect_body_and_target
  8  WS 101/404/no id                test_hub_transports: test_item_08_*
  9  409 / 400                       test_hub_transports: test_item_09_second_websocket_409,
                                     test_item_09_second_event_stream_409, test_item_09_switching_transport_400
  10 SSE head, comment, 400/404      test_hub_transports: test_item_10_*
  11 SSE events                      test_hub_transports: test_item_11_event_stream_events_hold_whole_messages
  12 LP first/held/timeout           test_hub_transports: test_item_12_first_poll_at_once_later_polls_held_then_empty
  13 LP data                         test_hub_transports: test_item_13_*
  14 DELETE                          test_hub_transports: test_item_14_*
  15 POST statuses                   test_hub_transports: test_item_15_post_statuses
  16 disposal                        test_hub_transports: test_item_16_orphaned_connections_disposed_after_disconnect_timeout
  17 Bearer + access_token           test_hub_negotiate: test_item_17_*
  18 CORS                            test_hub_negotiate: test_item_18_*
  19 handshake ok                    test_item_19_handshake_answer_is_exactly_three_bytes (json/messagepack, v1/v2)
  20 handshake errors                test_item_20_handshake_errors_then_close, test_item_20_messagepack_over_sse_refused,
                                     test_item_20_long_polling_handshake_error_then_204
  21 handshake timeout               test_item_21_handshake_timeout
  22 inbound framing                 test_item_22_several_messages_per_frame, test_item_22_message_split_across_frames,
                                     test_item_22_message_split_across_posts
  23 outbound frames                 test_item_23_text_frames_for_json_binary_for_messagepack_whole_messages
  24 VarInt                          test_item_24_varint_lengths_outbound, test_item_24_varint_lengths_inbound,
                                     test_item_24_message_over_limit_closes_with_error
  25 one Completion                  test_item_25_invocation_with_id_gets_exactly_one_completion
  26 no reply without id             test_item_26_invocation_without_id_gets_no_reply
  27 message shapes                  test_item_27_messagepack_five_and_six_elements_headers_and_extra,
                                     test_item_27_json_property_order
  28 unknown method                  test_item_28_unknown_method_text
  29 method throws                   test_item_29_method_throws_text
  30 streaming mismatch              test_item_30_streaming_mismatch_texts
  31 server streams                  test_item_31_stream_items_then_completion, test_item_31_stream_fails_before_items
  32 cancel                          test_item_32_cancel_stops_stream_and_completes, test_item_32_cancel_unknown_id_ignored
  33 upload                          test_item_33_upload_in_order, test_item_33_upload_error_and_stream_count
  34 server invocation shape         test_item_34_server_invocation_has_no_invocation_id
  35 client results                  test_item_35_client_result_value_error_and_loss
  36 keep-alive Pings                test_item_36_pings_on_websocket_and_event_stream_none_on_long_polling,
                                     test_item_36_inbound_ping_any_time
  37 client timeout                  test_item_37_client_timeout
  38 Close semantics                 test_item_38_server_close_sends_close_then_ends_transport,
                                     test_item_38_protocol_error_close_has_error,
                                     test_item_38_client_close_is_graceful (websocket, long polling)
  39 reconnect = new connection      test_item_39_new_negotiate_after_drop_is_a_new_connection
  40-44 stateful reconnect           test_hub_reconnect: test_item_40_* .. test_item_44_*

Bad input (each with the reference behaviour, then a fresh connection still served) is in
test_hub_bad_input.py. Timing windows are wide (0.5x to 3x and more) for a loaded machine.
"""

import signal
import threading
import time

import pytest

import hubwire
import rawws
from hubwire import (CANCEL, CLOSE, COMPLETION, HANDSHAKE_OK, INVOCATION, PING, RS, STREAM_INVOCATION, STREAM_ITEM,
                     ConformanceServer, ConnectionClosed, HeldRequest, LpHub, SseHub, WsHub, mtype)
from rawws import OP_BINARY, OP_CLOSE, OP_TEXT


@pytest.fixture(scope="module")
def srv():
    with ConformanceServer({"handshake_timeout_ms": 1000}) as s:
        yield s
        assert s.process.poll() is None, s.log_tail()


def done(invocation_id, **kw):
    return {"type": COMPLETION, "invocationId": invocation_id, **kw}


# --- handshake -------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["json", "messagepack"])
@pytest.mark.parametrize("version", [1, 2])
def test_item_19_handshake_answer_is_exactly_three_bytes(srv, protocol, version):
    with WsHub(srv.port, protocol=protocol) as c:
        c.send_raw(hubwire.handshake(protocol, version), OP_TEXT)
        assert c.handshake_answer() == {}
        assert c.frames[0][1] == HANDSHAKE_OK
        c.echo_roundtrip()


@pytest.mark.parametrize("request_json, text", [
    ('{"protocol":"foo","version":1}', "The protocol 'foo' is not supported."),
    ('{"protocol":"json","version":3}', "The server does not support version 3 of the 'json' protocol."),
    ('{"protocol":"messagepack","version":0}', "The server does not support version 0 of the 'messagepack' protocol."),
])
def test_item_20_handshake_errors_then_close(srv, request_json, text):
    with WsHub(srv.port) as c:
        c.send_raw(request_json.encode() + RS)
        assert c.handshake_answer() == {"error": text}
        assert c.messages_until_closed() == []
        assert c.close_frame is not None
    hubwire.assert_serving(srv.port)


def test_item_20_messagepack_over_sse_refused(srv):
    with SseHub(srv.port) as s:
        assert s.post(hubwire.handshake("messagepack")).status == 200
        assert s.handshake_answer() == {"error": "Cannot use the 'messagepack' protocol on the current transport. "
                                                 "The transport does not support 'Binary' transfer format."}
        with pytest.raises(ConnectionClosed):
            s.recv(pings=True)


def test_item_20_long_polling_handshake_error_then_204(srv):
    lp = LpHub(srv.port)
    assert lp.poll().status == 200
    lp.send_raw(b'{"protocol":"bogus","version":1}' + RS)
    assert lp.handshake_answer() == {"error": "The protocol 'bogus' is not supported."}
    assert lp.poll().status == 204


def test_item_21_handshake_timeout(srv):
    with WsHub(srv.port) as c:
        t0 = time.monotonic()
        assert c.handshake_answer(timeout=6) == {"error": "Handshake was canceled."}
        assert c.messages_until_closed() == []
        assert 0.5 <= time.monotonic() - t0 <= 4.0
        assert c.close_frame is not None


# --- framing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_item_22_several_messages_per_frame(srv, protocol):
    with WsHub(srv.port, protocol=protocol) as c:
        # The handshake and the first invocations in one frame.
        c.send_raw(hubwire.handshake(protocol) + c.frame(*[c.invocation("Echo", [f"m{i}"], str(i)) for i in range(3)]))
        assert c.handshake_answer() == {}
        for i in range(3):
            m = c.recv()
            assert m == (done(str(i), result=f"m{i}") if protocol == "json" else [COMPLETION, {}, str(i), 3, f"m{i}"])


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_item_22_message_split_across_frames(srv, protocol):
    with WsHub.connected(srv.port, protocol=protocol) as c:
        data = c.frame(c.invocation("Echo", ["x" * 300], "0"), c.invocation("Echo", ["y"], "1"))
        # Cut inside the VarInt/JSON of the first, then between bytes of the second.
        for piece in (data[:1], data[1:150], data[150:-3], data[-3:]):
            c.send_raw(piece)
        assert mtype(c.recv()) == COMPLETION
        m = c.recv()
        assert m == (done("1", result="y") if protocol == "json" else [COMPLETION, {}, "1", 3, "y"])
        # WebSocket fragments of one message, too.
        data = c.frame(c.invocation("Echo", ["frag"], "2"))
        opcode = OP_TEXT if protocol == "json" else OP_BINARY
        c.ws.send(opcode, data[:4], fin=False)
        c.ws.send(rawws.OP_CONT, data[4:])
        m = c.recv()
        assert m == (done("2", result="frag") if protocol == "json" else [COMPLETION, {}, "2", 3, "frag"])


def test_item_22_message_split_across_posts(srv):
    lp = LpHub(srv.port)
    lp.start()
    data = lp.frame(lp.invocation("Echo", ["split"], "0"), lp.invocation("Echo", ["two"], "1"))
    lp.send_raw(data[:10])
    lp.send_raw(data[10:40])
    lp.send_raw(data[40:])
    assert [lp.recv(), lp.recv()] == [done("0", result="split"), done("1", result="two")]


@pytest.mark.parametrize("protocol, opcode", [("json", OP_TEXT), ("messagepack", OP_BINARY)])
def test_item_23_text_frames_for_json_binary_for_messagepack_whole_messages(srv, protocol, opcode):
    with WsHub.connected(srv.port, protocol=protocol) as c:
        c.send(*[c.invocation("Echo", ["z" * (i * 97)], str(i)) for i in range(40)],
               c.invocation("Stream", [], "s", kind=STREAM_INVOCATION))
        got = [c.recv() for _ in range(40 + 4)]
        assert len(got) == 44
        for op, payload in c.frames[1:]:
            assert op == opcode
            # Every frame is whole messages.
            _, rest = hubwire.split_json(payload) if protocol == "json" else hubwire.split_mp(payload)
            assert rest == b""


def mp_len_for(total: int, build) -> bytes:
    """The packed message build(n) whose size is exactly total (n = padding length)."""
    for n in range(max(0, total - 40), total + 1):
        packed = hubwire.mp_pack(build("x" * n))
        if len(packed) == total:
            return packed
    raise AssertionError(f"no padding gives {total} bytes")


BOUNDARIES = {127: b"\x7f", 128: b"\x80\x01", 16383: b"\xff\x7f", 16384: b"\x80\x80\x01"}


def test_item_24_varint_lengths_outbound(srv):
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        for total, prefix in BOUNDARIES.items():
            expected = mp_len_for(total, lambda s: [COMPLETION, {}, "0", 3, s])
            text = hubwire.mp_unpack(expected)[4]
            c.frames.clear()
            assert c.invoke("Echo", text) == [COMPLETION, {}, "0", 3, text]
            assert c.frames == [(OP_BINARY, prefix + expected)], total


def test_item_24_varint_lengths_inbound(srv):
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        for total, prefix in BOUNDARIES.items():
            packed = mp_len_for(total, lambda s: [INVOCATION, {}, "0", "Echo", [s]])
            assert hubwire.varint(total) == prefix
            c.send_raw(prefix + packed)
            m = c.recv()
            assert m == [COMPLETION, {}, "0", 3, hubwire.mp_unpack(packed)[4][0]], total


def test_item_24_message_over_limit_closes_with_error(srv):
    limit = 32768  # [hub] max_message_bytes default
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        at_limit = mp_len_for(limit, lambda s: [INVOCATION, {}, "0", "Echo", [s]])
        c.send_raw(hubwire.varint(limit) + at_limit)
        assert mtype(c.recv()) == COMPLETION
        over = mp_len_for(limit + 1, lambda s: [INVOCATION, {}, "1", "Echo", [s]])
        c.send_raw(hubwire.varint(limit + 1) + over)
        msgs = [m for m in c.messages_until_closed() if mtype(m) != PING]
        assert len(msgs) == 1 and msgs[0][0] == CLOSE, msgs
        assert msgs[0][1].startswith("Connection closed with an error."), msgs
        assert "maximum message size" in msgs[0][1]
        assert c.close_frame.close_code == 1000
    with WsHub.connected(srv.port) as c:
        c.send({"type": INVOCATION, "invocationId": "0", "target": "Echo", "arguments": ["j" * limit]})
        msgs = [m for m in c.messages_until_closed() if mtype(m) != PING]
        assert [m["type"] for m in msgs] == [CLOSE] and "maximum message size" in msgs[0]["error"], msgs
    hubwire.assert_serving(srv.port)


# --- invocations -----------------------------------------------------------------------------

def test_item_25_invocation_with_id_gets_exactly_one_completion(srv):
    with WsHub.connected(srv.port) as c:
        assert c.invoke("Echo", "r", invocation_id="a") == done("a", result="r")
        c.echo_roundtrip(invocation_id="b1")
        assert c.invoke("InvokeWithString", "hi", invocation_id="v") == done("v")
        assert c.before == [{"type": INVOCATION, "target": "Message", "arguments": ["hi"]}]
        c.echo_roundtrip(invocation_id="b2")
        m = c.invoke("ThrowException", "boom", invocation_id="e")
        assert m == done("e", error="An unexpected error occurred invoking 'ThrowException' on the server. "
                                    "InvalidOperationException: boom")
        c.echo_roundtrip(invocation_id="b3")


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_item_26_invocation_without_id_gets_no_reply(srv, protocol):
    with WsHub.connected(srv.port, protocol=protocol) as c:
        c.send(c.invocation("Echo", ["quiet"]),
               c.invocation("NoSuchMethod", []),
               c.invocation("ThrowException", ["boom"]),
               c.invocation("Stream", []),
               c.invocation("Echo", ["too", "many"]),
               c.invocation("Echo", [5]),
               c.invocation("StreamingConcat", []))
        c.echo_roundtrip()


def test_item_27_messagepack_five_and_six_elements_headers_and_extra(srv):
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        c.send([INVOCATION, {}, "5", "Echo", ["five"]],
               [INVOCATION, {}, "6", "Echo", ["six"], []],
               [INVOCATION, {"traceparent": "00-abc-def-01", "x": "y"}, "h", "Echo", ["headers"]],
               [INVOCATION, {}, "e", "Echo", ["extra"], [], "future", 1])
        assert [c.recv() for _ in range(4)] == [[COMPLETION, {}, "5", 3, "five"], [COMPLETION, {}, "6", 3, "six"],
                                                [COMPLETION, {}, "h", 3, "headers"],
                                                [COMPLETION, {}, "e", 3, "extra"]]


def test_item_27_json_property_order(srv):
    with WsHub.connected(srv.port) as c:
        c.send('{"target":"Echo","arguments":["last"],"invocationId":"0","type":1}',
               '{"type":1,"invocationId":"1","target":"Echo","arguments":["first"]}',
               '{"arguments":["mid"],"type":1,"headers":{"a":"b"},"target":"echo","invocationId":"2","extra":[1]}')
        assert [c.recv() for _ in range(3)] == [done("0", result="last"), done("1", result="first"),
                                                done("2", result="mid")]


def test_item_28_unknown_method_text(srv):
    with WsHub.connected(srv.port) as c:
        assert c.invoke("NoSuchMethod") == done(
            "0", error="Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.")


def test_item_29_method_throws_text(srv):
    with WsHub.connected(srv.port) as c:
        assert c.invoke("ThrowException", "text") == done(
            "0", error="An unexpected error occurred invoking 'ThrowException' on the server. "
                       "InvalidOperationException: text")
        assert c.invoke("Echo", "a", "b", invocation_id="1") == done(
            "1", error="Failed to invoke 'Echo' due to an error on the server. "
                       "InvalidDataException: Invocation provides 2 argument(s) but target expects 1.")


def test_item_30_streaming_mismatch_texts(srv):
    with WsHub.connected(srv.port) as c:
        for i, name in enumerate(["Stream", "EmptyStream"]):
            assert c.invoke(name, invocation_id=str(i)) == done(
                str(i), error=f"The client attempted to invoke the streaming '{name}' method with a non-streaming "
                              "invocation.")
        c.send(c.invocation("Echo", ["42"], "s", kind=STREAM_INVOCATION))
        assert c.recv() == done("s", error="The client attempted to invoke the non-streaming 'Echo' method with a "
                                           "streaming invocation.")


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_item_31_stream_items_then_completion(srv, protocol):
    with WsHub.connected(srv.port, protocol=protocol) as c:
        c.send(c.invocation("Stream", [], "s", kind=STREAM_INVOCATION))
        got = [c.recv() for _ in range(4)]
        if protocol == "json":
            assert got == [{"type": STREAM_ITEM, "invocationId": "s", "item": i} for i in "abc"] + [done("s")]
        else:
            assert got == [[STREAM_ITEM, {}, "s", i] for i in "abc"] + [[COMPLETION, {}, "s", 2]]
        c.echo_roundtrip()


def test_item_31_stream_fails_before_items(srv):
    with WsHub.connected(srv.port) as c:
        c.send(c.invocation("StreamThrowException", ["bad"], "s", kind=STREAM_INVOCATION))
        assert c.recv() == done("s", error="An unexpected error occurred invoking 'StreamThrowException' on the "
                                           "server. InvalidOperationException: bad")
        c.echo_roundtrip()


def test_item_32_cancel_stops_stream_and_completes(srv):
    with WsHub.connected(srv.port) as c:
        c.send(c.invocation("InfiniteStream", [], "s", kind=STREAM_INVOCATION))
        c.nothing_within(0.3)
        c.send({"type": CANCEL, "invocationId": "s"})
        got = [c.recv(), c.recv()]
        assert done("s") in got
        assert {"type": INVOCATION, "target": "StreamCanceled", "arguments": []} in got
        c.echo_roundtrip()


def test_item_32_cancel_unknown_id_ignored(srv):
    with WsHub.connected(srv.port) as c:
        c.send({"type": CANCEL, "invocationId": "never"})
        c.echo_roundtrip()


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_item_33_upload_in_order(srv, protocol):
    with WsHub.connected(srv.port, protocol=protocol) as c:
        c.send(c.invocation("StreamingConcat", [], "0", stream_ids=["1"]))
        for item in ["A", "B", "C", "D"]:
            c.send({"type": STREAM_ITEM, "invocationId": "1", "item": item} if protocol == "json"
                   else [STREAM_ITEM, {}, "1", item])
        c.nothing_within(0.2)
        c.send({"type": COMPLETION, "invocationId": "1"} if protocol == "json" else [COMPLETION, {}, "1", 2])
        assert c.recv() == (done("0", result="ABCD") if protocol == "json" else [COMPLETION, {}, "0", 3, "ABCD"])
        # Late items for the closed stream are ignored.
        c.send({"type": STREAM_ITEM, "invocationId": "1", "item": "late"} if protocol == "json"
               else [STREAM_ITEM, {}, "1", "late"])
        c.echo_roundtrip()


def test_item_33_upload_error_and_stream_count(srv):
    with WsHub.connected(srv.port) as c:
        c.send(c.invocation("StreamingConcat", [], "0", stream_ids=["1"]),
               {"type": STREAM_ITEM, "invocationId": "1", "item": "A"},
               {"type": COMPLETION, "invocationId": "1", "error": "client stream broke"})
        assert c.recv() == done("0", error="An unexpected error occurred invoking 'StreamingConcat' on the server. "
                                           "HubException: client stream broke")
        assert c.invoke("StreamingConcat", invocation_id="2") == done(
            "2", error="An unexpected error occurred invoking 'StreamingConcat' on the server. "
                       "HubException: Client sent 0 stream(s), Hub method expects 1.")


def test_item_34_server_invocation_has_no_invocation_id(srv):
    with WsHub.connected(srv.port) as c:
        c.invoke("InvokeWithString", "to client")
        assert c.before == [{"type": INVOCATION, "target": "Message", "arguments": ["to client"]}]
        assert b"invocationId" not in c.frames[1][1].split(RS)[0]
    with WsHub.connected(srv.port, protocol="messagepack") as c:
        c.invoke("InvokeWithString", "to client")
        assert c.before == [[INVOCATION, {}, None, "Message", ["to client"]]]


def client_result(srv, c: WsHub, answer) -> str:
    """GET /clientresult/{id} while the client answers the server's Result invocation."""
    cid = c.invoke("GetCallerConnectionId", invocation_id="id")["result"]
    held = HeldRequest(srv.port, "GET", f"/clientresult/{cid}")
    m = c.recv()
    assert m["type"] == INVOCATION and m["target"] == "Result" and m["arguments"] == [], m
    assert isinstance(m["invocationId"], str) and m["invocationId"], m
    answer(m["invocationId"])
    r = held.response()
    assert r.status == 200
    return r.body.decode()


def test_item_35_client_result_value_error_and_loss(srv):
    with WsHub.connected(srv.port) as c:
        assert client_result(srv, c, lambda i: c.send(done(i, result=10))) == "10"
        assert client_result(srv, c, lambda i: c.send(done(i, error="Error: from callback"))) == "Error: from callback"
        assert client_result(srv, c, lambda i: c.send(done(i, error="Client didn't provide a result."))) \
            == "Client didn't provide a result."
        c.echo_roundtrip()
    c = WsHub.connected(srv.port)
    text = client_result(srv, c, lambda i: c.drop())
    assert text and not text.isdigit(), text


# --- liveness --------------------------------------------------------------------------------

def ping_times(client, count: int, timeout: float) -> list:
    """Arrival times of the next count Pings (nothing else may come)."""
    times = []
    while len(times) < count:
        m = client.recv(timeout, pings=True)
        assert mtype(m) == PING, m
        times.append(time.monotonic())
    return times


def test_item_36_pings_on_websocket_and_event_stream_none_on_long_polling():
    keep_alive = 1.0
    with ConformanceServer({"keep_alive_ms": int(keep_alive * 1000), "long_poll_timeout_ms": 6000}) as s:
        with WsHub.connected(s.port) as c:
            t0 = time.monotonic()
            times = ping_times(c, 3, 4 * keep_alive)
            gaps = [b - a for a, b in zip([t0] + times, times)]
            assert all(0.5 * keep_alive <= g <= 3 * keep_alive for g in gaps), gaps
            assert c.frames[-1] == (OP_TEXT, b'{"type":6}' + RS)
        with WsHub.connected(s.port, protocol="messagepack") as c:
            ping_times(c, 1, 4 * keep_alive)
            assert c.frames[-1] == (OP_BINARY, b"\x02\x91\x06")
        with SseHub(s.port) as e:
            assert e.post(hubwire.handshake()).status == 200
            assert e.handshake_answer() == {}
            t0 = time.monotonic()
            times = ping_times(e, 2, 4 * keep_alive)
            gaps = [b - a for a, b in zip([t0] + times, times)]
            assert all(0.5 * keep_alive <= g <= 3 * keep_alive for g in gaps), gaps
        lp = LpHub(s.port)
        lp.start()
        held = HeldRequest(s.port, "GET", lp.target)
        assert not held.answered_within(3 * keep_alive), "a long poll was answered (a Ping?)"
        r = held.response(timeout=8)
        assert (r.status, r.body) == (200, b"")


def test_item_36_inbound_ping_any_time(srv):
    with WsHub(srv.port) as c:
        c.send_raw(hubwire.handshake() + hubwire.json_frame({"type": PING}))
        assert c.handshake_answer() == {}
        c.send({"type": PING}, c.invocation("Echo", ["p"], "0"), {"type": PING})
        assert c.recv() == done("0", result="p")
        c.send({"type": PING})
        c.echo_roundtrip()


def test_item_37_client_timeout():
    timeout = 1.5
    with ConformanceServer({"client_timeout_ms": int(timeout * 1000), "keep_alive_ms": 500}) as s:
        with WsHub.connected(s.port) as c:
            t0 = time.monotonic()
            msgs = c.messages_until_closed(timeout=timeout + 4)
            elapsed = time.monotonic() - t0
            assert 0.5 * timeout <= elapsed <= timeout + 3, elapsed
            assert all(mtype(m) in (PING, CLOSE) for m in msgs), msgs
        # A client that pings stays connected well past the timeout.
        with WsHub.connected(s.port) as c:
            end = time.monotonic() + 2.5 * timeout
            while time.monotonic() < end:
                c.send({"type": PING})
                c.nothing_within(0.3)
            c.echo_roundtrip()


# --- closing ---------------------------------------------------------------------------------

def test_item_38_server_close_sends_close_then_ends_transport():
    with ConformanceServer() as s:
        with WsHub.connected(s.port) as c, WsHub.connected(s.port, protocol="messagepack") as m:
            c.echo_roundtrip()
            m.echo_roundtrip()
            s.signal(signal.SIGTERM)  # graceful shutdown: every hub connection is closed
            assert c.messages_until_closed() == [{"type": CLOSE, "allowReconnect": True}]
            assert c.close_frame.close_code == 1000
            assert m.messages_until_closed() == [[CLOSE, None, True]]
            assert m.close_frame.close_code == 1000
        assert s.wait_exit(10) == 0


def test_item_38_protocol_error_close_has_error(srv):
    with WsHub.connected(srv.port) as c:
        c.send_raw(b'{"type":1,' + RS)
        msgs = c.messages_until_closed()
        assert len(msgs) == 1 and msgs[0]["type"] == CLOSE, msgs
        assert msgs[0]["error"].startswith("Connection closed with an error.")
        assert "allowReconnect" not in msgs[0]
        assert c.close_frame.close_code == 1000


def test_item_38_client_close_is_graceful(srv):
    with WsHub.connected(srv.port) as c:
        c.send({"type": CLOSE}, c.invocation("Echo", ["after close"], "0"))
        assert c.messages_until_closed() == []
        assert c.close_frame.close_code == 1000
    assert rawws.http_exchange(srv.port, rawws.upgrade_request(hubwire.with_id("/testhub", c.token))).status == 404
    lp = LpHub(srv.port)
    lp.start()
    lp.send({"type": CLOSE})
    assert lp.poll().status == 204
    assert hubwire.http(srv.port, "GET", lp.target).status == 404


def test_item_39_new_negotiate_after_drop_is_a_new_connection(srv):
    c = WsHub.connected(srv.port)
    old_id = c.invoke("GetCallerConnectionId")["result"]
    old_token = c.token
    c.drop()
    target = hubwire.with_id("/testhub", old_token)
    hubwire.wait_for(lambda: hubwire.http(srv.port, "POST", target, body=b"x").status == 404, 5.0,
                     "the dropped connection to be disposed")
    with WsHub.connected(srv.port) as again:
        assert again.token != old_token
        new_id = again.invoke("GetCallerConnectionId")["result"]
        assert new_id != old_id
        again.echo_roundtrip()
