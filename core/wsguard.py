"""The websocket handshake guard: same origin (scheme, host AND port) and no credentials in the URL.

Channels' ``AllowedHostsOriginValidator`` compares host names only, so a page on another port of the
same host (any other web app there) could open our websockets with the person's cookie. This guard
keeps its ALLOWED_HOSTS semantics and also requires the Origin to be exactly the origin the Host
header names, with the scheme of the connection.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameter names that look like credentials: never accepted, the handshake is refused.
CREDENTIAL_PARAMS = {
    "session",
    "sessionid",
    "session_id",
    "token",
    "access_token",
    "auth",
    "authorization",
    "password",
    "key",
    "api_key",
    "apikey",
    "csrftoken",
}


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def _normalized(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


def _secure(scope: dict) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        return (_header(scope, name) or "").split(",")[0].strip() == proxy[1]
    return False


def refusal_reason(scope: dict) -> str | None:
    """Why this handshake must be refused, or None when it may go on to the login and role checks."""
    host = _header(scope, b"host")
    if not host:
        return "no Host header"
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return f"host {host!r} is not in ALLOWED_HOSTS"
    origin = _header(scope, b"origin")
    if not origin and _header(scope, b"authorization"):
        # A script with a bearer token (browsers always send an Origin and cannot set this header):
        # no origin to check; the token middleware checks the token. A browser's Origin is checked.
        return _query_refusal(scope)
    if not origin or origin == "null":
        return "no Origin header"
    scheme = "https" if _secure(scope) else "http"
    expected = _normalized(scheme, host)
    parsed = urlsplit(origin)
    if "@" in parsed.netloc:
        return f"origin {origin!r} carries credentials (userinfo)"
    if parsed.path or parsed.query or parsed.fragment:
        return f"origin {origin!r} has a path (an Origin is scheme://host[:port] only)"
    given = _normalized(parsed.scheme, parsed.netloc) if parsed.scheme in DEFAULT_PORTS else None
    trusted = {o.rstrip("/") for o in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])}
    if given is None or (given != expected and origin.rstrip("/") not in trusted):
        return f"origin {origin!r} is not this site"
    return _query_refusal(scope)


def _query_refusal(scope: dict) -> str | None:
    query = scope.get("query_string", b"").decode("latin1")
    names = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    if names & CREDENTIAL_PARAMS:
        return "credentials in the query string are not accepted"
    return None


class _Refuse:
    """Logs the refusal (reason, origin, path, client), audits it when the cookie names a user, denies."""

    async def __call__(self, scope, receive, send):
        from channels.db import database_sync_to_async

        from core import audit
        from core.consumers.base import log_refusal

        reason = scope["refusal"]
        log_refusal(scope, reason)
        if getattr(scope.get("user"), "is_authenticated", False):
            await database_sync_to_async(audit.record)(
                scope, "websocket.connect", target=scope.get("path", ""), outcome=audit.DENIED, message=reason
            )
        return await WebsocketDenier()(scope, receive, send)


def _token_for(scope: dict, header: str):
    """(token, None) for a usable bearer token in ``header``, else (None, why); audits a refused known
    token (sync: runs in a thread)."""
    from core import audit, tokens
    from core.api.auth import Throttled, throttle

    secret = tokens.bearer_secret(header)
    if secret is None:
        return None, "an Authorization header that is not a bearer token"
    token = tokens.find(secret)
    if token is None:
        return None, "an unknown token"
    reason = tokens.refusal(token)
    if reason is None:
        try:
            throttle(token)
        except Throttled as exc:
            reason = str(exc)
    if reason is not None:
        audit.record(
            {**scope, "user": token.user, "api_token": token},
            "websocket.connect",
            target=scope.get("path", ""),
            outcome=audit.DENIED,
            message=reason,
        )
        return None, reason
    tokens.mark_used(token, audit.client_address(scope))
    return token, None


class BearerTokenMiddleware:
    """ASGI middleware (inside the cookie auth): ``Authorization: Bearer dkd_…`` on a websocket
    handshake makes the token's owner the user and puts the token on ``scope["api_token"]`` (its
    role caps the owner's: core/roles.py ``role_on``); a bad or refused token is an HTTP 403. Never
    from the query string (refused by the origin guard)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        from channels.db import database_sync_to_async

        from core.consumers.base import log_refusal

        header = _header(scope, b"authorization") if scope["type"] == "websocket" else None
        if header is None:
            return await self.inner(scope, receive, send)
        token, reason = await database_sync_to_async(_token_for)(scope, header)
        if token is None:
            log_refusal(scope, f"bearer: {reason}")
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner({**scope, "user": token.user, "api_token": token}, receive, send)


class SameOriginValidator:
    """ASGI middleware: refuses (HTTP 403) websocket handshakes that fail ``refusal_reason``."""

    def __init__(self, application):
        from channels.auth import AuthMiddlewareStack

        self.application = application
        self.refuse = AuthMiddlewareStack(_Refuse())

    async def __call__(self, scope, receive, send):
        reason = refusal_reason(scope) if scope["type"] == "websocket" else None
        if reason is not None:
            return await self.refuse({**scope, "refusal": reason}, receive, send)
        return await self.application(scope, receive, send)
