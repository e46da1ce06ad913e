"""Batching of log lines by time and size (pure; the clock is passed in).

A batch is handed over when it holds ``max_bytes``, when its first line has waited ``max_seconds``,
or as soon as the source goes quiet (no backlog: latency stays low for a trickle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

BATCH_SECONDS = 0.05
BATCH_BYTES = 64 * 1024


@dataclass
class Batcher:
    max_seconds: float = BATCH_SECONDS
    max_bytes: int = BATCH_BYTES
    lines: list[dict] = field(default_factory=list)
    size: int = 0
    started: float = 0.0

    def add(self, lines: list[dict], size: int, now: float) -> None:
        if not lines:
            return
        if not self.lines:
            self.started = now
        self.lines.extend(lines)
        self.size += size

    def due(self, now: float, *, more_ready: Callable[[], bool]) -> bool:
        """Hand over now? ``more_ready()``: more input is waiting (a backlog), so keep coalescing
        (asked last: it may wait a few milliseconds)."""
        if not self.lines:
            return False
        return self.size >= self.max_bytes or now - self.started >= self.max_seconds or not more_ready()

    def take(self) -> list[dict]:
        lines, self.lines, self.size = self.lines, [], 0
        return lines
