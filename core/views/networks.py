"""Network pages: list, create, detail (attached containers with addresses), connect, disconnect,
delete, prune."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from core import audit, bulk, engine, tables
from core.engine.networks import Network, NetworkGone, NetworkSpec
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.roles import Role, has_role, require_role, role_on
from core.views import jobs as jobs_view
from core.volume_forms import CONTAINER_REF_RE, ConnectForm, DisconnectForm, NetworkForm, PruneForm

SORTS = {
    "name": lambda n: n.name.lower(),
    "driver": lambda n: (n.driver, n.name.lower()),
    "scope": lambda n: (n.scope, n.name.lower()),
    "created": lambda n: n.created,
    "containers": lambda n: (len(n.containers), n.name.lower()),
}


def _matches(network: Network, needle: str) -> bool:
    fields = (network.name, network.id, network.driver, *(s.subnet for s in network.subnets))
    if any(needle in f.lower() for f in fields):
        return True
    return any(needle in c.name.lower() for c in network.containers)


@require_role(Role.VIEWER)
def network_list(request: HttpRequest) -> HttpResponse:
    """Every network with its subnets and attached containers (two engine calls)."""
    params = tables.read(request.GET, sorts=SORTS, default_sort="name")
    rows = [n for n in engine.for_request(request).networks.list_networks() if _matches(n, params.needle)]
    context = {
        "page": tables.page_of(tables.sorted_rows(rows, SORTS, params), params),
        "params": params,
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, "networks/list.html#table" if fragment else "networks/list.html", context)


@require_role(Role.OPERATOR, action="network.create")
@require_http_methods(["GET", "POST"])
def network_new(request: HttpRequest) -> HttpResponse:
    """``docker network create`` with subnet/gateway/range checked against the engine's networks."""
    form = NetworkForm(request.POST or None, role=role_on(request), initial={"driver": "bridge"})
    if request.method == "POST":
        if form.is_valid():
            spec = NetworkSpec(**form.cleaned_data)
            try:
                with audit.action(
                    request, "network.create", target=spec.name, parameters=form.cleaned_data
                ) as details:
                    network = engine.for_request(request).networks.create_network(spec=spec)
                    details["target"] = f"{network.name} ({network.short_id})"
            except Refused as error:
                if error.status == 503:
                    raise
                form.add_error("name" if isinstance(error, Conflict) else None, error.message)
            else:
                messages.success(request, f"Created network {network.name}.")
                return redirect("network_detail", ref=network.id)
        else:
            audit.refused_form(request, "network.create", form, denied=form.has_error("__all__"))
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "networks/new.html", {"form": form}, status=status)


def _detail(
    request: HttpRequest, ref: str, *, connect: ConnectForm | None = None, status: int = 200
) -> HttpResponse:
    detail = engine.for_request(request).networks.inspect_network(ref=ref)
    context = {
        "detail": detail,
        "network": detail.network,
        "connect_form": connect or ConnectForm(),
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
    }
    return render(request, "networks/detail.html", context, status=status)


@require_role(Role.VIEWER)
def network_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """Inspect, and each attached container with its IPv4/IPv6, MAC and aliases."""
    return _detail(request, ref)


def _back(request: HttpRequest, ref: str, *, gone: bool = False) -> HttpResponse:
    """Back to the page the form was on: the container's (``next=container``) or the network's
    (the list when the network is ``gone``)."""
    container = request.POST.get("container", "").strip().lstrip("/")
    if request.POST.get("next") == "container" and CONTAINER_REF_RE.match(container):
        return redirect("container_detail", ref=container)
    return redirect("network_list") if gone else redirect("network_detail", ref=ref)


def _network_gone(error: Refused) -> bool:
    """Whether the engine's refusal says the network itself is gone (not the container)."""
    return isinstance(error, NetworkGone)


@require_role(Role.OPERATOR, action="network.connect")
@require_POST
def network_connect(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker network connect [--alias] [--ip]``: from this page or the container's (``next=container``).

    The engine function checks what the 20.10 engine does not for a stopped container: the network
    exists, the address is inside its subnets, the container is not connected already. A refusal is
    the form again with the reason (on the container's page: its message there); a network that is
    gone is the list with the message."""
    form = ConnectForm(request.POST)
    from_container = request.POST.get("next") == "container"
    if not form.is_valid():
        audit.refused_form(request, "network.connect", form, target=ref)
        if from_container:  # the container page's form: its message, there
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
            return _back(request, ref)
        return _detail(request, ref, connect=form, status=400)
    data = form.cleaned_data
    try:
        with audit.action(request, "network.connect", target=ref, parameters=data):
            engine.for_request(request).networks.connect(ref=ref, **data)
    except Refused as error:
        if error.status == 503:
            raise
        gone = _network_gone(error)
        if from_container or gone:
            messages.error(request, error.message)
            return _back(request, ref, gone=gone)
        if isinstance(error, InvalidInput) and data["ipv4_address"]:
            form.add_error("ipv4_address", error.message)
        else:
            form.add_error("container" if isinstance(error, NotFound) else None, error.message)
        return _detail(request, ref, connect=form, status=error.status)
    messages.success(request, f"Connected {data['container']}.")
    return _back(request, ref)


@require_role(Role.OPERATOR, action="network.disconnect")
@require_POST
def network_disconnect(request: HttpRequest, ref: str) -> HttpResponse:
    """``docker network disconnect [-f]``."""
    form = DisconnectForm(request.POST)
    if not form.is_valid():
        audit.refused_form(request, "network.disconnect", form, target=ref)
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return _back(request, ref)
    data = form.cleaned_data
    try:
        with audit.action(request, "network.disconnect", target=ref, parameters=data):
            engine.for_request(request).networks.disconnect(ref=ref, **data)
    except Refused as error:
        if error.status == 503:
            raise
        messages.error(request, error.message)
        return _back(request, ref, gone=_network_gone(error))
    messages.success(request, f"Disconnected {data['container']}.")
    return _back(request, ref)


@require_role(Role.ADMIN, action="network.delete")
@require_http_methods(["GET", "POST"])
def network_delete(request: HttpRequest, ref: str) -> HttpResponse:
    """Two steps; refuses the predefined networks and a network any container refers to, running or
    not (naming the containers). The confirmation of a predefined one has its button disabled."""
    docker = engine.for_request(request)
    network = docker.networks.inspect_network(ref=ref).network
    if request.method == "GET":
        return render(request, "networks/delete.html", {"network": network})
    try:
        with audit.action(request, "network.delete", target=f"{network.name} ({network.short_id})"):
            docker.networks.remove_network(ref=network.id)
    except (Conflict, NotFound) as error:
        messages.error(request, error.message)
        return render(request, "networks/delete.html", {"network": network}, status=error.status)
    messages.success(request, f"Deleted network {network.name}.")
    return redirect("network_list")


@require_role(Role.ADMIN, action="network.prune")
@require_http_methods(["GET", "POST"])
def network_prune(request: HttpRequest) -> HttpResponse:
    """Preview the custom networks no container refers to (running or not: ``docker network prune``
    would also remove one only stopped or never-started containers name, and their next start would
    fail); those are listed as kept, with the containers. POST removes the confirmed ones that are
    still unused, as a job with a row each; the removal itself checks again (``remove_network``), so
    one a container named meanwhile stays. A POST that confirms none is the preview again."""
    docker = engine.for_request(request)
    networks = [n for n in docker.networks.list_networks() if not n.predefined]
    unused = {n.id: n for n in networks if not n.in_use}
    form = PruneForm(request.POST or None)
    confirmed = form.cleaned_data["names"] if form.is_bound and form.is_valid() else ()
    if not confirmed:
        if request.method == "POST":
            messages.info(request, "Nothing was confirmed, so nothing was removed.")
        context = {
            "rows": sorted(unused.values(), key=lambda n: n.name),
            "kept": sorted((n for n in networks if n.used_only_by_stopped), key=lambda n: n.name),
        }
        return render(request, "networks/prune.html", context)
    items = []
    for network_id in dict.fromkeys(confirmed):
        network = unused.get(network_id)
        if network is None:
            items.append(bulk.Item(ref=network_id, name=network_id[:12], short_id="", skip=bulk.KEPT))
        else:
            items.append(bulk.Item(ref=network.id, name=network.name, short_id=network.short_id))
    job = bulk.start_prune(
        request, noun="network", items=items, remove=lambda d, ref: d.networks.remove_network(ref=ref)
    )
    return jobs_view.started(request, job, back=reverse("network_list"), doing="Removing unused networks…")


urlpatterns = [
    path("networks/", network_list, name="network_list"),
    path("networks/new/", network_new, name="network_new"),
    path("networks/prune/", network_prune, name="network_prune"),
    path("networks/<str:ref>/", network_detail, name="network_detail"),
    path("networks/<str:ref>/connect/", network_connect, name="network_connect"),
    path("networks/<str:ref>/disconnect/", network_disconnect, name="network_disconnect"),
    path("networks/<str:ref>/delete/", network_delete, name="network_delete"),
]
