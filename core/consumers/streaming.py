"""Dedicated-thread pumps between blocking engine streams and the event loop, and the per-user cap."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

QUEUE_SIZE = 32
STREAMS_PER_USER = settings.LIVE_STREAMS_PER_USER

# Live streams per user id in this process; only touched from the event loop, so no lock.
_open_streams: dict[int, int] = {}


def acquire_stream_slot(user_id: int) -> bool:
    """Count one more live stream for the user, unless they are at the cap."""
    if _open_streams.get(user_id, 0) >= STREAMS_PER_USER:
        return False
    _open_streams[user_id] = _open_streams.get(user_id, 0) + 1
    return True


def release_stream_slot(user_id: int) -> None:
    left = _open_streams.get(user_id, 0) - 1
    if left > 0:
        _open_streams[user_id] = left
    else:
        _open_streams.pop(user_id, None)


class ThreadPump:
    """Runs ``produce(put)`` in its own daemon thread; items reach the loop through a bounded queue.

    ``put(item)`` blocks the thread while the queue is full (back-pressure on the engine socket) and
    returns False once ``stop()`` was called, so the producer can return. The thread never touches
    the shared sync pool. ``await pump.finished()`` waits for the thread to end.
    """

    def __init__(self, name: str, produce: Callable[[Callable[[Any], bool]], None], queue: asyncio.Queue):
        self.loop = asyncio.get_running_loop()
        self.queue = queue
        self.produce = produce
        self.stopping = threading.Event()
        self._done = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, item: Any) -> bool:
        if self.stopping.is_set():
            return False
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        except RuntimeError:  # the loop is closed (server shutting down)
            return False
        while True:
            try:
                future.result(timeout=0.25)
                return True
            except (TimeoutError, concurrent.futures.TimeoutError):
                if self.stopping.is_set():
                    future.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def _run(self) -> None:
        try:
            self.produce(self.put)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which reports it
            self.put(("error", exc))
        finally:
            try:
                self.loop.call_soon_threadsafe(self._done.set)
            except RuntimeError:  # the loop is already closed (server shutdown)
                pass

    def stop(self) -> None:
        self.stopping.set()

    async def finished(self, timeout: float = 10) -> bool:
        """Wait for the thread to end (it was told to stop and its stream was closed)."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            return False
        self.thread.join(0.5)
        return not self.thread.is_alive()


async def in_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a short blocking engine call in a thread of its own that ends with the call.

    Not the loop's shared executor: that pool keeps (and grows) idle threads, which would hide a
    real thread leak from the hygiene tests and can queue a live stream behind unrelated work.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the awaiting coroutine
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, name=f"engine-call-{getattr(func, '__name__', 'call')}", daemon=True).start()
    return await future
