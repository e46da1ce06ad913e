"""``ws/overview/``: the overview's numbers, pushed every few seconds (and engine up/down)."""

from __future__ import annotations

import asyncio
import dataclasses

from asgiref.sync import sync_to_async
from django.urls import path

from core.consumers.base import GuardedConsumer
from core.errors import DashboardError

INTERVAL_SECONDS = 5


class OverviewConsumer(GuardedConsumer):
    """Sends ``{"type": "status", "engine": "up", "running": N, ...}`` or ``engine: "down"``."""

    async def start(self) -> None:
        self.task = asyncio.create_task(self.push())

    async def stop(self) -> None:
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()

    async def push(self) -> None:
        # The engine call is short and bounded by DOCKER_TIMEOUT: a worker thread, not the sync pool.
        fetch = sync_to_async(self.docker.system.engine_info, thread_sensitive=False)
        while True:
            try:
                info = await fetch()
                payload = {"type": "status", "engine": "up", **dataclasses.asdict(info)}
                payload.pop("warnings", None)
            except DashboardError as exc:
                payload = {"type": "status", "engine": "down", "message": exc.message}
            await self.send_json(payload)
            await asyncio.sleep(INTERVAL_SECONDS)


websocket_urlpatterns = [path("ws/overview/", OverviewConsumer.as_asgi(), name="ws-overview")]
