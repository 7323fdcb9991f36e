"""Deterministic test payloads of exact byte sizes."""

import random

# One, two, three and four byte UTF-8 sequences.
_CHARS = ["a", "Z", "é", "ß", "€", "中", "😀", "𝄞"]


def utf8_text(size: int, seed: int = 0) -> str:
    """A valid str whose UTF-8 encoding is exactly `size` bytes, mixing sequence lengths."""
    rng = random.Random(seed)
    block, block_bytes = [], 0
    while block_bytes < min(size, 65536) - 4:
        ch = rng.choice(_CHARS)
        block.append(ch)
        block_bytes += len(ch.encode())
    block_text = "".join(block)
    text = block_text * (size // block_bytes) if block_bytes else ""
    text += "a" * (size - len(text.encode()))
    assert len(text.encode()) == size
    return text


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)
