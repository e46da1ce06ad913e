"""Progress of background jobs (pull, push, build, container and bulk jobs, stacks): ws/jobs/<job_id>/
(also at its first address ws/images/jobs/<job_id>/).

Frames (JSON text, see docs/images.md): ``state`` first (the whole job, for late joiners), then
``progress`` batches, and one ``done`` frame (``status`` success, error or interrupted). The job is a
row, so any server process serves it; its frames come through the channel layer (Redis across
processes). Only people allowed to start a job of that kind can watch it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.urls import re_path

from core.consumers.base import CLOSE_FORBIDDEN, GuardedConsumer
from core.engine import jobs
from core.roles import Role

CLOSE_UNKNOWN_JOB = 4404
STALE_CHECK_SECONDS = 10.0


class JobProgressConsumer(GuardedConsumer):
    """Relays one job's frames; the job itself runs on whether anyone watches or not."""

    required_role = Role.VIEWER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group: str | None = None
        self.stale_check: asyncio.Task | None = None
        self.job_id = ""

    async def start(self) -> None:
        jobs.remember_loop(asyncio.get_running_loop())
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        row = await database_sync_to_async(jobs.load)(self.job_id)
        if row is None:
            await self.send_json({"type": "error", "message": "No such job."})
            await self.close(code=CLOSE_UNKNOWN_JOB)
            return
        allowed = await database_sync_to_async(jobs.may_watch)(
            self.scope["user"], row, self.scope.get("api_token")
        )
        if not allowed:
            await self.send_json(
                {"type": "error", "message": f"Watching this job needs the {row.required_role} role."}
            )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = jobs.group_name(self.job_id)
        # Join first, then read the snapshot: progress frames repeat everything since the snapshot
        # before the last save, so nothing between the two is lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        row = await database_sync_to_async(jobs.load)(self.job_id)
        await self.send_json(await database_sync_to_async(jobs.snapshot_of)(row))
        if row.status == jobs.RUNNING:
            self.stale_check = asyncio.create_task(self.watch_process())

    async def watch_process(self) -> None:
        """A job of a process that died sends no ``done``: notice it from the stale heartbeat."""
        while True:
            await asyncio.sleep(STALE_CHECK_SECONDS)
            row = await database_sync_to_async(jobs.load)(self.job_id)
            if row is None or row.status == jobs.RUNNING:
                continue
            if row.status == jobs.INTERRUPTED:
                await self.send_json(
                    {"type": "done", "status": row.status, "message": row.message, "result": row.result}
                )
            return

    async def job_frame(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def stop(self) -> None:
        if self.stale_check is not None:
            self.stale_check.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)


websocket_urlpatterns = [
    re_path(r"^ws/jobs/(?P<job_id>[0-9a-f]{32})/$", JobProgressConsumer.as_asgi(), name="ws-job"),
    # The first address (pull/push/build only, then every job): kept for scripts that use it.
    re_path(
        r"^ws/images/jobs/(?P<job_id>[0-9a-f]{32})/$", JobProgressConsumer.as_asgi(), name="ws-job-images"
    ),
]
