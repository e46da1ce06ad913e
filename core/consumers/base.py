"""The base every consumer builds on: the role check, heartbeats, session re-checks, bounded sends.

- The handshake is refused unless the user has ``required_role``; each refusal is logged with its
  reason, origin, path and client address, and audited when a user is known.
- While open, a watcher task sends ``{"type": "heartbeat"}`` every LIVE_HEARTBEAT_SECONDS and
  re-checks every LIVE_SESSION_CHECK_SECONDS that the session still exists, has not expired, that
  its auth hash still matches (a password change) and that the role on the endpoint still allows
  the stream; otherwise ``{"type": "error"}`` and a 4401 close. Logout elsewhere closes at once
  (``session_revoked`` through the channel layer).
- ``send_droppable()`` is the bounded send for frames that may be skipped (log lines): while the
  connection holds more than LIVE_SEND_BUFFER unsent bytes they are dropped and counted, reported as
  ``{"type": "skipped", "count": N}`` once it drains, followed by the newest dropped frame (held
  back, one frame: drop-oldest, so the end of a burst is never lost); a viewer stalled past
  LIVE_STALL_SECONDS is closed (4008, with the reason).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from core import audit, engine
from core.live.memory import release_freed_memory
from core.live.transport import CLOSE, DROP, SendGate, transport_of, unsent
from core.roles import Role, websocket_allowed

CLOSE_FORBIDDEN = 4403
CLOSE_REVOKED = 4401
CLOSE_TOO_SLOW = 4008
ABORT_AFTER_CLOSE_SECONDS = 5

log = logging.getLogger("core.websockets")


def client_address(scope: dict) -> str:
    client = scope.get("client") or ("", 0)
    return f"{client[0]}:{client[1]}" if client and client[0] else "?"


def origin_of(scope: dict) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == b"origin":
            return value.decode("latin1")
    return ""


def log_refusal(scope: dict, reason: str) -> None:
    """One line per refused handshake (control characters encoded: these values come from outside)."""
    log.warning(
        "websocket refused: %s (origin=%r path=%r client=%s)",
        reason,
        origin_of(scope),
        scope.get("path", ""),
        client_address(scope),
    )


def log_closed(scope: dict, reason: str) -> None:
    log.info("websocket closed: %s (path=%r client=%s)", reason, scope.get("path", ""), client_address(scope))


def session_problem(scope: dict, role: Role) -> str | None:
    """Why this socket's session may no longer stream (None: it still may). Reads the database."""
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.utils.crypto import constant_time_compare

    if scope.get("api_token") is not None:
        return token_problem(scope, role)
    key = getattr(scope.get("session"), "session_key", None)
    if not key:
        return "no session"
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key).load()
    if not data:
        return "the session expired or was logged out"
    user = get_user_model().objects.filter(pk=getattr(scope.get("user"), "pk", None)).first()
    if user is None or not user.is_active:
        return "the account was deactivated"
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return "the session belongs to someone else now"
    stored = data.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(stored, user.get_session_auth_hash()):
        return "the password was changed"
    if not websocket_allowed({**scope, "user": user}, role):
        return f"the role on this endpoint no longer allows it (needs {role.label})"
    return None


def token_problem(scope: dict, role: Role) -> str | None:
    """The same for a socket opened with an API token: still usable, and its role still enough."""
    from core import tokens

    token = tokens.reload(scope["api_token"])
    problem = tokens.refusal(token) if token is not None else "the token was deleted"
    if problem:
        return problem
    if not websocket_allowed({**scope, "user": token.user, "api_token": token}, role):
        return f"the role on this endpoint no longer allows it (needs {role.label})"
    return None


class GuardedConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake unless the user has ``required_role``; closes on logout elsewhere.

    After the check ``self.docker`` is the engine of the socket's endpoint (``scope["endpoint"]``).
    Subclasses set ``required_role`` and implement ``start()`` (called after accept) and ``stop()``,
    and may set ``audit_denied_action`` so that a refusal is written to the audit trail.
    """

    required_role: Role = Role.VIEWER
    audit_denied_action: str | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user_group: str | None = None
        self.watch_task: asyncio.Task | None = None
        self.transport: Any = None
        self.gate = SendGate(limit=settings.LIVE_SEND_BUFFER, stall_seconds=settings.LIVE_STALL_SECONDS)
        self.closing = False
        self.stopped = False  # disconnect() ran (once: daphne's disconnect, or a cancelled handler)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' own, without its thread hop before each message from the browser.

        Channels runs ``close_old_connections`` in Django's one shared sync thread before every
        message it dispatches, keystrokes included: ~250 µs of the ~1 ms echo of a terminal key
        went there (traced with timestamps on both sides of it). Nothing here touches the database
        outside ``database_sync_to_async``, which closes old connections itself before and after each
        call, so a browser frame skips it; every other message keeps it."""
        if message.get("type") == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed = await database_sync_to_async(websocket_allowed)(self.scope, self.required_role)
        if not allowed:
            known = getattr(user, "is_authenticated", False)
            reason = f"needs the {self.required_role.label} role" if known else "not signed in"
            log_refusal(self.scope, reason)
            if known:
                await database_sync_to_async(audit.record)(
                    self.scope,
                    self.audit_denied_action or "websocket.connect",
                    target=self.scope.get("path", ""),
                    outcome=audit.DENIED,
                    message=reason,
                )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.docker = engine.for_scope(self.scope)  # the engine of this socket's endpoint
        self.user_group = f"user.{user.pk}"
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        self.transport = transport_of(self.base_send)
        self.watch_task = asyncio.create_task(self.watch())
        await self.start()

    async def start(self) -> None:
        """Begin the work of the consumer (after the handshake was accepted)."""

    async def stop(self) -> None:
        """Release streams, threads and sockets (called on every disconnect)."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # daphne cancels a handler that has not returned 10 s after the browser left: one still
            # in start() (waiting for a hung engine) never saw ``websocket.disconnect``, and its
            # slot, threads and streams must be released all the same.
            if not self.stopped:
                try:
                    await self.disconnect(1006)
                except BaseException:  # cancelled again, or a broken channel layer
                    log.warning("releasing a cancelled websocket failed", exc_info=True)

    async def disconnect(self, code: int) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.closing = True
        if self.watch_task is not None:
            self.watch_task.cancel()
        try:
            await self.stop()
        finally:
            self.gate.held = None  # a dropped frame held back for this viewer
            if self.user_group:
                await self.channel_layer.group_discard(self.user_group, self.channel_name)
            release_freed_memory()  # what this stream churned through goes back to the OS

    # ------------------------------------------------------------------ watcher

    async def watch(self) -> None:
        """Heartbeats and session re-checks until the socket closes."""
        beat = settings.LIVE_HEARTBEAT_SECONDS
        check = settings.LIVE_SESSION_CHECK_SECONDS
        next_beat = next_check = time.monotonic()
        next_beat += beat
        next_check += check
        while not self.closing:
            await asyncio.sleep(max(min(next_beat, next_check) - time.monotonic(), 0.05))
            now = time.monotonic()
            if now >= next_check:
                next_check = now + check
                try:
                    problem = await database_sync_to_async(session_problem)(self.scope, self.required_role)
                except Exception:  # "database is locked" and the like: check again next time
                    log.warning("re-checking a websocket's session failed", exc_info=True)
                    problem = None
                if problem:
                    await self.end_session(problem)
                    return
            if now >= next_beat:
                next_beat = now + beat
                await self.heartbeat()

    async def heartbeat(self) -> None:
        """A heartbeat frame (consumers add what they know, e.g. the engine's state); a frame held
        back while the viewer was behind goes out first (a followed log gone quiet after a burst)."""
        if unsent(self.transport) <= self.gate.limit:
            await self.flush_skipped()
            await self.send_json({"type": "heartbeat", "time": time.time()})

    async def end_session(self, reason: str) -> None:
        if self.closing:
            return
        log.info(
            "websocket closed: %s (path=%r client=%s)",
            reason,
            self.scope.get("path"),
            client_address(self.scope),
        )
        await self.send_json({"type": "error", "message": f"Session ended: {reason}."})
        await self.close(code=CLOSE_REVOKED)

    async def session_revoked(self, event: dict[str, Any]) -> None:
        session = self.scope.get("session")
        mine = getattr(session, "session_key", None)
        token = self.scope.get("api_token")
        if event.get("session_key") and (token is not None or event["session_key"] != mine):
            return
        if event.get("token_id") and (token is None or event["token_id"] != token.pk):
            return
        await self.end_session(str(event.get("reason") or "signed out"))

    # ------------------------------------------------------------------ sending

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def send_droppable(self, frame: str, units: int) -> bool:
        """Send a frame that may be skipped when the viewer cannot keep up (see module doc).

        Returns False once the socket was closed for being stalled (stop sending)."""
        if self.closing:
            return False
        decision = self.gate.decide(unsent(self.transport), time.monotonic(), units, frame=frame)
        if decision == DROP:
            return True
        if decision == CLOSE:
            await self.close_stalled()
            return False
        await self.flush_skipped()
        await self.send(text_data=frame)
        return True

    async def flush_skipped(self) -> None:
        """``skipped`` with the count of dropped units, then the newest dropped frame (drop-oldest:
        the newest lines are the ones a viewer who fell behind needs)."""
        skipped = self.gate.take_skipped()
        if skipped:
            await self.send_json({"type": "skipped", "count": skipped})
        held = self.gate.take_held()
        if held is not None:
            await self.send(text_data=held)

    async def close_stalled(self) -> None:
        """The viewer has not read for LIVE_STALL_SECONDS: close, and drop the connection if the close
        frame cannot get through either (its buffer is what we are freeing)."""
        self.closing = True
        reason = f"too slow: nothing read for {self.gate.stall_seconds:.0f} s"
        log.info(
            "websocket closed: %s (path=%r client=%s)",
            reason,
            self.scope.get("path"),
            client_address(self.scope),
        )
        await self.close(code=CLOSE_TOO_SLOW, reason=reason)
        transport = self.transport
        if transport is not None:
            asyncio.get_running_loop().call_later(ABORT_AFTER_CLOSE_SECONDS, _abort, transport)


def _abort(transport: Any) -> None:
    if not getattr(transport, "disconnected", True):
        transport.abortConnection()
