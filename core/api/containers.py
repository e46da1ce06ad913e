"""/api/containers/: the same filters, paging, forms, policy, engine calls and audit as the pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from core import audit, engine
from core.api.base import REF_PATTERN, form_errors, need, page_out, table_params
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
from core.engine.streams import parse_since
from core.errors import InvalidInput, NotFound
from core.live.bridge import aiter_body
from core.policy import masked_env
from core.roles import Role, role_on
from core.views.containers import SORT_KEYS, _policy_facts, audit_target, filter_containers
from core.views.logs import MAX_GREP, log_pump

router = Router(tags=["containers"])

LOG_MAX_LINES = 10_000
Ref = Path(..., pattern=REF_PATTERN, max_length=255, description="Container id, id prefix or name")


class ListQuery(Schema):
    q: str = Field("", max_length=200, description="Text in the name, image, id or a label")
    state: Literal["all", "running", "exited"] = "all"
    sort: Literal["name", "image", "state", "created"] = "created"
    dir: Literal["", "asc", "desc"] = Field("", description="Empty: the sort's natural direction")
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


@router.get("/", response=Page[ContainerOut], summary="List containers")
def list_containers(request: HttpRequest, query: Query[ListQuery]):
    """Containers of the endpoint, filtered, sorted and paged exactly like ``/containers/``."""
    need(request, Role.VIEWER, "container.list")
    params = table_params(query, SORT_KEYS, default_sort="created", descending=("created",))
    return page_out(filter_containers(engine.for_request(request), params, query.state), params)


def _detail(request: HttpRequest, ref: str, *, reveal: bool) -> dict:
    c = engine.for_request(request).containers.inspect_container(ref=ref)
    env = [f"{k}={v}" for k, v in c.env]
    return {
        "id": c.id,
        "name": c.name,
        "image": c.image,
        "image_id": c.image_id,
        "state": c.state,
        "running": c.running,
        "paused": c.paused,
        "health": c.health,
        "created": c.created,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "command": c.command,
        "entrypoint": c.entrypoint,
        "restart_policy": c.restart_policy,
        "restart_count": c.restart_count,
        "exit_code": c.exit_code,
        "error": c.error,
        "tty": c.tty,
        "privileged": c.privileged,
        "env": env if reveal else list(masked_env(env)),
        "labels": dict(c.labels),
        "ports": list(c.ports),
        "mounts": list(c.mounts),
        "networks": list(c.networks),
    }


@router.get("/{ref}/", response=ContainerDetailOut, summary="Inspect a container")
def container_detail(request: HttpRequest, ref: str = Ref, reveal: bool = False):
    """Env values are masked; ``reveal=true`` shows them to operators and is audited
    (``container.reveal``, as on the page)."""
    need(request, Role.VIEWER, "container.inspect", ref)
    if not reveal:
        return _detail(request, ref, reveal=False)
    need(request, Role.OPERATOR, "container.reveal", ref)
    with audit.action(request, "container.reveal", target=ref) as details:
        found = _detail(request, ref, reveal=True)
        details["target"] = f"{found['name']} ({found['id'][:12]})"
    return found


@router.post("/", response={201: CreatedOut}, summary="Create (and start) a container")
def create_container(request: HttpRequest, body: ContainerCreateIn):
    """``docker create``/``docker run -d`` through the page's form and non-admin policy (a refusal
    is 400 naming the fields, audited as on the page); the image must be on the engine."""
    need(request, Role.OPERATOR, "container.create", body.name)
    data = body.dict()
    fields = {
        k: data[k]
        for k in ("image", "name", "command", "entrypoint", "restart", "network", "workdir", "user", "pid")
    }
    fields.update({k: "\n".join(data[k]) for k in ("env", "ports", "volumes", "labels", "cap_add")})
    fields.update({k: "on" for k in ("tty", "interactive", "start", "privileged") if data[k]})
    docker = engine.for_request(request)
    form = CreateContainerForm(fields, role=role_on(request), facts=_policy_facts(docker))
    if not form.is_valid():
        audit.refused_form(request, "container.create", form, target=body.name, denied=bool(form.refusals))
        raise InvalidInput(form_errors(form))
    spec = form.spec()
    with audit.action(request, "container.create", parameters=form.audit_parameters()) as details:
        if not docker.containers.image_exists(reference=spec.image):
            raise NotFound(f"No image {spec.image} on this engine (pull it first: POST /api/images/pull/).")
        result = docker.containers.create_container(spec=spec, start=body.start)
        details["target"] = f"{result.name} ({result.id[:12]})"
    return Status(
        201,
        {"id": result.id, "name": result.name, "started": result.started, "warnings": list(result.warnings)},
    )


def _act(
    request: HttpRequest, ref: str, verb: str, call: Callable, role: Role = Role.OPERATOR, **parameters
) -> dict:
    """The page's ``_act``: role check, then one audited engine call with the ``name (id12)`` target."""
    need(request, role, f"container.{verb}", ref)
    docker = engine.for_request(request)
    with audit.action(request, f"container.{verb}", target=ref, parameters=parameters or None) as details:
        details["target"] = audit_target(docker, ref)
        call(docker)
    return {"detail": f"{verb}: {ref}"}


def _valid(request: HttpRequest, ref: str, verb: str, form) -> dict:
    """Form fields for an action, or InvalidInput (400) audited as a failed ``container.<verb>``."""
    if not form.is_valid():
        message = form_errors(form)
        audit.record(request, f"container.{verb}", target=ref, outcome=audit.FAILED, message=message)
        raise InvalidInput(message)
    return form.cleaned_data


@router.post("/{ref}/start/", response=Message, summary="Start a container")
def start(request: HttpRequest, ref: str = Ref):
    return _act(request, ref, "start", lambda d: d.containers.start(ref=ref))


@router.post("/{ref}/stop/", response=Message, summary="Stop a container (SIGTERM, then SIGKILL)")
def stop(request: HttpRequest, body: StopIn | None = None, ref: str = Ref):
    timeout = body.timeout if body else 10
    return _act(request, ref, "stop", lambda d: d.containers.stop(ref=ref, timeout=timeout), timeout=timeout)


@router.post("/{ref}/restart/", response=Message, summary="Restart a container")
def restart(request: HttpRequest, body: StopIn | None = None, ref: str = Ref):
    timeout = body.timeout if body else 10
    return _act(
        request, ref, "restart", lambda d: d.containers.restart(ref=ref, timeout=timeout), timeout=timeout
    )


@router.post("/{ref}/kill/", response=Message, summary="Send a signal (default SIGKILL)")
def kill(request: HttpRequest, body: KillIn | None = None, ref: str = Ref):
    need(request, Role.OPERATOR, "container.kill", ref)
    signal = _valid(request, ref, "kill", KillForm({"signal": body.signal if body else ""}))["signal"]
    return _act(request, ref, "kill", lambda d: d.containers.kill(ref=ref, signal=signal), signal=signal)


@router.post("/{ref}/pause/", response=Message, summary="Pause a container")
def pause(request: HttpRequest, ref: str = Ref):
    return _act(request, ref, "pause", lambda d: d.containers.pause(ref=ref))


@router.post("/{ref}/unpause/", response=Message, summary="Unpause a container")
def unpause(request: HttpRequest, ref: str = Ref):
    return _act(request, ref, "unpause", lambda d: d.containers.unpause(ref=ref))


@router.post("/{ref}/rename/", response=Message, summary="Rename a container")
def rename(request: HttpRequest, body: RenameIn, ref: str = Ref):
    need(request, Role.OPERATOR, "container.rename", ref)
    name = _valid(request, ref, "rename", RenameForm({"name": body.name}))["name"]
    return _act(request, ref, "rename", lambda d: d.containers.rename(ref=ref, name=name), name=name)


@router.delete("/{ref}/", response=Message, summary="Delete a container (admin)")
def delete(request: HttpRequest, ref: str = Ref, force: bool = False, volumes: bool = False):
    """``docker rm``; a running container needs ``force=true`` (else 409)."""
    return _act(
        request,
        ref,
        "delete",
        lambda d: d.containers.remove(ref=ref, force=force, volumes=volumes),
        role=Role.ADMIN,
        force=force,
        volumes=volumes,
    )


@router.get("/{ref}/top/", response=ProcessTableOut, summary="Processes of a running container")
def top(request: HttpRequest, ref: str = Ref):
    need(request, Role.VIEWER, "container.top", ref)
    return engine.for_request(request).containers.top(ref=ref)


@router.get("/{ref}/stats/", response=StatsOut, summary="One stats sample (~1 s)")
def stats(request: HttpRequest, ref: str = Ref):
    need(request, Role.VIEWER, "container.stats", ref)
    return engine.for_request(request).containers.stats_snapshot(ref=ref)


class LogQuery(Schema):
    tail: int = Field(500, ge=1, le=LOG_MAX_LINES, description=f"Last lines, at most {LOG_MAX_LINES:,}")
    since: str = Field("", max_length=64, description="10m, 2h, unix seconds or an ISO 8601 time")
    until: str = Field("", max_length=64)
    timestamps: bool = False
    grep: str = Field("", max_length=MAX_GREP, description="A regular expression lines must match")
    format: Literal["text", "ndjson"] = "text"


@router.get(
    "/{ref}/logs/",
    summary="Logs as text or NDJSON (bounded)",
    response={200: None},
    openapi_extra={
        "responses": {
            "200": {
                "description": "text/plain lines, or application/x-ndjson objects {stream, ts, text}",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def logs(request: HttpRequest, query: Query[LogQuery], ref: str = Ref):
    """The last ``tail`` (at most 10,000) lines, streamed: ``text/plain`` or ``application/x-ndjson``
    (``{"stream","ts","text"}`` a line); engine text is passed as text, never interpreted."""
    need(request, Role.VIEWER, "container.logs", ref)
    docker = engine.for_request(request)
    since, until = parse_since(query.since), parse_since(query.until)
    try:
        pattern = re.compile(query.grep) if query.grep else None
    except re.error as exc:
        raise InvalidInput(f"grep is not a valid regular expression: {exc}.") from exc
    container = docker.streams.container_facts(ref)
    pump = log_pump(
        docker,
        container,
        since=since,
        until=until,
        timestamps=query.timestamps,
        pattern=pattern,
        tail=str(query.tail),
        ndjson=query.format == "ndjson",
    )
    kind = "application/x-ndjson" if query.format == "ndjson" else "text/plain; charset=utf-8"
    response = StreamingHttpResponse(aiter_body(pump), content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    return response
