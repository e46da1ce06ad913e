"""Login throttling per (username, client address) with growing waits, and an alert on sustained attacks.

Nobody can lock an account for everyone: failures slow down the PAIR that made them (this username
from this address). Two wider counts catch spreading attacks, and both spare an address the user
logged in from successfully before (a "known" address), so the right password from there keeps
working during an attack from elsewhere:

- failures for the username from any address (a distributed guess of one password);
- failures from the address for any username (password spraying from one place).

Each count past its threshold makes the next attempt wait ``delay_after`` seconds after the latest
failure (doubling each time, capped); an attempt inside the wait is refused without checking the
password (audited ``auth.throttled``). A username with ``LOGIN_ATTACK_AFTER`` failures in the window
writes one ``auth.attack`` event per window, which admins see on the audit page.

The failures are the ``auth.login`` / ``denied`` audit events themselves, so the count lives in the
database and holds across processes (several daphne workers) without a second store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.utils import timezone

from core import audit
from core.models import AuditEvent

LOGIN = "auth.login"
THROTTLED = "auth.throttled"
ATTACK = "auth.attack"


def delay_after(failures: int, slow_after: int, base: float, cap: float) -> float:
    """Seconds to wait after the latest failure: 0 below ``slow_after``, then base, 2x base ... cap."""
    if failures < slow_after or slow_after <= 0:
        return 0.0
    return float(min(base * 2 ** min(failures - slow_after, 32), cap))


def remaining_wait(latest: datetime | None, delay: float, now: datetime) -> float:
    """Seconds still to wait when the latest failure was at ``latest`` and the delay is ``delay``."""
    if latest is None or delay <= 0:
        return 0.0
    return max(0.0, (latest + timedelta(seconds=delay) - now).total_seconds())


@dataclass(frozen=True)
class Verdict:
    """What the throttle says about one login attempt."""

    wait: float  # seconds before an attempt of this pair is checked again (0: check it now)
    known_address: bool  # the user logged in successfully from this address recently
    failures_for_pair: int
    failures_for_user: int
    failures_for_address: int


def _failures(since: datetime, **filters) -> tuple[int, datetime | None]:
    found = AuditEvent.objects.filter(
        action=LOGIN, outcome=audit.DENIED, created_at__gte=since, **filters
    ).aggregate(n=Count("pk"), latest=Max("created_at"))
    return found["n"], found["latest"]


def _last_success(**filters) -> datetime | None:
    return AuditEvent.objects.filter(action=LOGIN, outcome=audit.OK, **filters).aggregate(
        last=Max("created_at")
    )["last"]


def verdict(username: str, address: str | None, now: datetime | None = None) -> Verdict:
    """The pair's, the username's and the address's failures in the window, and the wait they impose."""
    now = now or timezone.now()
    window = now - timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    base, cap = settings.LOGIN_THROTTLE_DELAY_SECONDS, settings.LOGIN_THROTTLE_MAX_DELAY_SECONDS
    pair_ok = _last_success(target=username, client_address=address) if address else None
    known = pair_ok is not None and pair_ok >= now - timedelta(days=settings.LOGIN_KNOWN_ADDRESS_DAYS)
    pair_n, pair_latest = (0, None)
    if username:
        since = max(window, pair_ok or window)
        pair_n, pair_latest = _failures(since, target=username, client_address=address)
    pair_delay = delay_after(pair_n, settings.LOGIN_THROTTLE_SLOW_AFTER, base, cap)
    waits = [remaining_wait(pair_latest, pair_delay, now)]
    user_n = address_n = 0
    if username:
        user_ok = _last_success(target=username)
        user_n, user_latest = _failures(max(window, user_ok or window), target=username)
        if not known:
            delay = delay_after(user_n, settings.LOGIN_THROTTLE_USER_SLOW_AFTER, base, cap)
            waits.append(remaining_wait(user_latest, delay, now))
    if address:
        address_n, address_latest = _failures(window, client_address=address)
        if not known:
            delay = delay_after(address_n, settings.LOGIN_THROTTLE_ADDRESS_SLOW_AFTER, base, cap)
            waits.append(remaining_wait(address_latest, delay, now))
    return Verdict(
        wait=max(waits),
        known_address=known,
        failures_for_pair=pair_n,
        failures_for_user=user_n,
        failures_for_address=address_n,
    )


def alert_if_attacked(request, username: str) -> AuditEvent | None:
    """Write one ``auth.attack`` event per window once a username's failures reach LOGIN_ATTACK_AFTER."""
    if not username:
        return None
    window = timezone.now() - timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    failures = AuditEvent.objects.filter(
        action__in=(LOGIN, THROTTLED), outcome=audit.DENIED, target=username, created_at__gte=window
    )
    count = failures.count()
    if count < settings.LOGIN_ATTACK_AFTER:
        return None
    if AuditEvent.objects.filter(action=ATTACK, target=username, created_at__gte=window).exists():
        return None
    addresses = failures.exclude(client_address=None).values("client_address").distinct().count()
    return audit.record(
        request,
        ATTACK,
        target=username,
        outcome=audit.DENIED,
        message=(
            f"{count} failed or throttled logins for this username from {addresses} address(es) in the "
            f"last {settings.LOGIN_THROTTLE_WINDOW_SECONDS} s"
        ),
    )


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the throttle: an attempt inside its wait is refused unchecked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        name = str(username)[:150]
        state = verdict(name, audit.client_address(request))
        if state.wait > 0:
            request.login_throttled = round(state.wait + 0.5)
            audit.record(
                request,
                THROTTLED,
                target=name,
                outcome=audit.DENIED,
                message=(
                    f"refused unchecked, retry in {state.wait:.0f} s: {state.failures_for_pair} failures "
                    f"for this user from this address, {state.failures_for_user} for this user, "
                    f"{state.failures_for_address} from this address"
                ),
            )
            alert_if_attacked(request, name)
            raise PermissionDenied("too many failed logins")
        return super().authenticate(request, username=username, password=password, **kwargs)
