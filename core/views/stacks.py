"""Compose stacks: list (from labels), deploy, detail, lifecycle jobs, edit with a diff, rollback,
import, down; swarm stacks (``docker stack deploy``) on a swarm manager endpoint through the same
pages. The CLI is core/engine/compose.py; validation, versions and jobs are core/stacks.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import audit, engine, stacks, tables
from core.engine import jobs
from core.engine.compose import ProjectCounts, StackSummary, cli, stack_cli
from core.engine.swarm import ServiceSummary
from core.models import Stack, StackVersion
from core.policy import masked_compose_text, masked_env_text
from core.roles import Role, forbidden, has_role, require_role, role_on
from core.stack_forms import DownForm, EditForm, StackForm

MAX_TASKS = 20  # tasks shown per service of a swarm stack (current first, then the newest history)
SORTS = {
    "name": lambda r: r["name"],
    "status": lambda r: (r["status"], r["name"]),
    "containers": lambda r: (r["total"], r["name"]),
    "deployed": lambda r: (r["deployed_at"] is not None, r["deployed_at"] or 0, r["name"]),
}


def _managed(request: HttpRequest) -> tuple[dict[str, Stack], dict[int, StackVersion]]:
    """The endpoint's managed stacks by name, and each one's newest version (without its files: the
    compose text, the encrypted env) by stack id."""
    managed = {s.name: s for s in Stack.objects.filter(endpoint=request.endpoint.slug)}
    newest = StackVersion.objects.filter(stack=OuterRef("stack")).order_by("-number").values("number")[:1]
    last = {
        v.stack_id: v
        for v in StackVersion.objects.filter(stack__in=managed.values(), number=Subquery(newest)).defer(
            "compose", "env_encrypted", "message"
        )
    }
    return managed, last


def _rows(
    params: tables.Params,
    found_on_engine: tuple[Sequence[ProjectCounts], list[ServiceSummary]],
    managed: dict[str, Stack],
    last: dict[int, StackVersion],
) -> list[dict]:
    """One row per project on the engine, per swarm stack, and per managed stack that is down."""
    projects, services = found_on_engine
    found = {p.name: p for p in projects}
    swarm: dict[str, list[ServiceSummary]] = {}
    for service in services:
        swarm.setdefault(service.stack, []).append(service)
    rows = []
    for name in found.keys() | managed.keys() | swarm.keys():
        summary = found.get(name) or ProjectCounts(name, (), 0, 0, ())
        row = managed.get(name)
        version = last.get(row.pk) if row is not None else None
        is_swarm = name in swarm or (row is not None and row.mode == Stack.Mode.SWARM)
        if is_swarm:
            counts = _swarm_counts(swarm.get(name, []))
            source = "docker stack deploy"
        else:
            counts = (summary.status, summary.services, summary.running, summary.total)
            source = ", ".join(summary.config_files) or "unknown"
        rows.append(
            {
                "name": name,
                "mode": "swarm" if is_swarm else "compose",
                "status": counts[0],
                "services": counts[1],
                "running": counts[2],
                "total": counts[3],
                "source": "dashboard" if row is not None else source,
                "managed": row is not None,
                "version": version,
                "deployed_at": version.created_at.timestamp() if version is not None else None,
            }
        )
    if needle := params.needle:
        rows = [r for r in rows if needle in r["name"] or any(needle in s for s in r["services"])]
    return rows


def _swarm_counts(services: list[ServiceSummary]) -> tuple[str, tuple[str, ...], int, int]:
    """A swarm stack's status, service names, running and desired tasks (its list row's numbers)."""
    running, desired = sum(s.running for s in services), sum(s.desired for s in services)
    if not services:
        status = "down"
    elif running >= desired:
        status = "running"
    else:
        status = "stopped" if running == 0 else "partial"
    prefix = len(services[0].stack) + 1 if services else 0
    return status, tuple(s.name[prefix:] for s in services), running, desired


@require_role(Role.VIEWER)
@require_GET
def stack_list(request: HttpRequest) -> HttpResponse:
    """Every compose project on the endpoint, whether or not the dashboard deployed it.

    The engine is asked first and answers while the database is read and the page around the table
    is rendered: ``page`` is computed when the template reaches the table (an engine failure raised
    there is the engine-down page, as from the view)."""
    params = tables.read(request.GET, sorts=SORTS, default_sort="name")
    on_engine = engine.for_request(request).compose.start_list_stacks()
    managed, last = _managed(request)

    def page() -> tables.Page:
        rows = tables.sorted_rows(_rows(params, on_engine(), managed, last), SORTS, params)
        return tables.page_of(rows, params)

    context = {
        "page": SimpleLazyObject(page),
        "params": params,
        "cli": cli(),
        "can_operate": has_role(request, Role.OPERATOR),
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, "stacks/list.html#table" if fragment else "stacks/list.html", context)


def _checked_or_form(request: HttpRequest, form, name: str, action: str, mode: str) -> stacks.Checked | None:
    """Validate the form's files; on refusal add the errors to the form, audit it, return None."""
    data = form.cleaned_data
    role = role_on(request)
    checked = stacks.check(
        engine.for_request(request), name=name, compose=data["compose"], env=data["env"], role=role, mode=mode
    )
    if checked.ok:
        return checked
    for error in checked.errors:
        form.add_error("compose", error)
    audit.refused_form(request, action, form, target=name, denied=checked.denied)
    return None


@require_role(Role.OPERATOR, action="stack.deploy")
@require_http_methods(["GET", "POST"])
def stack_new(request: HttpRequest) -> HttpResponse:
    """A new stack (or a managed one that was brought down, whose history continues): validate with
    ``config`` and the policy, then ``up -d`` (or ``docker stack deploy``) as a job."""
    docker = engine.for_request(request)
    swarm = stacks.swarm_available(docker)
    form = StackForm(request.POST if request.method == "POST" else None, swarm=swarm)
    if request.method == "POST":
        name = form.cleaned_data["name"] if form.is_valid() else request.POST.get("name", "")
        if form.errors:
            audit.refused_form(request, "stack.deploy", form, target=name)
        elif taken := stacks.name_taken(docker, request.endpoint.slug, name):
            form.add_error("name", taken)
            audit.refused_form(request, "stack.deploy", form, target=name)
        elif _checked_or_form(request, form, name, "stack.deploy", form.cleaned_data["mode"]) is not None:
            data = form.cleaned_data
            row, _ = Stack.objects.get_or_create(
                endpoint=request.endpoint.slug,
                name=name,
                defaults={"created_by": request.user.get_username()},
            )
            if row.mode != data["mode"]:
                row.mode = data["mode"]
                row.save(update_fields=["mode"])
            version = stacks.new_version(request, row, compose=data["compose"], env=data["env"], origin="new")
            job = stacks.deploy(request, docker, row, version, action="deploy")
            return redirect("stack_job", job_id=job.id)
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "cli": cli(), "stack_cli": stack_cli(), "swarm": swarm}
    return render(request, "stacks/new.html", context, status=status)


class Found(NamedTuple):
    """A stack of the request's endpoint: its row (managed), containers, file source and services."""

    row: Stack | None
    summary: StackSummary
    source: stacks.Source
    services: list[ServiceSummary]  # a swarm stack's (none for a compose project)

    @property
    def swarm(self) -> bool:
        return self.row.mode == Stack.Mode.SWARM if self.row is not None else bool(self.services)


def _stack(request: HttpRequest, name: str) -> Found:
    """The stack ``name`` on the request's endpoint (404 when neither managed nor on the engine)."""
    docker = engine.for_request(request)
    row = stacks.row_of(request.endpoint.slug, name)
    if not stacks.valid_name(name):
        summary, services = StackSummary(name, (), (), ""), []
    else:
        summary = docker.compose.stack(name=name)
        compose_only = row is not None and row.mode != Stack.Mode.SWARM
        services = [] if compose_only else docker.swarm.stack_services(name=name)
    if row is None and not summary.total and not services:
        raise Http404(f"No stack named {name} on this endpoint.")
    source = stacks.source_of(docker, row, summary)
    if source.kind == "labels" and services:
        source = stacks.Source("labels", None, "docker stack deploy, outside the dashboard")
    return Found(row, summary, source, services)


@require_role(Role.VIEWER)
@require_GET
def stack_detail(request: HttpRequest, name: str) -> HttpResponse:
    """Services and their containers, the files (secrets masked for viewers), versions, logs."""
    found = _stack(request, name)
    row, summary, source = found.row, found.summary, found.source
    can_operate = has_role(request, Role.OPERATOR)
    services: dict[str, list] = {}
    for container in summary.containers:
        services.setdefault(container.labels.get("com.docker.compose.service", ""), []).append(container)
    compose, env = "", ""
    if source.project is not None:
        compose = source.project.compose or stacks.read_files(source)
        env = source.project.env
    if not can_operate:
        compose, env = masked_compose_text(compose), masked_env_text(env)
    running = row.running_version if row is not None else None
    context = _swarm_detail(request, name, found.services) if found.swarm else {}
    context |= {
        "name": name,
        "swarm": found.swarm,
        "row": row,
        "summary": summary,
        "source": source,
        "services": sorted(services.items()),
        "all_ids": ",".join(c.id for c in summary.containers),
        "compose": compose,
        "env": env,
        "versions": list(row.versions.all()[:50]) if row is not None else [],
        "running": running,
        "can_operate": can_operate,
        "can_admin": has_role(request, Role.ADMIN),
        "cli": cli(),
    }
    return render(request, "stacks/detail.html", context)


def _swarm_detail(request: HttpRequest, name: str, services: list[ServiceSummary]) -> dict:
    """What the detail page shows of a swarm stack: its services, each with its latest tasks."""
    tasks = engine.for_request(request).swarm.stack_tasks(name=name) if services else []
    status, _names, running, desired = _swarm_counts(services)
    prefix = len(name) + 1
    return {
        "swarm_services": [
            (s, s.name[prefix:], [t for t in tasks if t.service_id == s.id][:MAX_TASKS]) for s in services
        ],
        "swarm_status": status,
        "swarm_running": running,
        "swarm_desired": desired,
    }


def _lifecycle(action: str, command: str) -> Callable[[HttpRequest, str], HttpResponse]:
    """A lifecycle action as a job: through the stack's files when it has them, else by label."""

    @require_role(Role.OPERATOR, action=f"stack.{action}")
    @require_POST
    def view(request: HttpRequest, name: str) -> HttpResponse:
        found = _stack(request, name)
        source = found.source
        docker = engine.for_request(request)
        if found.swarm:
            return _swarm_lifecycle(request, docker, name, action)
        if source.project is None and command in ("up", "pull"):
            messages.error(
                request, f"Stack {name}'s file is not readable here: an admin can import it first."
            )
            return redirect("stack_detail", name=name)
        project = source.project

        def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
            if project is None:
                count = docker.compose.label_action(name=name, action=command)
                yield {"stream": f"{command}: {count} container(s) of {name}, by label (no file here)."}
                return
            yield from docker.compose.run(project=project, command=command)
            if command == "pull":
                yield from docker.compose.run(project=project, command="up")

        job = stacks.start_job(request, docker, name=name, action=action, work=work, role=Role.OPERATOR)
        return redirect("stack_job", job_id=job.id)

    view.__name__ = view.__qualname__ = f"stack_{action}"
    view.__doc__ = f"``compose {command}`` of the stack as a job (by label for a stack without files)."
    return view


def _swarm_lifecycle(request: HttpRequest, docker: engine.Engine, name: str, action: str) -> HttpResponse:
    """A swarm stack has services, not containers: restart is a forced update of each service (new
    tasks, the update policy of each); start/stop/up/pull are not swarm operations (scale instead)."""
    if action != "restart":
        message = (
            f"{action.capitalize()} is for compose projects: {name} is a swarm stack (edit or scale it)."
        )
        audit.record(request, f"stack.{action}", target=name, outcome=audit.FAILED, message=message)
        messages.error(request, message)
        return redirect("stack_detail", name=name)

    def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
        for service in docker.swarm.stack_services(name=name):
            docker.swarm.force_update(service.id)
            yield {"stream": f"{service.name}: forced update (new tasks)"}
        yield from stacks.converge(docker, name)

    job = stacks.start_job(request, docker, name=name, action=action, work=work, role=Role.OPERATOR)
    return redirect("stack_job", job_id=job.id)


stack_up = _lifecycle("up", "up")
stack_stop = _lifecycle("stop", "stop")
stack_start = _lifecycle("start", "start")
stack_restart = _lifecycle("restart", "restart")
stack_pull = _lifecycle("pull", "pull")


@require_role(Role.ADMIN, action="stack.down")
@require_http_methods(["GET", "POST"])
def stack_down(request: HttpRequest, name: str) -> HttpResponse:
    """Two steps: what goes (containers, networks; volumes when asked), then ``compose down``
    (a swarm stack: ``docker stack rm``, waiting until its services and networks are gone)."""
    found = _stack(request, name)
    summary, source, swarm = found.summary, found.source, found.swarm
    if request.method == "GET":
        context = {
            "name": name,
            "summary": summary,
            "form": DownForm(),
            "swarm": swarm,
            "services": found.services,
        }
        return render(request, "stacks/down.html", context)
    form = DownForm(request.POST)
    volumes = form.is_valid() and form.cleaned_data["volumes"] and not swarm
    project = source.project

    def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
        if swarm:
            yield from stacks.remove_swarm_stack(docker, name)
            return
        if project is None:
            count = docker.compose.label_action(name=name, action="down", volumes=volumes)
            yield {"stream": f"down: removed {count} container(s) of {name}, by label (no file here)."}
            return
        yield from docker.compose.run(project=project, command="down-volumes" if volumes else "down")

    docker = engine.for_request(request)
    job = stacks.start_job(
        request, docker, name=name, action="down", work=work, role=Role.ADMIN, parameters={"volumes": volumes}
    )
    return redirect("stack_job", job_id=job.id)


def _edit_page(request: HttpRequest, name: str, form: EditForm, action: str, **extra) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    context = {"name": name, "form": form, "action": action, "cli": cli(), **extra}
    return render(request, "stacks/edit.html", context, status=status)


def _new_version(request: HttpRequest, name: str, action: str, origin: str) -> HttpResponse:
    """Edit and import: GET the form; POST validates and shows the diff; POST ``confirm`` deploys."""
    found = _stack(request, name)
    row, source = found.row, found.source
    running = row.running_version if row is not None else None
    old_compose = running.compose if running else (source.project and source.project.compose) or ""
    old_compose = old_compose or stacks.read_files(source)
    old_env = running.env if running else ""
    if request.method == "GET":
        form = EditForm(initial={"compose": old_compose, "env": old_env})
        return _edit_page(request, name, form, action)
    form = EditForm(request.POST)
    if not form.is_valid():
        audit.refused_form(request, f"stack.{action}", form, target=name)
        return _edit_page(request, name, form, action)
    mode = Stack.Mode.SWARM if found.swarm else Stack.Mode.COMPOSE
    if _checked_or_form(request, form, name, f"stack.{action}", mode) is None:
        return _edit_page(request, name, form, action)
    data = form.cleaned_data
    if not data["confirm"]:
        diffs = [
            stacks.diff(old_compose, data["compose"], "compose file"),
            stacks.diff(old_env, data["env"], ".env"),
        ]
        return _edit_page(request, name, form, action, diffs=[d for d in diffs if d], preview=True)
    if row is None:
        row = Stack.objects.create(
            endpoint=request.endpoint.slug, name=name, mode=mode, created_by=request.user.get_username()
        )
    version = stacks.new_version(request, row, compose=data["compose"], env=data["env"], origin=origin)
    job = stacks.deploy(request, engine.for_request(request), row, version, action=action)
    return redirect("stack_job", job_id=job.id)


@require_role(Role.OPERATOR, action="stack.edit")
@require_http_methods(["GET", "POST"])
def stack_edit(request: HttpRequest, name: str) -> HttpResponse:
    """A new version: validate, show the diff against the running version, deploy."""
    return _new_version(request, name, "edit", "edit")


@require_role(Role.ADMIN, action="stack.import")
@require_http_methods(["GET", "POST"])
def stack_import(request: HttpRequest, name: str) -> HttpResponse:
    """Make an adopted stack managed: an admin pastes (or keeps the readable) file, deployed as v1."""
    return _new_version(request, name, "import", "import")


@require_role(Role.OPERATOR, action="stack.rollback")
@require_POST
def stack_rollback(request: HttpRequest, name: str, version: int) -> HttpResponse:
    """Deploy an earlier version again (as a new version), validated for the current role."""
    row = stacks.row_of(request.endpoint.slug, name)
    old = row.versions.filter(number=version).first() if row is not None else None
    if old is None:
        raise Http404(f"Stack {name} has no version {version}.")
    docker = engine.for_request(request)
    checked = stacks.check(
        docker, name=name, compose=old.compose, env=old.env, role=role_on(request), mode=row.mode
    )
    if not checked.ok:
        message = " ".join(checked.errors)
        audit.record(
            request,
            "stack.rollback",
            target=name,
            parameters={"version": version},
            outcome=audit.DENIED if checked.denied else audit.FAILED,
            message=message,
        )
        messages.error(request, f"Version {version} cannot be deployed: {message}")
        return redirect("stack_detail", name=name)
    new = stacks.new_version(
        request, row, compose=old.compose, env=old.env, origin="rollback", rolled_back_from=version
    )
    job = stacks.deploy(request, docker, row, new, action="rollback")
    return redirect("stack_job", job_id=job.id)


@require_role(Role.VIEWER)
@require_GET
def stack_job(request: HttpRequest, job_id: str) -> HttpResponse:
    """The live output of a stack job (deploy, lifecycle, down), from any server process."""
    row = jobs.load(job_id)
    if row is None or not row.kind.startswith("stack "):
        raise Http404("No such job.")
    if not jobs.may_watch(request.user, row):
        return forbidden(request, Role[row.required_role.upper()])
    return render(request, "stacks/job.html", {"job": jobs.snapshot_of(row), "stack": row.target})


urlpatterns = [
    path("stacks/", stack_list, name="stack_list"),
    path("stacks/new/", stack_new, name="stack_new"),
    re_path(r"^stacks/jobs/(?P<job_id>[0-9a-f]{32})/$", stack_job, name="stack_job"),
    path("stacks/<str:name>/", stack_detail, name="stack_detail"),
    path("stacks/<str:name>/up/", stack_up, name="stack_up"),
    path("stacks/<str:name>/stop/", stack_stop, name="stack_stop"),
    path("stacks/<str:name>/start/", stack_start, name="stack_start"),
    path("stacks/<str:name>/restart/", stack_restart, name="stack_restart"),
    path("stacks/<str:name>/pull/", stack_pull, name="stack_pull"),
    path("stacks/<str:name>/down/", stack_down, name="stack_down"),
    path("stacks/<str:name>/edit/", stack_edit, name="stack_edit"),
    path("stacks/<str:name>/import/", stack_import, name="stack_import"),
    path("stacks/<str:name>/rollback/<int:version>/", stack_rollback, name="stack_rollback"),
]
