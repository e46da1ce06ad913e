"""Template context every page gets: the user's role and theme, the endpoints and the current one."""

from django.http import HttpRequest

from core.accounts import theme_of
from core.roles import Role, role_on


def dashboard(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    endpoint = getattr(request, "endpoint", None)  # None only on pages the middleware never saw
    role = role_on(request) if authenticated and endpoint is not None else None
    context = {
        "user_role": role.label if role else "",
        "can_operate": role is not None and role >= Role.OPERATOR,
        "is_admin": role is not None and role >= Role.ADMIN,
        "docker_host": endpoint.url if endpoint is not None else "",
        "current_endpoint": endpoint,
        "endpoints": [],
        "theme": theme_of(user) if authenticated else "",
    }
    if authenticated:
        from core.models import Endpoint

        endpoints = list(Endpoint.objects.only("name", "slug", "is_default"))
        if not any(e.is_default for e in endpoints):  # first page ever: create the default row
            Endpoint.objects.default()
            endpoints = list(Endpoint.objects.only("name", "slug", "is_default"))
        context["endpoints"] = endpoints
    return context
