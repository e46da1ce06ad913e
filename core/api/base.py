"""What every API operation shares with the pages: the role check on the request's endpoint (a
denial is audited under the action's own name, like ``@require_role``), list parameters through
core.tables, and form errors as one sentence."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from django.http import HttpRequest, QueryDict

from core import tables
from core.api.problems import Forbidden
from core.roles import Role, audit_denied, has_role

# Docker's container/volume/network names and ids: what a path may carry before any engine call.
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def need(request: HttpRequest, role: Role, action: str, target: str = "") -> None:
    """Raise 403 (audited as ``action``, outcome denied; a refused read at most once a minute per
    user and route) unless the token and its owner have ``role`` on the request's endpoint."""
    if has_role(request, role):
        return
    audit_denied(request, action, role, target)
    token = getattr(request, "api_token", None)
    capped = f" (token “{token.name}” is capped to {token.role})" if token is not None else ""
    raise Forbidden(f"This needs the {role.label} role on this endpoint{capped}.")


def table_params(
    query, sorts: Collection[str], *, default_sort: str, descending: Collection[str] = ()
) -> tables.Params:
    """The list parameters through core.tables.read, the one reader the pages use; a script may ask
    for any page size up to 200 (the pages offer 25/50/100/200)."""
    raw = QueryDict(mutable=True)
    raw.update({k: str(getattr(query, k)) for k in ("q", "sort", "dir", "page")})
    params = tables.read(raw, sorts=sorts, default_sort=default_sort, descending=descending)
    return dataclasses.replace(params, per_page=query.per_page)


def page_out(rows: list, params: tables.Params) -> dict:
    page = tables.page_of(rows, params)
    return {
        "count": page.total,
        "page": page.number,
        "per_page": page.per_page,
        "pages": page.num_pages,
        "results": list(page.rows),
    }


def form_errors(form) -> str:
    """A Django form's errors as one sentence naming the fields."""
    return "; ".join(
        " ".join(errors) if name == "__all__" else f"{name}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )
