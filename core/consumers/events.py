"""``ws/events/``: container changes from the engine's event stream, for the live containers list.

One engine event stream per socket (simple and correct; a shared fan-out stream is a later step).
The blocking stream runs in a dedicated thread feeding a bounded queue on the event loop; on
disconnect the stream's socket is shut down, which ends the thread at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable

from django.urls import path

from core.consumers.base import GuardedConsumer
from core.errors import DashboardError

# Actions that change what the list shows; exec_*, attach, resize, top, archive... do not.
LIST_ACTIONS = frozenset(
    "create start restart stop die kill pause unpause rename destroy health_status oom update".split()
)
QUEUE_SIZE = 256
_END = object()
OPENED = object()  # queued once the engine stream is open: nothing after it can be missed


class StreamPump:
    """Runs a blocking engine stream in its own thread; ``batches()`` yields what arrived, in order.

    The queue is bounded: when the page cannot keep up, the oldest items are dropped (the consumers
    using it only need the latest state, and say so with ``dropped``).
    """

    def __init__(self, open_stream: Callable[[], Iterable], *, name: str, maxsize: int = QUEUE_SIZE):
        self._open = open_stream
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue(maxsize)
        self._stream = None
        self._stopped = threading.Event()
        self.dropped = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self._stream = self._open()
            if self._stopped.is_set():
                return
            self._put(OPENED)
            for item in self._stream:
                if self._stopped.is_set():
                    break
                self._put(item)
        except DashboardError as exc:
            if not self._stopped.is_set():
                self.error = exc.message
        finally:
            self._close_stream()
            self._put(_END)

    def _put(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._offer, item)
        except RuntimeError:  # the loop is gone: nobody is listening any more
            self._stopped.set()

    def _offer(self, item: object) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    def _close_stream(self) -> None:
        stream = self._stream
        if stream is not None and hasattr(stream, "close"):
            stream.close()

    def stop(self) -> None:
        """Close the engine stream (unblocks the thread's read); the thread then ends by itself."""
        self._stopped.set()
        self._close_stream()

    async def batches(self) -> AsyncIterator[list]:
        """Everything queued since the last batch; ends when the stream ends."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if _END in batch:
                batch = batch[: batch.index(_END)]
                if batch:
                    yield batch
                return
            yield batch


class ContainerEventsConsumer(GuardedConsumer):
    """Sends ``{"type": "container", "action": "start", "id": "...", "name": "..."}`` per change."""

    async def start(self) -> None:
        self.pump = StreamPump(self.docker.containers.container_events, name="ws-container-events")
        self.pump.start()
        self.task = asyncio.create_task(self.relay())

    async def relay(self) -> None:
        async for batch in self.pump.batches():
            for event in batch:
                if event is OPENED:
                    await self.send_json({"type": "ready"})
                    continue
                action = str(event.get("Action") or event.get("status") or "").split(":", 1)[0]
                if action not in LIST_ACTIONS:
                    continue
                actor = event.get("Actor") or {}
                await self.send_json(
                    {
                        "type": "container",
                        "action": action,
                        "id": str(actor.get("ID") or event.get("id") or ""),
                        "name": str((actor.get("Attributes") or {}).get("name") or ""),
                    }
                )
        await self.send_json(
            {"type": "error", "message": self.pump.error or "The engine's event stream ended."}
        )
        await self.close()

    async def stop(self) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            await asyncio.to_thread(pump.stop)
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()


websocket_urlpatterns = [path("ws/events/", ContainerEventsConsumer.as_asgi(), name="ws-events")]
