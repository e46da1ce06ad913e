"""Template context every page gets: the user's role, the endpoints and the current one."""

from django.conf import settings
from django.http import HttpRequest

from core.roles import Role, effective_role


def dashboard(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    role = effective_role(user) if authenticated else None
    context = {
        "user_role": role.label if role else "",
        "can_operate": role is not None and role >= Role.OPERATOR,
        "is_admin": role is not None and role >= Role.ADMIN,
        "docker_host": settings.DOCKER_HOST,
        "current_endpoint": getattr(request, "endpoint", None),
        "endpoints": [],
        "endpoint_prefix": getattr(getattr(request, "endpoint", None), "prefix", ""),
    }
    if authenticated:
        from core.models import Endpoint

        Endpoint.objects.default()
        context["endpoints"] = list(Endpoint.objects.only("name", "slug", "is_default"))
        endpoint = context["current_endpoint"]
        if endpoint is not None:
            context["docker_host"] = endpoint.url
    return context
