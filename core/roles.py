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


def endpoint_limit(user, slug: str | None = None) -> Role | None:
    """The cap on ``user``'s role for one endpoint (default: the current one), or None."""
    from core.context import active_endpoint
    from core.models import EndpointAccess

    ref = active_endpoint()
    key = slug or (ref.slug if ref is not None else "")
    cache = user.__dict__.setdefault("_dashboard_limits", {})
    if key not in cache:
        limits = EndpointAccess.objects.filter(user=user)
        limits = limits.filter(endpoint__slug=key) if key else limits.filter(endpoint__is_default=True)
        names = list(limits.values_list("role", flat=True))
        cache[key] = ROLE_GROUPS[names[0]] if names else None
    return cache[key]


def effective_role(user, slug: str | None = None) -> Role | None:
    """The user's role on an endpoint: the global role, capped by that endpoint's limit if any."""
    role = role_of(user)
    if role is None:
        return None
    limit = endpoint_limit(user, slug)
    return min(role, limit) if limit is not None else role


def has_role(user, role: Role) -> bool:
    """Whether ``user`` has at least ``role`` on the current endpoint."""
    current = effective_role(user)
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
            if not has_role(request.user, role):
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
    """The consumer check: an authenticated, active user with at least ``role`` and their own password."""
    from core.accounts import must_change_password

    user = scope.get("user")
    return has_role(user, role) and not must_change_password(user)
