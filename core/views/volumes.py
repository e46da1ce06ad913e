"""Volume pages: list (used by, lazy sizes), create, detail, files, download, restore, delete, prune."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from core import audit, bulk, engine, tables
from core.engine.volumes import LinkInVolume, NotAFolder, Volume
from core.errors import Conflict, NotFound, Refused
from core.live.bridge import Pump, aiter_body
from core.roles import Role, has_role, require_role, role_on
from core.views import jobs as jobs_view
from core.volume_forms import DeleteVolumeForm, PruneForm, RestoreForm, VolumeForm

DOWNLOAD_READ_AHEAD = 4  # chunks of 1 MiB in flight between the engine and the socket
SORTS = {
    "name": lambda v: v.name.lower(),
    "driver": lambda v: (v.driver, v.name.lower()),
    "created": lambda v: v.created,
    "used": lambda v: (len(v.used_by), v.name.lower()),
}


def _matches(volume: Volume, needle: str) -> bool:
    if needle in volume.name.lower() or needle in volume.driver.lower():
        return True
    if any(needle in u.name.lower() for u in volume.used_by):
        return True
    return any(needle in f"{k}={v}".lower() for k, v in volume.labels.items())


def _filtered(request: HttpRequest, volumes: list[Volume], params: tables.Params) -> list[Volume]:
    in_use = request.GET.get("in_use", "")
    dangling = request.GET.get("dangling", "") == "1"
    needle = params.needle
    rows = [v for v in volumes if _matches(v, needle)] if needle else volumes
    if in_use in ("0", "1"):
        rows = [v for v in rows if v.in_use == (in_use == "1")]
    if dangling:
        rows = [v for v in rows if not v.in_use]
    return rows


@require_role(Role.VIEWER)
def volume_list(request: HttpRequest) -> HttpResponse:
    """Every volume with the containers that use it; sizes load after the table (slow on big hosts)."""
    params = tables.read(request.GET, sorts=SORTS, default_sort="name")
    volumes = _filtered(request, engine.for_request(request).volumes.list_volumes(), params)
    page = tables.page_of(tables.sorted_rows(volumes, SORTS, params), params)
    context = {
        "page": page,
        # the shown rows' sizes, asked for after the page (a template loop over the rows cost ~1 ms)
        "sizes_url": f"{reverse('volume_sizes')}?{urlencode({'names': ' '.join(v.name for v in page.rows)})}",
        "params": params,
        "in_use": request.GET.get("in_use", ""),
        "dangling": request.GET.get("dangling", "") == "1",
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, "volumes/list.html#table" if fragment else "volumes/list.html", context)


@require_role(Role.VIEWER)
def volume_sizes(request: HttpRequest) -> HttpResponse:
    """The sizes of the volumes named in ``names`` (a fragment swapped into the list's cells)."""
    wanted = set(request.GET.get("names", "").split()[:200])
    sizes = engine.for_request(request).volumes.volume_sizes()
    return render(
        request, "volumes/list.html#sizes", {"sizes": [(n, sizes.get(n, -1)) for n in sorted(wanted)]}
    )


@require_role(Role.OPERATOR, action="volume.create")
@require_http_methods(["GET", "POST"])
def volume_new(request: HttpRequest) -> HttpResponse:
    """``docker volume create``: name (optional), driver, driver options, labels."""
    form = VolumeForm(request.POST or None, role=role_on(request), initial={"driver": "local"})
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                with audit.action(request, "volume.create", target=data["name"], parameters=data) as details:
                    volume = engine.for_request(request).volumes.create_volume(**data)
                    details["target"] = volume.name
            except Refused as error:
                if error.status == 503:
                    raise
                form.add_error("name" if isinstance(error, Conflict) else None, error.message)
            else:
                messages.success(request, f"Created volume {volume.name}.")
                return redirect("volume_detail", name=volume.name)
        else:
            audit.refused_form(request, "volume.create", form, denied=form.has_error("__all__"))
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "volumes/new.html", {"form": form}, status=status)


@require_role(Role.VIEWER)
def volume_detail(request: HttpRequest, name: str) -> HttpResponse:
    """Inspect, used by, labels and options, size (lazy), and the actions the role allows."""
    volume = engine.for_request(request).volumes.inspect_volume(name=name)
    context = {
        "volume": volume,
        "can_operate": has_role(request, Role.OPERATOR),
        "can_admin": has_role(request, Role.ADMIN),
        "restore_form": RestoreForm(),
    }
    return render(request, "volumes/detail.html", context)


@require_role(Role.OPERATOR, action="volume.files")
def volume_files(request: HttpRequest, name: str) -> HttpResponse:
    """A folder of the volume, read through a never-started helper container (audited: reads data)."""
    folder = request.GET.get("path", "/")
    docker = engine.for_request(request)
    volume = docker.volumes.inspect_volume(name=name)  # not there: a 404 that read nothing, audits nothing
    try:
        with audit.action(request, "volume.files", target=name, parameters={"path": folder}):
            listing = docker.volumes.list_files(name=name, path=folder, volume=volume)
    except LinkInVolume as link:  # a link to a folder of the same volume: that folder
        messages.info(request, link.message)
        return redirect(f"{reverse('volume_files', args=[name])}?{urlencode({'path': link.target})}")
    except NotAFolder as file:  # a file: what it is, and its download
        parent = file.path.rsplit("/", 1)[0] or "/"
        context = {"name": name, "file": file, "parent": parent}
        return render(request, "volumes/file.html", context)
    crumbs, walked = [], ""
    for part in [p for p in listing.path.split("/") if p]:
        walked += "/" + part
        crumbs.append((part, walked))
    parent = listing.path.rsplit("/", 1)[0] or "/"
    context = {"name": name, "listing": listing, "crumbs": crumbs, "parent": parent}
    return render(request, "volumes/files.html", context)


@require_role(Role.OPERATOR, action="volume.download")
def volume_download(request: HttpRequest, name: str) -> HttpResponse:
    """A file or folder of the volume as a tar stream (the whole volume: a backup)."""
    folder = request.GET.get("path", "/")
    docker = engine.for_request(request)
    volume = docker.volumes.inspect_volume(name=name)  # not there: a 404 that read nothing, audits nothing
    with audit.action(request, "volume.download", target=name, parameters={"path": folder}):
        filename, chunks = docker.volumes.download(name=name, path=folder, volume=volume)
    response = StreamingHttpResponse(
        aiter_body(Pump.over(lambda: chunks, maxsize=DOWNLOAD_READ_AHEAD, name="volume-download")),
        content_type="application/x-tar",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_role(Role.ADMIN, action="volume.restore")
@require_POST
def volume_restore(request: HttpRequest, name: str) -> HttpResponse:
    """Extract an uploaded tar into the volume (streamed; refuses a volume a running container uses)."""
    docker = engine.for_request(request)
    volume = docker.volumes.inspect_volume(name=name)
    form = RestoreForm(request.POST, request.FILES)
    if not form.is_valid():
        audit.refused_form(request, "volume.restore", form, target=name)
        return _detail_with(request, volume, form)
    running = [u.name for u in volume.used_by if u.running]
    if running and not form.cleaned_data["force"]:
        form.add_error(
            "force", f"Running containers use this volume ({', '.join(running)}): stop them or tick force."
        )
        audit.refused_form(request, "volume.restore", form, target=name)
        return _detail_with(request, volume, form)
    archive = form.cleaned_data["archive"]
    try:
        with audit.action(
            request,
            "volume.restore",
            target=name,
            parameters={"archive": archive, "force": form.cleaned_data["force"], "running_users": running},
        ):
            members = docker.volumes.restore(name=name, archive=archive)
    except Refused as error:
        if error.status == 503:
            raise
        form.add_error("archive", error.message)
        return _detail_with(request, volume, form)
    entries = "1 entry" if members == 1 else f"{members} entries"
    messages.success(request, f"Restored {entries} into volume {name}.")
    return redirect("volume_detail", name=name)


def _detail_with(request: HttpRequest, volume: Volume, form: RestoreForm) -> HttpResponse:
    context = {"volume": volume, "can_operate": True, "can_admin": True, "restore_form": form}
    return render(request, "volumes/detail.html", context, status=400)


@require_role(Role.ADMIN, action="volume.delete")
@require_http_methods(["GET", "POST"])
def volume_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Two steps: a confirmation naming the users, then the removal (refused while in use)."""
    docker = engine.for_request(request)
    volume = docker.volumes.inspect_volume(name=name)
    if request.method == "GET":
        return render(request, "volumes/delete.html", {"volume": volume})
    form = DeleteVolumeForm(request.POST)
    force = form.is_valid() and form.cleaned_data["force"]
    try:
        with audit.action(request, "volume.delete", target=name, parameters={"force": force}):
            docker.volumes.remove_volume(name=name, force=force)
    except (Conflict, NotFound) as error:
        messages.error(request, error.message)
        return render(request, "volumes/delete.html", {"volume": volume}, status=error.status)
    messages.success(request, f"Deleted volume {name}.")
    return redirect("volume_list")


@require_role(Role.ADMIN, action="volume.prune")
@require_http_methods(["GET", "POST"])
def volume_prune(request: HttpRequest) -> HttpResponse:
    """Preview the unused volumes and their bytes; POST removes the confirmed ones still unused, as
    a job with a row each (a POST that confirms none is the preview again, like ``image_prune``)."""
    docker = engine.for_request(request)
    unused = [v for v in docker.volumes.list_volumes() if not v.in_use]
    form = PruneForm(request.POST or None)
    confirmed = set(form.cleaned_data["names"]) if form.is_bound and form.is_valid() else set()
    if not confirmed:
        if request.method == "POST":
            messages.info(request, "Nothing was confirmed, so nothing was removed.")
        sizes = docker.volumes.volume_sizes() if unused else {}
        rows = [(v, sizes.get(v.name, -1)) for v in sorted(unused, key=lambda v: v.name)]
        total = sum(size for _, size in rows if size > 0)
        return render(request, "volumes/prune.html", {"rows": rows, "total": total})
    still_unused = {v.name for v in unused}
    items = [
        bulk.Item(ref=name, name=name, short_id="", skip="" if name in still_unused else bulk.KEPT)
        for name in sorted(confirmed)
    ]
    job = bulk.start_prune(
        request, noun="volume", items=items, remove=lambda d, name: d.volumes.remove_volume(name=name)
    )
    return jobs_view.started(request, job, back=reverse("volume_list"), doing="Removing unused volumes…")


urlpatterns = [
    path("volumes/", volume_list, name="volume_list"),
    path("volumes/new/", volume_new, name="volume_new"),
    path("volumes/prune/", volume_prune, name="volume_prune"),
    path("volumes/sizes/", volume_sizes, name="volume_sizes"),
    path("volumes/<str:name>/", volume_detail, name="volume_detail"),
    path("volumes/<str:name>/files/", volume_files, name="volume_files"),
    path("volumes/<str:name>/download/", volume_download, name="volume_download"),
    path("volumes/<str:name>/restore/", volume_restore, name="volume_restore"),
    path("volumes/<str:name>/delete/", volume_delete, name="volume_delete"),
]
