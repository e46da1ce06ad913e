"""The first page: the engine at a glance."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.engine import system
from core.roles import Role, require_role


@require_role(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    """Engine version and OS, container states, image count and disk usage."""
    info = system.engine_info()
    usage = system.disk_usage()
    return render(
        request,
        "overview/overview.html",
        {
            "info": info,
            "usage": usage,
            "reclaimable": sum(row.reclaimable for row in usage),
            "total_size": sum(row.size for row in usage),
        },
    )
