"""Running a coroutine from a sync test: a fresh event loop in a thread of its own (the browser tests
keep Playwright's loop running in the main thread, where ``asyncio.run`` refuses to start)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run(coro)`` in a worker thread; returns its result or raises its exception."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
