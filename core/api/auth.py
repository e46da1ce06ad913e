"""Who calls the API: a bearer token, and only a bearer token.

- ``Authorization: Bearer dkd_...`` is the only way in. A session cookie does not authenticate the
  API (so a page's cookie can never drive writes: no CSRF surface), and a token in the query string
  or a form field is refused with 401 before anything else runs (it would end up in logs and
  browser history).
- The token's role caps the owner's role on the endpoint (core/roles.py ``role_on``), so a token
  never does more than the person who made it can do now; a deactivated owner's tokens stop.
- A known token that is refused (revoked, expired, owner deactivated) is audited as ``api.auth``
  (denied), at most once a minute per token.
- Each token is throttled (a fixed window in the cache: per process, or shared when the cache is):
  ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from core import audit, tokens

CREDENTIAL_PARAMS = ("token", "access_token", "api_key", "apikey", "key", "bearer", "auth", "authorization")
REFUSAL_AUDIT_EVERY_SECONDS = 60


class Unauthorized(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Throttled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests for this token: try again in {retry_after} s.")
        self.retry_after = retry_after


def refuse_credentials_outside_header(request: HttpRequest) -> None:
    """401 for a token in the query string or a form field (checked before authentication)."""
    sources = [request.GET]
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sources.append(request.POST)
    for source in sources:
        for name, values in source.lists():
            if name.lower() in CREDENTIAL_PARAMS or any(tokens.looks_like_token(v) for v in values):
                raise Unauthorized(
                    "Tokens are accepted only in the Authorization header (Authorization: Bearer <token>), "
                    "never in the URL or a form field. Revoke a token that was sent that way."
                )


def throttle(token) -> None:
    """Count one request of ``token`` in the current window; Throttled past API_RATE_LIMIT."""
    limit = settings.API_RATE_LIMIT
    window = settings.API_RATE_WINDOW
    now = time.time()
    slot = int(now // window)
    key = f"api-rate:{token.digest[:24]}:{slot}"  # the digest: unique even if ids are reused
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


def _audit_refused(request: HttpRequest, token, reason: str) -> None:
    from core.models import AuditEvent

    since = timezone.now() - timedelta(seconds=REFUSAL_AUDIT_EVERY_SECONDS)
    if AuditEvent.objects.filter(action="api.auth", token_id=token.pk, created_at__gte=since).exists():
        return
    request.user = token.user
    request.api_token = token
    audit.record(
        request,
        "api.auth",
        target=f"{token.name} ({token.prefix})",
        outcome=audit.DENIED,
        parameters={"method": request.method, "path": request.path},
        message=reason,
    )


def authenticate(request: HttpRequest, secret: str):
    """The token for ``secret`` (put on the request with its user), or Unauthorized/Throttled."""
    found = tokens.find(secret)
    if found is None:
        raise Unauthorized("That token is not known. Tokens look like dkd_… and are shown once when made.")
    reason = tokens.refusal(found)
    if reason is not None:
        _audit_refused(request, found, reason)
        raise Unauthorized(reason)
    throttle(found)
    request.user = found.user
    request.api_token = found
    tokens.mark_used(found, audit.client_address(request))
    return found


class BearerToken(HttpBearer):
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest):
        refuse_credentials_outside_header(request)
        secret = tokens.bearer_secret(request.headers.get("Authorization", ""))
        if secret is None:
            raise Unauthorized(
                "Authentication needed: send Authorization: Bearer <token> (make one at /account/tokens/); "
                "a session cookie does not authenticate the API."
            )
        return authenticate(request, secret)

    def authenticate(self, request: HttpRequest, token: str):  # the base class's hook (unused: see __call__)
        return authenticate(request, token)
