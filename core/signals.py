"""Auth events: audited, and a logout closes that session's open websockets."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from core import audit


def revoke_websockets(*, user_id: int, session_key: str | None = None, reason: str) -> None:
    """Close the open websockets of one user (one session when ``session_key`` is given)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        f"user.{user_id}",
        {"type": "session.revoked", "session_key": session_key or "", "reason": reason},
    )


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    audit.record(request, "auth.login", target=user.get_username())


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    audit.record(request, "auth.logout", target=user.get_username())
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    revoke_websockets(user_id=user.pk, session_key=session_key, reason="logged out")


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    from core.throttle import alert_if_attacked

    if getattr(request, "login_throttled", None):
        return  # the throttle wrote its own auth.throttled event; a refused attempt is not a new failure
    username = str(credentials.get("username", ""))[:150]
    who = request if request is not None else {}
    audit.record(
        who, "auth.login", target=username, outcome=audit.DENIED, message="wrong username or password"
    )
    alert_if_attacked(who, username)
