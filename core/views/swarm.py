"""Swarm pages and actions (nodes, services, tasks) for an endpoint that is a Swarm manager.

Each view gets the engine of the request's endpoint (``engine.for_request``). Every link is
reversed, so it keeps the endpoint prefix.
"""

from __future__ import annotations

import shlex

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from core import audit, engine, policy, references, tables
from core.engine.swarm import SwarmState, parse_constraints, parse_env, parse_ports
from core.errors import InvalidInput, NotFound, Refused
from core.roles import Role, has_role, require_role, role_on
from core.routing import ws_path

SERVICE_SORTS = {
    "name": lambda s: s.name.lower(),
    "mode": lambda s: (s.mode, s.name.lower()),
    "image": lambda s: s.image.lower(),
    "replicas": lambda s: (s.running, s.desired),
}
TASK_SORTS = {
    "slot": lambda t: (not t.current, t.slot if t.slot is not None else 0, t.node),
    "state": lambda t: (t.state, t.updated),
    "node": lambda t: (t.node, t.updated),
    "updated": lambda t: t.updated,
}
LOG_TAIL = 200
SERVICE_FIELDS = ("name", "image", "replicas", "command", "ports", "env", "constraints")
MAX_REPLICAS = 1000


def _not_a_manager(request: HttpRequest, state: SwarmState) -> HttpResponse:
    return render(request, "swarm/not_manager.html", {"state": state})


def _home(request: HttpRequest, *, form: forms.Form | None = None, status: int = 200) -> HttpResponse:
    docker = engine.for_request(request)
    state = docker.swarm.swarm_state()
    if not state.is_manager:
        return _not_a_manager(request, state)
    params = tables.read(request.GET, sorts=SERVICE_SORTS, default_sort="name")
    services = docker.swarm.list_services()
    if needle := params.needle:
        services = [s for s in services if needle in s.name.lower() or needle in s.image.lower()]
    context = {
        "state": state,
        "nodes": docker.swarm.list_nodes(),
        "page": tables.page_of(tables.sorted_rows(services, SERVICE_SORTS, params), params),
        "params": params,
        "form": form or ServiceForm(),
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
    }
    return render(request, "swarm/swarm.html", context, status=status)


@require_role(Role.VIEWER)
def swarm_home(request: HttpRequest) -> HttpResponse:
    """Nodes and services of the swarm, or how to start one when the engine is not a manager."""
    return _home(request)


def _replicas(value: str) -> int:
    try:
        replicas = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("Replicas must be a whole number.") from None
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidInput(f"Replicas go from 0 to {MAX_REPLICAS}.")
    return replicas


def _spec(parse, text: str):
    """Run one of the engine module's spec parsers; its refusal becomes the field's error."""
    try:
        return parse(text)
    except InvalidInput as exc:
        raise forms.ValidationError(exc.message) from None


class ServiceForm(forms.Form):
    """Create a replicated service; element ids ``svc-<field>`` as the swarm page uses."""

    name = forms.CharField(max_length=1024)
    image = forms.CharField(max_length=1024, widget=forms.TextInput(attrs={"placeholder": "nginx:1.27"}))
    replicas = forms.IntegerField(
        min_value=0,
        max_value=MAX_REPLICAS,
        required=False,
        initial=1,
        error_messages={"invalid": "Replicas must be a whole number."},
    )
    command = forms.CharField(
        max_length=4096, required=False, widget=forms.TextInput(attrs={"placeholder": "sleep 3600"})
    )
    ports = forms.CharField(
        max_length=4096, required=False, widget=forms.TextInput(attrs={"placeholder": "8080:80"})
    )
    env = forms.CharField(max_length=65536, required=False, widget=forms.Textarea)
    constraints = forms.CharField(
        max_length=4096, required=False, widget=forms.Textarea(attrs={"placeholder": "node.role==manager"})
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "svc-%s")
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        try:
            return references.validate_service_name(name)
        except references.BadReference as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_image(self) -> str:
        image = self.cleaned_data["image"]
        try:
            references.parse(image)
        except references.BadReference as exc:
            raise forms.ValidationError(str(exc)) from None
        return image

    def clean_replicas(self) -> int:
        replicas = self.cleaned_data["replicas"]
        return 1 if replicas is None else replicas

    def clean_command(self) -> list[str]:
        try:
            return shlex.split(self.cleaned_data["command"])
        except ValueError as e:
            raise forms.ValidationError(f"The command cannot be split into words: {e}.") from None

    def clean_ports(self) -> list:
        return _spec(parse_ports, self.cleaned_data["ports"])

    def clean_env(self) -> list:
        return _spec(parse_env, self.cleaned_data["env"])

    def clean_constraints(self) -> list:
        return _spec(parse_constraints, self.cleaned_data["constraints"])


@require_role(Role.ADMIN, action="swarm.service.create")
@require_POST
def service_create(request: HttpRequest) -> HttpResponse:
    """Create a replicated service from the form on the swarm page (the workload policy first)."""
    form = ServiceForm(request.POST)
    params = {k: request.POST.get(k, "") for k in SERVICE_FIELDS}
    workload = policy.Workload(unknown_fields=policy.unknown_fields(request.POST.keys(), SERVICE_FIELDS))
    refused = policy.refusals(workload, role_on(request))
    if refused:
        message = " ".join(r.message for r in refused)
        audit.record(
            request,
            "swarm.service.create",
            target=params["name"][:150],
            parameters={**params, "refused_fields": list(workload.unknown_fields)},
            outcome=audit.DENIED,
            message=message,
        )
        messages.error(request, message)
        return _home(request, form=form, status=400)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        audit.record(
            request,
            "swarm.service.create",
            target=params["name"][:150],
            parameters=params,
            outcome=audit.FAILED,
            message=errors,
        )
        return _home(request, form=form, status=400)
    data = form.cleaned_data
    try:
        with audit.action(request, "swarm.service.create", target=data["name"], parameters=params) as details:
            service_id = engine.for_request(request).swarm.create_service(**data)
            details["message"] = service_id
    except Refused as e:
        form.add_error(None, e.message)
        return _home(request, form=form, status=400)
    messages.success(request, f"Service {data['name']} created.")
    return redirect("swarm-service", service_id=service_id)


@require_role(Role.VIEWER)
def service_detail(request: HttpRequest, service_id: str) -> HttpResponse:
    """One service: its spec (env values masked), tasks with their node and state, the last update."""
    return _service_page(request, service_id)


@require_role(Role.OPERATOR, action="swarm.service.reveal")
@require_POST
def service_reveal(request: HttpRequest, service_id: str) -> HttpResponse:
    """The service page with its env values shown (audited)."""
    with audit.action(request, "swarm.service.reveal", target=service_id):
        response = _service_page(request, service_id, revealed=True)
    response["Cache-Control"] = "no-store"
    return response


def _service_page(request: HttpRequest, service_id: str, *, revealed: bool = False) -> HttpResponse:
    docker = engine.for_request(request)
    state = docker.swarm.swarm_state()
    if not state.is_manager:
        return _not_a_manager(request, state)
    service = docker.swarm.inspect_service(service_id)
    params = tables.read(request.GET, sorts=TASK_SORTS, default_sort="slot")
    tasks = list(service.tasks)
    if needle := params.needle:
        tasks = [t for t in tasks if needle in f"{t.id} {t.node} {t.state} {t.message} {t.error}".lower()]
    context = {
        "service": service,
        "page": tables.page_of(tables.sorted_rows(tasks, TASK_SORTS, params), params),
        "params": params,
        "service_id": service.summary.id,
        "progress": service.progress,
        "revealed": revealed,
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
    }
    return render(request, "swarm/service.html", context)


@require_role(Role.VIEWER)
def service_progress(request: HttpRequest, service_id: str) -> HttpResponse:
    """The rolling-update fragment; it polls itself every 2 s while the update runs."""
    docker = engine.for_request(request)
    progress = docker.swarm.update_progress(service_id)
    return render(request, "swarm/service.html#progress", {"progress": progress, "service_id": service_id})


@require_role(Role.VIEWER)
def service_logs(request: HttpRequest, service_id: str) -> HttpResponse:
    """The last lines of every task of the service, read once on the server."""
    docker = engine.for_request(request)
    service = docker.swarm.inspect_service(service_id)
    lines = docker.swarm.service_log_lines(service.summary.id, tail=LOG_TAIL)
    slots = {t.id: t.name for t in service.tasks}
    rows = [(slots.get(line.task_id, line.task_id[:12]), line.text) for line in lines]
    return render(request, "swarm/logs.html", {"service": service, "rows": rows, "tail": LOG_TAIL})


@require_role(Role.VIEWER)
def service_logs_live(request: HttpRequest, service_id: str) -> HttpResponse:
    """The service's logs followed live in the container log viewer (ws/swarm/services/<id>/logs/)."""
    docker = engine.for_request(request)
    service = docker.swarm.inspect_service(service_id)
    return render(
        request,
        "logs/logs.html",
        {
            "containers": [],
            "service": service.summary,
            "title": f"service {service.summary.name}",
            "ws_path": ws_path("ws-service-logs", service.summary.id),
        },
    )


def _refused_change(
    request: HttpRequest, service_id: str, action: str, parameters: dict
) -> HttpResponse | None:
    """The workload policy on a change: a non-admin may not change a service set up with what only
    an admin may ask for (bind mounts, capabilities, the host network ...). Audited when refused."""
    role = role_on(request)
    if role is None or role >= Role.ADMIN:
        return None
    docker = engine.for_request(request)
    workload = docker.swarm.inspect_service(service_id).workload
    facts = policy.gather_facts(
        workload, inspect_volume=docker.volumes.volume_facts, network_driver=docker.networks.network_driver
    )
    refused = policy.refusals(workload, role, facts)
    if not refused:
        return None
    message = "Only an admin may change this service: " + " ".join(r.message for r in refused)
    audit.record(
        request,
        action,
        target=service_id,
        parameters={**parameters, "refused_fields": sorted({r.field for r in refused})},
        outcome=audit.DENIED,
        message=message,
    )
    messages.error(request, message)
    return redirect("swarm-service", service_id=service_id)


@require_role(Role.OPERATOR, action="swarm.service.scale")
@require_POST
def service_scale(request: HttpRequest, service_id: str) -> HttpResponse:
    """Set the replica count of a replicated service."""
    docker = engine.for_request(request)
    value = request.POST.get("replicas", "")
    refused = _refused_change(request, service_id, "swarm.service.scale", {"replicas": value})
    if refused is not None:
        return refused
    try:
        with audit.action(
            request,
            "swarm.service.scale",
            target=service_id,
            parameters={"replicas": value},
        ):
            docker.swarm.scale_service(service_id, replicas=_replicas(value))
    except NotFound:
        raise
    except Refused as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Scaled to {value} replicas.")
    return redirect("swarm-service", service_id=service_id)


@require_role(Role.OPERATOR, action="swarm.service.update")
@require_POST
def service_update(request: HttpRequest, service_id: str) -> HttpResponse:
    """Start a rolling update of the service to another image."""
    docker = engine.for_request(request)
    image = request.POST.get("image", "").strip()
    refused = _refused_change(request, service_id, "swarm.service.update", {"image": image})
    if refused is not None:
        return refused
    try:
        with audit.action(
            request,
            "swarm.service.update",
            target=service_id,
            parameters={"image": image},
        ):
            docker.swarm.update_image(service_id, image=image)
    except NotFound:
        raise
    except Refused as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Rolling update to {image} started.")
    return redirect("swarm-service", service_id=service_id)


@require_role(Role.ADMIN)
def service_delete_confirm(request: HttpRequest, service_id: str) -> HttpResponse:
    """First step of removing a service: what will go, and the button that does it."""
    docker = engine.for_request(request)
    service = docker.swarm.inspect_service(service_id)
    template = "swarm/confirm_delete.html#confirm" if request.htmx else "swarm/confirm_delete.html"
    return render(request, template, {"service": service})


@require_role(Role.ADMIN, action="swarm.service.remove")
@require_POST
def service_delete(request: HttpRequest, service_id: str) -> HttpResponse:
    """Remove a service and all its tasks."""
    docker = engine.for_request(request)
    try:
        with audit.action(request, "swarm.service.remove", target=service_id):
            docker.swarm.remove_service(service_id)
    except Refused as e:
        messages.error(request, e.message)
        return redirect("swarm-service", service_id=service_id)
    messages.success(request, "Service removed.")
    return redirect("swarm")


@require_role(Role.ADMIN, action="swarm.node.availability")
@require_POST
def node_availability(request: HttpRequest, node_id: str) -> HttpResponse:
    """Drain, pause or activate a node."""
    docker = engine.for_request(request)
    availability = request.POST.get("availability", "")
    try:
        with audit.action(
            request,
            "swarm.node.availability",
            target=node_id,
            parameters={"availability": availability},
        ):
            docker.swarm.set_node_availability(node_id, availability=availability)
    except NotFound:
        raise
    except Refused as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Node set to {availability}.")
    return redirect("swarm")


urlpatterns = [
    path("swarm/", swarm_home, name="swarm"),
    path("swarm/services/new/", service_create, name="swarm-service-create"),
    path("swarm/services/<ref:service_id>/", service_detail, name="swarm-service"),
    path("swarm/services/<ref:service_id>/progress/", service_progress, name="swarm-service-progress"),
    path("swarm/services/<ref:service_id>/reveal/", service_reveal, name="swarm-service-reveal"),
    path("swarm/services/<ref:service_id>/logs/", service_logs, name="swarm-service-logs"),
    path("swarm/services/<ref:service_id>/logs/live/", service_logs_live, name="swarm-service-logs-live"),
    path("swarm/services/<ref:service_id>/scale/", service_scale, name="swarm-service-scale"),
    path("swarm/services/<ref:service_id>/update/", service_update, name="swarm-service-update"),
    path(
        "swarm/services/<ref:service_id>/delete/confirm/",
        service_delete_confirm,
        name="swarm-service-delete-confirm",
    ),
    path("swarm/services/<ref:service_id>/delete/", service_delete, name="swarm-service-delete"),
    path("swarm/nodes/<ref:node_id>/availability/", node_availability, name="swarm-node-availability"),
]
