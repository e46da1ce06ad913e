"""Progress of background image jobs (pull, push, build): ws/images/jobs/<job_id>/.

Frames (JSON text, see docs/images.md): ``state`` first (the whole job, for late joiners), then
``progress`` batches, and one ``done`` frame (``status`` success or error).
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.urls import re_path

from core.consumers.base import GuardedConsumer
from core.engine import jobs
from core.roles import Role

CLOSE_UNKNOWN_JOB = 4404


class JobProgressConsumer(GuardedConsumer):
    """Relays one job's frames; the job itself runs on whether anyone watches or not."""

    required_role = Role.VIEWER

    async def start(self) -> None:
        jobs.remember_loop(asyncio.get_running_loop())
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        job = jobs.get(job_id)
        if job is None:
            await self.send_json(
                {"type": "error", "message": "No such job (finished long ago, or the server restarted)."}
            )
            await self.close(code=CLOSE_UNKNOWN_JOB)
            return
        self.group = jobs.group_name(job_id)
        # Join first, then send the snapshot: frames in between repeat absolute values, never lose them.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(job.snapshot())

    async def job_frame(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def stop(self) -> None:
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)


websocket_urlpatterns = [
    re_path(r"^ws/images/jobs/(?P<job_id>[0-9a-f]{32})/$", JobProgressConsumer.as_asgi(), name="ws-job"),
]
