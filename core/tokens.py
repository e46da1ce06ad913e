"""API tokens: how a secret is made, shown once, recognised and checked.

A secret is ``dkd_`` + 40 URL-safe random characters (a recognisable prefix, so secret scanners can
find leaked ones). Only its SHA-256 is stored: the secret itself is shown once, at creation. A
lookup hashes the presented secret and compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from core.roles import Role

PREFIX = "dkd_"
SECRET_RE = re.compile(r"^dkd_[A-Za-z0-9_-]{40}$")
DEFAULT_EXPIRES_DAYS = 90
MAX_EXPIRES_DAYS = 3650
USE_RECORD_SECONDS = 30  # the last-use time is written at most this often per token and address


@dataclass(frozen=True)
class NewToken:
    token: object  # the saved ApiToken
    secret: str  # shown once


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return bool(SECRET_RE.match(value or ""))


def create(user, *, name: str, role: Role, expires_days: int | None) -> NewToken:
    """Make and save a token for ``user``; ``expires_days=None`` never expires (admins only: the
    caller checks)."""
    from core.models import ApiToken

    secret = PREFIX + secrets.token_urlsafe(30)[:40]
    while not SECRET_RE.match(secret):  # token_urlsafe(30) gives 40 characters; keep the grammar exact
        secret = PREFIX + secrets.token_urlsafe(30)[:40]
    expires = timezone.now() + timedelta(days=expires_days) if expires_days else None
    token = ApiToken.objects.create(
        user=user, name=name, role=role.label, prefix=secret[:12], digest=digest(secret), expires_at=expires
    )
    return NewToken(token=token, secret=secret)


def find(secret: str):
    """The ApiToken for ``secret`` (any state), or None. Constant-time on the digest."""
    from core.models import ApiToken

    if not looks_like_token(secret):
        return None
    wanted = digest(secret)
    token = ApiToken.objects.select_related("user").filter(digest=wanted).first()
    if token is None or not hmac.compare_digest(token.digest, wanted):
        return None
    return token


def refusal(token) -> str | None:
    """Why ``token`` may not be used now (revoked, expired, owner deactivated), or None."""
    if token.revoked_at is not None:
        return f"Token “{token.name}” was revoked."
    if token.expired:
        return f"Token “{token.name}” expired on {token.expires_at:%Y-%m-%d %H:%M} UTC."
    if not token.user.is_active:
        return f"The owner of token “{token.name}” is deactivated."
    return None


def reload(token):
    """A fresh copy of ``token`` from the database (with its user), or None when it is gone."""
    from core.models import ApiToken

    return ApiToken.objects.select_related("user").filter(pk=token.pk).first()


def bearer_secret(header: str) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header value, or None for another scheme."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def mark_used(token, address: str | None) -> None:
    """Record the last use (time and address), at most every 30 s per address: one UPDATE, no save()."""
    from core.models import ApiToken

    now = timezone.now()
    recent = (
        token.last_used_at is not None and (now - token.last_used_at).total_seconds() < USE_RECORD_SECONDS
    )
    if recent and token.last_used_address == address:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_address=address)
    token.last_used_at, token.last_used_address = now, address
