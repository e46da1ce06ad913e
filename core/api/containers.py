"""/api/containers/: the same filters, paging, policy, engine calls and audit as the pages."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from django.http import QueryDict
from ninja import Query, Router, Schema
from pydantic import Field

from core import audit, engine, tables
from core.api.base import need, page_out
from core.api.schemas import (
    ContainerCreateIn,
    ContainerDetailOut,
    ContainerOut,
    CreatedOut,
    KillIn,
    Message,
    Page,
    ProcessTableOut,
    RenameIn,
    StatsOut,
    StopIn,
)
from core.container_forms import CreateContainerForm, KillForm, RenameForm
from core.errors import InvalidRequest
from core.policy import masked_env
from core.roles import Role, role_on
from core.views.containers import SORT_KEYS, STATE_FILTERS, filter_containers

router = Router(tags=["containers"])

LOG_MAX_LINES = 10_000


class ListQuery(Schema):
    q: str = Field("", max_length=200)
    state: str = Field("all", description="all, running or exited")
    sort: str = "created"
    dir: str = ""
    page: int = 1
    per_page: int = 50


@router.get("/", response=Page[ContainerOut], summary="List containers")
def list_containers(request: HttpRequest, query: Query[ListQuery]):
    """Containers of the endpoint, filtered, sorted and paged exactly like ``/containers/``."""
    need(request, Role.VIEWER, "container.list")
    raw = QueryDict(mutable=True)
    raw.update({k: str(v) for k, v in query.dict().items()})
    params = tables.read(raw, sorts=SORT_KEYS, default_sort="created", descending=("created",))
    state = query.state if query.state in STATE_FILTERS else "all"
    rows = filter_containers(engine.for_request(request), params, state)
    return page_out(rows, params)


def _detail(request: HttpRequest, ref: str, *, reveal: bool = False) -> dict:
    c = engine.for_request(request).containers.inspect_container(ref=ref)
    env = [f"{k}={v}" for k, v in c.env]
    if not reveal:
        env = list(masked_env(env))
    return {
        "id": c.id, "name": c.name, "image": c.image, "state": c.state, "created": c.created,
        "command": c.command, "restart_policy": c.restart_policy, "exit_code": c.exit_code,
        "env": env, "labels": dict(c.labels), "ports": list(c.ports), "mounts": list(c.mounts),
        "networks": list(c.networks),
    }


@router.get("/{ref}/", response=ContainerDetailOut, summary="Inspect a container")
def container_detail(request: HttpRequest, ref: str, reveal: bool = False):
    """Env values are masked; ``reveal=true`` shows them to operators and is audited."""
    need(request, Role.VIEWER, "container.inspect", ref)
    if reveal:
        need(request, Role.OPERATOR, "container.reveal_env", ref)
        with audit.action(request, "container.reveal_env", target=ref):
            return _detail(request, ref, reveal=True)
    return _detail(request, ref)


@router.post("/", response={201: CreatedOut}, summary="Create (and start) a container")
def create_container(request: HttpRequest, body: ContainerCreateIn):
    """``docker create``/``docker run -d`` through the same form and non-admin policy as the page."""
    need(request, Role.OPERATOR, "container.run" if body.start else "container.create", body.name)
    data = body.dict()
    fields = {
        **{k: data[k] for k in ("image", "name", "command", "entrypoint", "restart", "network", "workdir", "user")},
        "env": "\n".join(data["env"]), "ports": "\n".join(data["ports"]), "volumes": "\n".join(data["volumes"]),
        "labels": "\n".join(data["labels"]),
    }
    for flag in ("tty", "interactive", "start"):
        if data[flag]:
            fields[flag] = "on"
    form = CreateContainerForm(fields, role=role_on(request))
    if not form.is_valid():
        audit.refused_form(request, "container.run" if body.start else "container.create", form, target=body.name)
        detail = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        raise InvalidRequest(detail)
    docker = engine.for_request(request)
    spec = form.spec()
    with audit.action(request, "container.run" if body.start else "container.create",
                      parameters=form.audit_parameters()) as details:
        if not docker.containers.image_exists(reference=spec.image):
            from core.errors import NotFound

            raise NotFound(f"No image {spec.image} on this engine (pull it first: POST /api/images/pull/).")
        result = docker.containers.create_container(spec=spec, start=body.start)
        details["target"] = f"{result.name} ({result.id[:12]})"
    return 201, {"id": result.id, "name": result.name, "started": result.started}


def _act(request: HttpRequest, ref: str, verb: str, call, role: Role = Role.OPERATOR, **parameters) -> dict:
    need(request, role, f"container.{verb}", ref)
    docker = engine.for_request(request)
    with audit.action(request, f"container.{verb}", target=ref, parameters=parameters or None):
        call(docker)
    return {"detail": f"{verb}: {ref}"}


@router.post("/{ref}/start/", response=Message)
def start(request: HttpRequest, ref: str):
    return _act(request, ref, "start", lambda d: d.containers.start(ref=ref))


@router.post("/{ref}/stop/", response=Message)
def stop(request: HttpRequest, ref: str, body: StopIn | None = None):
    timeout = body.timeout if body else 10
    return _act(request, ref, "stop", lambda d: d.containers.stop(ref=ref, timeout=timeout), timeout=timeout)


@router.post("/{ref}/restart/", response=Message)
def restart(request: HttpRequest, ref: str, body: StopIn | None = None):
    timeout = body.timeout if body else 10
    return _act(request, ref, "restart", lambda d: d.containers.restart(ref=ref, timeout=timeout), timeout=timeout)


@router.post("/{ref}/kill/", response=Message)
def kill(request: HttpRequest, ref: str, body: KillIn | None = None):
    form = KillForm({"signal": body.signal if body else "SIGKILL"})
    if not form.is_valid():
        raise InvalidRequest("; ".join(e for errors in form.errors.values() for e in errors))
    signal = form.cleaned_data["signal"]
    return _act(request, ref, "kill", lambda d: d.containers.kill(ref=ref, signal=signal), signal=signal)


@router.post("/{ref}/pause/", response=Message)
def pause(request: HttpRequest, ref: str):
    return _act(request, ref, "pause", lambda d: d.containers.pause(ref=ref))


@router.post("/{ref}/unpause/", response=Message)
def unpause(request: HttpRequest, ref: str):
    return _act(request, ref, "unpause", lambda d: d.containers.unpause(ref=ref))


@router.post("/{ref}/rename/", response=Message)
def rename(request: HttpRequest, ref: str, body: RenameIn):
    form = RenameForm({"name": body.name})
    if not form.is_valid():
        raise InvalidRequest("; ".join(e for errors in form.errors.values() for e in errors))
    name = form.cleaned_data["name"]
    return _act(request, ref, "rename", lambda d: d.containers.rename(ref=ref, name=name), name=name)


@router.delete("/{ref}/", response=Message, summary="Delete a container")
def delete(request: HttpRequest, ref: str, force: bool = False, volumes: bool = False):
    return _act(
        request, ref, "delete", lambda d: d.containers.remove(ref=ref, force=force, volumes=volumes),
        role=Role.ADMIN, force=force, volumes=volumes,
    )


@router.get("/{ref}/top/", response=ProcessTableOut)
def top(request: HttpRequest, ref: str):
    need(request, Role.VIEWER, "container.top", ref)
    table = engine.for_request(request).containers.top(ref=ref)
    return {"titles": list(table.titles), "processes": [list(p) for p in table.processes]}


@router.get("/{ref}/stats/", response=StatsOut, summary="One stats sample")
def stats(request: HttpRequest, ref: str):
    need(request, Role.VIEWER, "container.stats", ref)
    s = engine.for_request(request).containers.stats_snapshot(ref=ref)
    return {
        "cpu_percent": s.cpu_percent, "memory_usage": s.memory_usage, "memory_limit": s.memory_limit,
        "network_rx": s.net_rx, "network_tx": s.net_tx, "block_read": s.block_read,
        "block_write": s.block_write, "pids": s.pids,
    }


@router.get("/{ref}/logs/", summary="Logs as text or NDJSON (bounded)", response={200: None})
def logs(
    request: HttpRequest,
    ref: str,
    tail: int = Field(500, ge=1, le=LOG_MAX_LINES),
    since: str = "",
    until: str = "",
    format: str = Field("text", pattern="^(text|ndjson)$"),
):
    """At most ``tail`` (<= 10,000) lines: ``text/plain`` or ``application/x-ndjson``
    (``{"stream","ts","text"}`` a line)."""
    need(request, Role.VIEWER, "container.logs", ref)
    docker = engine.for_request(request)
    lines = docker.streams.read_logs(ref=ref, tail=tail, since=since or None, until=until or None)
    if format == "ndjson":
        import json

        body = (json.dumps({"stream": s, "ts": ts, "text": t}) + "\n" for s, ts, t in lines)
        return StreamingHttpResponse(body, content_type="application/x-ndjson")
    return StreamingHttpResponse((f"{t}\n" for _, _, t in lines), content_type="text/plain; charset=utf-8")
