"""One engine log stream per (endpoint, container, streams), shared by every follower in the process.

The first follower of a container opens the shared stream (``follow``, no tail); later ones join
it. Each follower has its own bounded inbox (drop-oldest, the dropped lines counted and reported as
``skipped``), so one slow viewer never holds the others or the engine stream back. A new viewer
reads its own tail first (a short non-following read), then the live lines newer than the tail's
last one: no gap, no duplicate. When the last follower leaves, the engine stream is closed.

Lines reach the followers at most every DELIVER_SECONDS (core/live/batching.py), as one
:class:`SharedBatch` that every follower shares: it is serialized into websocket frames once per
form (with or without timestamps) and each viewer sends the same text. Nothing outlives the
followers holding it (no cache of past batches), so a stalled or gone viewer keeps no lines alive.

A process holds at most LIVE_ENGINE_STREAMS shared streams; past that a new container's viewer
gets a clear refusal. With several processes (Redis), each process has its own shared streams.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from django.conf import settings

from core.errors import DashboardError
from core.live.batching import DELIVER_SECONDS, coalesce, deliver_due
from core.live.bridge import Feed, Pump
from core.live.frames import line_frames

INBOX_ITEMS = 16  # deliveries waiting for one follower; past it the oldest are dropped, their lines counted


class TooManyStreams(DashboardError):
    status = 503


class SharedBatch:
    """One delivery of shared lines: the same object for every follower, framed once per form."""

    __slots__ = ("_framed", "lines")

    def __init__(self, lines: list[dict]):
        self.lines = lines
        self._framed: dict[bool, list[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def frames(self, timestamps: bool) -> list[tuple[str, int]]:
        """The websocket frames of these lines (and their line counts), serialized on first use."""
        framed = self._framed.get(timestamps)
        if framed is None:
            framed = self._framed[timestamps] = list(line_frames(self.lines, blank_ts=not timestamps))
        return framed


class Follower:
    """One viewer's inbox on a shared stream: ``await batch()`` like a Pump; drops counted."""

    def __init__(self, shared: SharedLog):
        self.shared = shared
        self.items: deque[tuple[str, Any]] = deque()
        self.dropped = 0
        self.ready = asyncio.Event()
        self.over = False

    def deliver(self, items: list[tuple[str, Any]]) -> None:
        for item in items:
            if len(self.items) >= INBOX_ITEMS:
                kind, payload = self.items.popleft()
                if kind == "lines":
                    self.dropped += len(payload)
            self.items.append(item)
        self.ready.set()

    def end(self) -> None:
        self.over = True
        self.ready.set()

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    async def batch(self) -> list[tuple[str, Any]] | None:
        while not self.items:
            if self.over:
                return None
            self.ready.clear()
            await self.ready.wait()
        out = list(self.items)
        self.items.clear()
        return out

    def leave(self) -> None:
        self.items.clear()
        self.shared.leave(self)


class SharedLog:
    """The engine stream of one key and its followers (event-loop side only)."""

    def __init__(self, hub: LogHub, key: tuple, produce: Callable[[Feed], None]):
        self.hub = hub
        self.key = key
        self.followers: set[Follower] = set()
        self.opened = asyncio.Event()
        self.pump: Pump = Pump(produce, maxsize=16, name=f"shared-logs-{key[1][:12]}")
        self.task = asyncio.create_task(self.relay())
        self.pump.start()

    async def relay(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = 0.0
        try:
            while (items := await self.pump.batch()) is not None:
                # Gather what else arrives within this delivery window (the pump keeps draining:
                # the engine stream is never held back by the window).
                while not deliver_due(items, loop.time(), deadline):
                    more = await self.pump.next_within(deadline - loop.time())
                    if more is None:
                        break
                    items.extend(more)
                deadline = loop.time() + DELIVER_SECONDS
                if any(kind == "opened" for kind, _ in items):
                    self.opened.set()
                delivery = [
                    (kind, SharedBatch(payload) if kind == "lines" else payload)
                    for kind, payload in coalesce(items)
                    if kind != "opened"
                ]
                for follower in list(self.followers):
                    follower.deliver(delivery)
        except Exception as exc:  # noqa: BLE001 - every follower is told, in order
            for follower in list(self.followers):
                follower.deliver([("error", exc)])
        finally:
            self.opened.set()
            self.hub.forget(self)
            for follower in list(self.followers):
                follower.end()

    def join(self) -> Follower:
        follower = Follower(self)
        self.followers.add(follower)
        return follower

    def leave(self, follower: Follower) -> None:
        self.followers.discard(follower)
        if not self.followers:
            self.hub.forget(self)
            self.pump.close()  # closes the engine stream; the thread ends by itself


class LogHub:
    def __init__(self) -> None:
        self.shared: dict[tuple, SharedLog] = {}
        self.opened_total = 0  # engine log streams opened by this process (bench figure)

    def follow(self, key: tuple, produce: Callable[[Feed], None]) -> Follower:
        """Join the shared stream of ``key``, opening it with ``produce`` if needed.

        Raises:
            TooManyStreams: the process is at LIVE_ENGINE_STREAMS.
        """
        shared = self.shared.get(key)
        if shared is None:
            if len(self.shared) >= settings.LIVE_ENGINE_STREAMS:
                raise TooManyStreams(
                    f"The server is following {len(self.shared)} containers' logs already "
                    "(LIVE_ENGINE_STREAMS); try again later."
                )
            shared = self.shared[key] = SharedLog(self, key, produce)
            self.opened_total += 1
        return shared.join()

    def forget(self, shared: SharedLog) -> None:
        if self.shared.get(shared.key) is shared:
            del self.shared[shared.key]


hub = LogHub()
