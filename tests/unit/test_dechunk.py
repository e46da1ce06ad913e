"""The bulk HTTP/1.1 chunked decoder under log streams and archive downloads (core/engine/streams.py)."""

import random

import pytest

from core.engine.streams import _Dechunker


def _chunked(payloads: list[bytes], extension: bool = False) -> bytes:
    parts = []
    for number, payload in enumerate(payloads):
        ext = b";name=value" if extension and number % 2 else b""
        parts.append(b"%x%s\r\n%s\r\n" % (len(payload), ext, payload))
    return b"".join(parts) + b"0\r\n\r\n"


def _reads(data: bytes, steps: list[int]):
    pieces, pos = [], 0
    for step in steps:
        if pos >= len(data):
            break
        pieces.append(data[pos : pos + step])
        pos += step
    if pos < len(data):
        pieces.append(data[pos:])
    return lambda _size: pieces.pop(0) if pieces else b""


def _all(reader: _Dechunker) -> tuple[bytes, list[int]]:
    pieces = []
    while data := reader.read():
        pieces.append(data)
    return b"".join(pieces), [len(p) for p in pieces]


@pytest.mark.parametrize("seed", range(8))
def test_any_split_of_the_raw_bytes_gives_the_body_back(seed):
    rng = random.Random(seed)
    payloads = [rng.randbytes(rng.choice([1, 2, 17, 4096, 32768])) for _ in range(12)]
    data = _chunked(payloads, extension=True)
    steps = [rng.choice([1, 2, 3, 5, 100, 8192, 1 << 20]) for _ in range(len(data))]
    out, _ = _all(_Dechunker(_reads(data, steps)))
    assert out == b"".join(payloads)


def test_a_huge_chunk_is_passed_on_as_it_arrives_not_held_until_complete():
    payload = b"x" * (10 * 1024 * 1024)  # one 10 MiB chunk (a hostile or odd engine)
    data = _chunked([payload])
    reader = _Dechunker(_reads(data, [65536] * 1000))
    out, sizes = _all(reader)
    assert out == payload
    assert max(sizes) <= 65536  # never more than one read's worth at a time
    assert len(reader.buffer) == 0


def test_the_end_chunk_ends_the_body_even_if_more_bytes_follow():
    data = _chunked([b"abc", b"de"]) + b"garbage that is not read"
    out, _ = _all(_Dechunker(_reads(data, [4] * 100)))
    assert out == b"abcde"


def test_a_chunk_size_line_over_1_kib_is_refused_not_buffered():
    data = b"1" * 5000  # no CRLF: an endless chunk-size line
    reader = _Dechunker(_reads(data, [512] * 100))
    with pytest.raises(ValueError, match="over 1 KiB"):
        _all(reader)


def test_a_garbled_chunk_size_is_an_error():
    with pytest.raises(ValueError):
        _all(_Dechunker(_reads(b"zz\r\nabc\r\n0\r\n\r\n", [100])))


def test_a_read_of_many_small_chunks_comes_out_as_one_piece():
    payloads = [bytes([65 + n % 26]) * 32768 for n in range(32)]
    data = _chunked(payloads)
    reader = _Dechunker(_reads(data, [len(data)]), size=len(data))
    assert reader.read() == b"".join(payloads)
    assert reader.read() == b""
