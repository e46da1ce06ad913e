"""Engine reads kept between requests while the engine's event stream says nothing they show changed.

A list page of a big host asks the engine for everything at every load: ``/volumes`` of 1,000 volumes
is ~9 ms of engine time, and "used by" needs ``/containers/json?all=1`` too. A :class:`Watcher` per
endpoint (per process) holds ``GET /events`` open for container, volume and image events; each event
that can change what a kept read shows bumps its generation and drops the kept reads. A read is kept
with the generation it was started under and served while that generation holds and the stream is
open. What is served is what the engine would answer: the kept read is the engine's own answer, and
any change since then ended it.

Why a served read is never stale:
- The read started after the stream was open: the engine answers ``/events`` before it subscribes
  (moby's handler flushes the head, then subscribes), so a read is kept only when it began
  ``READY_SECONDS`` after the head arrived.
- An event on its way: the watcher reads and applies under its lock, and :meth:`Watcher.get` takes
  that lock and also looks at the socket; bytes the engine wrote and the thread has not read yet
  count as a change. (An engine change is published to subscribers before its API call returns.)
- This process's own changes call :func:`invalidate` in the engine functions that make them.
- The stream ended, failed, sent an unreadable or oversized event: the watcher stops and keeps
  nothing; the next page reads the engine and opens a new stream. An engine restart ends it.
- Only what the caller allows is kept (volumes: local-driver volumes only; a plugin's may change
  elsewhere without an event here).

Bounded: at most ``MAX_WATCHERS`` endpoints per process, one thread and one socket each, an event
line of at most ``MAX_EVENT_BYTES``; a watcher no page asked for in ``IDLE_SECONDS`` ends. Only unix
and plain tcp endpoints (a raw HTTP/1.0 stream, as the logs); TLS and ssh endpoints are read every
time.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from core.engine._client import Engine
from core.engine.streams import _plain_address, _raw_get

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WATCHERS = 16
MAX_EVENT_BYTES = 64 * 1024
IDLE_SECONDS = 300.0
READY_SECONDS = 0.05
POLL_SECONDS = 5.0
RETRY_SECONDS = 10.0
EVENT_TYPES = ("container", "volume", "image")
# Container actions that change nothing a list shows (health checks run one exec per interval).
HARMLESS = frozenset(
    "exec_create exec_start exec_die exec_detach health_status top resize attach detach "
    "archive-path extract-to-dir copy export commit".split()
)
HARMLESS_BY_TYPE = {
    "container": HARMLESS,
    "volume": frozenset({"mount", "unmount"}),
    "image": frozenset({"push", "save"}),
}


def changes(event: dict) -> bool:
    """Whether an engine event can change a kept read (unknown types and actions: yes)."""
    kind = str(event.get("Type") or "")
    action = str(event.get("Action") or event.get("status") or "").split(":", 1)[0].strip()
    return action not in HARMLESS_BY_TYPE.get(kind, frozenset())


class Watcher:
    """One endpoint's ``/events`` stream (opened by its own thread), its generation and the reads
    kept under it."""

    def __init__(self, key: object, engine: Engine, address: tuple):
        self.key = key
        self.generation = 0
        self.alive = True
        self.open = False  # the stream answered; reads may be kept from ready_at on
        self.last_used = time.monotonic()
        self.ready_at = float("inf")
        self._engine = engine
        self._address = address
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._kept: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()
        # Two pollers: CPython refuses two poll() calls on one poll object at the same time.
        self._poller = select.poll()  # the watcher thread's (blocking)
        self._peek = select.poll()  # the requests' (under the lock, no wait)
        self._thread = threading.Thread(target=self._run, name="engine-events-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # ---------------------------------------------------------------- the request side

    def get(self, key: str) -> Any | None:
        """The kept read ``key`` if nothing changed since it was read, else None."""
        with self._lock:
            self.last_used = time.monotonic()
            if not (self.alive and self.open):
                return None
            if self._peek.poll(0):  # written by the engine, not applied yet: a change
                return None
            entry = self._kept.get(key)
            if entry is None or entry[0] != self.generation:
                return None
            return entry[1]

    def begin(self) -> tuple[int, float]:
        """What a read starting now is kept under: ``(generation, start time)``."""
        with self._lock:
            return self.generation, time.monotonic()

    def keep(self, key: str, started: tuple[int, float], value: Any) -> bool:
        """Keep ``value`` (read from ``started`` on) unless something changed meanwhile."""
        generation, at = started
        with self._lock:
            if not (self.alive and self.open) or generation != self.generation or at < self.ready_at:
                return False
            if self._peek.poll(0):
                return False
            self._kept[key] = (generation, value)
            return True

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._kept.clear()

    def stop(self) -> None:
        """End the stream (any thread); the watcher thread wakes up, ends and closes the socket."""
        with self._lock:
            self._end()

    # ---------------------------------------------------------------- the watcher thread

    def _connect(self) -> bool:
        api = self._engine.api
        params = {"filters": json.dumps({"type": list(EVENT_TYPES)})}
        sock, body, chunked = _raw_get(api, self._address, api._url("/events"), params)
        if chunked:  # not what an HTTP/1.0 request gets: do not guess
            sock.close()
            raise ValueError("the events stream came chunked")
        return self._attach(sock, body._early)

    def _attach(self, sock: socket.socket, early: bytes) -> bool:
        """Take the open stream (``early``: its bytes read along with the answer's head)."""
        sock.setblocking(False)
        with self._lock:
            if not self.alive:  # stopped while connecting
                sock.close()
                return False
            self._sock = sock
            for poller in (self._poller, self._peek):
                poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            self._apply(early)
            self.ready_at = time.monotonic() + READY_SECONDS
            self.open = True
        return True

    def _run(self) -> None:
        opened = False
        try:
            opened = self._connect()
            while opened and self.alive:
                if not self._poller.poll(POLL_SECONDS * 1000):
                    if time.monotonic() - self.last_used > IDLE_SECONDS:
                        return
                    continue
                with self._lock:
                    if not self.alive:
                        return
                    try:
                        data = self._sock.recv(MAX_EVENT_BYTES)
                    except BlockingIOError:
                        continue
                    if not data:
                        return  # the engine ended the stream (a restart, a shutdown)
                    self._apply(data)
        except Exception as exc:  # noqa: BLE001 - any failure ends the watcher; pages read the engine
            log.info("engine events stream of %s ended: %s", self._engine.url, exc)
        finally:
            with self._lock:
                self._end()
            if self._sock is not None:
                self._sock.close()
            _forget(self, failed=not opened)

    def _apply(self, data: bytes) -> None:
        """Bytes of the stream: every complete event line that is a change bumps the generation."""
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end].strip()
            start = end + 1
            if not line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError("an unreadable event") from exc
            if not isinstance(event, dict) or changes(event):
                self.generation += 1
                self._kept.clear()
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise ValueError(f"an event line over {MAX_EVENT_BYTES} bytes")

    def _end(self) -> None:
        if self.alive:
            self.alive = False
            self._kept.clear()
            self.generation += 1
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)  # wakes the watcher thread's poll
                except OSError:
                    pass


_watchers: dict[object, Watcher] = {}
_failed: dict[object, float] = {}  # endpoint -> when its stream last failed to open
_lock = threading.Lock()


def _forget(watcher: Watcher, *, failed: bool) -> None:
    with _lock:
        if _watchers.get(watcher.key) is watcher:
            del _watchers[watcher.key]
        if failed:
            if len(_failed) >= 4 * MAX_WATCHERS:
                _failed.clear()
            _failed[watcher.key] = time.monotonic()


def watcher_for(engine: Engine) -> Watcher | None:
    """The endpoint's watcher, started if needed (it opens the stream in its own thread: a page never
    waits for it); None when reads cannot be kept: a TLS or ssh endpoint, too many endpoints, or
    the stream failed to open less than ``RETRY_SECONDS`` ago."""
    key = engine.ref.cache_key
    with _lock:
        watcher = _watchers.get(key)
        if watcher is not None and watcher.alive:
            return watcher
    try:
        address = _plain_address(engine.api)
    except Exception:  # noqa: BLE001 - no client: the read itself says what is wrong with the engine
        return None
    if address is None:
        return None
    with _lock:
        watcher = _watchers.get(key)
        if watcher is not None and watcher.alive:
            return watcher
        if time.monotonic() - _failed.get(key, -RETRY_SECONDS) < RETRY_SECONDS:
            return None
        if len(_watchers) >= MAX_WATCHERS:
            return None
        watcher = _watchers[key] = Watcher(key, engine, address)
    watcher.start()
    return watcher


def read_kept(
    engine: Engine, key: str, read: Callable[[], T], *, keep: Callable[[T], bool] | None = None
) -> T:
    """``read()``'s answer, or the one kept from an earlier call if nothing changed since.

    ``read`` must return a value nobody mutates (tuples, frozen dataclasses); ``keep(value)`` says
    whether it may be kept at all."""
    watcher = watcher_for(engine)
    if watcher is None:
        return read()
    kept = watcher.get(key)
    if kept is not None:
        return kept
    started = watcher.begin()
    value = read()
    if keep is None or keep(value):
        watcher.keep(key, started, value)
    return value


def invalidate(engine: Engine) -> None:
    """This process changed the endpoint (a volume created, removed...): drop what is kept now,
    without waiting for the engine's event."""
    with _lock:
        watcher = _watchers.get(engine.ref.cache_key)
    if watcher is not None:
        watcher.invalidate()


def stop_all() -> None:
    """End every watcher (tests; a process shutting down)."""
    with _lock:
        watchers = list(_watchers.values())
    for watcher in watchers:
        watcher.stop()
