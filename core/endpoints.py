"""Many Docker hosts: the `/e/<slug>/` URL prefix selects the endpoint for pages and websockets.

The current routes keep meaning the default endpoint (settings.DOCKER_HOST); the same routes under
`/e/<slug>/` address another one. The middleware strips the prefix before URL resolution, makes the
endpoint active (core.context) for the engine layer and role checks, and sets the script prefix so
every ``{% url %}`` / ``reverse()`` inside the page keeps the endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, set_script_prefix

from core.context import EndpointRef, activate, active_endpoint, deactivate
from core.engine.system import EndpointHealth, probe
from core.models import Endpoint

PREFIX = re.compile(r"^/e/(?P<slug>[-a-zA-Z0-9_]+)(?P<rest>/.*)$")
HEALTH_TIMEOUT = 3.0


def lookup(slug: str) -> EndpointRef | None:
    endpoint = Endpoint.objects.filter(slug=slug).first()
    return endpoint.ref() if endpoint is not None else None


def current_slug() -> str:
    ref = active_endpoint()
    return ref.slug if ref is not None else Endpoint.objects.default().slug


def health_of_all(
    endpoints: list[Endpoint], *, pool: ThreadPoolExecutor | None = None, known: dict | None = None
) -> list[tuple[Endpoint, EndpointHealth]]:
    """Probe every endpoint concurrently: the slowest (a dead one: its timeout) sets the pace.

    ``known`` maps slugs to health already measured (e.g. the current endpoint's, from its info).
    """
    known = known or {}
    refs = [endpoint.ref() for endpoint in endpoints]
    for ref in refs:  # register TLS material for the worker threads
        deactivate(activate(ref))
    todo = [ref for ref in refs if ref.slug not in known]
    own_pool = pool is None and bool(todo)
    if own_pool:
        pool = ThreadPoolExecutor(max_workers=min(16, len(todo)))
    try:
        futures = {ref.slug: pool.submit(probe, host=ref.url, timeout=HEALTH_TIMEOUT) for ref in todo}
        results = {**known, **{slug: future.result() for slug, future in futures.items()}}
    finally:
        if own_pool:
            pool.shutdown(wait=False)
    return [(endpoint, results[endpoint.slug]) for endpoint in endpoints]


class EndpointMiddleware:
    """Turns `/e/<slug>/rest` into `/rest` with that endpoint active (404 page for an unknown slug)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = PREFIX.match(request.path_info)
        if match is None:
            request.endpoint = None
            return self.get_response(request)
        ref = lookup(match["slug"])
        if ref is None:
            return TemplateResponse(
                request,
                "errors/404.html",
                {"message": f"There is no endpoint named {match['slug']!r}."},
                status=404,
            ).render()
        if ref.is_default:  # one address per page: the default endpoint lives at the plain routes
            from django.shortcuts import redirect

            return redirect(match["rest"] + (f"?{request.META['QUERY_STRING']}" if request.GET else ""))
        request.endpoint = ref
        request.path_info = match["rest"]
        old_prefix = get_script_prefix()
        set_script_prefix(f"{old_prefix.rstrip('/')}/e/{ref.slug}/")
        token = activate(ref)
        try:
            return self.get_response(request)
        finally:
            deactivate(token)
            set_script_prefix(old_prefix)


class EndpointWebsocketMiddleware:
    """The same for websockets: `/e/<slug>/ws/...` routes to `/ws/...` with the endpoint active."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        match = PREFIX.match(scope.get("path", ""))
        if match is None:
            return await self.inner(scope, receive, send)
        ref = await database_sync_to_async(lookup)(match["slug"])
        if ref is None:
            await send({"type": "websocket.close", "code": 4404})
            return None
        scope = {**scope, "path": match["rest"], "endpoint": ref}
        token = activate(ref)
        try:
            return await self.inner(scope, receive, send)
        finally:
            deactivate(token)


def prefixed(path: str) -> str:
    """``path`` (an absolute app path) under the current endpoint's `/e/<slug>` prefix, if any."""
    ref = active_endpoint()
    return f"{ref.prefix}{path}" if ref is not None else path
