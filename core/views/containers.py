"""Containers pages and actions: list, create/run, detail, lifecycle, rename, commit, export, delete, bulk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core import audit, bulk, engine, policy, references, tables, updates
from core.consumers.logs import MAX_MERGED
from core.container_forms import (
    CommitForm,
    CreateContainerForm,
    DeleteForm,
    KillForm,
    RenameForm,
    TimeoutForm,
)
from core.engine.containers import ContainerDetail, ContainerSummary, CreateResult, CreateSpec
from core.errors import Conflict, DashboardError, InvalidInput, NotFound, Refused
from core.live.bridge import Pump, aiter_body
from core.middleware import error_response
from core.roles import Role, forbidden, has_role, require_role, role_on
from core.templatetags.rows import named
from core.views import jobs as jobs_view

log = logging.getLogger(__name__)
EXPORT_READ_AHEAD = 4

SORT_KEYS: dict[str, Callable[[ContainerSummary], object]] = {
    "name": lambda c: c.name.lower(),
    "image": lambda c: c.image.lower(),
    "state": lambda c: (c.state, c.name.lower()),
    "created": lambda c: c.created,
}
STATE_FILTERS = ("all", "running", "exited")
BULK_ACTIONS = ("start", "stop", "restart", "delete")
LIST_KEYS = ("q", "state", "updates", "sort", "dir", "page", "per_page")
BULK_LIMIT = 500  # containers one bulk action takes (each is one engine call, one audit event)
JOINABLE_MAX = 30  # networks offered by the container page's connect form (the rest: the networks page)
PICKER_MAX = 500  # entries per datalist of the create form (existing images, volumes, networks)


def bulk_action_name(action: str) -> str:
    """The audit name of a bulk request: the per-container name (``container.stop``) when valid."""
    return f"container.{action}" if action in BULK_ACTIONS else "container.bulk"


# --------------------------------------------------------------------------- helpers


def _matches(container: ContainerSummary, needle: str) -> bool:
    if (
        needle in container.name.lower()
        or needle in container.image.lower()
        or container.id.startswith(needle)
    ):
        return True
    return any(needle in f"{k}={v}".lower() for k, v in container.labels.items())


def _next(request: HttpRequest, ref: str) -> str:
    """``next`` when it is a local path, else the container's page."""
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ) or not target.startswith("/"):
        target = reverse("container_detail", args=[ref])
    return target


def _back(request: HttpRequest, ref: str) -> HttpResponse:
    """Redirect to ``next`` when it is a local path, else to the container's page."""
    return redirect(_next(request, ref))


def _failed(request: HttpRequest, ref: str, verb: str, error: Refused) -> HttpResponse:
    """The refusal page of an action on ``ref`` (the engine away is the middleware's 503)."""
    if isinstance(error, NotFound):
        back = (reverse("container_list"), "Back to the containers")
    else:
        back = (reverse("container_detail", args=[ref]), "Back to the container")
    return error_response(request, error, title=f"Could not {verb} {ref}", back=back)


def _identify(docker: engine.Engine, ref: str) -> tuple[str, str]:
    """(name, id12) of a container, or (ref, "") when the engine does not know it."""
    try:
        container = docker.containers.inspect_container(ref=ref)
    except NotFound:
        return ref, ""
    return container.name, container.short_id


def audit_target(docker: engine.Engine, ref: str) -> str:
    """The audit target: ``name (id12)``, so the event stays readable after the container is gone."""
    name, short_id = _identify(docker, ref)
    return f"{name} ({short_id})" if short_id else ref


DONE = {"kill": "Killed", "pause": "Paused", "unpause": "Unpaused"}


def _refused_input(request: HttpRequest, ref: str, verb: str, message: str) -> HttpResponse:
    """Input that does not parse: audited as a failed ``container.<verb>``, then the failure page."""
    audit.record(request, f"container.{verb}", target=ref, outcome=audit.FAILED, message=message)
    return _failed(request, ref, verb, InvalidInput(message))


def _act(
    request: HttpRequest, ref: str, verb: str, call: Callable[[], object], parameters: dict | None = None
):
    """Run one audited engine action on ``ref``; a message and a redirect, or the failure page."""
    try:
        with audit.action(request, f"container.{verb}", target=ref, parameters=parameters) as details:
            name, short_id = _identify(engine.for_request(request), ref)
            details["target"] = f"{name} ({short_id})" if short_id else ref
            call()
    except Refused as error:
        return _failed(request, ref, verb, error)
    messages.success(request, format_html("{} {}.", DONE[verb], named(name, short_id)))
    return _back(request, ref)


# --------------------------------------------------------------------------- list and create


def _list_params(query) -> tuple[tables.Params, str]:
    """The list's parameters (q, sort, dir, page, per_page) and its state filter, defaults for the rest."""
    state = query.get("state", "all")
    params = tables.read(query, sorts=SORT_KEYS, default_sort="created", descending=("created",))
    return params, state if state in STATE_FILTERS else "all"


def filter_containers(
    docker: engine.Engine, params: tables.Params, state: str, *, available: dict | None = None
) -> list[ContainerSummary]:
    """Every container the filter matches (all pages), sorted: what the list pages, bulk and the API
    act on. ``available``: only the containers whose id it maps to an available update."""
    rows = docker.containers.list_containers(include_stopped=state != "running")
    if state == "exited":
        rows = [c for c in rows if c.state in ("exited", "dead", "created")]
    if needle := params.needle:
        rows = [c for c in rows if _matches(c, needle)]
    if available is not None:
        rows = [c for c in rows if c.id in available and available[c.id].available]
    return tables.sorted_rows(rows, SORT_KEYS, params)


@require_role(Role.VIEWER)
def container_list(request: HttpRequest) -> HttpResponse:
    """All containers in one engine call; filter by state, text and available updates (the last
    check's answers: the list never waits on a registry), sort, page, bulk-select."""
    params, state = _list_params(request.GET)
    rows = filter_containers(engine.for_request(request), params, state)
    statuses = updates.for_endpoint(request, rows)
    only_updates = request.GET.get("updates") == "1"
    if only_updates:
        rows = [c for c in rows if c.id in statuses and statuses[c.id].available]
    context = {
        "page": tables.page_of(rows, params),
        "params": params,
        "state": state,
        "updates": statuses,
        "only_updates": only_updates,
        "update_count": sum(1 for s in statuses.values() if s.available),
        "merged_max": MAX_MERGED,
    }
    # A history restore (back button after hx-push-url) needs the whole page, not the fragment.
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "containers/list.html#table" if fragment else "containers/list.html"
    return render(request, template, context)


@require_role(Role.OPERATOR, action="container.create")
@require_http_methods(["GET", "POST"])
def container_new(request: HttpRequest) -> HttpResponse:
    """The create/run form; POST creates (and starts) the container or shows the errors inline."""
    role = role_on(request)
    form = CreateContainerForm(
        request.POST if request.method == "POST" else None,
        role=role,
        facts=_policy_facts(engine.for_request(request)),
        initial={"start": True, "restart": "no"},
    )
    if request.method == "POST" and form.is_valid():
        spec = form.spec()
        result = _create(request, form, spec)
        if result is not None:
            verb = "Started" if result.started else "Created"
            messages.success(request, f"{verb} container {result.name}.")
            return redirect(reverse("container_detail", args=[result.name]))
    elif request.method == "POST":
        audit.refused_form(
            request, "container.create", form, target=request.POST.get("name", ""), denied=bool(form.refusals)
        )
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "is_admin": role == Role.ADMIN, **_choices(engine.for_request(request))}
    return render(request, "containers/new.html", context, status=status)


def log_driver_choices(docker: engine.Engine) -> dict:
    """The log drivers this engine has (its ``docker info``, plus ``none``) and its default."""
    info = docker.system.engine_info()
    drivers = sorted({*info.log_drivers, "none", info.default_log_driver} - {""})
    return {"log_driver_choices": drivers, "default_log_driver": info.default_log_driver}


def _choices(docker: engine.Engine) -> dict:
    """What the create form's pickers offer: existing images, volumes (with users) and networks,
    restart policies (a fixed list in the template) and the engine's log drivers."""
    return {
        **log_driver_choices(docker),
        "image_choices": docker.images.local_tags()[:PICKER_MAX],
        "volume_choices": sorted(docker.volumes.list_volumes(), key=lambda v: v.name)[:PICKER_MAX],
        "network_choices": docker.networks.network_names()[:PICKER_MAX],
    }


def _policy_facts(docker: engine.Engine, *, replacing: str = ""):
    """What the engine knows about the volumes and network a create names (core/policy.py).

    ``replacing``: the container a recreate replaces; its own volumes are not "another
    application's data" for its replacement.
    """

    def inspect_volume(*, name: str) -> policy.VolumeFacts | None:
        found = docker.volumes.volume_facts(name=name)
        if found is not None and replacing:
            found = replace(found, used_by=tuple(u for u in found.used_by if u != replacing))
        return found

    def facts(workload: policy.Workload) -> policy.Facts:
        return policy.gather_facts(
            workload,
            inspect_volume=inspect_volume,
            network_driver=docker.networks.network_driver,
        )

    return facts


def _create(request: HttpRequest, form: CreateContainerForm, spec: CreateSpec) -> CreateResult | None:
    """Create (and start) through the engine; engine refusals become field errors on ``form``."""
    docker = engine.for_request(request)
    start = bool(form.cleaned_data["start"])
    try:
        with audit.action(request, "container.create", parameters=form.audit_parameters()) as details:
            if not docker.containers.image_exists(reference=spec.image):
                raise NotFound(
                    f"No image {spec.image} on this engine (the dashboard does not pull on create)."
                )
            result = docker.containers.create_container(spec=spec, start=start)
            details["target"] = f"{result.name} ({result.id[:12]})"
            return result
    except Refused as error:
        form.add_error(_field_for(error, spec), error.message)
        return None


def _field_for(error: Refused, spec: CreateSpec) -> str | None:
    """Which form field an engine refusal is about (None: the whole form)."""
    text = error.message.lower()
    if "no image" in text or "no such image" in text:
        return "image"
    if isinstance(error, Conflict) and "name" in text:
        return "name"
    for words, name in (
        (("memory reservation",), "memory_reservation"),
        (("memory",), "memory"),
        (("nanocpus", "cpus", "cpu"), "cpus"),
        (("pids",), "pids_limit"),
        (("log driver", "logging driver", "log opt", "log-opt"), "log_driver"),
        (("health",), "health_cmd"),
    ):
        if any(word in text for word in words):
            return name
    if "network" in text:
        if not (spec.network and f"“{spec.network}”" in error.message) and any(
            f"“{n.name}”" in error.message for n in spec.networks
        ):
            return "networks"  # a missing network of the Networks lines
        return "network"
    if "port" in text or ("bind" in text and "address" in text):
        return "ports"
    if "mount" in text or "volume" in text:
        return "volumes"
    if "exec" in text or "executable" in text or "command" in text:
        return "command" if spec.entrypoint is None else "entrypoint"
    return None


# --------------------------------------------------------------------------- detail


@require_role(Role.VIEWER)
def container_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """Summary, processes, filesystem changes, live stats and the inspect JSON (env values masked)."""
    return _detail_page(request, engine.for_request(request).containers.inspect_container(ref=ref))


@require_role(Role.OPERATOR, action="container.reveal")
@require_POST
def container_reveal(request: HttpRequest, ref: str) -> HttpResponse:
    """The container page with its env values shown in the table and the JSON (audited)."""
    docker = engine.for_request(request)
    with audit.action(request, "container.reveal", target=ref) as details:
        container = docker.containers.inspect_container(ref=ref)
        details["target"] = f"{container.name} ({container.short_id})"
    response = _detail_page(request, container, revealed=True)
    response["Cache-Control"] = "no-store"
    return response


def _detail_page(request: HttpRequest, container: ContainerDetail, *, revealed: bool = False) -> HttpResponse:
    docker = engine.for_request(request)
    processes = None
    if container.running and not container.paused:
        try:
            processes = docker.containers.top(ref=container.id)
        except (NotFound, Conflict):
            processes = None
    changes = docker.containers.diff(ref=container.id)
    can_operate = has_role(request, Role.OPERATOR)
    attached = {n.name for n in container.networks} | {"host", "none"}
    joinable = [n for n in docker.networks.network_names() if n[0] not in attached] if can_operate else []
    update = updates.for_endpoint(request, [container]).get(container.id)
    return render(
        request,
        "containers/detail.html",
        {
            "c": container,
            "processes": processes,
            "changes": changes,
            "joinable_networks": joinable[:JOINABLE_MAX],
            "more_networks": len(joinable) > JOINABLE_MAX,
            "can_operate": can_operate,
            "can_admin": has_role(request, Role.ADMIN),
            "commit_form": CommitForm(initial={"pause": True}),
            "revealed": revealed,
            "update": update,
            "update_labels": updates.label_changes(
                update.details, docker.images.image_labels(container.image_id)
            )
            if update and update.available and update.details
            else [],
        },
    )


# --------------------------------------------------------------------------- lifecycle


@require_role(Role.OPERATOR, action="container.start")
@require_POST
def container_start(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker start``; a command that exits at once is reported with its exit code and logs."""
    docker = engine.for_request(request)
    try:
        with audit.action(request, "container.start", target=ref) as details:
            details["target"] = audit_target(docker, ref)
            docker.containers.start(ref=ref)
            after = docker.containers.settled(ref=ref)
            if not after.running:
                details["message"] = f"exited at once with code {after.exit_code}"
    except Refused as error:
        return _failed(request, ref, "start", error)
    if not after.running:
        messages.warning(
            request, f"{after.name} started but exited at once with code {after.exit_code}; see its logs."
        )
    else:
        messages.success(request, format_html("Started {}.", named(after.name, after.id[:12])))
    return _back(request, ref)


def _timeout(request: HttpRequest, ref: str, verb: str) -> int | HttpResponse:
    form = TimeoutForm(request.POST)
    if not form.is_valid():
        return _refused_input(request, ref, verb, "The timeout is a number of seconds, 0-600.")
    value = form.cleaned_data["timeout"]
    return 10 if value is None else value


@require_role(Role.OPERATOR, action="container.stop")
@require_POST
def container_stop(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker stop -t timeout``, as a job (it can take the whole timeout)."""
    timeout = _timeout(request, ref, "stop")
    if isinstance(timeout, HttpResponse):
        return timeout
    call = lambda d, cid: d.containers.stop(ref=cid, timeout=timeout)  # noqa: E731 - the job's call
    return _job_of_one(request, ref, "stop", call, {"timeout": timeout})


@require_role(Role.OPERATOR, action="container.restart")
@require_POST
def container_restart(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker restart -t timeout``, as a job."""
    timeout = _timeout(request, ref, "restart")
    if isinstance(timeout, HttpResponse):
        return timeout
    call = lambda d, cid: d.containers.restart(ref=cid, timeout=timeout)  # noqa: E731 - the job's call
    return _job_of_one(request, ref, "restart", call, {"timeout": timeout})


ONE_WORDS = {  # verb: (while it runs, when it is done)
    "stop": ("stopping", "stopped"),
    "restart": ("restarting", "restarted"),
    "delete": ("deleting", "deleted"),
}


def _lookup(request: HttpRequest, ref: str, verb: str, parameters: dict) -> ContainerDetail | HttpResponse:
    """The container a job will act on; one that is gone is the 404 page, an engine away the 503
    (both audited as a failed ``container.<verb>``, as the action itself would have been)."""
    try:
        return engine.for_request(request).containers.inspect_container(ref=ref)
    except DashboardError as error:
        audit.record(
            request, f"container.{verb}", target=ref, parameters=parameters,
            outcome=audit.FAILED, message=error.message,
        )  # fmt: skip
        if not isinstance(error, Refused):
            raise  # the engine away: the middleware's 503
        return _failed(request, ref, verb, error)


def _job_of_one(
    request: HttpRequest,
    ref: str,
    verb: str,
    call: Callable[[engine.Engine, str], object],
    parameters: dict,
    *,
    role: Role = Role.OPERATOR,
    back: str = "",
    done: str = "",
) -> HttpResponse:
    """A slow action on one container as a job of one row (core/bulk.py), audited as
    ``container.<verb>`` when it ends, like the synchronous action was. The container is looked up
    first (:func:`_lookup`). htmx follows the job in place; a plain POST goes to the job's page."""
    docker = engine.for_request(request)
    container = _lookup(request, ref, verb, parameters)
    if isinstance(container, HttpResponse):
        return container
    item = bulk.Item(ref=container.id, name=container.name, short_id=container.short_id)
    words = ONE_WORDS[verb]
    job = docker.jobs.start(
        "containers",
        f"{verb} {container.name}",
        bulk.work(audit.who(request), f"container.{verb}", [item], call, parameters=parameters, words=words),
        required_role=role.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        success_message=lambda job: done or f"{words[1].capitalize()} {container.name}.",
    )
    doing = f"{words[0].capitalize()} {container.name}…"
    return jobs_view.started(request, job, back=back or _next(request, ref), doing=doing)


@require_role(Role.OPERATOR, action="container.kill")
@require_POST
def container_kill(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker kill -s signal``."""
    docker = engine.for_request(request)
    form = KillForm(request.POST)
    if not form.is_valid():
        return _refused_input(request, ref, "kill", form.errors["signal"][0])
    signal = form.cleaned_data["signal"]
    return _act(
        request, ref, "kill", lambda: docker.containers.kill(ref=ref, signal=signal), {"signal": signal}
    )


@require_role(Role.OPERATOR, action="container.pause")
@require_POST
def container_pause(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker pause``."""
    docker = engine.for_request(request)
    return _act(request, ref, "pause", lambda: docker.containers.pause(ref=ref))


@require_role(Role.OPERATOR, action="container.unpause")
@require_POST
def container_unpause(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker unpause``."""
    docker = engine.for_request(request)
    return _act(request, ref, "unpause", lambda: docker.containers.unpause(ref=ref))


@require_role(Role.OPERATOR, action="container.rename")
@require_POST
def container_rename(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker rename``; then to the container's page under its new name."""
    docker = engine.for_request(request)
    form = RenameForm(request.POST)
    if not form.is_valid():
        return _refused_input(request, ref, "rename", form.errors["name"][0])
    name = form.cleaned_data["name"]
    try:
        with audit.action(request, "container.rename", target=ref, parameters={"name": name}) as details:
            old, short_id = _identify(docker, ref)
            details["target"] = f"{old} ({short_id})" if short_id else ref
            docker.containers.rename(ref=ref, name=name)
    except Refused as error:
        return _failed(request, ref, "rename", error)
    messages.success(request, format_html("Renamed {} to {}.", named(old, short_id), named(name, short_id)))
    return redirect(reverse("container_detail", args=[name]))


# --------------------------------------------------------------------------- commit, export, delete


@require_role(Role.ADMIN, action="container.commit")
@require_POST
def container_commit(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker commit``; the result page links the new image."""
    docker = engine.for_request(request)
    form = CommitForm(request.POST)
    if not form.is_valid():
        return render(request, "containers/commit.html", {"ref": ref, "form": form}, status=400)
    data = form.cleaned_data
    try:
        with audit.action(
            request, "container.commit", target=ref, parameters=dict(request.POST.items())
        ) as details:
            details["target"] = audit_target(docker, ref)
            image_id = docker.containers.commit(
                ref=ref,
                **{k: data[k] for k in ("repository", "tag", "message", "author")},
                pause=data["pause"],
                changes=data["changes"],
            )
            details["message"] = image_id
    except Refused as error:
        form.add_error(None, error.message)
        return render(request, "containers/commit.html", {"ref": ref, "form": form}, status=error.status)
    reference = f"{data['repository']}:{data['tag'] or 'latest'}" if data["repository"] else ""
    return render(
        request, "containers/commit.html", {"ref": ref, "image_id": image_id, "reference": reference}
    )


@require_role(Role.OPERATOR, action="container.export")
@require_safe
def container_export(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker export`` as a streamed tar download (constant memory, 1 MiB chunks)."""
    docker = engine.for_request(request)
    container = docker.containers.inspect_container(ref=ref)
    chunks = docker.containers.export(ref=container.id)
    audit.record(request, "container.export", target=f"{container.name} ({container.short_id})")
    body = aiter_body(Pump.over(lambda: chunks, maxsize=EXPORT_READ_AHEAD, name="container-export"))
    response = StreamingHttpResponse(body, content_type="application/x-tar")
    response["Content-Disposition"] = f'attachment; filename="{container.name or container.short_id}.tar"'
    response["X-Accel-Buffering"] = "no"
    return response


@require_role(Role.ADMIN, action="container.delete")
@require_http_methods(["GET", "POST"])
def container_delete(request: HttpRequest, ref: str) -> HttpResponse:
    """GET: the confirm step; POST: ``docker rm`` (a running one needs ``force``)."""
    docker = engine.for_request(request)
    if request.method == "GET":
        container = docker.containers.inspect_container(ref=ref)
        return render(request, "containers/delete.html", {"c": container})
    form = DeleteForm(request.POST)
    form.is_valid()
    force, volumes = form.cleaned_data["force"], form.cleaned_data["volumes"]
    if volumes:  # removing volumes can take long: a job
        return _delete_job(request, ref, force)
    try:
        with audit.action(
            request, "container.delete", target=ref, parameters={"force": force, "volumes": volumes}
        ) as details:
            name, short_id = _identify(docker, ref)
            details["target"] = f"{name} ({short_id})" if short_id else ref
            docker.containers.remove(ref=ref, force=force, volumes=volumes)
    except Conflict as error:
        messages.error(request, f"{error.message} Stop it first, or delete with force.")
        container = docker.containers.inspect_container(ref=ref)
        return render(request, "containers/delete.html", {"c": container, "running": True}, status=409)
    except Refused as error:
        return _failed(request, ref, "delete", error)
    what = " and its anonymous volumes" if volumes else ""
    messages.success(request, format_html("Deleted {}{}.", named(name, short_id), what))
    return redirect("container_list")


def _delete_job(request: HttpRequest, ref: str, force: bool) -> HttpResponse:
    """Delete with volumes as a job; a running one without ``force`` is refused at once (the
    confirm page again, 409, audited), as the engine would refuse it."""
    parameters = {"force": force, "volumes": True}
    container = _lookup(request, ref, "delete", parameters)
    if isinstance(container, HttpResponse):
        return container
    if container.running and not force:
        message = f"{container.name} is running."
        audit.record(
            request, "container.delete", target=f"{container.name} ({container.short_id})",
            parameters=parameters, outcome=audit.FAILED, message=message,
        )  # fmt: skip
        messages.error(request, f"{message} Stop it first, or delete with force.")
        return render(request, "containers/delete.html", {"c": container, "running": True}, status=409)
    return _job_of_one(
        request,
        ref,
        "delete",
        lambda d, cid: d.containers.remove(ref=cid, force=force, volumes=True),
        parameters,
        role=Role.ADMIN,
        back=reverse("container_list"),
        done=f"Deleted {container.name} and its anonymous volumes.",
    )


# --------------------------------------------------------------------------- bulk


def _back_to_list(request: HttpRequest) -> HttpResponse:
    """Back to the list the bulk form came from, with its filter, sort and page."""
    return redirect(_list_url(request))


def _bulk_targets(request: HttpRequest, docker: engine.Engine) -> list[ContainerSummary] | list[str]:
    """The checked ids, or with ``select=matching`` every container the list's filter matches."""
    if request.POST.get("select") == "matching":
        params, state = _list_params(request.POST)
        available = updates.for_endpoint(request) if request.POST.get("updates") == "1" else None
        return filter_containers(docker, params, state, available=available)
    return list(dict.fromkeys(i for i in request.POST.getlist("ids") if i))


@require_role(Role.OPERATOR, action=lambda request: bulk_action_name(request.POST.get("action", "")))
@require_POST
def container_bulk(request: HttpRequest) -> HttpResponse:
    """Start/stop/restart/delete the checked containers, or all that match the filter (every page),
    as a job with a row per container; delete asks to confirm first, naming each container."""
    docker = engine.for_request(request)
    action = request.POST.get("action", "")
    targets = _bulk_targets(request, docker) if action in BULK_ACTIONS else []
    ids = [t if isinstance(t, str) else t.id for t in targets]
    if not ids or not all(map(references.is_object_ref, ids)):
        message = "Choose containers and one of: start, stop, restart, delete."
        audit.record(
            request,
            bulk_action_name(action),
            parameters={"bulk": True},
            outcome=audit.FAILED,
            message=message,
        )
        messages.error(request, message)
        return _back_to_list(request)
    if len(ids) > BULK_LIMIT:
        messages.error(
            request,
            f"{len(ids)} containers match; a bulk action takes at most {BULK_LIMIT}. Narrow the filter.",
        )
        return _back_to_list(request)
    if action == "delete":
        if not has_role(request, Role.ADMIN):
            for ref in ids:
                audit.record(
                    request,
                    "container.delete",
                    target=ref,
                    parameters={"bulk": True},
                    outcome=audit.DENIED,
                    message="needs the admin role",
                )
            return forbidden(request, Role.ADMIN)
        if request.POST.get("confirm") != "yes":
            return _confirm_bulk_delete(request, docker, ids)
    return _start_bulk_job(request, docker, action, ids)


def _confirm_bulk_delete(request: HttpRequest, docker: engine.Engine, ids: list[str]) -> HttpResponse:
    """The confirm step, naming each container (ids the engine no longer knows are listed as gone)."""
    by_id = {c.id: c for c in docker.containers.list_containers(include_stopped=True)}
    found = [by_id.get(i) or next((c for c in by_id.values() if c.id.startswith(i)), None) for i in ids]
    context = {
        "containers": [c for c in found if c is not None],
        "gone": [i for i, c in zip(ids, found, strict=True) if c is None],
        "back": {
            k: request.POST[k]
            for k in ("q", "state", "sort", "dir", "page", "per_page")
            if request.POST.get(k)
        },
    }
    return render(request, "containers/bulk_delete.html", context)


BULK_WORDS = {  # action: (while it runs, when it is done)
    "start": ("starting", "started"),
    "stop": ("stopping", "stopped"),
    "restart": ("restarting", "restarted"),
    "delete": ("deleting", "deleted"),
}


def _start_bulk_job(request: HttpRequest, docker: engine.Engine, action: str, ids: list[str]) -> HttpResponse:
    """The bulk action as a job (core/bulk.py): a row per container (waiting, running, done or why
    not), one audit event per container as it is done; then its page, which links back to the list."""
    force = request.POST.get("force") == "on"
    volumes = request.POST.get("volumes") == "on"
    options = {"bulk": True, "force": force, "volumes": volumes} if action == "delete" else {"bulk": True}
    calls = {
        "start": lambda d, ref: d.containers.start(ref=ref),
        "stop": lambda d, ref: d.containers.stop(ref=ref, timeout=10),
        "restart": lambda d, ref: d.containers.restart(ref=ref, timeout=10),
        "delete": lambda d, ref: d.containers.remove(ref=ref, force=force, volumes=volumes),
    }
    names = {c.id: c.name for c in docker.containers.list_containers(include_stopped=True)}
    items = []
    for ref in ids:
        full = next((cid for cid in names if cid.startswith(ref)), "") if len(ref) >= 4 else ""
        items.append(bulk.Item(ref=ref, name=names[full] if full else ref[:12], short_id=full[:12]))
    words = BULK_WORDS[action]
    count = f"{len(items)} container{pluralize(len(items))}"
    job = docker.jobs.start(
        "containers",
        f"{action} {count}",
        bulk.work(
            audit.who(request), f"container.{action}", items, calls[action], parameters=options, words=words
        ),
        required_role=(Role.ADMIN if action == "delete" else Role.OPERATOR).label,
        user=request.user,
        endpoint=request.endpoint.slug,
        success_message=lambda job: f"{words[1].capitalize()} {count}.",
    )
    return redirect(jobs_view.job_url(job.id, _list_url(request)))


def _list_url(request: HttpRequest) -> str:
    """The list the bulk form came from, with its filter, sort and page."""
    keep = {k: request.POST[k] for k in LIST_KEYS if request.POST.get(k)}
    return f"{reverse('container_list')}?{urlencode(keep)}" if keep else reverse("container_list")


urlpatterns = [
    path("containers/", container_list, name="container_list"),
    path("containers/new/", container_new, name="container_new"),
    path("containers/bulk/", container_bulk, name="container_bulk"),
    path("containers/<ref:ref>/", container_detail, name="container_detail"),
    path("containers/<ref:ref>/start/", container_start, name="container_start"),
    path("containers/<ref:ref>/stop/", container_stop, name="container_stop"),
    path("containers/<ref:ref>/restart/", container_restart, name="container_restart"),
    path("containers/<ref:ref>/kill/", container_kill, name="container_kill"),
    path("containers/<ref:ref>/pause/", container_pause, name="container_pause"),
    path("containers/<ref:ref>/unpause/", container_unpause, name="container_unpause"),
    path("containers/<ref:ref>/rename/", container_rename, name="container_rename"),
    path("containers/<ref:ref>/commit/", container_commit, name="container_commit"),
    path("containers/<ref:ref>/export/", container_export, name="container_export"),
    path("containers/<ref:ref>/reveal/", container_reveal, name="container_reveal"),
    path("containers/<ref:ref>/delete/", container_delete, name="container_delete"),
]
