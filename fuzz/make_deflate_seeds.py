#!/usr/bin/python3
"""Writes the permessage-deflate seeds of fuzz/corpus/fuzz_ws_protocol (deflate-*).

The first byte of an input is the target's option byte: bit 7 turns deflate on, bit 6
picks context takeover, the low bits pick the chunk size. The rest is client frames
(masked) carrying compressed messages: one frame, fragmented with a ping inside, two
messages sharing history, a final block (BFINAL), a bomb over the target's 64 KiB
limit, corrupt data and invalid UTF-8 after inflating. Deterministic: run it again
and the files do not change.
"""

import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_ws_protocol")
MASK = b"\x37\xfa\x21\x3d"


def frame(first: int, payload: bytes) -> bytes:
    n = len(payload)
    if n <= 125:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def deflate(data: bytes, c=None, flush=zlib.Z_SYNC_FLUSH) -> bytes:
    c = c or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(flush)
    return out[:-4] if flush == zlib.Z_SYNC_FLUSH else out


def main():
    shared = zlib.compressobj(6, zlib.DEFLATED, -15)
    text = "Hello, wörld! Hello, wörld! 😀".encode()
    z = deflate(text * 3)
    seeds = {
        "deflate-one-frame": bytes([0x80 | 0x40 | 7]) + frame(0xC1, z),
        "deflate-fragmented": bytes([0x80 | 3]) + frame(0x41, z[:4]) + frame(0x89, b"p") + frame(0x00, z[4:9])
        + frame(0x80, z[9:]),
        "deflate-takeover": bytes([0x80 | 0x40 | 64]) + frame(0xC1, deflate(text, shared))
        + frame(0xC1, deflate(text, shared)) + frame(0xC2, deflate(bytes(300), shared)),
        "deflate-bfinal": bytes([0x80 | 0x40 | 1]) + frame(0xC1, deflate(text, flush=zlib.Z_FINISH))
        + frame(0xC1, deflate(text)),
        "deflate-bomb": bytes([0x80 | 100]) + frame(0xC2, deflate(bytes(1 << 20))),
        "deflate-corrupt": bytes([0x80 | 5]) + frame(0xC2, b"\xff\xff\xff\x00"),
        "deflate-bad-utf8": bytes([0x80 | 9]) + frame(0xC1, deflate(b"ok \xc3\x28")),
        "deflate-rsv1-continuation": bytes([0x80 | 2]) + frame(0x41, z[:3]) + frame(0xC0, z[3:]),
        "deflate-mixed": bytes([0x80 | 0x40 | 31]) + frame(0x81, b"plain") + frame(0xC2, deflate(b"\x00\x01" * 200))
        + frame(0x88, b"\x03\xe8"),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
