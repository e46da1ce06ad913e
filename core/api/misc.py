"""/api/registries/, /api/jobs/, /api/audit/, /api/overview/."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from pydantic import Field

from core import engine
from core.api.base import need
from core.api.schemas import AuditOut, JobOut, OverviewOut, RegistryOut
from core.models import AuditEvent, Registry
from core.registry import RegistryClient
from core.roles import Role

registries = Router(tags=["registries"])
jobs = Router(tags=["jobs"])
audit_router = Router(tags=["audit"])
overview = Router(tags=["overview"])


class PageQuery(Schema):
    last: str = Field("", max_length=512, description="The `next` value of the previous page")
    n: int = Field(100, ge=1, le=1000)


@registries.get("/", response=list[RegistryOut])
def list_registries(request: HttpRequest):
    need(request, Role.VIEWER, "registry.list")
    return list(Registry.objects.order_by("name"))


@registries.get("/{pk}/catalog/")
def catalog(request: HttpRequest, pk: int, query: Query[PageQuery]) -> dict:
    need(request, Role.VIEWER, "registry.catalog", str(pk))
    registry = get_object_or_404(Registry, pk=pk)
    with RegistryClient.for_registry(registry) as client:
        page = client.catalog(last=query.last or None, n=query.n)
    return {"repositories": list(page.items), "next": page.next_last}


@registries.get("/{pk}/repositories/{path:name}/tags/")
def tags(request: HttpRequest, pk: int, name: str, query: Query[PageQuery]) -> dict:
    need(request, Role.VIEWER, "registry.tags", f"{pk}:{name}")
    registry = get_object_or_404(Registry, pk=pk)
    with RegistryClient.for_registry(registry) as client:
        page = client.tags(name, last=query.last or None, n=query.n)
    return {"tags": list(page.items), "next": page.next_last}


@registries.get("/{pk}/repositories/{path:name}/manifests/{reference}/")
def manifest(request: HttpRequest, pk: int, name: str, reference: str) -> dict:
    need(request, Role.VIEWER, "registry.manifest", f"{pk}:{name}:{reference}")
    registry = get_object_or_404(Registry, pk=pk)
    with RegistryClient.for_registry(registry) as client:
        found = client.manifest(name, reference)
    return {
        "digest": found.digest, "media_type": found.media_type, "kind": found.kind,
        "size": found.total_size, "layers": [{"digest": d.digest, "size": d.size, "media_type": d.media_type}
                                              for d in found.layers],
        "manifests": [{"digest": d.digest, "platform": str(d.platform) if d.platform else "", "size": d.size}
                      for d in found.manifests],
    }


@jobs.get("/{job_id}", response=JobOut)
def job(request: HttpRequest, job_id: str):
    """A job (pull, push, build ...) of any process: its state and result."""
    from core.engine.jobs import get_for

    found = get_for(request, job_id)
    return found


class AuditQuery(Schema):
    action: str = Field("", max_length=64)
    username: str = Field("", max_length=150)
    outcome: str = Field("", max_length=8)
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


@audit_router.get("/", response=list[AuditOut], summary="The audit log (admins)")
def audit_log(request: HttpRequest, query: Query[AuditQuery]):
    need(request, Role.ADMIN, "audit.read")
    events = AuditEvent.objects.order_by("-created_at")
    for field in ("action", "username", "outcome"):
        if value := getattr(query, field):
            events = events.filter(**{field: value})
    start = (query.page - 1) * query.per_page
    return [
        {**{f: getattr(e, f) for f in ("id", "username", "role", "action", "target", "outcome", "message",
                                         "client_address", "endpoint")},
         "created_at": e.created_at.isoformat(), "token_name": getattr(e, "token_name", "")}
        for e in events[start : start + query.per_page]
    ]


@overview.get("/", response=OverviewOut)
def overview_facts(request: HttpRequest):
    need(request, Role.VIEWER, "overview.read")
    info = engine.for_request(request).system.engine_info()
    return {
        "endpoint": request.endpoint.slug, "engine_version": info.version, "api_version": info.api_version,
        "os": info.os, "cpus": info.cpus, "memory": info.memory, "containers": info.containers,
        "running": info.running, "paused": info.paused, "stopped": info.stopped, "images": info.images,
    }
