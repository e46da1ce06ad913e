"""``ws/containers/<ref>/stats/``: live CPU/memory/network/block-io of one container, about 1 Hz.

The engine's stats stream (one raw sample a second) runs in a dedicated thread; only the latest
sample of each batch is sent. On disconnect the stream is closed and the thread ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from django.urls import path

from core.consumers.base import GuardedConsumer
from core.consumers.events import OPENED, engine_stream_pump
from core.engine.containers import stats_sample
from core.errors import DashboardError


class ContainerStatsConsumer(GuardedConsumer):
    """Sends ``{"type": "stats", "cpu_percent": .., "memory_usage": .., ...}``; ``end`` when it stops."""

    async def start(self) -> None:
        ref = self.scope["url_route"]["kwargs"]["ref"]
        self.pump = engine_stream_pump(
            lambda: self.docker.containers.stats_stream(ref=ref), name="ws-container-stats", maxsize=8
        )
        self.pump.start()
        self.task = asyncio.create_task(self.relay())

    async def relay(self) -> None:
        error = None
        try:
            while (batch := await self.pump.batch()) is not None:
                batch = [raw for raw in batch if raw is not OPENED]
                if not batch:
                    continue
                sample = stats_sample(batch[-1])
                await self.send_json({"type": "stats", "time": time.time(), **dataclasses.asdict(sample)})
        except DashboardError as exc:
            error = exc.message
        if error:
            await self.send_json({"type": "error", "message": error})
        else:
            await self.send_json({"type": "end", "message": "The container stopped."})
        await self.close()

    async def stop(self) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.close()
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()


websocket_urlpatterns = [
    path("ws/containers/<ref:ref>/stats/", ContainerStatsConsumer.as_asgi(), name="ws-stats")
]
