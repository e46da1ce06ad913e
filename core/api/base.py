"""What every API operation shares with the pages: the role check on the request's endpoint (a
denial is audited under the action's own name) and the list parameters."""

from __future__ import annotations

from django.http import HttpRequest

from core import audit, tables
from core.api.problems import Forbidden
from core.roles import Role, has_role


def need(request: HttpRequest, role: Role, action: str, target: str = "") -> None:
    """Raise 403 (audited as ``action``, outcome denied) unless the token and its owner have ``role``
    on the request's endpoint."""
    if has_role(request, role):
        return
    token = getattr(request, "api_token", None)
    audit.record(request, action, target=target, outcome=audit.DENIED, message=f"needs the {role.label} role")
    capped = f" (token “{token.name}” is capped to {token.role})" if token is not None else ""
    raise Forbidden(f"This needs the {role.label} role on this endpoint{capped}.")


def page_out(rows: list, params: tables.Params) -> dict:
    page = tables.page_of(rows, params)
    return {
        "count": page.total,
        "page": page.number,
        "per_page": page.per_page,
        "pages": page.num_pages,
        "results": list(page.rows),
    }
