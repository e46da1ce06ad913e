"""Giving freed memory back to the OS after a stream ends (glibc ``malloc_trim``).

A log flood allocates and frees a great many small objects (line dicts, strings, 64 KiB reads) in
the producer thread's malloc arena and on the loop. Once a viewer leaves, Python frees them all
(tracemalloc: nothing of theirs is left), but glibc keeps the freed pages in its arenas: daphne's
RSS stayed 20-40 MB above its baseline after each viewer of a `yes` flood (bench/repro_viewer_rss.py).
``malloc_trim(0)`` returns the free pages of every arena. It runs in a thread of its own (it walks
the heaps: milliseconds, never on the event loop), a short while after the stream closed (the
producer thread has returned by then and freed its last batch), at most once per
TRIM_INTERVAL_SECONDS however many streams end. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
    """Schedule one ``malloc_trim`` (see module doc); cheap, safe on the loop, idempotent."""
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
        _TRIM(0)
    except Exception:
        log.debug("malloc_trim failed", exc_info=True)
    finally:
        with _lock:
            _state["scheduled"] = False
            _state["last"] = time.monotonic()
