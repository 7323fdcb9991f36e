"""A connection that breaks the protocol never disturbs another open client."""

import threading
import time

import rawws
from rawws import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, encode_frame

BAD_OPENINGS = [
    encode_frame(OP_TEXT, b"unmasked", masked=False),
    encode_frame(OP_TEXT, b"rsv", rsv=0b100),
    encode_frame(5, b"reserved opcode"),
    encode_frame(OP_PING, b"p" * 126),
    encode_frame(0, b"orphan continuation"),
    encode_frame(OP_TEXT, b"bad \xff utf8"),
    encode_frame(OP_CLOSE, rawws.close_payload(1005)),
    encode_frame(OP_BINARY, b"", declared_length=(1 << 63) + 5),
]


def bad_connection(port: int, frame: bytes) -> None:
    with rawws.RawWebSocket.open(port) as ws:
        ws.send_raw(frame)
        ws.expect_close()
        ws.expect_tcp_closed()


def test_bystander_keeps_echoing_through_burst_of_bad_connections(server):
    with rawws.RawWebSocket.open(server.port) as bystander:
        for round_no in range(3):
            for i, frame in enumerate(BAD_OPENINGS):
                bad_connection(server.port, frame)
                payload = b"still here %d/%d" % (round_no, i)
                bystander.send(OP_TEXT, payload)
                assert bystander.read_message() == (OP_TEXT, payload)


def test_bystander_keeps_echoing_while_bad_connections_run_concurrently(server):
    errors = []

    def attacker():
        try:
            for _ in range(3):
                for frame in BAD_OPENINGS:
                    bad_connection(server.port, frame)
        except Exception as e:  # reported by the main thread's assertion
            errors.append(e)

    with rawws.RawWebSocket.open(server.port) as bystander:
        threads = [threading.Thread(target=attacker) for _ in range(4)]
        for t in threads:
            t.start()
        sent = 0
        deadline = time.monotonic() + 60
        while any(t.is_alive() for t in threads) or sent < 10:
            assert time.monotonic() < deadline, "bad connections still running after 60 s"
            payload = bytes(range(256)) * (sent % 4 + 1)
            bystander.send(OP_BINARY, payload)
            assert bystander.read_message() == (OP_BINARY, payload)
            sent += 1
        for t in threads:
            t.join(timeout=30)
        assert not errors, f"bad connections were not failed cleanly: {errors[:3]}"
        bystander.send(OP_CLOSE, rawws.close_payload(1000))
        assert bystander.expect_close().close_code == 1000
