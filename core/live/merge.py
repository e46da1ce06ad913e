"""The timestamp merge of several containers' lines (pure; the clock is passed in).

A line goes out once every other still-active container has sent something at least as new (so
nothing older can still come). Otherwise:

- ``exact`` (a log with an end, ``follow=0``): it waits; every container ends with ``done()``, so
  the order is exact however slowly one of them opens;
- followed: a quiet container must not hold the others back, so the line goes after ``hold``
  seconds, counted from when the quiet container's engine stream opened (``opened()``) if that
  came later: its tail is read right after. A container whose stream has not opened yet holds
  lines back for ``first_hold`` seconds at most (an engine that is slow to open one of them on a
  busy host).

Either way at most ``max_held`` lines are held: past that the oldest go, in order, whatever is
still to come (one container's huge log must not pile up while another is slow to open).
Equal timestamps keep their arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.live.lines import ts_key

MERGE_HOLD_SECONDS = 0.25
FIRST_HOLD_SECONDS = 5.0
MAX_HELD_LINES = 20_000


class Merger:
    def __init__(
        self,
        labels: Iterable[str],
        *,
        hold: float = MERGE_HOLD_SECONDS,
        first_hold: float = FIRST_HOLD_SECONDS,
        exact: bool = False,
        max_held: int = MAX_HELD_LINES,
    ):
        self.hold = hold
        self.first_hold = first_hold
        self.exact = exact
        self.max_held = max_held
        self.newest = dict.fromkeys(labels, "")
        self.active = set(self.newest)
        self.opened_at: dict[str, float] = {}
        self.held: list[tuple[str, int, dict, float]] = []
        self._seq = 0

    def opened(self, label: str, now: float) -> None:
        """``label``'s engine stream is open: its tail is on the way."""
        self.opened_at.setdefault(label, now)

    def add(self, label: str, lines: list[dict], now: float) -> None:
        for line in lines:
            self.held.append((ts_key(line["ts"]), self._seq, line, now))
            self._seq += 1
        if lines:
            self.opened_at.setdefault(label, now)
            self.newest[label] = max(self.newest.get(label, ""), ts_key(lines[-1]["ts"]))

    def done(self, label: str) -> None:
        self.active.discard(label)

    @property
    def over(self) -> bool:
        return not self.active and not self.held

    def _may_go(self, key: str, arrived: float, now: float) -> bool:
        """Whether a line may go out although some active container has sent nothing as new."""
        behind = [label for label in self.active if self.newest[label] < key]
        if not behind:
            return True
        if self.exact:
            return False
        if any(label not in self.opened_at for label in behind):
            return now - arrived >= self.first_hold
        return now - max(arrived, *(self.opened_at[label] for label in behind)) >= self.hold

    def ready(self, now: float) -> list[dict]:
        """The lines that may go out now, in timestamp order."""
        if not self.held:
            return []
        self.held.sort(key=lambda entry: (entry[0], entry[1]))
        # everything up to the slowest active container's newest line goes (the usual case, cheap)
        watermark = min((self.newest[label] for label in self.active), default=None)
        count = max(len(self.held) - self.max_held, 0)  # past the bound: the oldest go regardless
        for key, _, _, arrived in self.held[count:]:
            if watermark is not None and key > watermark and not self._may_go(key, arrived, now):
                break
            count += 1
        out = [entry[2] for entry in self.held[:count]]
        del self.held[:count]
        return out
