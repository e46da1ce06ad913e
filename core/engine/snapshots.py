"""Engine reads kept between requests while the engine's event stream says nothing they show changed.

A list page of a big host asks the engine for everything at every load: ``/volumes`` of 1,000 volumes
is ~9 ms of engine time, and "used by" needs ``/containers/json?all=1`` too. A :class:`Watcher` per
endpoint (per process) holds ``GET /events`` open for container, volume, image and plugin events; each
event that can change what a kept read shows bumps its generation and drops the kept reads. A read is
kept with the generation it was started under and served while that generation holds, the stream is
open, and it is younger than ``KEEP_SECONDS``. What is served is an answer the engine gave; any change
the engine reported since ended it.

The rules, each against a way a kept read could go stale (reviewed against moby's code and tried
on the 20.10 engine here):
- The engine publishes some events BEFORE its lists show them: on 20.10 ``die`` precedes the
  "exited" state by 50-150 ms, and by ~50 ms more per published port (the port proxies stop first:
  12 s for 200 ports); ``pause``/``unpause`` precede theirs on every version. So a read that begins
  less than ``SETTLE_SECONDS`` after a change is served but not kept, and after those actions what
  is kept is dropped again ``LATE_RECHECKS`` later (a read kept before the list caught up goes).
- The engine answers ``/events`` before it subscribes: the request asks for a replay of what it
  buffered (``since=1``: whatever the clocks say), and nothing read in the stream's first
  ``SETTLE_SECONDS`` is kept.
- An event on its way: the watcher reads and applies under its lock; :meth:`Watcher.get` takes that
  lock and also looks at the socket: bytes the engine wrote that the thread has not read yet are
  read and applied there and then, and a line not yet complete counts as a change. (Between the
  engine's API answer and its event reaching the socket there are microseconds; a page in that gap
  gets the previous read: consistency is within event delivery.)
- This process's own volume and compose-label changes call :func:`invalidate` at once.
- A read of ``BEHIND_BYTES`` or more (~40 events waiting) means we were behind, and the engine
  drops events for a subscriber that falls behind: it counts as a change.
- A silent stream is not proof of no change (a partition, a powered-off host, a buffering proxy):
  kept reads expire after ``KEEP_SECONDS`` (``KEEP_SECONDS_TCP`` on tcp endpoints, whose socket
  also has TCP keepalive). This also bounds the changes that come without any event (BuildKit's
  tags, a failed removal's "dead" state).
- The stream ended or failed: the watcher stops and keeps nothing; the next page reads the engine
  and opens a new stream (after ``RETRY_SECONDS`` if the last one did not open or lived less than
  ``SHORT_LIFE_SECONDS``). An engine restart ends it.
- An event line over ``MAX_EVENT_BYTES`` (a container with huge labels) or one that is not JSON is
  a change, skipped; the watcher goes on.
- Only what the caller allows is kept (volumes: local-driver ones only).
- A kept read names the event types it shows (``depends``): an event of another known type leaves
  it (a container starting does not drop the ``/volumes`` answer, only ``/containers/json``);
  anything of unknown reach (an unknown type, falling behind, an unreadable or over-long line, our
  own unnamed changes, the late rechecks' container list states aside) drops everything.
- A kept read that can mend itself (``patch``: the volume list) is not dropped by an event that
  names one object (``PATCHABLE``: a volume created or destroyed): the name is noted with whether
  the object is gone, and the next page drops the gone ones and re-reads just the others
  (``GET /volumes/<name>``, ~1 ms against ~10 ms for the list), then keeps the mended read under
  the generation it saw when it took the names, so an event meanwhile makes it not kept. Those
  events come AFTER the engine's store changed (moby's volume service logs them once the store
  answered), so they need no settling. The mended read keeps its first read's time (the age limit
  still bounds it); more than ``MAX_PENDING`` names drop it, and ``patch`` may say that a whole read
  is cheaper (returns None). Our own changes note the name to re-read, never "gone": they are not
  ordered against the stream (a re-create by another client may already have been applied).

Bounded: at most ``MAX_WATCHERS`` endpoints per process, one thread and one socket each; at most
2 x ``MAX_EVENT_BYTES`` held; the stream's head must come within ``OPEN_SECONDS``; a watcher no page
asked for in ``IDLE_SECONDS`` ends. Only unix and plain tcp endpoints (a raw HTTP/1.0 stream, as the
logs); TLS and ssh endpoints are read every time.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from core.engine._client import Engine
from core.engine.streams import _connect, _plain_address, _raw_request

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WATCHERS = 16
MAX_EVENT_BYTES = 64 * 1024
IDLE_SECONDS = 300.0
SETTLE_SECONDS = 1.0
KEEP_SECONDS = 30.0
KEEP_SECONDS_TCP = 10.0
POLL_SECONDS = 5.0
OPEN_SECONDS = 10.0
RETRY_SECONDS = 10.0
SHORT_LIFE_SECONDS = 30.0
BEHIND_BYTES = 16 * 1024  # a read this big: ~40 events were waiting, the engine may drop some
# The engine publishes these before its lists show them; on 20.10 an exit's list state waits for
# the container's port proxies to stop (~50 ms a published port: 12 s for 200). What is kept is
# dropped again this long after such an event, so a read kept before the list caught up goes.
LATE_ACTIONS = frozenset({"die", "oom", "kill", "pause", "unpause"})
LATE_RECHECKS = (2.0, 5.0, 10.0, 20.0)
EVENT_TYPES = ("container", "volume", "image", "plugin")
# Actions that change nothing a kept read shows (health checks run one exec per interval).
HARMLESS_BY_TYPE = {
    "container": frozenset(
        "exec_create exec_start exec_die exec_detach health_status top resize attach detach "
        "archive-path extract-to-dir copy export commit".split()
    ),
    "volume": frozenset({"mount", "unmount"}),
    "image": frozenset({"push", "save"}),
}
_NOTHING: frozenset[str] = frozenset()
_NO_NAMES: Mapping[str, bool] = MappingProxyType({})
# Events that name the one object they changed, which a kept read with a ``patch`` mends alone:
# action -> whether the object is gone (else it is re-read).
PATCHABLE = {"volume": {"create": False, "destroy": True}}
MAX_PENDING = 256  # names noted in one kept read; one more drops it (a bound on what is held)
MAX_NAME_CHARS = 512


@dataclass(slots=True)
class _Kept:
    generations: tuple[int, ...]
    at: float  # when its (first) read began: the age limit counts from here
    value: Any
    depends: tuple[str, ...]
    patchable: bool = False
    # Objects changed since, by name: whether gone (else to re-read) before it is served again.
    pending: Mapping[str, bool] = field(default_factory=lambda: _NO_NAMES)


def _action(event: dict) -> str:
    return str(event.get("Action") or event.get("status") or "").split(":", 1)[0].strip()


def changes(event: dict) -> bool:
    """Whether an engine event can change a kept read (unknown types and actions: yes)."""
    return _action(event) not in HARMLESS_BY_TYPE.get(str(event.get("Type") or ""), _NOTHING)


def _named(kind: str, event: dict) -> tuple[str, bool] | None:
    """The one object a PATCHABLE event changed and whether it is gone (None: not such an event,
    or no usable name)."""
    gone = PATCHABLE.get(kind, {}).get(_action(event))
    actor = event.get("Actor")
    name = actor.get("ID") if isinstance(actor, dict) else None
    if gone is not None and isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS:
        return name, gone
    return None


class Watcher:
    """One endpoint's ``/events`` stream (opened by its own thread), its generation and the reads
    kept under it."""

    def __init__(self, key: object, engine: Engine | None, address: tuple | None):
        self.key = key
        self.generation = 0  # bumped by a change of unknown reach: every kept read goes
        self._type_generations = dict.fromkeys(EVENT_TYPES, 0)  # bumped by that type's events
        self._type_settled = dict.fromkeys(EVENT_TYPES, 0.0)  # reads of that type begun before: not kept
        self.alive = True
        self.open = False  # the stream answered
        self.last_used = time.monotonic()
        self.settled_at = float("inf")  # reads that begin before this are not kept
        self.keep_seconds = KEEP_SECONDS_TCP if address and address[0] == "tcp" else KEEP_SECONDS
        self.opened_at = 0.0
        self._engine = engine
        self._address = address
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._skipping = False  # inside an over-long event line, up to its end
        self._rechecks: list[float] = []  # when to drop what is kept again (late list states)
        self._stopped = False  # stop() was called: the end is not a failure
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        # Two pollers: CPython refuses two poll() calls on one poll object at the same time.
        self._poller = select.poll()  # the watcher thread's (blocking)
        self._peek = select.poll()  # the requests' (under the lock, no wait)
        self._thread = threading.Thread(target=self._run, name="engine-events-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # ---------------------------------------------------------------- the request side

    def _generations(self, depends: tuple[str, ...]) -> tuple[int, ...]:
        return (self.generation, *(self._type_generations[kind] for kind in depends))

    def get(self, key: str) -> Any | None:
        """The kept read ``key`` if nothing it shows changed since it was read and it is young enough."""
        found = self.lookup(key)
        return None if found is None or found[1] else found[0]

    def lookup(self, key: str) -> tuple[Any, Mapping[str, bool], tuple[tuple[int, ...], float]] | None:
        """``(value, pending, started)`` of the kept read ``key`` if it is young enough and nothing it
        shows changed since, but the objects named in ``pending``; ``started`` is what a read
        mended from it is kept under (:meth:`keep`)."""
        with self._lock:
            now = self.last_used = time.monotonic()
            if not (self.alive and self.open):
                return None
            if not self._caught_up():
                return None
            entry = self._kept.get(key)
            if (
                entry is None
                or entry.generations != self._generations(entry.depends)
                or now - entry.at > self.keep_seconds
            ):
                return None
            return entry.value, entry.pending, (entry.generations, entry.at)

    def begin(self, depends: tuple[str, ...] = EVENT_TYPES) -> tuple[tuple[int, ...], float]:
        """What a read of ``depends``'s event types starting now is kept under: ``(generations,
        start time)``."""
        with self._lock:
            return self._generations(_known(depends)), time.monotonic()

    def keep(
        self,
        key: str,
        started: tuple[tuple[int, ...], float],
        value: Any,
        depends: tuple[str, ...] = EVENT_TYPES,
        *,
        patchable: bool = False,
    ) -> bool:
        """Keep ``value`` (read from ``started`` on, showing ``depends``'s event types) unless one of
        them changed meanwhile or the engine may not have settled yet; ``patchable``: PATCHABLE
        events note their object's name instead of dropping it."""
        generations, at = started
        depends = _known(depends)
        with self._lock:
            if not (self.alive and self.open) or not self._caught_up():
                return False
            if generations != self._generations(depends):  # after catching up: events applied
                return False
            if at < self.settled_at or any(at < self._type_settled[kind] for kind in depends):
                return False
            self._kept[key] = _Kept(generations, at, value, depends, patchable)
            return True

    def drop(self, key: str) -> None:
        with self._lock:
            self._kept.pop(key, None)

    def invalidate(self, kind: str | None = None, name: str | None = None) -> None:
        """This process changed something: ``kind``'s object ``name`` (a PATCHABLE change: re-read,
        whatever the change was, as it is not ordered against the stream's events), or anything
        (no kind)."""
        with self._lock:
            if kind in PATCHABLE and name:
                self._changed(kind, (name, False))
            else:
                self._changed()

    def stop(self) -> None:
        """End the stream (any thread); the watcher thread wakes up, ends and closes the socket."""
        with self._lock:
            self._stopped = True
            self._end()

    # ---------------------------------------------------------------- the watcher thread

    def _connect(self) -> bool:
        api = self._engine.api
        kind, where, _ = self._address
        sock = _connect(kind, where, min(api.timeout, OPEN_SECONDS))
        with self._lock:
            if not self.alive:  # stopped meanwhile
                sock.close()
                return False
            self._sock = sock  # from here stop() can wake the reads below
        if kind == "tcp":
            _keepalive(sock)
        # since=1: the engine replays what it buffered (its last 256 events) before the live ones,
        # whatever the two clocks say: nothing falls between its answer and its subscription.
        params = {"since": "1", "filters": json.dumps({"type": list(EVENT_TYPES)})}
        body, chunked = _raw_request(
            sock, api, self._address, api._url("/events"), params, deadline=time.monotonic() + OPEN_SECONDS
        )
        if chunked:  # not what an HTTP/1.0 request gets: do not guess
            raise ValueError("the events stream came chunked")
        return self._attach(sock, body._early)

    def _attach(self, sock: socket.socket, early: bytes) -> bool:
        """Take the open stream (``early``: its bytes read along with the answer's head)."""
        sock.setblocking(False)
        with self._lock:
            if not self.alive:
                return False
            self._sock = sock
            for poller in (self._poller, self._peek):
                poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            self.opened_at = time.monotonic()
            self.settled_at = self.opened_at + SETTLE_SECONDS
            self._apply(early)
            self.open = True
        return True

    def _run(self) -> None:
        opened = False
        try:
            opened = self._connect()
            while opened and self.alive:
                now = time.monotonic()
                if now - self.last_used > IDLE_SECONDS:
                    return  # no page asked for a while (a busy engine's events do not count)
                wait = POLL_SECONDS
                if self._rechecks:
                    with self._lock:
                        due = [t for t in self._rechecks if t <= now]
                        if due:
                            self._rechecks = [t for t in self._rechecks if t > now]
                            self._changed("container")  # LATE_ACTIONS: container list states
                        wait = min([wait, *(t - now for t in self._rechecks)])
                if not self._poller.poll(max(wait, 0.0) * 1000):
                    continue
                with self._lock:
                    if not self.alive:
                        return
                    if not self._read_some():
                        return  # the engine ended the stream (a restart, a shutdown)
        except Exception as exc:  # noqa: BLE001 - any failure ends the watcher; pages read the engine
            log.info("engine events stream of %s ended: %s", self.key[0], exc)
        finally:
            with self._lock:
                self._end()
            if self._sock is not None:
                self._sock.close()
            self._unregister(opened=opened)

    def _read_some(self) -> bool:
        """Read and apply what the socket holds (under the lock); False: the stream ended."""
        try:
            data = self._sock.recv(MAX_EVENT_BYTES)
        except BlockingIOError:
            return True
        if not data:
            return False
        if len(data) >= BEHIND_BYTES:  # behind: the engine may have dropped events
            self._changed()
        self._apply(data)
        return True

    def _unregister(self, *, opened: bool = True) -> None:
        """No longer this endpoint's watcher; a stream that did not open or died young (not by
        :meth:`stop`) makes the next one wait RETRY_SECONDS."""
        short = not opened or time.monotonic() - self.opened_at < SHORT_LIFE_SECONDS
        _forget(self, failed=short and not self._stopped)

    def _caught_up(self) -> bool:
        """Under the lock, for a request: apply what the engine wrote that the watcher thread has not
        read yet (each event then drops only what it changes); False while a line is incomplete
        or the stream failed (as a change: nothing served or kept)."""
        if self._peek.poll(0):
            try:
                ended = not self._read_some()
            except OSError:
                ended = True
            if ended:
                self._end()  # the watcher thread wakes up and finishes
                # Forgotten now, as the thread will (a young stream's end delays the next one), so
                # a read in the same page does not open a new stream before the thread got there.
                self._unregister()
                return False
        if self._rechecks and self._rechecks[0] <= time.monotonic():
            # A recheck that fell due while the watcher sleeps in poll() (its next wake-up may be
            # up to POLL_SECONDS away when this request applied the event itself): due now.
            now = time.monotonic()
            self._rechecks = [t for t in self._rechecks if t > now]
            self._changed("container")
        return not self._buffer and not self._skipping

    def _apply(self, data: bytes) -> None:
        """Bytes of the stream: every complete event line that is a change bumps the generation."""
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end].strip()
            start = end + 1
            if self._skipping:  # the end of an over-long line
                self._skipping = False
                continue
            if not line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict):
                self._changed()
            elif changes(event):
                kind = str(event.get("Type") or "")
                if kind in self._type_generations:
                    self._changed(kind, _named(kind, event))
                else:
                    self._changed()
                if kind == "container" and _action(event) in LATE_ACTIONS:
                    now = time.monotonic()
                    later = (round((now + d) * 2) / 2 for d in LATE_RECHECKS)  # half-second slots
                    self._rechecks = sorted({*self._rechecks, *later})[:64]
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_EVENT_BYTES:  # an over-long line: a change, skipped to its end
            self._changed()
            self._buffer = b""
            self._skipping = True

    def _changed(self, kind: str | None = None, name: tuple[str, bool] | None = None) -> None:
        """A change of ``kind``'s events (None: of unknown reach, everything goes); ``name``: the one
        object a PATCHABLE event changed and whether it is gone, noted in the reads that mend
        themselves (the last event of a name says what it is now)."""
        settle = time.monotonic() + SETTLE_SECONDS
        if kind is None:
            self.generation += 1
            self._kept.clear()
            self.settled_at = max(self.settled_at, settle)
            return
        self._type_generations[kind] += 1
        if name is None:  # a PATCHABLE event comes after the store changed: nothing to settle
            self._type_settled[kind] = max(self._type_settled[kind], settle)
        for key, entry in list(self._kept.items()):
            if kind not in entry.depends:
                continue
            if (
                name is not None
                and entry.patchable
                and (name[0] in entry.pending or len(entry.pending) < MAX_PENDING)
            ):
                entry.pending = MappingProxyType({**entry.pending, name[0]: name[1]})
                entry.generations = self._generations(entry.depends)
            else:
                del self._kept[key]

    def _end(self) -> None:
        if self.alive:
            self.alive = False
            self._kept.clear()
            self.generation += 1
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)  # wakes the watcher thread
                except OSError:
                    pass


def _keepalive(sock: socket.socket) -> None:
    """A silent tcp stream whose peer is gone (partition, power-off) fails within ~40 s."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


_watchers: dict[object, Watcher] = {}
_failed: dict[object, float] = {}  # endpoint -> when its stream last failed to open or died young
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
    the last stream failed or died young less than ``RETRY_SECONDS`` ago."""
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
    engine: Engine,
    key: str,
    read: Callable[[], T],
    *,
    keep: Callable[[T], bool] | None = None,
    depends: tuple[str, ...] = EVENT_TYPES,
    patch: Callable[[T, Mapping[str, bool]], T | None] | None = None,
) -> T:
    """``read()``'s answer, or the one kept from an earlier call if nothing it shows changed since.

    ``read`` must return a value nobody mutates (tuples, frozen dataclasses); ``keep(value)`` says
    whether it may be kept at all; ``depends``: the event types whose changes it shows (of
    EVENT_TYPES; all of them unless told); ``patch(value, changed)``: the kept value mended for
    the objects ``changed`` names (True: gone, False: to re-read), a new value (the kept one is not
    changed), or None when a whole read is cheaper: it lets PATCHABLE events mend the kept read
    instead of dropping it."""
    watcher = watcher_for(engine)
    if watcher is None:
        return read()
    found = watcher.lookup(key)
    if found is not None:
        value, pending, started = found
        if not pending:
            return value
        mended = patch(value, pending) if patch is not None else None  # pending: patch was given
        if mended is not None:
            if keep is None or keep(mended):
                watcher.keep(key, started, mended, depends, patchable=True)
            else:
                watcher.drop(key)
            return mended
    started = watcher.begin(depends)
    value = read()
    if keep is None or keep(value):
        watcher.keep(key, started, value, depends, patchable=patch is not None)
    return value


def _known(depends: tuple[str, ...]) -> tuple[str, ...]:
    unknown = set(depends) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"not an event type the watcher follows: {sorted(unknown)}")
    return tuple(depends)


def invalidate(engine: Engine, kind: str | None = None, name: str | None = None) -> None:
    """This process changed the endpoint (a volume created, removed...): drop what is kept now,
    without waiting for the engine's event (``kind`` and ``name``: the one object of a PATCHABLE
    kind it changed, re-read by the reads that mend themselves)."""
    with _lock:
        watcher = _watchers.get(engine.ref.cache_key)
    if watcher is not None:
        watcher.invalidate(kind, name)


def stop_all() -> None:
    """End every watcher (tests; a process shutting down) and forget past failures."""
    with _lock:
        watchers = list(_watchers.values())
        _failed.clear()
    for watcher in watchers:
        watcher.stop()
