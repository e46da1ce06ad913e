"""Health check and error handlers (no traceback ever reaches a person)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from core import engine
from core.errors import DashboardError


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers and compose: the app answers; engine state is reported, not required."""
    # One /_ping, not /info + /version (10-40 ms of engine work): a probe every few seconds stays cheap.
    try:
        engine.for_request(request).system.ping()
        state = "ok"
    except DashboardError:
        state = "unreachable"
    return JsonResponse({"status": "ok", "engine": state})


def _error(request: HttpRequest, template: str, status: int, **context) -> HttpResponse:
    endpoint = getattr(request, "endpoint", None)
    context.setdefault("docker_host", endpoint.url if endpoint is not None else settings.DOCKER_HOST)
    return TemplateResponse(request, template, context, status=status).render()


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "errors/403.html", 403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "errors/404.html", 404)


def error_500(request: HttpRequest) -> HttpResponse:
    return _error(request, "errors/500.html", 500)
