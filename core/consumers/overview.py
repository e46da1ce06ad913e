"""``ws/overview/``: the overview's numbers and the engine's totals, pushed every few seconds (and
engine up/down). The work stops with the socket: the loop is a task cancelled on disconnect."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.urls import path

from core.consumers.base import GuardedConsumer
from core.engine.system import UsageReading, totals
from core.errors import DashboardError

INTERVAL_SECONDS = 5
FIRST_GAP_SECONDS = 1
SHARED_MAX_AGE = INTERVAL_SECONDS - 1  # a reading this young serves every other tab of the endpoint
SHARED_MAX_KEYS = 64  # endpoints remembered (the oldest reading is forgotten first)


class SharedReadings:
    """One usage reading per endpoint at a time for every overview socket of this process.

    A reading costs one engine call per running container (up to the totals limit); N open tabs
    of one endpoint share it instead of making N times the calls. ``after`` is the stamp of the
    caller's last reading: it always gets a NEWER one (its CPU figure needs two different readings).
    Bounded: at most :data:`SHARED_MAX_KEYS` endpoints are kept.
    """

    def __init__(self, max_age: float = SHARED_MAX_AGE, max_keys: int = SHARED_MAX_KEYS) -> None:
        self.max_age = max_age
        self.max_keys = max_keys
        self._found: dict[Any, tuple[float, Any]] = {}
        self._locks: dict[tuple[int, Any], asyncio.Lock] = {}

    def _lock(self, key: Any) -> asyncio.Lock:
        # Locks belong to one event loop: keyed by the running loop as well (tests run several).
        lock_key = (id(asyncio.get_running_loop()), key)
        lock = self._locks.get(lock_key)
        if lock is None:
            if len(self._locks) >= self.max_keys:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[lock_key] = asyncio.Lock()
        return lock

    async def get(
        self, key: Any, fetch: Callable[[], Awaitable[Any]], *, after: float = 0.0
    ) -> tuple[float, Any]:
        """``(stamp, value)``: the shared reading if young and newer than ``after``, else a new one."""
        async with self._lock(key):
            found = self._found.get(key)
            if found is not None and found[0] > after and time.monotonic() - found[0] < self.max_age:
                return found
            value = await fetch()
            found = (time.monotonic(), value)
            self._found.pop(key, None)
            self._found[key] = found
            while len(self._found) > self.max_keys:
                self._found.pop(next(iter(self._found)))
            return found


shared_readings = SharedReadings()


class OverviewConsumer(GuardedConsumer):
    """Sends ``{"type": "status", "engine": "up", "running": N, ...}`` or ``engine: "down"``, then
    ``{"type": "totals", "time", "cpu_percent", "cpus", "memory_usage", "memory_total", "running",
    "counted"}`` (CPU % from this sample and the one before: none with the first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task: asyncio.Task | None = None
        self.readings: dict[str, UsageReading] | None = None
        self.stamp = 0.0  # when self.readings was read (time.monotonic), shared with other tabs

    async def start(self) -> None:
        self.task = asyncio.create_task(self.push())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def push(self) -> None:
        # Short engine calls bounded by DOCKER_TIMEOUT: worker threads, not the sync pool. The
        # status goes out first: the totals (one call per running container) never delay it.
        info_of = sync_to_async(self.docker.system.engine_info, thread_sensitive=False)
        readings_of = sync_to_async(self.docker.system.usage_readings, thread_sensitive=False)
        endpoint = self.scope["endpoint"]
        key = (endpoint.slug, endpoint.url)
        while True:
            total = None
            try:
                info = await info_of()
                payload = {"type": "status", "engine": "up", **dataclasses.asdict(info)}
                payload.pop("warnings", None)
                await self.send_json(payload)
                stamp, (readings, running) = await shared_readings.get(key, readings_of, after=self.stamp)
                if self.readings is not None:
                    total = totals(
                        self.readings, readings, running=running, cpus=info.cpus, memory_total=info.memory
                    )
                self.readings, self.stamp = readings, stamp
            except DashboardError as exc:
                await self.send_json({"type": "status", "engine": "down", "message": exc.message})
                self.readings, self.stamp = None, 0.0
            if total is not None:
                await self.send_json({"type": "totals", "time": time.time(), **dataclasses.asdict(total)})
            # The first CPU figure needs a second reading: take it soon, then every INTERVAL_SECONDS.
            first = total is None and self.readings is not None
            await asyncio.sleep(FIRST_GAP_SECONDS if first else INTERVAL_SECONDS)


websocket_urlpatterns = [path("ws/overview/", OverviewConsumer.as_asgi(), name="ws-overview")]
