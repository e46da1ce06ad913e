"""Template context every page gets: the user's role and the engine's address."""

from django.conf import settings
from django.http import HttpRequest

from core.roles import Role, role_of


def dashboard(request: HttpRequest) -> dict:
    role = role_of(getattr(request, "user", None))
    return {
        "user_role": role.label if role else "",
        "can_operate": role is not None and role >= Role.OPERATOR,
        "is_admin": role is not None and role >= Role.ADMIN,
        "docker_host": settings.DOCKER_HOST,
    }
