"""ASGI middleware: back-pressure for streamed HTTP bodies under daphne.

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


def _daphne_transport(send: Any) -> Any:
    """The Twisted transport behind daphne's ``send`` (a partial of handle_reply(protocol))."""
    args = getattr(send, "args", ())
    protocol = args[0] if args else None
    return getattr(protocol, "transport", None)


def _unsent(transport: Any) -> int:
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


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
                while _unsent(transport) > limit and not transport.disconnected:
                    await asyncio.sleep(0.001)

        await self.app(scope, receive, paced_send)
