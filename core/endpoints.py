"""Many Docker hosts: the `/e/<slug>/` URL prefix selects the endpoint for pages and websockets.

The plain routes mean the default endpoint (settings.DOCKER_HOST); the same routes under
`/e/<slug>/` address another one. The middleware puts the endpoint on ``request.endpoint`` (always
an :class:`~core.engine.EndpointRef`, the default one included) or ``scope["endpoint"]``, strips the
prefix before URL resolution, and sets the script prefix so every ``{% url %}`` / ``reverse()``
inside the page keeps the endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, reverse, set_script_prefix

from core import engine
from core.engine import EndpointRef
from core.engine.system import EndpointHealth
from core.models import DEFAULT_SLUG, Endpoint

PREFIX = re.compile(r"^/e/(?P<slug>[-a-zA-Z0-9_]+)(?P<rest>/.*)$")
HEALTH_TIMEOUT = 3.0


def default_ref() -> EndpointRef:
    """The default endpoint: settings.DOCKER_HOST under the fixed slug (no database query, so
    /healthz answers before migrations)."""
    return EndpointRef(slug=DEFAULT_SLUG, name=DEFAULT_SLUG, url=settings.DOCKER_HOST, is_default=True)


def lookup(slug: str) -> EndpointRef | None:
    """The endpoint named ``slug``, or None when there is none."""
    endpoint = Endpoint.objects.filter(slug=slug).first()
    return endpoint.ref() if endpoint is not None else None


def health_of_all(
    endpoints: list[Endpoint], *, pool: ThreadPoolExecutor | None = None
) -> list[tuple[Endpoint, EndpointHealth]]:
    """Probe every endpoint concurrently: the slowest (a dead one: its timeout) sets the pace."""
    if not endpoints:
        return []
    own_pool = pool is None
    if own_pool:
        pool = ThreadPoolExecutor(max_workers=min(16, len(endpoints)))
    try:
        futures = [
            pool.submit(engine.for_endpoint(endpoint.ref()).system.probe, timeout=HEALTH_TIMEOUT)
            for endpoint in endpoints
        ]
        return [(endpoint, future.result()) for endpoint, future in zip(endpoints, futures, strict=True)]
    finally:
        if own_pool:
            pool.shutdown(wait=False)


def reverse_on(request: HttpRequest, endpoint: Endpoint | EndpointRef, name: str, *args: object) -> str:
    """``reverse()`` for a page of ``endpoint`` (the default one at the plain routes, another under
    `/e/<slug>/`) from a request on any endpoint: the endpoint switcher and the endpoints lists.
    Within one endpoint plain ``{% url %}`` is right (the script prefix already carries it)."""
    original = get_script_prefix()
    prefix = original
    current = getattr(request, "endpoint", None)
    if current is not None and not current.is_default:
        prefix = prefix.removesuffix(f"e/{current.slug}/")  # as EndpointMiddleware added it
    if not endpoint.is_default:
        prefix = f"{prefix.rstrip('/')}/e/{endpoint.slug}/"
    set_script_prefix(prefix)
    try:
        return reverse(name, args=args)
    finally:
        set_script_prefix(original)


class EndpointMiddleware:
    """Sets ``request.endpoint``; `/e/<slug>/rest` becomes `/rest` (404 page for an unknown slug)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = PREFIX.match(request.path_info)
        if match is None:
            request.endpoint = default_ref()
            return self.get_response(request)
        ref = lookup(match["slug"])
        if ref is None:
            request.endpoint = default_ref()
            return TemplateResponse(
                request,
                "errors/404.html",
                {"message": f"There is no endpoint named {match['slug']!r}."},
                status=404,
            ).render()
        if ref.is_default:  # one address per page: the default endpoint lives at the plain routes
            # A path of this site whatever follows the slug: "//host/" or "/\\host/" would be another
            # site's address to a browser (an open redirect, before any login).
            local = "/" + match["rest"].lstrip("/\\")
            response = redirect(local + (f"?{request.META['QUERY_STRING']}" if request.GET else ""))
            if request.method not in ("GET", "HEAD"):
                response.status_code = 308  # the same method and body again (a 302 made a POST a GET)
            return response
        request.endpoint = ref
        request.path_info = match["rest"]
        old_prefix = get_script_prefix()
        set_script_prefix(f"{old_prefix.rstrip('/')}/e/{ref.slug}/")
        try:
            return self.get_response(request)
        finally:
            set_script_prefix(old_prefix)


class EndpointWebsocketMiddleware:
    """The same for websockets: ``scope["endpoint"]`` always set; `/e/<slug>/ws/...` routes to `/ws/...`."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        match = PREFIX.match(scope.get("path", ""))
        if match is None:
            return await self.inner({**scope, "endpoint": default_ref()}, receive, send)
        ref = await database_sync_to_async(lookup)(match["slug"])
        if ref is None:
            await send({"type": "websocket.close", "code": 4404})
            return None
        return await self.inner({**scope, "path": match["rest"], "endpoint": ref}, receive, send)
