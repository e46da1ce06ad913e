"""The base every consumer builds on: the role check before anything else, and session revocation."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from core import audit, engine
from core.roles import Role, websocket_allowed

CLOSE_FORBIDDEN = 4403
CLOSE_REVOKED = 4401


class GuardedConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake unless the user has ``required_role``; closes on logout elsewhere.

    After the check ``self.docker`` is the engine of the socket's endpoint (``scope["endpoint"]``).
    Subclasses set ``required_role`` and implement ``start()`` (called after accept) and may set
    ``audit_denied_action`` so that a refusal is written to the audit trail.
    """

    required_role: Role = Role.VIEWER
    audit_denied_action: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed = await database_sync_to_async(websocket_allowed)(self.scope, self.required_role)
        if not allowed:
            if self.audit_denied_action and getattr(user, "is_authenticated", False):
                await database_sync_to_async(audit.record)(
                    self.scope,
                    self.audit_denied_action,
                    target=str(self.scope.get("url_route", {}).get("kwargs", {})),
                    outcome=audit.DENIED,
                    message=f"needs the {self.required_role.label} role",
                )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.docker = engine.for_scope(self.scope)  # the engine of this socket's endpoint
        self.user_group = f"user.{user.pk}"
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.start()

    async def start(self) -> None:
        """Begin the work of the consumer (after the handshake was accepted)."""

    async def stop(self) -> None:
        """Release streams, threads and sockets (called on every disconnect)."""

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "user_group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.stop()

    async def session_revoked(self, event: dict[str, Any]) -> None:
        session = self.scope.get("session")
        mine = getattr(session, "session_key", None)
        if event.get("session_key") and event["session_key"] != mine:
            return
        await self.send_json({"type": "error", "message": f"Session ended: {event.get('reason')}."})
        await self.close(code=CLOSE_REVOKED)

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))
