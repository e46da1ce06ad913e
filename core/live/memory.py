"""Giving freed memory back to the OS after a stream ends (``gc.collect`` + glibc ``malloc_trim``).

A log flood allocates and frees a great many small objects (line dicts, strings, 64 KiB reads) in
the producer thread's malloc arena and on the loop. Once a viewer leaves, Python frees nearly all
of it (tracemalloc: 0.1 MB of theirs is left), but two things kept daphne's RSS up after each viewer
of a `yes` flood (bench/repro_viewer_rss.py: +1-2 MB per viewer, never given back):

- ~190 objects per connection sit in reference cycles (daphne's and Twisted's protocol objects,
  the shared stream's relay task and pump, cancelled tasks' tracebacks) until a full collection;
- glibc keeps freed pages in its arenas.

So, a second after a websocket ends (the producer thread has returned and freed its last batch by
then), at most once per TRIM_INTERVAL_SECONDS however many end, a thread of its own runs a full
collection and then ``malloc_trim(0)``. ``dashboard/asgi.py`` freezes everything built at start-up
(``gc.freeze()``), so the collection walks only what came later: 15-40 ms on a loaded 2-core
machine instead of 90-560 ms (it holds the GIL meanwhile; Python's own full collections would
pause the loop just as long, at moments nobody chose). Elsewhere than glibc the trim does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

TRIM_DELAY_SECONDS = 1.0
TRIM_INTERVAL_SECONDS = 5.0

_lock = threading.Lock()
_state = {"scheduled": False, "last": 0.0}


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Schedule one collection and ``malloc_trim`` (see module doc); cheap, safe on the loop, idempotent."""
    if _TRIM is None:
        return
    with _lock:
        if _state["scheduled"]:
            return
        _state["scheduled"] = True
    delay = max(TRIM_DELAY_SECONDS, _state["last"] + TRIM_INTERVAL_SECONDS - time.monotonic())
    timer = threading.Timer(delay, _trim_now)
    timer.name = "malloc-trim"
    timer.daemon = True
    timer.start()


def _trim_now() -> None:
    try:
        started = time.perf_counter()
        found = gc.collect()
        collected = time.perf_counter()
        _TRIM(0)
        log.debug(
            "freed memory: %d objects in cycles (%.1f ms), malloc_trim %.1f ms",
            found,
            (collected - started) * 1000,
            (time.perf_counter() - collected) * 1000,
        )
    except Exception:  # a failed trim only means memory is not returned early
        log.debug("malloc_trim failed", exc_info=True)
    finally:
        with _lock:
            _state["scheduled"] = False
            _state["last"] = time.monotonic()
