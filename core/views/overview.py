"""The first page: the engine at a glance, and every endpoint side by side."""

from concurrent.futures import ThreadPoolExecutor

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core import engine
from core.endpoints import health_of_all
from core.engine.system import health_from_info
from core.models import Endpoint
from core.roles import Role, require_role


@require_role(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    """Engine version and OS, container states, image count and disk usage; other endpoints' health.

    The engine calls and the other endpoints' probes run concurrently: the page costs about as much
    as its slowest endpoint, a dead one bounded by the probe timeout.
    """
    docker = engine.for_request(request)
    Endpoint.objects.default()
    endpoints = list(Endpoint.objects.all())
    slug = request.endpoint.slug
    others = [endpoint for endpoint in endpoints if endpoint.slug != slug] if len(endpoints) > 1 else []
    pool = ThreadPoolExecutor(max_workers=2 + len(others))
    try:
        info_future = pool.submit(docker.system.engine_info)
        usage_future = pool.submit(docker.system.disk_usage)
        health = {e.slug: h for e, h in health_of_all(others, pool=pool)} if others else {}
        info, usage = info_future.result(), usage_future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # an engine error answers without waiting for probes
    endpoint_health = []
    if others:
        health[slug] = health_from_info(info)
        endpoint_health = [(endpoint, health[endpoint.slug]) for endpoint in endpoints]
    return render(
        request,
        "overview/overview.html",
        {
            "info": info,
            "usage": usage,
            "reclaimable": sum(row.reclaimable for row in usage),
            "total_size": sum(row.size for row in usage),
            "endpoint_health": endpoint_health,
        },
    )
