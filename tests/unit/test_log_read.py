"""The engine log read path without an engine: chunked decoding, the multiplexed frames -> lines
(the inline whole-line case must give exactly what the general path gives), ts blanked in frames."""

from __future__ import annotations

import json
import struct

from core.engine.streams import LogStream, _Dechunker
from core.live.frames import line_frames
from core.live.lines import MAX_LINE

_HEADER = struct.Struct(">BxxxL")


def _stream() -> LogStream:
    stream = LogStream.__new__(LogStream)  # no response: only the parsing state
    stream.last_ts = ""
    stream._assemblers = {}
    stream._pending_ts = {}
    stream._frame_buffer = b""
    return stream


def _frame(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


MESSAGES = [
    (1, b"2026-12-03T10:00:00.000000001Z one\n"),
    (2, b"2026-12-03T10:00:00.000000002Z err \xff\xfe bad utf-8\n"),
    (1, b"2026-12-03T10:00:00.000000003Z " + b"p" * 16384),  # a 16 KiB piece, no newline
    (2, b"2026-12-03T10:00:00.000000004Z stderr while stdout is pending\n"),
    (1, b"2026-12-03T10:00:00.000000005Z end of the long one\n"),
    (1, b"2026-12-03T10:00:00.000000006Z two\nlines in one message\n"),
    (1, b"no-space-at-all"),
    (1, b"2026-12-03T10:00:00.000000007Z " + b"x" * MAX_LINE + b"\n"),  # exactly the limit
    (1, b"2026-12-03T10:00:00.000000008Z " + b"y" * (MAX_LINE + 1) + b"\n"),  # cut
    (2, b"2026-12-03T10:00:00.000000009Z \n"),  # an empty line
    (1, b"2026-12-03T10:00:00.000000010Z caf\xc3\xa9 \xe2\x82\xac\n"),
]


def _reference() -> tuple[list[dict], str]:
    stream = _stream()
    lines: list[dict] = []
    for kind, payload in MESSAGES:
        ts, _, text = payload.partition(b" ")
        stream._add(kind, ts, text, lines)
    return lines + stream._flush_pending(), stream.last_ts


def test_demux_gives_what_the_general_path_gives_in_one_read():
    stream = _stream()
    lines = stream._demux(b"".join(_frame(kind, payload) for kind, payload in MESSAGES))
    assert (lines + stream._flush_pending(), stream.last_ts) == _reference()


def test_demux_gives_the_same_lines_whatever_the_read_boundaries():
    data = b"".join(_frame(kind, payload) for kind, payload in MESSAGES)
    expected = _reference()
    for step in (1, 7, 4096):
        stream = _stream()
        lines: list[dict] = []
        for start in range(0, len(data), step):
            lines += stream._demux(data[start : start + step])
        assert (lines + stream._flush_pending(), stream.last_ts) == expected, step


def test_dechunker_joins_chunks_split_across_reads_and_reads_extensions():
    body = b"".join(_frame(kind, payload) for kind, payload in MESSAGES[:3])
    chunked = (
        b"5\r\n" + body[:5] + b"\r\n" + b"%x;name=value\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n"
    )
    pieces = [chunked[i : i + 3] for i in range(0, len(chunked), 3)]
    reader = _Dechunker(lambda _size: pieces.pop(0) if pieces else b"")
    out = b""
    while data := reader.read():
        out += data
    assert out == body


def test_frames_blank_ts_without_touching_the_shared_lines():
    lines = [{"stream": "stdout", "text": str(i), "ts": f"2026-12-03T10:00:{i:02}Z"} for i in range(50)]
    before = [dict(line) for line in lines]
    framed = [line for frame, _ in line_frames(lines, blank_ts=True) for line in json.loads(frame)["lines"]]
    assert framed == [{**line, "ts": ""} for line in before]
    assert lines == before
    kept = [line for frame, _ in line_frames(lines) for line in json.loads(frame)["lines"]]
    assert kept == before
