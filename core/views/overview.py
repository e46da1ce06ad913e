"""The first page: the engine at a glance, and every endpoint side by side."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.endpoints import health_of_all
from core.engine import system
from core.models import Endpoint
from core.roles import Role, require_role


@require_role(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    """Engine version and OS, container states, image count and disk usage; other endpoints' health."""
    info = system.engine_info()
    usage = system.disk_usage()
    Endpoint.objects.default()
    endpoints = list(Endpoint.objects.all())
    return render(
        request,
        "overview/overview.html",
        {
            "info": info,
            "usage": usage,
            "reclaimable": sum(row.reclaimable for row in usage),
            "total_size": sum(row.size for row in usage),
            "endpoint_health": health_of_all(endpoints) if len(endpoints) > 1 else [],
        },
    )
