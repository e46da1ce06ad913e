"""The JSON API: django-ninja operations over the same engine code, roles and audit as the pages.

Served at ``/api/`` (and ``/e/<slug>/api/`` for other endpoints), schema at ``/api/openapi.json``,
interactive docs at ``/api/docs`` (Swagger UI vendored under static/vendor/swagger-ui). Operations
authenticate with a bearer token only (core/api/auth.py); the schema and the docs also open for a
signed-in person with a role (the docs page is how people find the API).
"""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger

from core import tokens
from core.api import containers, images, misc, problems, resources
from core.api.auth import BearerToken, Throttled, Unauthorized, authenticate
from core.roles import Role, forbidden, has_role

ERROR_STATUSES = (
    (400, "Bad request"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not found"),
    (409, "Conflict"),
    (422, "Unprocessable content"),
    (429, "Too many requests"),
    (503, "Engine unavailable"),
)


class DashboardAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                # ninja keys its own responses by int, openapi_extra's are strings: one key per status
                # (a JSON object with "200" twice is refused by Swagger UI's parser).
                responses: dict[str, dict] = {}
                for status, response in operation.get("responses", {}).items():
                    responses[str(status)] = {**responses.get(str(status), {}), **response}
                operation["responses"] = responses
                for status, title in ERROR_STATUSES:
                    responses.setdefault(str(status), {"description": title, "content": problem})
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problems.SCHEMA
        return schema


def _docs_access(view):
    """The schema and the docs: a bearer token, or a signed-in person with a role (session)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        secret = tokens.bearer_secret(request.headers.get("Authorization", ""))
        if secret is not None:
            try:
                authenticate(request, secret)
            except Unauthorized as exc:
                return problems.problem(request, 401, exc.detail)
            except Throttled as exc:
                return problems.throttled(request, exc)
        elif not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.method not in ("GET", "HEAD"):
            return problems.problem(request, 405, "The schema and the docs are read with GET.")
        if not has_role(request, Role.VIEWER):
            return forbidden(request, Role.VIEWER)
        return view(request, *args, **kwargs)

    wrapper.required_role = Role.VIEWER  # type: ignore[attr-defined]  # the security sweep reads it
    wrapper.audit_action = None  # type: ignore[attr-defined]  # read-only
    return wrapper


api = DashboardAPI(
    title="Docker dashboard API",
    version="1",
    description="Everything the pages do, for scripts: authenticate with `Authorization: Bearer dkd_…` "
    "(make a token at /account/tokens/). Other endpoints: the same paths under `/e/{slug}/api/`. "
    "Errors are application/problem+json (RFC 9457) with a human `detail`.",
    auth=BearerToken(),
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": False, "tryItOutEnabled": True}),
    docs_url="/docs",
    openapi_url="/openapi.json",
    docs_decorator=_docs_access,
)
problems.install(api)
api.add_router("/containers/", containers.router)
api.add_router("/images/", images.router)
api.add_router("/volumes/", resources.volumes)
api.add_router("/networks/", resources.networks)
api.add_router("/registries/", misc.registries)
api.add_router("/jobs/", misc.jobs)
api.add_router("/audit/", misc.audit_router)
api.add_router("/overview/", misc.overview)


def _api_view(view):
    """Every API route: its own authentication (no login redirect), problem+json for a 405."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # the API root (ninja's marker view): not an operation
            return _unknown(request)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/problem"
        ):
            allowed = response.get("Allow", "")
            problem = problems.problem(request, 405, f"{request.method} is not allowed here; use {allowed}.")
            problem["Allow"] = allowed
            return problem
        return response

    wrapper.login_required = False  # type: ignore[attr-defined]  # LoginRequiredMiddleware: auth is per route
    if getattr(view, "required_role", None) is None:
        wrapper.api_operation = True  # type: ignore[attr-defined]  # token-only: the sweep's API part
    return wrapper


def _wrapped(patterns: list) -> list:
    """Each path once (ninja adds one pattern per operation; the first serves every method of the
    path, the others are never reached), its view wrapped by ``_api_view``."""
    seen: set[str] = set()
    kept = []
    for pattern in patterns:
        if str(pattern.pattern) in seen:
            continue
        seen.add(str(pattern.pattern))
        pattern.callback = _api_view(pattern.callback)
        kept.append(pattern)
    return kept


def _unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    return problems.problem(request, 404, f"There is no API operation at {request.path}; see {api.docs_url}.")


_unknown.login_required = False  # type: ignore[attr-defined]


def urls():
    """The API's URL patterns for ``path("api/", include(...))``: the operations, then a problem+json
    404 for any other path under /api/."""
    from django.urls import re_path

    patterns, app_name, namespace = api.urls
    # [\s\S]: any character, newlines too (a path with %0A must get the problem+json 404 as well).
    fallback = re_path(r"^(?P<rest>[\s\S]*)\Z", _api_view(_unknown))
    return ([*_wrapped(patterns), fallback], app_name, namespace)
