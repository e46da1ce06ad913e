"""Batching of log lines by time and size (pure; the clock is passed in).

A batch is handed over when it holds ``max_bytes``, when its first line has waited ``max_seconds``,
or as soon as the source goes quiet (no backlog: latency stays low for a trickle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


# A shared log stream hands its lines to the followers at most every DELIVER_SECONDS (one frame
# per viewer per window, serialized once for all of them: 100 viewers of a chatty container cost
# 10 sends a second each, not one per engine batch), and at once when DELIVER_BATCHES engine
# batches (<= BATCH_BYTES each) are waiting, so a flood never piles up in one delivery.
DELIVER_SECONDS = 0.1
DELIVER_BATCHES = 4


def deliver_due(items: list[tuple[str, Any]], now: float, deadline: float) -> bool:
    """Hand ``items`` over now (the window is over, or enough line batches are waiting)?"""
    if now >= deadline:
        return True
    return sum(1 for kind, _ in items if kind == "lines") >= DELIVER_BATCHES


def coalesce(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Consecutive ``("lines", [...])`` items joined into one; every other item kept, in order."""
    out: list[tuple[str, Any]] = []
    for kind, payload in items:
        if kind == "lines":
            if not payload:
                continue
            if out and out[-1][0] == "lines":
                out[-1] = ("lines", out[-1][1] + payload)
                continue
        out.append((kind, payload))
    return out
