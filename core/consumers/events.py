"""``ws/events/``: container changes from the engine's event stream, for the live containers list.

One engine event stream per socket (simple and correct; a shared fan-out stream is a later step).
The blocking stream runs through the bridge (core/live/bridge.py), drop-oldest; on disconnect the
stream's socket is shut down, which ends the thread at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from django.urls import path

from core.consumers.base import GuardedConsumer
from core.errors import DashboardError
from core.live.bridge import Feed, Policy, Pump

# Actions that change what the list shows; exec_*, attach, resize, top, archive... do not.
LIST_ACTIONS = frozenset(
    "create start restart stop die kill pause unpause rename destroy health_status oom update".split()
)
QUEUE_SIZE = 256
OPENED = object()  # queued once the engine stream is open: nothing after it can be missed


def engine_stream_pump(open_stream: Callable[[], Iterable], *, name: str, maxsize: int = QUEUE_SIZE) -> Pump:
    """A drop-oldest pump over a blocking engine stream, led by ``OPENED`` (these consumers only
    need the latest state). A DashboardError reaches the reader."""

    def produce(feed: Feed) -> None:
        stream = open_stream()
        if not feed.attach(stream):
            return
        try:
            feed.put(OPENED)
            for item in stream:
                if not feed.put(item):
                    return
        finally:
            feed.detach(stream)
            if hasattr(stream, "close"):
                stream.close()

    return Pump(produce, maxsize=maxsize, policy=Policy.DROP_OLDEST, name=name)


class ContainerEventsConsumer(GuardedConsumer):
    """Sends ``{"type": "container", "action": "start", "id": "...", "name": "..."}`` per change."""

    async def start(self) -> None:
        self.pump = engine_stream_pump(self.docker.containers.container_events, name="ws-container-events")
        self.pump.start()
        self.task = asyncio.create_task(self.relay())

    async def relay(self) -> None:
        error = None
        try:
            while (batch := await self.pump.batch()) is not None:
                for event in batch:
                    await self.relay_event(event)
        except DashboardError as exc:
            error = exc.message
        await self.send_json({"type": "error", "message": error or "The engine's event stream ended."})
        await self.close()

    async def relay_event(self, event: object) -> None:
        if event is OPENED:
            await self.send_json({"type": "ready"})
            return
        assert isinstance(event, dict)
        action = str(event.get("Action") or event.get("status") or "").split(":", 1)[0]
        if action not in LIST_ACTIONS:
            return
        actor = event.get("Actor") or {}
        await self.send_json(
            {
                "type": "container",
                "action": action,
                "id": str(actor.get("ID") or event.get("id") or ""),
                "name": str((actor.get("Attributes") or {}).get("name") or ""),
            }
        )

    async def stop(self) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.close()  # shuts the stream's socket: the thread ends by itself
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()


websocket_urlpatterns = [path("ws/events/", ContainerEventsConsumer.as_asgi(), name="ws-events")]
