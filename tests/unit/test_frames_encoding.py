"""Log frames are encoded with orjson: the bytes must be exactly what the stdlib encoder gave."""

from __future__ import annotations

import json

from core.live.frames import dumps_bytes, line_frames


def _stdlib(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def test_every_character_encodes_as_the_stdlib_encodes_it():
    every = "".join(chr(c) for c in range(0xD800)) + "".join(chr(c) for c in range(0xE000, 0x110000, 13))
    tricky = ['\\"', "\u2028\u2029", "\x7f", "\x00\x1f", "</script>", "é😀", ""]
    payload = {
        "type": "lines",
        "lines": [{"ts": "", "stream": "stdout", "text": every}]
        + [{"ts": "2026-12-03T00:00:00Z", "stream": "stderr", "text": t} for t in tricky],
        "count": 3,
        "flag": True,
        "none": None,
    }
    assert dumps_bytes(payload) == _stdlib(payload)


def test_a_lone_surrogate_falls_back_to_ascii_escapes_that_parse_back():
    payload = {"type": "lines", "lines": [{"ts": "", "stream": "stdout", "text": "a\ud800b"}]}
    data = dumps_bytes(payload)
    data.decode("utf-8")  # valid UTF-8 on the wire
    assert json.loads(data) == payload


def test_line_frames_are_the_stdlib_json_of_their_groups():
    lines = [{"ts": "t", "stream": "stdout", "text": f"line {n} \x01 é"} for n in range(5000)]
    frames = list(line_frames(lines, blank_ts=True))
    assert sum(count for _, count in frames) == 5000
    rebuilt = [line for frame, _ in frames for line in json.loads(frame)["lines"]]
    assert rebuilt == [{**line, "ts": ""} for line in lines]
    for frame, _ in frames:
        assert frame.encode() == _stdlib(json.loads(frame))
