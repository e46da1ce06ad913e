"""The threads that run HTTP requests' sync code (middlewares, views), kept between requests.

Django's ASGI handler gives each request a new single-thread executor (``ThreadSensitiveContext()``):
a thread started for the request, then a second thread started to join it at the end. On this
project's 2-core machines that was ~1.5-2 ms of every request (py-spy on daphne serving a static
file: ``Thread.start`` 15 % of the samples, the join 8 %). A WSGI server keeps its threads; this pool
does the same for the ASGI path: a request borrows an idle single-thread executor, or a new one when
none is idle (so concurrency is what it was: one thread per request in flight), and gives it back.

Bounded: at most ``idle_max`` idle executors are kept; one given back beyond that is shut down, and
so is one whose thread is still busy (a view still running for a client that went away): the next
request never queues behind another request's leftover work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

IDLE_MAX = 8


class RequestExecutor(ThreadPoolExecutor):
    """One worker thread, and a count of the calls submitted to it that have not finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="http-request")
        self._count_lock = threading.Lock()
        self.unfinished = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._count_lock:
            self.unfinished += 1

        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self.unfinished -= 1

        try:
            return super().submit(counted)
        except BaseException:
            with self._count_lock:
                self.unfinished -= 1
            raise


class ExecutorPool:
    """Idle ``RequestExecutor``s lent to one request at a time."""

    def __init__(self, idle_max: int = IDLE_MAX) -> None:
        self.idle_max = idle_max
        self._idle: list[RequestExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> RequestExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return RequestExecutor()

    def give(self, executor: RequestExecutor) -> None:
        if executor.unfinished == 0:
            with self._lock:
                if len(self._idle) < self.idle_max:
                    self._idle.append(executor)
                    return
        executor.shutdown(wait=False)  # its thread ends once its last call returns; nobody waits

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.shutdown(wait=False)
