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
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
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


def token_role(token) -> Role:
    """The role an API token was made with (its cap); an unknown label caps to viewer."""
    return ROLE_GROUPS.get(token.role, Role.VIEWER)


def role_on(who: HttpRequest | dict) -> Role | None:
    """The role of a request's (or websocket scope's) user on that request's endpoint, capped by
    the API token it acts with (``api_token``), so a token never does more than its owner can now."""
    if isinstance(who, dict):
        role = effective_role(who.get("user"), who["endpoint"].slug)
        token = who.get("api_token")
    else:
        role = effective_role(getattr(who, "user", None), who.endpoint.slug)
        token = getattr(who, "api_token", None)
    if role is None or token is None:
        return role
    return min(role, token_role(token))


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


DENIED_GET_EVERY_SECONDS = 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def audit_denied(request: HttpRequest, name: str, role: Role, target: str) -> None:
    """Audit a refusal by the role check; GET-like refusals at most once a minute per user and route."""
    from datetime import timedelta

    from django.utils import timezone

    from core import audit
    from core.models import AuditEvent

    if request.method in SAFE_METHODS:
        since = timezone.now() - timedelta(seconds=DENIED_GET_EVERY_SECONDS)
        recent = AuditEvent.objects.filter(
            user=request.user,
            action=name,
            outcome=audit.DENIED,
            created_at__gte=since,
            parameters__method=request.method,
        )
        if recent.exists():
            return
    audit.record(
        request,
        name,
        target=target,
        parameters={"method": request.method, "path": request.path},
        outcome=audit.DENIED,
        message=f"needs the {role.label} role",
    )


def require_role(role: Role, *, action: str | Callable[[HttpRequest], str] | None = None) -> Callable:
    """View decorator: login, then at least ``role``; otherwise a 403 page, audited.

    ``action`` is the audit name of what the view does (``container.stop``, or a function of the
    request for a view that does several things, like the bulk form): a refusal here is written
    under the same name as the view's own ok/failed events, so filtering by action finds both.
    Every view that changes state declares it (the security sweep checks that the names match); a
    view that declares none is read-only and answers 405 to anything but GET/HEAD/OPTIONS. A
    refused POST is always audited; a refused GET at most once a minute per user and route (as
    ``action``, or ``page.<url name>`` for read-only pages).

    The wrapped view carries ``required_role`` and ``audit_action`` so the sweep can read the contract.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request, role):
                match = getattr(request, "resolver_match", None)
                name = action(request) if callable(action) else action
                name = name or f"page.{(match and match.url_name) or view.__name__}"
                audit_denied(request, name, role, str(next(iter(kwargs.values()), "")))
                return forbidden(request, role)
            if action is None and request.method not in SAFE_METHODS:
                return HttpResponseNotAllowed(list(SAFE_METHODS))  # no action declared: read-only
            return view(request, *args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        wrapper.audit_action = action  # type: ignore[attr-defined]
        return wrapper

    return decorator


def websocket_allowed(scope: dict, role: Role) -> bool:
    """The consumer check: at least ``role`` on the scope's endpoint, and the user's own password."""
    from core.accounts import must_change_password

    return has_role(scope, role) and not must_change_password(scope.get("user"))
