"""Errors as ``application/problem+json`` (RFC 9457): a human ``detail``, never a page or a traceback."""

from __future__ import annotations

import json
import logging

from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core import audit
from core.api.auth import Throttled, Unauthorized
from core.errors import DashboardError

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
}


SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["title", "status", "detail"],
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Forbidden(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def problem(request: HttpRequest, status: int, detail: str, **extra) -> HttpResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = HttpResponse(json.dumps(body), status=status, content_type="application/problem+json")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = problem(request, 429, str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


def _field(location: list) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "payload", "form")]
    return ".".join(parts) or "body"


def validation_detail(errors: list[dict]) -> tuple[str, list[dict]]:
    items = []
    for error in errors:
        field = _field(list(error.get("loc") or []))
        kind = error.get("type", "")
        message = "unknown field" if kind == "extra_forbidden" else str(error.get("msg", "invalid"))
        items.append({"field": field, "message": message})
    unknown = [i["field"] for i in items if i["message"] == "unknown field"]
    if unknown:
        detail = f"Unknown field(s) refused: {', '.join(unknown)}."
        others = [i for i in items if i["message"] != "unknown field"]
        if others:
            detail += " Also: " + "; ".join(f"{i['field']}: {i['message']}" for i in others)
    else:
        detail = (
            "; ".join(f"{i['field']}: {i['message']}" for i in items)
            or "The request does not fit the schema."
        )
    return detail, items


def install(api) -> None:
    """Register the handlers on a NinjaAPI."""

    @api.exception_handler(ValidationError)
    def _validation(request, exc: ValidationError):
        detail, items = validation_detail(list(exc.errors))
        if request.method not in SAFE_METHODS and getattr(request, "api_token", None) is not None:
            # a refused write is audited like a refused form on the pages (authenticated callers only)
            match = getattr(request, "resolver_match", None)
            audit.record(
                request,
                f"api.{match.url_name if match else 'request'}",
                target=request.path,
                parameters={"method": request.method, "refused_fields": [i["field"] for i in items]},
                outcome=audit.FAILED,
                message=detail,
            )
        return problem(request, 422, detail, errors=items)

    @api.exception_handler(Unauthorized)
    def _unauthorized(request, exc: Unauthorized):
        return problem(request, 401, exc.detail)

    @api.exception_handler(AuthenticationError)
    def _auth(request, exc):
        return problem(request, 401, "Authentication needed: send Authorization: Bearer <token>.")

    api.add_exception_handler(Throttled, throttled)

    @api.exception_handler(Forbidden)
    def _forbidden(request, exc: Forbidden):
        return problem(request, 403, exc.detail)

    @api.exception_handler(DashboardError)
    def _dashboard(request, exc: DashboardError):
        # 401 means the caller's token here; a registry refusing our credentials is the gateway's
        status = exc.status if exc.status in TITLES and exc.status not in (401, 500) else 502
        response = problem(request, status, exc.message)
        if status == 503:
            response["Retry-After"] = "5"
        return response

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return problem(request, 404, "There is nothing at this address.")

    @api.exception_handler(HttpError)
    def _http(request, exc: HttpError):
        return problem(request, exc.status_code, str(exc))

    @api.exception_handler(Exception)
    def _bug(request, exc: Exception):
        log.exception("API bug on %s", request.path, exc_info=exc)
        return problem(request, 500, "The dashboard failed unexpectedly; the server log has the details.")
