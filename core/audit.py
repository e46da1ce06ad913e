"""The one way to write the audit trail: ``record(...)``, or the ``action(...)`` context manager."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.errors import DashboardError
from core.models import AuditEvent
from core.policy import looks_secret

log = logging.getLogger(__name__)

OK = AuditEvent.Outcome.OK
FAILED = AuditEvent.Outcome.FAILED
DENIED = AuditEvent.Outcome.DENIED


def _clean(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as stored: secrets masked, long values cut, files named not copied."""
    cleaned: dict[str, Any] = {}
    for name, value in (parameters or {}).items():
        if looks_secret(name):
            cleaned[name] = "***" if value else ""
        elif hasattr(value, "read"):
            cleaned[name] = f"<file {getattr(value, 'name', '')} {getattr(value, 'size', '?')} bytes>"
        elif isinstance(value, str) and len(value) > 2000:
            cleaned[name] = value[:2000] + "…"
        elif isinstance(value, (str, int, float, bool, type(None), list, dict)):
            cleaned[name] = value
        elif isinstance(value, tuple) and all(isinstance(v, (str, int, float, bool)) for v in value):
            cleaned[name] = list(value)  # a form's tuple of names (connect aliases) as a JSON list
        else:
            cleaned[name] = str(value)
    return cleaned


def client_address(request_or_scope: Any) -> str | None:
    """The client's address from a request (REMOTE_ADDR) or an ASGI scope."""
    meta = getattr(request_or_scope, "META", None)
    if meta is not None:
        return meta.get("REMOTE_ADDR") or None
    if isinstance(request_or_scope, Mapping):
        client = request_or_scope.get("client")
        if client:
            return client[0]
    return None


def endpoint_slug(request_or_scope: Any) -> str:
    """The slug of the endpoint a request (``request.endpoint``) or ASGI scope is about, else ""."""
    if isinstance(request_or_scope, Mapping):
        ref = request_or_scope.get("endpoint")
    else:
        ref = getattr(request_or_scope, "endpoint", None)
    return getattr(ref, "slug", "") or ""


def token_of(request_or_scope: Any) -> Any:
    """The API token a request (``request.api_token``) or ASGI scope (``scope["api_token"]``) acts
    with, else None."""
    if isinstance(request_or_scope, Mapping):
        return request_or_scope.get("api_token")
    return getattr(request_or_scope, "api_token", None)


def who(request: Any) -> dict[str, Any]:
    """What :func:`record` needs from a request, safe to keep after the response (job threads)."""
    return {
        "user": request.user,
        "client": (request.META.get("REMOTE_ADDR") or "", 0),
        "endpoint": request.endpoint,
        "api_token": getattr(request, "api_token", None),
    }


def record(
    who: Any,
    action: str,
    *,
    target: str = "",
    parameters: Mapping[str, Any] | None = None,
    outcome: str = OK,
    message: str = "",
) -> AuditEvent:
    """Write one audit event, synchronously, before the response goes out.

    Args:
        who: the request or an ASGI scope (consumers): the user, client address and endpoint are
            taken from it, and the API token it acts with (``api_token``), if any; or a bare user
            (no endpoint).
        action: dotted name, e.g. ``image.tag``, ``container.stop``, ``auth.login``.
        target: what was acted on (an id, a reference, a user name).
        parameters: the inputs that matter (secrets are masked).
        outcome: ``ok``, ``failed`` (with ``message``) or ``denied``.
        message: what went wrong, or a note.
    """
    from core.roles import role_of

    user = getattr(who, "user", None)
    if user is None and isinstance(who, Mapping):
        user = who.get("user")
    if user is None and hasattr(who, "is_authenticated"):
        user = who
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    role = role_of(user) if authenticated else None
    token = token_of(who)
    event = AuditEvent.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        role=role.label if role else "",
        action=action,
        target=str(target)[:512],
        parameters=_clean(parameters),
        outcome=outcome,
        message=str(message)[:4000],
        client_address=client_address(who),
        endpoint=endpoint_slug(who),
        token_id=token.pk if token is not None else None,
        token_name=token.name if token is not None else "",
    )
    via = f" token={token.pk}" if token is not None else ""
    log.info("audit %s%s %s %s %s %s", event.username or "-", via, action, target, outcome, message)
    return event


@contextmanager
def action(
    who: Any,
    name: str,
    *,
    target: str = "",
    parameters: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Audit the block: ``ok`` when it finishes, ``failed`` with the message when it raises.

    The yielded dict may be updated with ``target``/``message`` found out inside the block
    (e.g. the id of the container just created).
    """
    details: dict[str, Any] = {"target": target, "message": ""}
    try:
        yield details
    except DashboardError as exc:
        record(
            who,
            name,
            target=details["target"],
            parameters=parameters,
            outcome=FAILED,
            message=exc.message,
        )
        raise
    except Exception as exc:
        record(
            who,
            name,
            target=details["target"],
            parameters=parameters,
            outcome=FAILED,
            message=f"unexpected error: {type(exc).__name__}",
        )
        raise
    record(
        who,
        name,
        target=details["target"],
        parameters=parameters,
        outcome=OK,
        message=details["message"],
    )


def refused_form(who: Any, name: str, form: Any, *, target: str = "", denied: bool = False) -> AuditEvent:
    """Audit a form that was refused: the refused fields named, their messages, the input (masked).

    ``denied`` when a policy refused it (a non-admin asking for what only an admin may), else
    ``failed`` (input that does not parse). ``form.audit_parameters()`` is used when the form has it.
    """
    parameters = form.audit_parameters() if hasattr(form, "audit_parameters") else dict(form.data.items())
    parameters.pop("csrfmiddlewaretoken", None)
    parameters["refused_fields"] = sorted(form.errors)
    messages = [f"{field}: {error}" for field, errors in form.errors.items() for error in errors]
    return record(
        who,
        name,
        target=target,
        parameters=parameters,
        outcome=DENIED if denied else FAILED,
        message="; ".join(messages),
    )
