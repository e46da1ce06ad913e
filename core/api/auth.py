"""Who calls the API: a bearer token, and only a bearer token.

- ``Authorization: Bearer dkd_...`` is the only way in. A session cookie does not authenticate the
  API (so a page's cookie can never drive writes), and a token in the query string or a form field
  is refused with 401 before anything else runs (it would end up in logs and browser history).
- The token's role caps the owner's role on the endpoint (core/roles.py ``role_on``), so a token
  never does more than the person who made it can do now; a deactivated owner's tokens stop.
- Each token is throttled (a fixed window in the cache: per process, or shared through Redis when
  the cache is Redis): ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from core import tokens
from core.audit import client_address

CREDENTIAL_PARAMS = ("token", "access_token", "api_key", "apikey", "key", "bearer", "auth", "authorization")


class Unauthorized(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Throttled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests: try again in {retry_after} s.")
        self.retry_after = retry_after


def refuse_credentials_outside_header(request: HttpRequest) -> None:
    """401 for a token in the query string or a form field (checked before authentication)."""
    for source in (request.GET, request.POST if request.content_type != "application/json" else {}):
        for name, value in source.items():
            if name.lower() in CREDENTIAL_PARAMS or tokens.looks_like_token(value):
                raise Unauthorized(
                    "Tokens are accepted only in the Authorization header (Authorization: Bearer <token>), "
                    "never in the URL or a form field. Revoke a token that was sent that way."
                )


def throttle(token) -> None:
    limit = settings.API_RATE_LIMIT
    window = settings.API_RATE_WINDOW
    now = time.time()
    slot = int(now // window)
    key = f"api-rate:{token.pk}:{slot}"
    if cache.add(key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        raise Throttled(max(1, int((slot + 1) * window - now) + 1))


class BearerToken(HttpBearer):
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest):
        refuse_credentials_outside_header(request)
        header = request.headers.get("Authorization", "")
        if not header:
            raise Unauthorized("Authentication needed: send Authorization: Bearer <token> (make one at /account/tokens/).")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str):
        found = tokens.find(token.strip())
        if found is None:
            raise Unauthorized("That token is not known. Tokens look like dkd_… and are shown once when made.")
        if found.revoked_at is not None:
            raise Unauthorized(f"Token “{found.name}” was revoked.")
        if found.expired:
            raise Unauthorized(f"Token “{found.name}” expired on {found.expires_at:%Y-%m-%d}.")
        if not found.user.is_active:
            raise Unauthorized("The owner of this token is deactivated.")
        throttle(found)
        request.user = found.user
        request.api_token = found
        address = client_address(request)
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 30 or found.last_used_address != address:
            type(found).objects.filter(pk=found.pk).update(last_used_at=now, last_used_address=address)
        return found
