"""The command palette's search: things on the endpoint found by name, as JSON (static/js/palette.js)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from core import engine
from core.engine.system import Named
from core.models import Stack
from core.roles import Role, require_role

MAX_QUERY = 100  # characters of the search text looked at
PER_KIND = 8  # matches listed per kind (containers, images, ...)
ROUTES = {
    "container": "container_detail",
    "image": "image-detail",
    "volume": "volume_detail",
    "network": "network_detail",
    "stack": "stack_detail",
}


def _stacks_down(request: HttpRequest, needle: str, found: list[Named]) -> list[Named]:
    """Stacks the dashboard deployed that have no container now (so no compose label to find)."""
    seen = {n.name for n in found if n.kind == "stack"}
    names = Stack.objects.filter(endpoint=request.endpoint.slug, name__icontains=needle)
    return [
        Named("stack", name, name, "stack (down)")
        for name in names.values_list("name", flat=True)[:PER_KIND]
        if name not in seen
    ]


@require_role(Role.VIEWER)
@require_GET
def search(request: HttpRequest) -> JsonResponse:
    """``?q=``: up to PER_KIND containers, images, volumes, networks and stacks whose name holds it.

    Names are data (the palette sets them with textContent). An engine that does not answer is the
    one error path's 503 (text for an ``HX-Request``), which the palette shows as its message.
    """
    needle = request.GET.get("q", "").strip()[:MAX_QUERY]
    if not needle:
        return JsonResponse({"results": [], "more": False})
    found, more = engine.for_request(request).system.find_named(needle=needle, limit=PER_KIND)
    found = found + _stacks_down(request, needle, found)
    results = [
        {"kind": n.kind, "name": n.name, "detail": n.detail, "url": reverse(ROUTES[n.kind], args=[n.ref])}
        for n in found
    ]
    return JsonResponse({"results": results, "more": more})


urlpatterns = [
    path("search/", search, name="search"),
]
