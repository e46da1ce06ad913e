"""Edit, duplicate and recreate a container (update = recreate after a pull), as a job with rollback.

``GET /containers/<ref>/edit/`` shows the create form pre-filled from inspect; posting it back shows
what changes (a diff) and a confirm button that posts the same fields to ``recreate/``. ``recreate/``
without form fields recreates the container as it is (with ``pull``: an update). The non-admin
policy applies to the new spec; the job and its audit event carry the diff and both image digests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from core import audit, engine, policy
from core.container_forms import (
    CreateContainerForm,
    EditContainerForm,
    RecreateForm,
    initial_from_spec,
    restore_masked_env,
    spec_diff,
)
from core.engine import jobs
from core.engine.containers import CreateSpec, CurrentSpec
from core.engine.recreate import Report
from core.models import Registry
from core.roles import Role, require_role, role_on
from core.views.containers import _create, _failed, _policy_facts, log_driver_choices

HEALTH_WAIT = 60


def _form(
    request: HttpRequest, current: CurrentSpec, data=None, *, form_class=EditContainerForm, **initial
) -> CreateContainerForm:
    docker = engine.for_request(request)
    return form_class(
        data,
        role=role_on(request),
        facts=_policy_facts(docker, replacing=current.name),
        initial={**initial_from_spec(current.spec), **initial},
    )


def _new_spec(form: CreateContainerForm, current: CurrentSpec) -> CreateSpec:
    """The form's spec with ``KEY=***`` env lines restored from the container (and its name kept)."""
    form.cleaned_data["env"] = restore_masked_env(form.cleaned_data["env"], current.spec.env)
    return form.spec()


def spec_workload(spec: CreateSpec) -> policy.Workload:
    """What ``spec`` asks of the host, for the policy (the recreate of an unchanged spec)."""
    return policy.Workload(
        privileged=spec.privileged,
        cap_add=spec.cap_add,
        network=spec.network or next((n.name for n in spec.networks), ""),
        pid=spec.pid,
        log_options=spec.log_options,
        mounts=tuple(
            policy.Mount(v.source, v.target, "bind" if v.is_bind else "volume", v.read_only)
            for v in spec.volumes
        ),
    )


def _context(request: HttpRequest, current: CurrentSpec, form, **extra) -> dict:
    return {
        "c": current,
        "form": form,
        "is_admin": role_on(request) == Role.ADMIN,
        "recreate_form": RecreateForm(initial={"health_wait": HEALTH_WAIT}),
        **log_driver_choices(engine.for_request(request)),
        **extra,
    }


@require_role(Role.OPERATOR, action="container.recreate")
@require_http_methods(["GET", "POST"])
def container_edit(request: HttpRequest, ref: str) -> HttpResponse:
    """GET: the form pre-filled from inspect. POST: the diff against the container, to confirm."""
    current = engine.for_request(request).containers.current_spec(ref=ref)
    form = _form(request, current, request.POST if request.method == "POST" else None)
    context = _context(request, current, form)
    if request.method == "POST":
        if not form.is_valid():
            audit.refused_form(
                request, "container.recreate", form, target=current.name, denied=bool(form.refusals)
            )
            return render(request, "containers/edit.html", context, status=400)
        context["diff"] = spec_diff(current.spec, _new_spec(form, current))
        context["confirm"] = [
            (k, v) for k in request.POST for v in request.POST.getlist(k) if k != "csrfmiddlewaretoken"
        ]
    return render(request, "containers/edit.html", context)


@require_role(Role.OPERATOR, action="container.create")
@require_http_methods(["GET", "POST"])
def container_duplicate(request: HttpRequest, ref: str) -> HttpResponse:
    """The create form pre-filled from a container, for a new one (new name; anonymous volumes fresh)."""
    current = engine.for_request(request).containers.current_spec(ref=ref)
    fresh = tuple(v for v in current.spec.volumes if v.source not in current.anonymous_volumes)
    initial = initial_from_spec(replace(current.spec, volumes=fresh))
    initial["name"] = f"{current.name}-copy"
    data = request.POST if request.method == "POST" else None
    form = _form(request, current, data, form_class=CreateContainerForm, **initial)
    if request.method == "POST" and form.is_valid():
        result = _create(request, form, _new_spec(form, current))
        if result is not None:
            messages.success(request, f"Created {result.name}, a copy of {current.name}.")
            return redirect(reverse("container_detail", args=[result.name]))
    elif request.method == "POST":
        audit.refused_form(
            request, "container.create", form, target=request.POST.get("name", ""), denied=bool(form.refusals)
        )
    context = _context(request, current, form, duplicate=True)
    return render(
        request, "containers/edit.html", context, status=400 if form.is_bound and form.errors else 200
    )


@require_role(Role.OPERATOR, action=lambda request: _action_name(request))
@require_POST
def container_recreate(request: HttpRequest, ref: str) -> HttpResponse:
    """Start the recreate job: with the form's fields (an edit), or the container as it is; ``pull``
    re-pulls the image first (an update)."""
    docker = engine.for_request(request)
    current = docker.containers.current_spec(ref=ref)
    options = RecreateForm(request.POST)
    options.is_valid()
    pull = bool(options.cleaned_data.get("pull"))
    name = _action_name(request)
    if "image" in request.POST:
        form = _form(request, current, request.POST)
        if not form.is_valid():
            audit.refused_form(request, name, form, target=current.name, denied=bool(form.refusals))
            return render(request, "containers/edit.html", _context(request, current, form), status=400)
        spec = _new_spec(form, current)
    else:
        spec = current.spec
        refused = refusals_for(request, current)
        if refused:
            return _refuse(request, name, current, " ".join(r.message for r in refused), denied=True)
    if current.unsupported:
        why = (
            f"{current.name} uses settings the dashboard cannot carry over to a new container "
            f"({', '.join(current.unsupported)}); recreate it with the docker CLI or compose."
        )
        return _refuse(request, name, current, why)
    job = start_recreate(
        request, current, spec, pull=pull, health_wait=options.cleaned_data.get("health_wait")
    )
    return redirect("job", job_id=job.id)


def _action_name(request: HttpRequest) -> str:
    return "container.update" if request.POST.get("pull") in ("on", "true", "1") else "container.recreate"


def refusals_for(request: HttpRequest, current: CurrentSpec) -> tuple[policy.Refusal, ...]:
    """The policy's refusals of recreating ``current`` unchanged, for the request's role."""
    role = role_on(request)
    workload = spec_workload(current.spec)
    facts = (
        _policy_facts(engine.for_request(request), replacing=current.name)(workload)
        if role < Role.ADMIN
        else None
    )
    return policy.refusals(workload, role, facts)


def _refuse(request: HttpRequest, name: str, current: CurrentSpec, message: str, *, denied: bool = False):
    from core.errors import InvalidInput

    audit.record(
        request, name, target=current.name, outcome=audit.DENIED if denied else audit.FAILED, message=message
    )
    return _failed(request, current.name, "recreate", InvalidInput(message))


def registry_auth(image: str) -> dict | None:
    """The stored credentials of the linked registry whose host the image names (None: anonymous)."""
    from core.errors import DashboardError
    from core.references import parse_input

    try:
        host = parse_input(image).registry
    except DashboardError:
        return None
    registry = next((r for r in Registry.objects.all() if host and r.host == host), None)
    return registry.auth_config() if registry is not None else None


def start_recreate(
    request: HttpRequest, current: CurrentSpec, spec: CreateSpec, *, pull: bool, health_wait: int | None
) -> jobs.Job:
    """The recreate as a job the person (and operators on this endpoint) can watch; audited at its end."""
    who = audit.who(request)
    name = "container.update" if pull else "container.recreate"
    diff = spec_diff(current.spec, spec)
    report = Report(name=current.name)
    auth = registry_auth(spec.image) if pull else None

    def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
        yield from docker.recreate.run(
            current=current,
            spec=spec,
            report=report,
            pull=pull,
            auth_config=auth,
            health_wait=float(health_wait or HEALTH_WAIT),
        )

    def on_done(job: jobs.Job) -> None:
        outcome = audit.OK if job.status == jobs.SUCCESS else audit.FAILED
        parameters = {"pull": pull, "diff": [list(row) for row in diff], **report.audit()}
        audit.record(
            who,
            name,
            target=f"{current.name} ({current.id[:12]})",
            parameters=parameters,
            outcome=outcome,
            message=job.message,
        )

    return engine.for_request(request).jobs.start(
        "update" if pull else "recreate",
        current.name,
        work,
        required_role=Role.OPERATOR.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        on_done=on_done,
        success_message=lambda job: (
            f"{current.name} recreated: image {report.new_image_id[7:19]} "
            f"(was {report.old_image_id[7:19]}), down {report.downtime or 0:.2f} s."
        ),
    )


urlpatterns = [
    path("containers/<str:ref>/edit/", container_edit, name="container_edit"),
    path("containers/<str:ref>/duplicate/", container_duplicate, name="container_duplicate"),
    path("containers/<str:ref>/recreate/", container_recreate, name="container_recreate"),
]
