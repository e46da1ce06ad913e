"""``ws/overview/``: the overview's numbers and the engine's totals, pushed every few seconds (and
engine up/down). The work stops with the socket: the loop is a task cancelled on disconnect."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.urls import path

from core.consumers.base import GuardedConsumer
from core.engine.system import UsageReading, totals
from core.errors import DashboardError

INTERVAL_SECONDS = 5
FIRST_GAP_SECONDS = 1


class OverviewConsumer(GuardedConsumer):
    """Sends ``{"type": "status", "engine": "up", "running": N, ...}`` or ``engine: "down"``, then
    ``{"type": "totals", "time", "cpu_percent", "cpus", "memory_usage", "memory_total", "running",
    "counted"}`` (CPU % from this sample and the one before: none with the first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task: asyncio.Task | None = None
        self.readings: dict[str, UsageReading] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.push())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def sample(self) -> tuple[Any, tuple[dict[str, UsageReading], int]]:
        """The engine's info and the running containers' counters (blocking: a worker thread)."""
        return self.docker.system.engine_info(), self.docker.system.usage_readings()

    async def push(self) -> None:
        # Short engine calls bounded by DOCKER_TIMEOUT: a worker thread, not the sync pool.
        fetch = sync_to_async(self.sample, thread_sensitive=False)
        while True:
            total = None
            try:
                info, (readings, running) = await fetch()
                payload = {"type": "status", "engine": "up", **dataclasses.asdict(info)}
                payload.pop("warnings", None)
                if self.readings is not None:
                    total = totals(
                        self.readings, readings, running=running, cpus=info.cpus, memory_total=info.memory
                    )
                self.readings = readings
            except DashboardError as exc:
                payload = {"type": "status", "engine": "down", "message": exc.message}
                self.readings = None
            await self.send_json(payload)
            if total is not None:
                await self.send_json({"type": "totals", "time": time.time(), **dataclasses.asdict(total)})
            # The first CPU figure needs a second reading: take it soon, then every INTERVAL_SECONDS.
            first = total is None and self.readings is not None
            await asyncio.sleep(FIRST_GAP_SECONDS if first else INTERVAL_SECONDS)


websocket_urlpatterns = [path("ws/overview/", OverviewConsumer.as_asgi(), name="ws-overview")]
