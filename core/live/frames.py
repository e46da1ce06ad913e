"""Websocket frames of log lines, bounded by their serialized size (pure).

Daphne refuses outgoing messages over its limit (1 MiB by default) and the stream then stalls for
good; a browser spends long tasks on big JSON. Lines are grouped by an estimate of their size and a
group whose JSON came out bigger than ``hard`` (control characters escape to six bytes each) is
split in halves until it fits. One line alone always fits: lines are cut at MAX_LINE first
(core/live/lines.py), and ``hard`` is above the worst case of one cut line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson

BUDGET = 64 * 1024  # aimed-for frame size
HARD = 512 * 1024  # no frame above this (daphne's limit is 1 MiB)
_OVERHEAD = 40  # {"stream":"stdout","text":"","ts":"..."} around the text, roughly


def dumps_bytes(payload: dict) -> bytes:
    """``json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()``, byte for
    byte for the strings a line holds (tests/unit/test_frames_encoding.py), ~12x faster: the stdlib
    encoder was the event loop's biggest cost when a 200k-line log is read. A string orjson refuses
    (a lone surrogate, which UTF-8 cannot carry) is escaped the stdlib's ASCII way instead."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload, separators=(",", ":")).encode()


def estimate(line: dict) -> int:
    return len(line["text"]) + _OVERHEAD


def line_frames(
    lines: list[dict], *, budget: int = BUDGET, hard: int = HARD, blank_ts: bool = False
) -> Iterator[tuple[str, int]]:
    """``{"type":"lines","lines":[...]}`` frames and their line counts, each around ``budget`` and
    never over ``hard`` (unless a single line alone is bigger, which MAX_LINE prevents).

    ``blank_ts``: the frames carry ``"ts": ""`` (timestamps off); ``lines`` is left as it is (a
    shared stream's lines go to other viewers too), the copies are made in this one pass.
    """
    group: list[dict] = []
    append = group.append
    size = 0
    for line in lines:
        cost = len(line["text"]) + _OVERHEAD  # estimate(line), inline: this runs once per line
        if group and size + cost > budget:
            yield from _fitted(group, hard)
            group, size = [], 0
            append = group.append
        append({**line, "ts": ""} if blank_ts else line)
        size += cost
    if group:
        yield from _fitted(group, hard)


def _fitted(group: list[dict], hard: int) -> Iterator[tuple[str, int]]:
    data = dumps_bytes({"type": "lines", "lines": group})
    if len(data) <= hard or len(group) == 1:
        yield data.decode(), len(group)
        return
    middle = len(group) // 2
    yield from _fitted(group[:middle], hard)
    yield from _fitted(group[middle:], hard)
