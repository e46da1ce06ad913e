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

    async def push(self) -> None:
        # Short engine calls bounded by DOCKER_TIMEOUT: worker threads, not the sync pool. The
        # status goes out first: the totals (one call per running container) never delay it.
        info_of = sync_to_async(self.docker.system.engine_info, thread_sensitive=False)
        readings_of = sync_to_async(self.docker.system.usage_readings, thread_sensitive=False)
        while True:
            total = None
            try:
                info = await info_of()
                payload = {"type": "status", "engine": "up", **dataclasses.asdict(info)}
                payload.pop("warnings", None)
                await self.send_json(payload)
                readings, running = await readings_of()
                if self.readings is not None:
                    total = totals(
                        self.readings, readings, running=running, cpus=info.cpus, memory_total=info.memory
                    )
                self.readings = readings
            except DashboardError as exc:
                await self.send_json({"type": "status", "engine": "down", "message": exc.message})
                self.readings = None
            if total is not None:
                await self.send_json({"type": "totals", "time": time.time(), **dataclasses.asdict(total)})
            # The first CPU figure needs a second reading: take it soon, then every INTERVAL_SECONDS.
            first = total is None and self.readings is not None
            await asyncio.sleep(FIRST_GAP_SECONDS if first else INTERVAL_SECONDS)


websocket_urlpatterns = [path("ws/overview/", OverviewConsumer.as_asgi(), name="ws-overview")]
