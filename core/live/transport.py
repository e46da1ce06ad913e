"""How much daphne holds unsent for one connection, and what to do about it.

- ``WriteBackpressure`` (ASGI middleware, HTTP): back-pressure for streamed bodies.
- ``unsent(send)`` and :class:`SendGate` (websockets): the consumer base drops droppable frames
  (log lines, counted and later reported as ``{"type": "skipped", "count": N}``) while the
  connection holds more than its send buffer, and closes a viewer stalled past a limit.

Daphne writes every ``http.response.body`` message straight into Twisted's transport buffer and
never makes the application wait, so a response streamed from a fast source (``docker save``) to
a slow client would pile up in server memory. This wrapper waits after each body message while the
transport holds more than ``limit`` unsent bytes, which keeps a download's memory constant. Under
another server (no Twisted transport behind ``send``) it does nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

DEFAULT_LIMIT = 4 * 1024 * 1024
# Bytes Twisted hands to one send() of a streamed body (its default: 128 KiB). A download is ~2,500
# writable events per 300 MB at 128 KiB and ~500 at 1 MiB, each a trip through the reactor on the
# one thread that also runs every page: daphne's CPU per GB sent was 2.20/2.27 s at 128 KiB and
# 2.01/2.07 s at 1 MiB (two side-by-side rounds on a loaded machine, read from /proc; the wall-clock
# rate there was too noisy to tell). See docs/architecture.md "Volumes and networks".
STREAM_SEND_LIMIT = 1024 * 1024


def _daphne_transport(send: Any) -> Any:
    """The Twisted transport behind daphne's ``send`` (a partial of handle_reply(protocol)), looking
    through Channels' session wrapper (a bound ``send`` whose owner keeps the ``real_send``)."""
    for _ in range(8):
        args = getattr(send, "args", ())
        if args:
            return getattr(args[0], "transport", None)
        send = getattr(getattr(send, "__self__", None), "real_send", None)
        if send is None:
            return None
    return None


def _unsent(transport: Any) -> int:
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def transport_of(send: Any) -> Any:
    """The Twisted transport behind an ASGI ``send`` under daphne, else None (other servers, tests)."""
    transport = _daphne_transport(send)
    return transport if transport is not None and hasattr(transport, "_tempDataLen") else None


def unsent(transport: Any) -> int:
    """Bytes written to the connection that the peer has not taken yet (0 without a transport)."""
    if transport is None:
        return 0
    try:
        return _unsent(transport)
    except (AttributeError, TypeError):
        return 0


SEND, DROP, CLOSE = "send", "drop", "close"


class SendGate:
    """The decision for each droppable frame (pure: unsent bytes and the clock are passed in).

    Over ``limit`` unsent bytes the frame is dropped and its units counted; a connection that stays
    over the limit for ``stall_seconds`` is closed. Dropping is drop-OLDEST: when the dropped frame
    is given (``frame=``), the gate keeps the newest one and counts the one it replaces, so the end
    of a burst (the last lines of a log) still reaches the viewer once the buffer drains.
    ``take_skipped()`` says what to report, then ``take_held()`` is the frame to send after it.
    """

    def __init__(self, *, limit: int, stall_seconds: float):
        self.limit = limit
        self.stall_seconds = stall_seconds
        self.skipped = 0
        self.stalled_since: float | None = None
        self.held: tuple[str, int] | None = None

    def decide(self, unsent_bytes: int, now: float, units: int, frame: str | None = None) -> str:
        if unsent_bytes <= self.limit:
            self.stalled_since = None
            return SEND
        if self.stalled_since is None:
            self.stalled_since = now
        if now - self.stalled_since >= self.stall_seconds:
            return CLOSE
        if frame is None:
            self.skipped += units
        else:
            if self.held is not None:
                self.skipped += self.held[1]
            self.held = (frame, units)
        return DROP

    def take_skipped(self) -> int:
        skipped, self.skipped = self.skipped, 0
        return skipped

    def take_held(self) -> str | None:
        """The newest dropped frame, once (None when nothing is held)."""
        held, self.held = self.held, None
        return held[0] if held is not None else None


class WriteBackpressure:
    def __init__(self, app: Any, *, limit: int = DEFAULT_LIMIT):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        transport = _daphne_transport(send) if scope["type"] == "http" else None
        if transport is None or not hasattr(transport, "_tempDataLen"):
            await self.app(scope, receive, send)
            return
        limit = self.limit

        async def paced_send(message: dict) -> None:
            await send(message)
            if message.get("more_body") and message["type"] == "http.response.body":
                if transport.SEND_LIMIT < STREAM_SEND_LIMIT:  # this connection streams: bigger sends
                    transport.SEND_LIMIT = STREAM_SEND_LIMIT
                while _unsent(transport) > limit and not transport.disconnected:
                    await asyncio.sleep(0.001)

        await self.app(scope, receive, paced_send)
