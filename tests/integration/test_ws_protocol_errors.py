"""Every way a client can break RFC 6455 framing, and the exact Close code it earns.

Each case asserts the code in the server's Close frame and that the server then closes
TCP by itself: the test never answers the Close, so a server that waits for one fails.
"""

import struct
import time

import pytest

import rawws
from rawws import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, encode_frame
from wirehub_server import WirehubServer

SMALL_LIMIT = 1024

INVALID_UTF8 = {
    "lone-ff": b"\xff",
    "lone-continuation": b"\x80",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3-byte": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-u10ffff": b"\xf4\x90\x80\x80",
    "truncated-at-end": b"\xe2\x82",
}


@pytest.fixture(scope="module")
def small_limit_server():
    with WirehubServer({"websocket": {"max_message_bytes": SMALL_LIMIT}}) as srv:
        yield srv


def fails_with(server, code: int, *frames: bytes) -> None:
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send_raw(b"".join(frames))
        ws.expect_failed_with(code)


# --- RFC 6455 section 5.1, 5.2: framing --------------------------------------------

def test_unmasked_client_frame_is_1002(server):
    fails_with(server, 1002, encode_frame(OP_TEXT, b"hello", masked=False))


@pytest.mark.parametrize("rsv", [0b100, 0b010, 0b001], ids=["rsv1", "rsv2", "rsv3"])
def test_reserved_bit_without_extension_is_1002(server, rsv):
    fails_with(server, 1002, encode_frame(OP_TEXT, b"hello", rsv=rsv))


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcode_is_1002(server, opcode):
    fails_with(server, 1002, encode_frame(opcode, b"x"))


def test_64_bit_length_with_top_bit_set_is_1002(server):
    # Section 5.2: "the most significant bit MUST be 0".
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 63) + b"\x00\x00\x00\x00"
    fails_with(server, 1002, header)


# --- section 5.4, 5.5: fragmentation and control frames ----------------------------

def test_ping_with_126_byte_payload_is_1002(server):
    fails_with(server, 1002, encode_frame(OP_PING, b"p" * 126))


def test_fragmented_ping_is_1002(server):
    fails_with(server, 1002, encode_frame(OP_PING, b"p", fin=False))


def test_continuation_without_a_started_message_is_1002(server):
    fails_with(server, 1002, encode_frame(OP_CONT, b"orphan"))


@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_new_data_frame_inside_fragmented_message_is_1002(server, second):
    fails_with(server, 1002, encode_frame(OP_TEXT, b"part one", fin=False),
               encode_frame(second, b"intruder"))


# --- section 8.1: UTF-8 ---------------------------------------------------------------

@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_text_frame_is_1007(server, bad):
    fails_with(server, 1007, encode_frame(OP_TEXT, b"ok so far " + bad))


def test_invalid_utf8_in_first_fragment_fails_before_message_ends(server):
    # Section 8.1: fail as soon as the bytes cannot be UTF-8, not at the end of the message.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_TEXT, b"fine \xff then broken", fin=False)
        ws.expect_failed_with(1007)


def test_invalid_utf8_in_half_sent_frame_fails_before_frame_ends(server):
    payload = b"valid text \xc0\xaf" + b"x" * 200
    frame = encode_frame(OP_TEXT, payload)
    header_len = len(frame) - len(payload)
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send_raw(frame[:header_len + 100])  # the bad bytes are in this half
        ws.expect_failed_with(1007)


def test_utf8_sequence_split_across_fragments_is_accepted(server):
    # The counterpart of failing fast: an incomplete sequence at a fragment end is fine.
    text = "price: 20€ 😀".encode()
    cut = text.index("😀".encode()) + 2
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_TEXT, text[:cut], fin=False)
        ws.send(OP_CONT, text[cut:])
        assert ws.read_message() == (OP_TEXT, text)


# --- section 5.5.1, 7.4: Close frames ---------------------------------------------------

def test_close_with_one_byte_payload_is_1002(server):
    fails_with(server, 1002, encode_frame(OP_CLOSE, b"\x03"))


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000])
def test_close_with_invalid_code_is_1002(server, code):
    fails_with(server, 1002, encode_frame(OP_CLOSE, rawws.close_payload(code)))


def test_close_reason_invalid_utf8_is_1007(server):
    fails_with(server, 1007, encode_frame(OP_CLOSE, rawws.close_payload(1000, b"bye \xff")))


# --- section 10.4: limits ------------------------------------------------------------------

def test_declared_length_over_limit_is_1009_without_payload(small_limit_server):
    with rawws.RawWebSocket.open(small_limit_server.port) as ws:
        ws.send_raw(encode_frame(OP_BINARY, b"", declared_length=SMALL_LIMIT + 1))
        ws.expect_failed_with(1009)


def test_declared_64_bit_length_over_limit_is_1009(small_limit_server):
    with rawws.RawWebSocket.open(small_limit_server.port) as ws:
        ws.send_raw(encode_frame(OP_BINARY, b"", declared_length=1 << 40))
        ws.expect_failed_with(1009)


def test_fragments_adding_up_past_limit_are_1009(small_limit_server):
    with rawws.RawWebSocket.open(small_limit_server.port) as ws:
        ws.send(OP_BINARY, b"a" * (SMALL_LIMIT - 10), fin=False)
        ws.send_raw(encode_frame(OP_CONT, b"", declared_length=11))
        ws.expect_failed_with(1009)


def test_message_exactly_at_limit_is_accepted(small_limit_server):
    with rawws.RawWebSocket.open(small_limit_server.port) as ws:
        ws.send(OP_BINARY, b"a" * (SMALL_LIMIT - 24), fin=False)
        ws.send(OP_CONT, b"b" * 24)
        assert ws.read_message() == (OP_BINARY, b"a" * (SMALL_LIMIT - 24) + b"b" * 24)


# --- things that are allowed and must keep working ----------------------------------------

def test_ping_between_fragments_is_answered_and_message_completes(server):
    # Section 5.4: control frames may be injected in the middle of a fragmented message.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_TEXT, b"first ", fin=False)
        ws.send(OP_PING, b"mid-ping")
        pong = ws.read_frame()
        assert (pong.opcode, pong.payload) == (OP_PONG, b"mid-ping")
        ws.send(OP_CONT, b"second", fin=False)
        ws.send(OP_CONT, b" third")
        assert ws.read_message() == (OP_TEXT, b"first second third")


def test_unsolicited_pong_is_ignored(server):
    # Section 5.5.3: a Pong may be sent unsolicited; no response is expected.
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_PONG, b"heartbeat")
        ws.send(OP_BINARY, b"\x00\x01")
        assert ws.read_message() == (OP_BINARY, b"\x00\x01")


def test_ping_with_125_byte_payload_is_answered(server):
    with rawws.RawWebSocket.open(server.port) as ws:
        ws.send(OP_PING, b"p" * 125)
        pong = ws.read_frame()
        assert (pong.opcode, pong.payload) == (OP_PONG, b"p" * 125)


def test_frames_sent_byte_by_byte_are_reassembled(server):
    frame = encode_frame(OP_TEXT, "dribbled ✓".encode())
    with rawws.RawWebSocket.open(server.port) as ws:
        for i in range(len(frame)):
            ws.send_raw(frame[i:i + 1])
            time.sleep(0.002)
        assert ws.read_message() == (OP_TEXT, "dribbled ✓".encode())
