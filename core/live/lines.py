"""Log lines from engine bytes (pure): splitting, truncation, UTF-8 reassembly, timestamps.

- A stream's bytes become complete lines; a line split across reads or across docker's 16 KiB
  partial messages is joined before it is decoded, so a multibyte character split between two
  chunks stays whole.
- A line longer than ``max_line`` bytes keeps its first ``max_line`` bytes (cut on a character
  boundary) followed by a visible marker with its full length; the rest of it is counted, not
  kept, so a 10 MB line costs 64 KiB of memory and the stream goes on with the next line.
- :class:`Utf8Stream` is the incremental decoder for byte streams that are not line-based
  (terminal output, recordings): one per stream, never a chunk decoded on its own.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

MAX_LINE = 64 * 1024


def marker(total: int, kept: int) -> str:
    return f" … [line truncated: {total:,} bytes, first {kept:,} shown]"


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def decode_head(raw: bytes) -> str:
    """Decode a cut line: a character the cut split in two is dropped, not replaced."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(raw, final=False)


def cut_line(head: bytes, total: int) -> str:
    return decode_head(head) + marker(total, len(head))


@dataclass
class LineAssembler:
    """One stream's bytes -> complete lines (text, and the full length when it was cut, else 0)."""

    max_line: int = MAX_LINE
    _pending: list[bytes] = field(default_factory=list)
    _pending_len: int = 0
    _overflow: int = 0  # bytes of the current line beyond what is kept

    @property
    def pending(self) -> bool:
        return bool(self._pending_len or self._overflow)

    def feed(self, data: bytes) -> list[tuple[str, int]]:
        """The lines ``data`` completes (without their newline)."""
        out: list[tuple[str, int]] = []
        start = 0
        end = len(data)
        while start < end:
            eol = data.find(b"\n", start)
            if eol < 0:
                self._keep(data, start, end)
                break
            if not self._pending_len and not self._overflow and eol - start <= self.max_line:
                out.append((decode(data[start:eol]), 0))  # the fast path: a whole line in one read
            else:
                self._keep(data, start, eol)
                out.append(self._take())
            start = eol + 1
        return out

    def flush(self) -> list[tuple[str, int]]:
        """The unfinished line at the end of the stream, if any."""
        return [self._take()] if self.pending else []

    def _keep(self, data: bytes, start: int, end: int) -> None:
        room = self.max_line - self._pending_len
        size = end - start
        if size <= room:
            if size:
                self._pending.append(data[start:end])
                self._pending_len += size
            return
        if room > 0:
            self._pending.append(data[start : start + room])
            self._pending_len += room
        self._overflow += size - max(room, 0)

    def _take(self) -> tuple[str, int]:
        raw = b"".join(self._pending)
        overflow = self._overflow
        self._pending, self._pending_len, self._overflow = [], 0, 0
        if overflow:
            total = len(raw) + overflow
            return cut_line(raw, total), total
        return decode(raw), 0


class Utf8Stream:
    """Incremental UTF-8 decoding of one byte stream (a character split across chunks stays whole)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data, final=False)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


def ts_key(ts: str) -> str:
    """Engine timestamps trim trailing zeros of the nanoseconds: pad them so strings sort by time."""
    main, dot, fraction = ts.rstrip("Z").partition(".")
    return f"{main}.{fraction.ljust(9, '0')}" if dot else f"{main}.000000000"
