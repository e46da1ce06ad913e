"""Images pages and actions: list, detail, tag, delete, pull/push/build jobs, save/load/import, prune."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import audit, engine, tables
from core.engine import jobs
from core.engine.images import ImageInUse, ImageRow, dockerfile_context, parse_reference, short
from core.errors import DashboardError, EngineError, EngineUnavailable, InvalidReference, NotFound
from core.live.bridge import Pump, aiter_body
from core.models import Registry
from core.roles import ROLE_GROUPS, Role, forbidden, require_role

log = logging.getLogger(__name__)

SORTS = {
    "repository": lambda r: (r.repository, r.tag),
    "tag": lambda r: (r.tag, r.repository),
    "id": lambda r: r.id,
    "size": lambda r: r.size,
    "created": lambda r: r.created,
    "containers": lambda r: r.containers,
}
COLUMNS = (
    ("repository", "Repository"),
    ("tag", "Tag"),
    ("id", "Id"),
    ("size", "Size"),
    ("created", "Created"),
    ("containers", "Containers"),
)
SAVE_CHUNK = 1024 * 1024
SAVE_QUEUE = 8  # chunks in flight between the reader thread and the response: ~8 MB at most


def _who(request: HttpRequest) -> dict[str, Any]:
    """What the audit trail needs from a request, safe to keep after the response (job threads)."""
    return audit.detached(request)


def _resolve(docker: engine.Engine, image_id: str) -> str:
    """Full id for a URL's id or prefix; 404 when unknown, 400 when ambiguous."""
    try:
        return docker.images.resolve_id(image_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


SHOW_FILTERS = {
    "dangling": lambda r: r.dangling,
    "in-use": lambda r: r.containers > 0,
    "unused": lambda r: r.containers == 0,
}


def _filtered(request: HttpRequest) -> tuple[list[ImageRow], tables.Params, str]:
    """Every image row the query's filter matches, sorted (one engine call)."""
    params = tables.read(
        request.GET, sorts=SORTS, default_sort="created", descending=("created", "size", "containers")
    )
    show = request.GET.get("show", "")
    show = show if show in SHOW_FILTERS else ""
    return filter_images(engine.for_request(request), params, show=show), params, show


def filter_images(docker: engine.Engine, params: tables.Params, *, show: str = "") -> list[ImageRow]:
    """Every image row ``params`` (and the ``show`` filter) match, sorted: the list page and the API."""
    rows = docker.images.list_images()
    if q := params.needle:
        rows = [r for r in rows if q in r.repository.lower() or q in r.tag.lower() or q in r.id[7:]]
    if show in SHOW_FILTERS:
        rows = [r for r in rows if SHOW_FILTERS[show](r)]
    return tables.sorted_rows(rows, SORTS, params)


@require_role(Role.VIEWER)
@require_GET
def image_list(request: HttpRequest) -> HttpResponse:
    """All images, one row per tag, a page at a time; htmx asks for just the table."""
    rows, params, show = _filtered(request)
    context = {
        "page": tables.page_of(rows, params),
        "params": params,
        "show": show,
        "columns": COLUMNS,
        "numeric": ("size", "containers"),
        "registries": Registry.objects.all(),
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, "images/list.html#table" if fragment else "images/list.html", context)


@require_role(Role.VIEWER)
@require_GET
def image_detail(request: HttpRequest, image_id: str) -> HttpResponse:
    """Summary, history, containers using it and the inspect JSON of one image."""
    return _detail_page(request, _resolve(engine.for_request(request), image_id))


def _detail_page(request: HttpRequest, full_id: str, *, status: int = 200, **extra: Any) -> HttpResponse:
    docker = engine.for_request(request)
    try:
        image = docker.images.image_detail(full_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    context = {"image": image, "registries": Registry.objects.all(), **extra}
    return render(request, "images/detail.html", context, status=status)


@require_role(Role.OPERATOR, action="image.reveal")
@require_POST
def image_reveal(request: HttpRequest, image_id: str) -> HttpResponse:
    """The image page with its env values shown (masked by default; revealing them is audited)."""
    full_id = _resolve(engine.for_request(request), image_id)
    with audit.action(request, "image.reveal", target=full_id):
        response = _detail_page(request, full_id, revealed=True)
    response["Cache-Control"] = "no-store"
    return response


@require_role(Role.OPERATOR, action="image.tag")
@require_POST
def image_tag(request: HttpRequest, image_id: str) -> HttpResponse:
    """``docker tag``: add repository:tag; invalid input gets the form back with the reason."""
    docker = engine.for_request(request)
    full_id = _resolve(docker, image_id)
    repository = request.POST.get("repository", "").strip()
    tag = request.POST.get("tag", "").strip() or "latest"
    try:
        with audit.action(
            request, "image.tag", target=full_id, parameters={"repository": repository, "tag": tag}
        ):
            reference = docker.images.tag_image(full_id, repository=repository, tag=tag)
    except InvalidReference as exc:
        return _detail_page(request, full_id, status=400, tag_error=exc.message, tag_form=request.POST)
    except EngineError as exc:
        if isinstance(exc, EngineUnavailable):
            raise
        messages.error(request, exc.message)
        return _detail_page(request, full_id, status=exc.status if exc.status < 500 else 400)
    messages.success(request, f"Tagged {short(full_id)} as {reference}.")
    return redirect("image-detail", image_id=short(full_id))


@require_role(Role.OPERATOR, action="image.untag")
@require_POST
def image_untag(request: HttpRequest) -> HttpResponse:
    """Remove one tag (the image stays while it has other tags)."""
    docker = engine.for_request(request)
    reference = request.POST.get("reference", "").strip()
    try:
        with audit.action(request, "image.untag", target=reference):
            full_id = docker.images.resolve_id(reference)
            docker.images.untag(reference)
    except (InvalidReference, NotFound) as exc:
        messages.error(request, exc.message)
        return render(request, "images/message.html", {"title": "Untag"}, status=exc.status)
    except DashboardError as exc:
        if isinstance(exc, EngineUnavailable):
            raise
        messages.error(request, exc.message)
        return redirect("image-list")
    messages.success(request, f"Removed the tag {reference}.")
    try:
        docker.images.resolve_id(full_id)
    except NotFound:
        return redirect("image-list")
    return redirect("image-detail", image_id=short(full_id))


@require_role(Role.ADMIN, action="image.delete")
@require_http_methods(["GET", "POST"])
def image_delete(request: HttpRequest, image_id: str) -> HttpResponse:
    """GET: the confirm step (what goes, who uses it). POST: ``docker rmi`` (force is admin-only)."""
    docker = engine.for_request(request)
    if request.method == "GET":
        full_id = _resolve(docker, image_id)
        return render(request, "images/delete.html", {"image": docker.images.image_detail(full_id)})
    force = request.POST.get("force") in ("1", "on", "true")
    try:
        full_id = docker.images.resolve_id(image_id)
    except NotFound:
        messages.error(request, f"Image {image_id} no longer exists (removed meanwhile?).")
        return render(request, "images/message.html", {"title": "Delete image"}, status=404)
    try:
        with audit.action(request, "image.delete", target=full_id, parameters={"force": force}):
            docker.images.delete_image(full_id, force=force)
    except ImageInUse as exc:
        messages.error(request, exc.message)
        context = {"image": docker.images.image_detail(full_id), "in_use": exc.containers}
        return render(request, "images/delete.html", context, status=409)
    except NotFound as exc:
        messages.error(request, exc.message)
        return render(request, "images/message.html", {"title": "Delete image"}, status=404)
    except DashboardError as exc:
        if isinstance(exc, EngineUnavailable):
            raise
        messages.error(request, exc.message)
        return render(request, "images/message.html", {"title": "Delete image"}, status=409)
    messages.success(request, f"Deleted image {short(full_id)}.")
    return redirect("image-list")


def _registry_auth(request: HttpRequest, reference: str) -> tuple[str, dict | None]:
    """The reference with the linked registry's host, and that registry's credentials (or None)."""
    pk = request.POST.get("registry", "").strip()
    if not pk:
        return str(parse_reference(reference)), None
    registry = Registry.objects.filter(pk=pk).first() if pk.isdigit() else None
    if registry is None:
        raise InvalidReference("That linked registry does not exist.")
    ref = parse_reference(reference)
    if not ref.registry:
        ref = parse_reference(f"{registry.host}/{reference.strip()}")
    if ref.registry != registry.host:
        raise InvalidReference(
            f"The reference names the registry {ref.registry}, not the linked {registry.host}; "
            "credentials are only sent to their own registry."
        )
    return str(ref), registry.auth_config()


def _start_job(
    request: HttpRequest, kind: str, target: str, work, *, role: Role, **kwargs: Any
) -> HttpResponse:
    """Start a job that people with ``role`` on this endpoint (who may start it) can watch."""
    who = _who(request)
    parameters = kwargs.pop("parameters", {})

    def on_done(job: jobs.Job) -> None:
        outcome = audit.OK if job.status == jobs.SUCCESS else audit.FAILED
        audit.record(
            who, f"image.{kind}", target=target, parameters=parameters, outcome=outcome, message=job.message
        )

    job = engine.for_request(request).jobs.start(
        kind,
        target,
        work,
        required_role=role.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        on_done=on_done,
        **kwargs,
    )
    return redirect("image-job", job_id=job.id)


def _job_form_error(
    request: HttpRequest, action: str, target: str, exc: DashboardError, **params: Any
) -> HttpResponse:
    audit.record(request, action, target=target, parameters=params, outcome=audit.FAILED, message=exc.message)
    messages.error(request, exc.message)
    return render(request, "images/message.html", {"title": action}, status=400)


@require_role(Role.OPERATOR, action="image.pull")
@require_POST
def image_pull(request: HttpRequest) -> HttpResponse:
    """Start ``docker pull`` as a background job; the job page shows live per-layer progress."""
    reference = request.POST.get("reference", "").strip()
    params = {"reference": reference, "registry": request.POST.get("registry", "")}
    try:
        reference, auth = _registry_auth(request, reference)
    except InvalidReference as exc:
        return _job_form_error(request, "image.pull", reference, exc, **params)
    return _start_job(
        request,
        "pull",
        reference,
        lambda docker, job: docker.images.pull_stream(reference, auth_config=auth),
        role=Role.OPERATOR,
        parameters=params,
        success_message=lambda job: f"Pulled {reference}.",
    )


@require_role(Role.ADMIN, action="image.push")
@require_POST
def image_push(request: HttpRequest, image_id: str) -> HttpResponse:
    """Tag if needed and ``docker push`` to a (linked) registry as a background job."""
    docker = engine.for_request(request)
    full_id = _resolve(docker, image_id)
    reference = request.POST.get("reference", "").strip()
    params = {"image": full_id, "reference": reference, "registry": request.POST.get("registry", "")}
    try:
        reference, auth = _registry_auth(request, reference)
    except InvalidReference as exc:
        return _job_form_error(request, "image.push", reference, exc, **params)
    return _start_job(
        request,
        "push",
        reference,
        lambda docker, job: docker.images.push_stream(full_id, reference, auth_config=auth),
        role=Role.ADMIN,
        parameters=params,
        success_message=lambda job: f"Pushed {reference}.",
    )


@require_role(Role.OPERATOR, action="image.build")
@require_http_methods(["GET", "POST"])
def image_build(request: HttpRequest) -> HttpResponse:
    """GET: the build form. POST: build an uploaded context tarball or a pasted Dockerfile as a job."""
    if request.method == "GET":
        return render(request, "images/build.html")
    tag = request.POST.get("tag", "").strip()
    dockerfile = request.POST.get("dockerfile", "")
    upload = request.FILES.get("context")
    params = {"tag": tag, "context": upload, "dockerfile": dockerfile[:200]}
    try:
        if tag:
            tag = str(parse_reference(tag))
        if not upload and not dockerfile.strip():
            raise InvalidReference("Upload a context tarball or paste a Dockerfile.")
    except InvalidReference as exc:
        return _job_form_error(request, "image.build", tag, exc, **params)
    if upload:
        # The upload's temp file dies with the request; the job needs its own copy.
        context = tempfile.NamedTemporaryFile(prefix="build-", suffix=".tar")
        for chunk in upload.chunks(SAVE_CHUNK):
            context.write(chunk)
        context.seek(0)
        gzipped = context.read(2) == b"\x1f\x8b"
        context.seek(0)
    else:
        context, gzipped = dockerfile_context(dockerfile), False

    def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
        try:
            yield from docker.images.build_stream(context, tag=tag, gzipped=gzipped)
        finally:
            context.close()

    return _start_job(
        request,
        "build",
        tag or "(untagged)",
        work,
        role=Role.OPERATOR,
        parameters=params,
        success_message=lambda job: f"Built {tag or 'image'} {short(job.result)}.",
    )


@require_role(Role.VIEWER)
@require_GET
def image_job(request: HttpRequest, job_id: str) -> HttpResponse:
    """The live progress page of a pull, push or build, from any server process (the job is a row)."""
    row = jobs.load(job_id)
    if row is None:
        raise Http404("No such job.")
    if not jobs.may_watch(request.user, row):
        return forbidden(request, ROLE_GROUPS[row.required_role])
    return render(request, "images/job.html", {"job": jobs.snapshot_of(row)})


@require_role(Role.OPERATOR, action="image.save")
@require_GET
def image_save(request: HttpRequest, image_id: str) -> StreamingHttpResponse:
    """``docker save`` streamed as a tar download, in constant memory (an operator action, audited)."""
    docker = engine.for_request(request)
    full_id = _resolve(docker, image_id)
    image = docker.images.image_detail(full_id)
    name = image.tags[0] if image.tags else image.short_id
    raw = docker.images.open_save(image.tags[0] if image.tags else full_id)
    audit.record(request, "image.save", target=f"{name} ({image.short_id})")
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".tar"
    body = aiter_body(Pump.reading(raw, SAVE_CHUNK, maxsize=SAVE_QUEUE, name="image-save"))
    response = StreamingHttpResponse(body, content_type="application/x-tar")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _upload_error(request: HttpRequest, action: str, exc: DashboardError, **params: Any) -> HttpResponse:
    messages.error(request, exc.message)
    return render(
        request, "images/message.html", {"title": action}, status=400 if exc.status >= 500 else exc.status
    )


@require_role(Role.OPERATOR, action="image.load")
@require_POST
def image_load(request: HttpRequest) -> HttpResponse:
    """``docker load`` of an uploaded tar (streamed from the upload's temp file)."""
    docker = engine.for_request(request)
    upload = request.FILES.get("archive")
    try:
        with audit.action(request, "image.load", parameters={"archive": upload}) as details:
            if upload is None:
                raise InvalidReference("Choose a tar file made by docker save.")
            result = docker.images.load(upload.file)
            details["message"] = ", ".join(result.images)
    except DashboardError as exc:
        if isinstance(exc, EngineUnavailable):
            raise
        return _upload_error(request, "Load images", exc)
    messages.success(request, f"Loaded {len(result.images)} image(s).")
    return render(request, "images/loaded.html", {"loaded": result.images})


@require_role(Role.OPERATOR, action="image.import")
@require_POST
def image_import(request: HttpRequest) -> HttpResponse:
    """``docker import`` of an uploaded rootfs tarball (plain or gzipped) as repository:tag."""
    docker = engine.for_request(request)
    upload = request.FILES.get("archive")
    repository = request.POST.get("repository", "").strip()
    tag = request.POST.get("tag", "").strip() or "latest"
    message = request.POST.get("message", "")
    params = {"archive": upload, "repository": repository, "tag": tag, "message": message}
    try:
        with audit.action(
            request, "image.import", target=f"{repository}:{tag}", parameters=params
        ) as details:
            if upload is None:
                raise InvalidReference("Choose a root filesystem tarball.")
            image_id = docker.images.import_rootfs(
                upload.file, repository=repository, tag=tag, message=message
            )
            details["message"] = image_id
    except DashboardError as exc:
        if isinstance(exc, EngineUnavailable):
            raise
        return _upload_error(request, "Import image", exc)
    messages.success(request, f"Imported {repository}:{tag} as {short(image_id)}.")
    return redirect("image-detail", image_id=short(image_id))


@require_role(Role.ADMIN, action="image.prune")
@require_http_methods(["GET", "POST"])
def image_prune(request: HttpRequest) -> HttpResponse:
    """GET or POST without ``confirm``: the preview. POST with ``confirm``: ``docker image prune``."""
    docker = engine.for_request(request)
    data = request.POST if request.method == "POST" else request.GET
    dangling_only = data.get("all") not in ("1", "on", "true")
    label = data.get("label", "").strip()
    if request.method == "POST" and data.get("confirm"):
        params = {"all": not dangling_only, "label": label}
        with audit.action(request, "image.prune", target=label or "all", parameters=params) as details:
            result = docker.images.prune(dangling_only=dangling_only, label=label)
            details["message"] = f"{len(result.deleted)} deleted, {result.reclaimed} bytes"
        messages.success(
            request, f"Pruned {len(result.deleted)} image layer(s), reclaimed {result.reclaimed} bytes."
        )
        return render(
            request, "images/prune.html", {"result": result, "label": label, "all": not dangling_only}
        )
    preview = docker.images.prune_preview(dangling_only=dangling_only, label=label)
    return render(
        request, "images/prune.html", {"preview": preview, "label": label, "all": not dangling_only}
    )


urlpatterns = [
    path("images/", image_list, name="image-list"),
    path("images/untag/", image_untag, name="image-untag"),
    path("images/pull/", image_pull, name="image-pull"),
    path("images/load/", image_load, name="image-load"),
    path("images/import/", image_import, name="image-import"),
    path("images/build/", image_build, name="image-build"),
    path("images/prune/", image_prune, name="image-prune"),
    path("images/jobs/<str:job_id>/", image_job, name="image-job"),
    path("images/<str:image_id>/", image_detail, name="image-detail"),
    path("images/<str:image_id>/tag/", image_tag, name="image-tag"),
    path("images/<str:image_id>/delete/", image_delete, name="image-delete"),
    path("images/<str:image_id>/push/", image_push, name="image-push"),
    path("images/<str:image_id>/save/", image_save, name="image-save"),
    path("images/<str:image_id>/reveal/", image_reveal, name="image-reveal"),
]
