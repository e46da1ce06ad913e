"""/api/volumes/ and /api/networks/: the pages' filters, forms, policy, engine calls and audit."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from core import audit, engine, tables
from core.api.base import REF_PATTERN, form_errors, need, page_out, table_params
from core.api.schemas import (
    ConnectIn,
    DisconnectIn,
    Message,
    NetworkCreateIn,
    NetworkOut,
    Page,
    VolumeCreateIn,
    VolumeOut,
)
from core.engine.networks import NetworkSpec
from core.errors import InvalidInput
from core.roles import Role, role_on
from core.views import networks as network_views
from core.views import volumes as volume_views
from core.volume_forms import ConnectForm, DisconnectForm, NetworkForm, VolumeForm

volumes = Router(tags=["volumes"])
networks = Router(tags=["networks"])
Name = Path(..., pattern=REF_PATTERN, max_length=255)


class VolumeQuery(Schema):
    q: str = Field("", max_length=200)
    in_use: Literal["", "0", "1"] = Field("", description="1: used by a container; 0: unused")
    sort: Literal["name", "driver", "created", "used"] = "name"
    dir: Literal["", "asc", "desc"] = ""
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


class NetworkQuery(Schema):
    q: str = Field("", max_length=200)
    sort: Literal["name", "driver", "scope", "created", "containers"] = "name"
    dir: Literal["", "asc", "desc"] = ""
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


def _lines(mapping: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in mapping.items())


def _refused(request: HttpRequest, action: str, form, target: str, *, denied: bool = False) -> InvalidInput:
    audit.refused_form(request, action, form, target=target, denied=denied)
    return InvalidInput(form_errors(form))


@volumes.get("/", response=Page[VolumeOut], summary="List volumes")
def list_volumes(request: HttpRequest, query: Query[VolumeQuery]):
    need(request, Role.VIEWER, "volume.list")
    params = table_params(query, volume_views.SORTS, default_sort="name")
    rows = [
        v
        for v in engine.for_request(request).volumes.list_volumes()
        if not params.needle or volume_views._matches(v, params.needle)
    ]
    if query.in_use:
        rows = [v for v in rows if v.in_use == (query.in_use == "1")]
    return page_out(tables.sorted_rows(rows, volume_views.SORTS, params), params)


@volumes.post("/", response={201: VolumeOut}, summary="Create a volume")
def create_volume(request: HttpRequest, body: VolumeCreateIn):
    """Same form and non-admin policy as ``/volumes/new/`` (bind-like driver options are admin-only)."""
    need(request, Role.OPERATOR, "volume.create", body.name)
    form = VolumeForm(
        {
            "name": body.name,
            "driver": body.driver,
            "driver_opts": _lines(body.driver_opts),
            "labels": _lines(body.labels),
        },
        role=role_on(request),
    )
    if not form.is_valid():
        raise _refused(request, "volume.create", form, body.name, denied=form.has_error("__all__"))
    with audit.action(request, "volume.create", target=body.name, parameters=form.cleaned_data) as details:
        volume = engine.for_request(request).volumes.create_volume(**form.cleaned_data)
        details["target"] = volume.name
    return Status(201, volume)


@volumes.get("/{name}/", response=VolumeOut, summary="Inspect a volume")
def volume_detail(request: HttpRequest, name: str = Name):
    need(request, Role.VIEWER, "volume.inspect", name)
    return engine.for_request(request).volumes.inspect_volume(name=name)


@volumes.delete("/{name}/", response=Message, summary="Delete a volume (admin)")
def delete_volume(request: HttpRequest, name: str = Name, force: bool = False):
    """Refused (409, naming the containers) while a container uses it."""
    need(request, Role.ADMIN, "volume.delete", name)
    with audit.action(request, "volume.delete", target=name, parameters={"force": force}):
        engine.for_request(request).volumes.remove_volume(name=name, force=force)
    return {"detail": f"deleted volume {name}"}


@networks.get("/", response=Page[NetworkOut], summary="List networks")
def list_networks(request: HttpRequest, query: Query[NetworkQuery]):
    need(request, Role.VIEWER, "network.list")
    params = table_params(query, network_views.SORTS, default_sort="name")
    rows = [
        n
        for n in engine.for_request(request).networks.list_networks()
        if network_views._matches(n, params.needle)
    ]
    return page_out(tables.sorted_rows(rows, network_views.SORTS, params), params)


@networks.post("/", response={201: NetworkOut}, summary="Create a network")
def create_network(request: HttpRequest, body: NetworkCreateIn):
    """Same form as ``/networks/new/``; subnets are checked against the engine's networks."""
    need(request, Role.OPERATOR, "network.create", body.name)
    data = body.dict()
    fields = {k: data[k] for k in ("name", "driver", "subnet", "gateway", "ip_range")}
    fields.update({k: "on" for k in ("internal", "attachable", "ipv6") if data[k]})
    form = NetworkForm(
        {**fields, "labels": _lines(body.labels), "options": _lines(body.options)}, role=role_on(request)
    )
    if not form.is_valid():
        raise _refused(request, "network.create", form, body.name, denied=form.has_error("__all__"))
    spec = NetworkSpec(**form.cleaned_data)
    with audit.action(request, "network.create", target=spec.name, parameters=form.cleaned_data) as details:
        network = engine.for_request(request).networks.create_network(spec=spec)
        details["target"] = f"{network.name} ({network.short_id})"
    return Status(201, network)


@networks.get("/{ref}/", response=NetworkOut, summary="Inspect a network")
def network_detail(request: HttpRequest, ref: str = Name):
    need(request, Role.VIEWER, "network.inspect", ref)
    return engine.for_request(request).networks.inspect_network(ref=ref).network


@networks.post("/{ref}/connect/", response=Message, summary="Connect a container")
def connect(request: HttpRequest, body: ConnectIn, ref: str = Name):
    need(request, Role.OPERATOR, "network.connect", ref)
    form = ConnectForm(
        {"container": body.container, "aliases": " ".join(body.aliases), "ipv4_address": body.ipv4_address}
    )
    if not form.is_valid():
        raise _refused(request, "network.connect", form, ref)
    with audit.action(request, "network.connect", target=ref, parameters=form.cleaned_data):
        engine.for_request(request).networks.connect(ref=ref, **form.cleaned_data)
    return {"detail": f"connected {form.cleaned_data['container']}"}


@networks.post("/{ref}/disconnect/", response=Message, summary="Disconnect a container")
def disconnect(request: HttpRequest, body: DisconnectIn, ref: str = Name):
    need(request, Role.OPERATOR, "network.disconnect", ref)
    form = DisconnectForm({"container": body.container, **({"force": "on"} if body.force else {})})
    if not form.is_valid():
        raise _refused(request, "network.disconnect", form, ref)
    with audit.action(request, "network.disconnect", target=ref, parameters=form.cleaned_data):
        engine.for_request(request).networks.disconnect(ref=ref, **form.cleaned_data)
    return {"detail": f"disconnected {form.cleaned_data['container']}"}


@networks.delete("/{ref}/", response=Message, summary="Delete a network (admin)")
def delete_network(request: HttpRequest, ref: str = Name):
    """Refuses the predefined networks and a network in use (409, naming the containers)."""
    need(request, Role.ADMIN, "network.delete", ref)
    docker = engine.for_request(request)
    network = docker.networks.inspect_network(ref=ref).network
    with audit.action(request, "network.delete", target=f"{network.name} ({network.short_id})"):
        docker.networks.remove_network(ref=network.id)
    return {"detail": f"deleted network {network.name}"}
