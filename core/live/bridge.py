"""The ONE bridge between blocking engine streams and async code (and sync iterators).

A :class:`Pump` runs a producer in a daemon thread of its own and hands its items over through a
bounded buffer with an explicit policy when the buffer is full:

- ``Policy.BLOCK``: the producer waits (back-pressure reaches the engine socket; downloads, logs);
- ``Policy.DROP_OLDEST``: the oldest item is dropped and COUNTED (``take_dropped()``; a viewer
  who only needs the latest state, or a log viewer told ``{"type": "skipped", "count": N}``).

It is closed by closing the engine stream itself (``close()`` shuts the stream's socket from the
calling thread, docker-py's ``CancellableStream`` idea), which makes the blocked read return; the
producer thread then ends by itself. Nothing here joins a thread, so ``close()`` is safe on the
event loop. Consumers read with ``async for item in pump`` / ``await pump.batch()`` on the loop,
or ``for item in pump`` in a plain thread (a WSGI ``StreamingHttpResponse``); under ASGI use
:func:`aiter_body`, because Django would buffer a sync iterator whole.

Short blocking calls (inspect, exec create, resize) go through :func:`call`: a thread of its own
that ends with the call, never the loop's shared executor (its idle threads hide leaks).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Policy(enum.Enum):
    BLOCK = "block"
    DROP_OLDEST = "drop-oldest"


def _start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    # A copy of the caller's context, so anything context-bound the producer reads stays the same.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
    thread.start()
    return thread


class Feed(Generic[T]):
    """What a producer sees: ``put(item)`` (False once the pump is closed: return), ``attach(stream)``
    (the stream ``close()`` must close to wake a blocked read) and ``closed``."""

    def __init__(self, pump: Pump[T]):
        self._pump = pump

    def put(self, item: T) -> bool:
        return self._pump._put(item)

    def attach(self, stream: Any) -> bool:
        """Make ``stream`` the one ``close()`` closes; False (and the stream closed) if already closed."""
        return self._pump._attach(stream)

    def detach(self, stream: Any) -> None:
        self._pump._detach(stream)

    @property
    def closed(self) -> bool:
        return self._pump.closed


class Pump(Generic[T]):
    """A bounded hand-over from producer threads to one reader (async or sync).

    Args:
        produce: ``produce(feed)`` runs in the pump's thread; returns at the end of the stream. An
            exception it raises reaches the reader after the items put before it. More producers
            may share the buffer (``start(also=...)``, e.g. one per container of a merged log view): the
            stream ends when the last one returns.
        maxsize: the bound, in items.
        policy: what happens when the buffer is full (see module doc).
        name: the thread's name.
        units: how many "units" an item counts for when dropped (e.g. ``len`` for a batch of lines).
    """

    def __init__(
        self,
        produce: Callable[[Feed[T]], None],
        *,
        maxsize: int = 32,
        policy: Policy = Policy.BLOCK,
        name: str = "pump",
        units: Callable[[T], int] | None = None,
    ):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._produce = produce
        self.maxsize = maxsize
        self.policy = policy
        self.name = name
        self._units = units
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # producer waits here (BLOCK policy)
        self._ready = threading.Condition(self._lock)  # a sync reader waits here
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future] | None = None
        self._streams: list[Any] = []
        self._dropped = 0
        self._done = False
        self._error: BaseException | None = None
        self.closed = False
        self.finished = threading.Event()  # every producer thread has returned (tests and hygiene)
        self.high_water = 0  # the most items ever buffered (tests check the bound)
        self.thread: threading.Thread | None = None
        self._running = 0

    @classmethod
    def over(cls, open_stream: Callable[[], Iterable[T]], **kwargs: Any) -> Pump[T]:
        """A pump that opens a blocking iterable (in its thread), relays its items, and closes it."""

        def produce(feed: Feed[T]) -> None:
            stream = open_stream()
            if not feed.attach(stream):
                return
            try:
                for item in stream:
                    if not feed.put(item):
                        return
            finally:
                feed.detach(stream)
                _close_quietly(stream)

        return cls(produce, **kwargs)

    @classmethod
    def reading(cls, raw: Any, chunk_size: int, **kwargs: Any) -> Pump[bytes]:
        """A pump over a raw engine response (``read(n)``/``close()``): chunks of ``chunk_size``."""

        def produce(feed: Feed[bytes]) -> None:
            if not feed.attach(raw):
                return
            try:
                while chunk := raw.read(chunk_size):
                    if not feed.put(chunk):
                        return
            finally:
                feed.detach(raw)
                _close_quietly(raw)

        return cls(produce, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lifecycle

    def start(self, also: Iterable[tuple[Callable[[Feed[T]], None], str]] = ()) -> Pump[T]:
        """Start the producer thread, and one more per ``(produce, name)`` in ``also`` (they share
        the buffer; the stream ends when the last one returns).

        All are counted before any starts: a producer that returns at once must not end the stream
        while the others are still to come (a merged log view of a finished container lost the
        other containers' lines that way).
        """
        if self.thread is not None:
            raise RuntimeError(f"pump {self.name} was started already")
        producers = [(self._produce, self.name), *also]
        with self._lock:
            self._running += len(producers)
        threads = [_start_thread(functools.partial(self._run, produce), name) for produce, name in producers]
        self.thread = threads[0]
        return self

    def _run(self, produce: Callable[[Feed[T]], None]) -> None:
        try:
            produce(Feed(self))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, which reports it
            with self._lock:
                if not self.closed and self._error is None:
                    self._error = exc
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
                if last:
                    self._done = True
                    self._wake_reader()
                else:
                    self._room.notify_all()
            if last:
                self.finished.set()

    def close(self) -> None:
        """Stop: close the attached engine stream(s) and wake the producer. Never blocks, idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            streams, self._streams = self._streams, []
            self._items.clear()
            self._room.notify_all()
            self._wake_reader()
        for stream in streams:
            _close_quietly(stream)

    async def wait_finished(self, timeout: float) -> bool:
        """Wait (without blocking the loop, without joining) for the producer thread to return."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.finished.is_set():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # ------------------------------------------------------------------ producer side

    def _attach(self, stream: Any) -> bool:
        with self._lock:
            if not self.closed:
                self._streams.append(stream)
                return True
        _close_quietly(stream)
        return False

    def _detach(self, stream: Any) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)

    def _put(self, item: T) -> bool:
        with self._lock:
            if self.closed:
                return False
            if len(self._items) >= self.maxsize:
                if self.policy is Policy.DROP_OLDEST:
                    dropped = self._items.popleft()
                    self._dropped += self._units(dropped) if self._units else 1
                else:
                    while len(self._items) >= self.maxsize and not self.closed:
                        self._room.wait()
                    if self.closed:
                        return False
            self._items.append(item)
            if len(self._items) > self.high_water:
                self.high_water = len(self._items)
            self._wake_reader()
            return True

    def _wake_reader(self) -> None:
        """Called with the lock held."""
        self._ready.notify()
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, future = waiter
            try:
                loop.call_soon_threadsafe(_settle, future)
            except RuntimeError:  # the loop is closed (server shutting down)
                pass

    # ------------------------------------------------------------------ reader side

    def take_dropped(self) -> int:
        """Units dropped since the last call (DROP_OLDEST)."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
            return dropped

    def _take(self, limit: int) -> tuple[list[T], bool]:
        """Up to ``limit`` buffered items, and whether the stream is over. Called with the lock held."""
        out: list[T] = []
        while self._items and len(out) < limit:
            out.append(self._items.popleft())
        if out:
            self._room.notify(len(out))
        return out, (self._done or self.closed) and not self._items

    def _raise_end(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def batch(self, limit: int = 1 << 30) -> list[T] | None:
        """Every buffered item (up to ``limit``), waiting for one if none; None at the end.

        Raises:
            the producer's exception, once its earlier items were read.
        """
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                out, over = self._take(limit)
                if out:
                    return out
                if over:
                    self._raise_end()
                    return None
                future = loop.create_future()
                self._waiter = (loop, future)
            try:
                await future
            finally:
                with self._lock:
                    if self._waiter is not None and self._waiter[1] is future:
                        self._waiter = None

    async def next_within(self, timeout: float, limit: int = 1 << 30) -> list[T] | None:
        """Like :meth:`batch`, but ``[]`` after ``timeout`` seconds without anything."""
        try:
            return await asyncio.wait_for(self.batch(limit), timeout)
        except TimeoutError:
            return []

    def __aiter__(self) -> AsyncIterator[T]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[T]:
        while (items := await self.batch()) is not None:
            for item in items:
                yield item

    def __iter__(self) -> Iterator[T]:
        """Blocking iteration, for a plain thread (never on the event loop)."""
        while True:
            with self._lock:
                out, over = self._take(1 << 30)
                while not out and not over:
                    self._ready.wait()
                    out, over = self._take(1 << 30)
                if not out:
                    self._raise_end()
                    return
            yield from out


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _close_quietly(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # closing a broken engine response may raise anything
        log.debug("closing a stream failed", exc_info=True)


async def aiter_body(pump: Pump[bytes]) -> AsyncIterator[bytes]:
    """A streamed HTTP body (ASGI): the pump's chunks; the engine stream is closed however it ends."""
    if pump.thread is None:
        pump.start()
    try:
        async for chunk in pump:
            yield chunk
    except Exception:  # the status line is gone: the download ends short; say why in the log
        log.warning("streamed download %s broke off", pump.name, exc_info=True)
    finally:
        pump.close()


async def call(
    func: Callable[..., T], /, *args: Any, abandoned: Callable[[T], None] | None = None, **kwargs: Any
) -> T:
    """Run a short blocking engine call in a thread of its own that ends with the call.

    ``abandoned(value)`` is called (on the loop) with what the call returned after the awaiting
    coroutine was cancelled: a thing the call opened (an exec's socket) that nobody else will close.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            if future.cancelled() and error is None and abandoned is not None:
                try:
                    abandoned(value)
                except Exception:  # nobody is left to tell
                    log.warning("releasing the result of an abandoned %r failed", func, exc_info=True)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the awaiting coroutine
            outcome: tuple[Any, BaseException | None] = (None, exc)
        else:
            outcome = (value, None)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed
            pass

    _start_thread(run, f"engine-call-{getattr(func, '__name__', 'call')}")
    return await future
