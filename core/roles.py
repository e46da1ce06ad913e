"""Roles (viewer < operator < admin, stored as auth groups) and the checks for views and consumers.

viewer:   read everything, follow logs.
operator: + create/run containers, lifecycle actions, exec/attach, pull.
admin:    + delete, prune, push, commit, registries, users (superusers are admins).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_GROUPS = {role.label: role for role in Role}


def role_of(user) -> Role | None:
    """The highest role of ``user``, or None (anonymous, inactive, or in no role group)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_dashboard_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    roles = [ROLE_GROUPS[name] for name in names if name in ROLE_GROUPS]
    role = max(roles) if roles else None
    user._dashboard_role = role
    return role


def endpoint_limit(user, slug: str) -> Role | None:
    """The cap on ``user``'s role on the endpoint ``slug``, or None."""
    from core.models import EndpointAccess

    cache = user.__dict__.setdefault("_dashboard_limits", {})
    if slug not in cache:
        names = list(
            EndpointAccess.objects.filter(user=user, endpoint__slug=slug).values_list("role", flat=True)
        )
        cache[slug] = ROLE_GROUPS[names[0]] if names else None
    return cache[slug]


def effective_role(user, slug: str) -> Role | None:
    """The user's role on the endpoint ``slug``: the global role, capped by that endpoint's limit."""
    role = role_of(user)
    if role is None:
        return None
    limit = endpoint_limit(user, slug)
    return min(role, limit) if limit is not None else role


def role_on(who: HttpRequest | dict) -> Role | None:
    """The role of a request's (or websocket scope's) user on that request's endpoint."""
    if isinstance(who, dict):
        return effective_role(who.get("user"), who["endpoint"].slug)
    return effective_role(getattr(who, "user", None), who.endpoint.slug)


def has_role(who: HttpRequest | dict, role: Role) -> bool:
    """Whether the user of a request (or websocket scope) has at least ``role`` on its endpoint."""
    current = role_on(who)
    return current is not None and current >= role


def set_role(user, role: Role | None) -> None:
    """Put ``user`` in exactly one role group (or none)."""
    from django.contrib.auth.models import Group

    user.groups.remove(*Group.objects.filter(name__in=ROLE_GROUPS))
    if role is not None:
        group, _ = Group.objects.get_or_create(name=role.label)
        user.groups.add(group)
    user.__dict__.pop("_dashboard_role", None)
    user.__dict__.pop("_dashboard_limits", None)


def forbidden(request: HttpRequest, needed: Role) -> HttpResponse:
    return TemplateResponse(request, "errors/403.html", {"needed_role": needed.label}, status=403).render()


def require_role(role: Role, *, audit_action: str | None = None) -> Callable:
    """View decorator: login, then at least ``role``; otherwise 403 (audited for POSTs).

    The wrapped view carries ``required_role`` so the permission sweep can read the contract.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request, role):
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    from core import audit

                    audit.record(
                        request,
                        audit_action or f"{view.__module__.rsplit('.', 1)[-1]}.{view.__name__}",
                        target=str(next(iter(kwargs.values()), "")),
                        outcome=audit.DENIED,
                        message=f"needs the {role.label} role",
                    )
                return forbidden(request, role)
            return view(request, *args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorator


def websocket_allowed(scope: dict, role: Role) -> bool:
    """The consumer check: an authenticated, active user with at least ``role`` on the scope's endpoint."""
    return has_role(scope, role)
