"""Websocket paths no consumer serves: a clean refusal (a close, no 500, no traceback)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from core.consumers.base import log_refusal

CLOSE_NOT_FOUND = 4404


class UnknownPathConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        log_refusal(self.scope, "no such websocket path")
        await self.close(code=CLOSE_NOT_FOUND)


# Last in core/routing.py: matches whatever the others did not.
websocket_urlpatterns = [re_path(r"", UnknownPathConsumer.as_asgi())]
