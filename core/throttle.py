"""Login throttling: failures per username and per client address slow down, then lock, for a while.

The failures are the ``auth.login`` / ``denied`` audit events themselves, so the count lives in the
database and holds across processes (several daphne workers) without a second store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.utils import timezone

from core import audit
from core.models import AuditEvent

LOGIN = "auth.login"
LOCKED = "auth.locked"


@dataclass(frozen=True)
class Verdict:
    """What the throttle says about one login attempt."""

    locked: bool
    delay: float
    failures_for_user: int
    failures_for_address: int


def _failures_since(**filters) -> int:
    window = timezone.now() - timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    return AuditEvent.objects.filter(
        action=LOGIN, outcome=audit.DENIED, created_at__gte=window, **filters
    ).count()


def verdict(username: str, address: str | None) -> Verdict:
    """Failures in the window for ``username`` (since its last good login) and for ``address``."""
    since_ok = AuditEvent.objects.filter(action=LOGIN, outcome=audit.OK, target=username).aggregate(
        last=Max("created_at")
    )["last"]
    user_filters = {"target": username}
    if since_ok is not None:
        user_filters["created_at__gt"] = since_ok
    for_user = _failures_since(**user_filters) if username else 0
    for_address = _failures_since(client_address=address) if address else 0
    locked = (
        for_user >= settings.LOGIN_THROTTLE_LOCK_AFTER
        or for_address >= settings.LOGIN_THROTTLE_ADDRESS_LOCK_AFTER
    )
    over = max(
        for_user - settings.LOGIN_THROTTLE_SLOW_AFTER + 1,
        for_address - settings.LOGIN_THROTTLE_ADDRESS_SLOW_AFTER + 1,
        0,
    )
    delay = min(over * settings.LOGIN_THROTTLE_DELAY_SECONDS, settings.LOGIN_THROTTLE_MAX_DELAY_SECONDS)
    return Verdict(locked=locked, delay=delay, failures_for_user=for_user, failures_for_address=for_address)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the throttle: slows repeated failures, refuses while locked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        state = verdict(str(username)[:150], audit.client_address(request))
        if state.locked:
            request.login_locked = True
            audit.record(
                request,
                LOCKED,
                target=str(username)[:150],
                outcome=audit.DENIED,
                message=(
                    f"locked: {state.failures_for_user} failures for this user, "
                    f"{state.failures_for_address} from this address"
                ),
            )
            raise PermissionDenied("too many failed logins")
        if state.delay:
            time.sleep(state.delay)
        return super().authenticate(request, username=username, password=password, **kwargs)
