"""/api/volumes/ and /api/networks/."""

from __future__ import annotations

from django.http import HttpRequest, QueryDict
from ninja import Query, Router, Schema
from pydantic import Field

from core import audit, engine, tables
from core.api.base import need, page_out
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
from core.errors import InvalidRequest
from core.roles import Role, role_on
from core.views import networks as network_views
from core.views import volumes as volume_views
from core.volume_forms import ConnectForm, NetworkForm, VolumeForm

volumes = Router(tags=["volumes"])
networks = Router(tags=["networks"])


class ListQuery(Schema):
    q: str = Field("", max_length=200)
    sort: str = "name"
    dir: str = ""
    page: int = 1
    per_page: int = 50


def _params(query: ListQuery, sorts) -> tables.Params:
    raw = QueryDict(mutable=True)
    raw.update({k: str(v) for k, v in query.dict().items()})
    return tables.read(raw, sorts=sorts, default_sort="name")


def _form_errors(form) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
                     for name, errors in form.errors.items())


@volumes.get("/", response=Page[VolumeOut])
def list_volumes(request: HttpRequest, query: Query[ListQuery]):
    need(request, Role.VIEWER, "volume.list")
    params = _params(query, volume_views.SORTS)
    rows = [v for v in engine.for_request(request).volumes.list_volumes()
            if not params.needle or volume_views._matches(v, params.needle)]
    return page_out(tables.sorted_rows(rows, volume_views.SORTS, params), params)


@volumes.get("/{name}/", response=VolumeOut)
def volume_detail(request: HttpRequest, name: str):
    need(request, Role.VIEWER, "volume.inspect", name)
    return engine.for_request(request).volumes.inspect_volume(name=name)


@volumes.post("/", response={201: VolumeOut})
def create_volume(request: HttpRequest, body: VolumeCreateIn):
    """Same form and non-admin policy as ``/volumes/new/``."""
    need(request, Role.OPERATOR, "volume.create", body.name)
    form = VolumeForm(
        {"name": body.name, "driver": body.driver,
         "driver_opts": "\n".join(f"{k}={v}" for k, v in body.driver_opts.items()),
         "labels": "\n".join(f"{k}={v}" for k, v in body.labels.items())},
        role=role_on(request),
    )
    if not form.is_valid():
        audit.refused_form(request, "volume.create", form, target=body.name, denied=form.has_error("__all__"))
        raise InvalidRequest(_form_errors(form))
    with audit.action(request, "volume.create", target=body.name, parameters=form.cleaned_data) as details:
        volume = engine.for_request(request).volumes.create_volume(**form.cleaned_data)
        details["target"] = volume.name
    return 201, volume


@volumes.delete("/{name}/", response=Message)
def delete_volume(request: HttpRequest, name: str, force: bool = False):
    need(request, Role.ADMIN, "volume.delete", name)
    with audit.action(request, "volume.delete", target=name, parameters={"force": force}):
        engine.for_request(request).volumes.remove_volume(name=name, force=force)
    return {"detail": f"deleted volume {name}"}


@networks.get("/", response=Page[NetworkOut])
def list_networks(request: HttpRequest, query: Query[ListQuery]):
    need(request, Role.VIEWER, "network.list")
    params = _params(query, network_views.SORTS)
    rows = [n for n in engine.for_request(request).networks.list_networks()
            if not params.needle or network_views._matches(n, params.needle)]
    return page_out(tables.sorted_rows(rows, network_views.SORTS, params), params)


@networks.get("/{ref}/", response=NetworkOut)
def network_detail(request: HttpRequest, ref: str):
    need(request, Role.VIEWER, "network.inspect", ref)
    detail = engine.for_request(request).networks.inspect_network(ref=ref)
    return detail.network


@networks.post("/", response={201: NetworkOut})
def create_network(request: HttpRequest, body: NetworkCreateIn):
    need(request, Role.OPERATOR, "network.create", body.name)
    data = body.dict()
    form = NetworkForm({
        **{k: data[k] for k in ("name", "driver", "subnet", "gateway", "ip_range")},
        **{k: "on" for k in ("internal", "attachable", "ipv6") if data[k]},
        "labels": "\n".join(f"{k}={v}" for k, v in body.labels.items()),
        "options": "\n".join(f"{k}={v}" for k, v in body.options.items()),
    })
    if not form.is_valid():
        audit.refused_form(request, "network.create", form, target=body.name)
        raise InvalidRequest(_form_errors(form))
    with audit.action(request, "network.create", target=body.name, parameters=form.cleaned_data):
        network = engine.for_request(request).networks.create_network(spec=NetworkSpec(**form.cleaned_data))
    return 201, network


@networks.post("/{ref}/connect/", response=Message)
def connect(request: HttpRequest, ref: str, body: ConnectIn):
    need(request, Role.OPERATOR, "network.connect", ref)
    form = ConnectForm({"container": body.container, "aliases": " ".join(body.aliases), "ipv4_address": body.ipv4_address})
    if not form.is_valid():
        raise InvalidRequest(_form_errors(form))
    with audit.action(request, "network.connect", target=ref, parameters=form.cleaned_data):
        engine.for_request(request).networks.connect(ref=ref, **form.cleaned_data)
    return {"detail": f"connected {body.container}"}


@networks.post("/{ref}/disconnect/", response=Message)
def disconnect(request: HttpRequest, ref: str, body: DisconnectIn):
    need(request, Role.OPERATOR, "network.disconnect", ref)
    with audit.action(request, "network.disconnect", target=ref, parameters=body.dict()):
        engine.for_request(request).networks.disconnect(ref=ref, container=body.container, force=body.force)
    return {"detail": f"disconnected {body.container}"}


@networks.delete("/{ref}/", response=Message)
def delete_network(request: HttpRequest, ref: str):
    need(request, Role.ADMIN, "network.delete", ref)
    with audit.action(request, "network.delete", target=ref):
        engine.for_request(request).networks.remove_network(ref=ref)
    return {"detail": f"deleted network {ref}"}
