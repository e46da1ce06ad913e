"""Middleware: the one error path (to a page, or text for htmx), htmx messages out-of-band, headers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve, reverse

from core.errors import DashboardError, EngineUnavailable, NotFound, Unavailable

log = logging.getLogger(__name__)

# No inline scripts or styles: htmx and xterm.js run from static files (htmx's own inline
# indicator style is turned off in base.html's htmx-config meta).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def error_response(
    request: HttpRequest,
    error: DashboardError,
    *,
    title: str = "",
    back: tuple[str, str] | None = None,
) -> HttpResponse:
    """The one rendering of an error: a page (503 / 404 / the refusal page) or, for htmx, its text.

    Args:
        request: the request that failed.
        error: what failed; its ``message`` is shown once, as text.
        title: the page title in plain words ("Could not stop web"); a default per kind otherwise.
        back: ``(url, label)`` of the link back; the overview otherwise.

    Returns:
        A rendered response with the error's status (503 also says Retry-After). htmx requests get
        the message as ``text/plain``: static/js/app.js's ``htmx:responseError`` handler shows it in
        the messages area.
    """
    status = error.status
    if getattr(request, "htmx", False):
        response = HttpResponse(error.message, status=status, content_type="text/plain; charset=utf-8")
    else:
        if isinstance(error, Unavailable):
            template = "errors/503.html"
        elif isinstance(error, NotFound):
            template = "errors/404.html"
        else:
            template = "errors/refused.html"
        context = {
            "error": error,
            "title": title,
            "back": back,
            "engine": isinstance(error, EngineUnavailable),
        }
        response = TemplateResponse(request, template, context, status=status).render()
    if isinstance(error, Unavailable):
        response["Retry-After"] = "5"
    return response


class ErrorMiddleware:
    """The one error path for views: every :class:`DashboardError` a view lets through becomes
    :func:`error_response`. Any other exception is a bug: Django's 500 page and a traceback."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DashboardError):
            return None
        log.warning(
            "%s on %r: %r (%s)",
            type(exception).__name__,
            request.path,
            exception.message,
            exception.detail,
        )
        return error_response(request, exception)


class HtmxMessagesMiddleware:
    """Adds pending messages to htmx responses as an out-of-band swap, so views only call messages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.streaming:
            return response
        if 300 <= response.status_code < 400 or "HX-Redirect" in response.headers:
            return response  # the messages wait for the next full page
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        pending = list(messages.get_messages(request))
        if pending:
            response.content += render_to_string(
                "_messages.html", {"messages": pending, "oob": True}, request=request
            ).encode()
        return response


class PasswordChangeRequiredMiddleware:
    """A user with a one-time password reaches only the password-change page (and logout) until done."""

    ALLOWED = frozenset({"password-change", "logout", "login", "healthz"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from core.accounts import must_change_password, prime_user

        user = getattr(request, "user", None)
        endpoint = getattr(request, "endpoint", None)
        if user is not None and endpoint is not None and user.is_authenticated:
            prime_user(user, endpoint.slug)  # the password check, theme, role and cap: one query
        if must_change_password(user):
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name not in self.ALLOWED:
                target = reverse("password-change")
                if request.headers.get("HX-Request") == "true":  # before HtmxMiddleware runs
                    return HttpResponse(status=204, headers={"HX-Redirect": target})
                return redirect(target)
        return self.get_response(request)
