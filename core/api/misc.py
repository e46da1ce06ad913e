"""/api/registries/, /api/jobs/, /api/audit/, /api/overview/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Schema
from pydantic import Field

from core import engine
from core.api.base import need
from core.api.problems import Forbidden
from core.api.schemas import AuditOut, CatalogOut, JobOut, ManifestOut, OverviewOut, RegistryOut, TagsOut
from core.engine import jobs as job_rows
from core.errors import InvalidInput, RegistryRefused
from core.models import Registry
from core.registry import DEFAULT_PAGE, MAX_PAGE, client_for, validate_reference, validate_repository
from core.roles import Role
from core.views.registries import _shown
from core.views.team import AUDIT_SORTS, filtered_events

registries = Router(tags=["registries"])
jobs = Router(tags=["jobs"])
audit_router = Router(tags=["audit"])
overview = Router(tags=["overview"])


class PageQuery(Schema):
    last: str = Field("", max_length=512, description="The `next` value of the previous page")
    n: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)


class CatalogQuery(PageQuery):
    prefix: str = Field("", max_length=255)


@contextlib.contextmanager
def _registry_errors(request: HttpRequest) -> Iterator[None]:
    """Registry failures with the message the pages show this person (details for admins)."""
    try:
        yield
    except RegistryRefused as exc:
        exc.message = _shown(request, exc)
        raise


def _repository(name: str) -> str:
    try:
        return validate_repository(name)
    except RegistryRefused as exc:
        raise Http404(exc.message) from exc


@registries.get("/", response=list[RegistryOut], summary="Linked registries")
def list_registries(request: HttpRequest):
    need(request, Role.VIEWER, "registry.list")
    return list(Registry.objects.order_by("name"))


@registries.get("/{pk}/catalog/", response=CatalogOut, summary="One page of a registry's catalog")
def catalog(request: HttpRequest, query: Query[CatalogQuery], pk: int = Path(..., ge=1, le=2**31 - 1)):
    need(request, Role.VIEWER, "registry.catalog", str(pk))
    registry = get_object_or_404(Registry, pk=pk)
    with _registry_errors(request), client_for(registry) as client:
        page = client.catalog(last=query.last or None, n=query.n, prefix=query.prefix.strip())
    return {"repositories": list(page.items), "next": page.next_last}


@registries.get(
    "/{pk}/repositories/{path:name}/tags/", response=TagsOut, summary="One page of a repository's tags"
)
def tags(request: HttpRequest, query: Query[PageQuery], name: str, pk: int = Path(..., ge=1, le=2**31 - 1)):
    need(request, Role.VIEWER, "registry.tags", f"{pk}:{name}")
    registry = get_object_or_404(Registry, pk=pk)
    name = _repository(name)
    with _registry_errors(request), client_for(registry) as client:
        page = client.tags(name, last=query.last or None, n=query.n)
    return {"tags": list(page.items), "next": page.next_last}


@registries.get(
    "/{pk}/repositories/{path:name}/manifests/{reference}/",
    response=ManifestOut,
    summary="A tag's (or digest's) manifest",
)
def manifest(request: HttpRequest, name: str, reference: str, pk: int = Path(..., ge=1, le=2**31 - 1)):
    need(request, Role.VIEWER, "registry.manifest", f"{pk}:{name}:{reference}")
    registry = get_object_or_404(Registry, pk=pk)
    name = _repository(name)
    try:
        reference = validate_reference(reference)
    except RegistryRefused as exc:
        raise Http404(exc.message) from exc
    with _registry_errors(request), client_for(registry) as client:
        found = client.manifest(name, reference)
    return {
        "digest": found.digest,
        "media_type": found.media_type,
        "kind": found.kind,
        "size": found.total_size,
        "layers": [{"digest": d.digest, "size": d.size, "media_type": d.media_type} for d in found.layers],
        "manifests": [
            {
                "digest": d.digest,
                "size": d.size,
                "media_type": d.media_type,
                "platform": str(d.platform) if d.platform else "",
            }
            for d in found.manifests
        ],
    }


@jobs.get("/{job_id}", response=JobOut, summary="A job (pull, push, build) and its progress")
def job(request: HttpRequest, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")):
    """From any server process; only people (and tokens) allowed to start that kind of job see it."""
    need(request, Role.VIEWER, "job.read", job_id)
    row = job_rows.load(job_id)
    if row is None:
        raise Http404("No such job.")
    if not job_rows.may_watch(request.user, row, getattr(request, "api_token", None)):
        raise Forbidden(f"This job needs the {row.required_role} role to be seen.")
    frame = job_rows.snapshot_of(row)
    return {**frame, "id": row.id}


class AuditQuery(Schema):
    q: str = Field("", max_length=200)
    action: str = Field("", max_length=64)
    user: str = Field("", max_length=150)
    outcome: Literal["", "ok", "failed", "denied"] = ""
    endpoint: str = Field("", max_length=64)
    since: str = Field("", max_length=32, description="YYYY-MM-DD (from the start of that day)")
    until: str = Field("", max_length=32, description="YYYY-MM-DD (to the end of that day)")
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


@audit_router.get("/", response=list[AuditOut], summary="The audit log, newest first (admin)")
def audit_log(request: HttpRequest, query: Query[AuditQuery]):
    """The audit page's filters (core.views.team.filtered_events), a page at a time."""
    need(request, Role.ADMIN, "audit.read")
    try:
        events, _ = filtered_events({k: str(v) for k, v in query.dict().items()})
    except ValueError as exc:  # a date of the right shape that does not exist (2024-13-45)
        raise InvalidInput(f"since/until: {exc}.") from exc
    start = (query.page - 1) * query.per_page
    newest_first = (f"-{field}" for field in AUDIT_SORTS["time"])
    return list(events.order_by(*newest_first)[start : start + query.per_page])


@overview.get("/", response=OverviewOut, summary="The endpoint's engine facts")
def overview_facts(request: HttpRequest):
    need(request, Role.VIEWER, "overview.read")
    info = engine.for_request(request).system.engine_info()
    return {
        "endpoint": request.endpoint.slug,
        **{f: getattr(info, f) for f in OverviewOut.model_fields if f != "endpoint"},
    }
