"""The timestamp merge of several containers' lines (pure; the clock is passed in).

A line goes out once every other still-active container has sent something at least as new (so
nothing older can still come), or after ``hold`` seconds at the latest (a quiet container does not
hold the others back). Equal timestamps keep their arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.live.lines import ts_key

MERGE_HOLD_SECONDS = 0.25


class Merger:
    def __init__(self, labels: Iterable[str], *, hold: float = MERGE_HOLD_SECONDS):
        self.hold = hold
        self.newest = dict.fromkeys(labels, "")
        self.active = set(self.newest)
        self.held: list[tuple[str, int, dict, float]] = []
        self._seq = 0

    def add(self, label: str, lines: list[dict], now: float) -> None:
        for line in lines:
            self.held.append((ts_key(line["ts"]), self._seq, line, now))
            self._seq += 1
        if lines:
            self.newest[label] = max(self.newest.get(label, ""), ts_key(lines[-1]["ts"]))

    def done(self, label: str) -> None:
        self.active.discard(label)

    @property
    def over(self) -> bool:
        return not self.active and not self.held

    def ready(self, now: float) -> list[dict]:
        """The lines that may go out now, in timestamp order."""
        if not self.held:
            return []
        self.held.sort(key=lambda entry: (entry[0], entry[1]))
        watermark = min((self.newest[label] for label in self.active), default=None)
        count = 0
        for key, _, _, arrived in self.held:
            if watermark is not None and key > watermark and now - arrived < self.hold:
                break
            count += 1
        out = [entry[2] for entry in self.held[:count]]
        del self.held[:count]
        return out
