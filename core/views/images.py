"""Images pages and actions: list, detail, tag, delete, pull/push/build jobs, save/load/import, prune."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import audit, bulk, engine, tables, updates
from core.engine import jobs
from core.engine.images import ImageInUse, ImageRow, dockerfile_context, short
from core.errors import InvalidReference, NotFound, Refused
from core.image_forms import BuildForm, ImportForm, LoadForm, PullForm, PushForm, TagForm
from core.live.bridge import Pump, aiter_body
from core.middleware import error_response
from core.models import Registry
from core.roles import Role, require_role
from core.templatetags.rows import named
from core.views import jobs as jobs_view

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
# The image form pages: title in plain words, submit button.
FORM_PAGES = {
    "pull": ("Pull an image", "Pull"),
    "build": ("Build an image", "Build"),
    "load": ("Load images from an archive", "Load"),
    "import": ("Import a root filesystem", "Import"),
}
SAVE_CHUNK = 1024 * 1024
# 1 MiB chunks read ahead of the response. The engine is local: more gains nothing (bench_images save
# rate 0.87-0.89x docker save at 2, 0.83-0.90x at 8) and each held chunk costs ~2 MB of RSS.
SAVE_QUEUE = 2


def _resolve(docker: engine.Engine, image_id: str) -> str:
    """Full id for a URL's id or prefix; NotFound (the 404 page) when unknown, 400 when ambiguous."""
    return docker.images.resolve_id(image_id)


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
    page = tables.page_of(rows, params)
    context = {
        "page": page,
        "updates": updates.for_tags(request, page.rows),  # the last check's answers, no request
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


def _detail_page(request: HttpRequest, full_id: str, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The image page; ``forms`` are bound tag/push forms to show again with their errors (and
    ``revealed=True`` shows the env values)."""
    image = engine.for_request(request).images.image_detail(full_id)
    context = {
        "image": image,
        "revealed": forms.get("revealed", False),
        "tag_form": forms.get("tag_form") or TagForm(),
        "push_form": forms.get("push_form")
        or PushForm(initial={"reference": image.tags[0] if image.tags else ""}),
    }
    return render(request, "images/detail.html", context, status=status)


def _form_errors(form: Any) -> str:
    """A form's errors as one line for the audit record."""
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


def _refused(request: HttpRequest, action: str, target: str, form: Any, params: dict[str, Any]) -> None:
    """Audit a refused form (the person sees the same form again with the errors)."""
    audit.record(
        request, action, target=target, parameters=params, outcome=audit.FAILED, message=_form_errors(form)
    )


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
    form = TagForm(request.POST)
    params = {"repository": request.POST.get("repository", ""), "tag": request.POST.get("tag", "")}
    if not form.is_valid():
        _refused(request, "image.tag", full_id, form, params)
        return _detail_page(request, full_id, status=400, tag_form=form)
    try:
        with audit.action(request, "image.tag", target=full_id, parameters=params):
            reference = docker.images.tag_image(
                full_id, repository=form.cleaned_data["repository"], tag=form.cleaned_data["tag"]
            )
    except Refused as exc:
        form.add_error(None, exc.message)
        return _detail_page(request, full_id, status=400, tag_form=form)
    messages.success(request, format_html("Tagged {} as {}.", named(short(full_id), full_id), reference))
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
    except Refused as exc:
        return error_response(
            request, exc, title=f"Could not remove the tag {reference}", back=_back_to_images()
        )
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
        gone = NotFound(f"Image {image_id} no longer exists (removed meanwhile?).")
        return error_response(request, gone, title="Could not delete the image", back=_back_to_images())
    tags = docker.images.image_detail(full_id).tags
    try:
        with audit.action(request, "image.delete", target=full_id, parameters={"force": force}):
            docker.images.delete_image(full_id, force=force)
    except ImageInUse as exc:
        messages.error(request, exc.message)
        context = {"image": docker.images.image_detail(full_id), "in_use": exc.containers}
        return render(request, "images/delete.html", context, status=409)
    except Refused as exc:
        return error_response(request, exc, title="Could not delete the image", back=_back_to_images())
    label = ", ".join(tags[:3]) + (f" and {len(tags) - 3} more tags" if len(tags) > 3 else "")
    messages.success(
        request, format_html("Deleted image {}.", named(label or short(full_id), short(full_id)))
    )
    return redirect("image-list")


def _back_to_images() -> tuple[str, str]:
    return reverse("image-list"), "Back to images"


def _form_page(request: HttpRequest, kind: str, form: Any, *, status: int = 200) -> HttpResponse:
    """The page of one image form (pull, build, load, import), bound forms with their errors."""
    title, submit = FORM_PAGES[kind]
    context = {"form": form, "title": title, "submit": submit, "action": reverse(f"image-{kind}")}
    if kind == "pull":
        context["cli"] = "pull"  # the docker command equivalent, built in the browser (static/js/cli.js)
    return render(request, "images/form.html", context, status=status)


def registry_auth(reference: str, registry: str) -> tuple[str, dict | None]:
    """The full reference and the linked registry's credentials by the pull form's rules (the API's
    entry; pages bind the form themselves).

    Raises:
        InvalidReference: the reference does not parse, the registry is unknown, or the reference
            names another registry than the linked one.
    """
    form = PullForm({"reference": reference, "registry": registry})
    if not form.is_valid():
        raise InvalidReference(" ".join(str(e) for errors in form.errors.values() for e in errors))
    return form.cleaned_data["reference"], form.auth_config()


def start_job(request: HttpRequest, kind: str, target: str, work, *, role: Role, **kwargs: Any) -> jobs.Job:
    """Start a job that people with ``role`` on this endpoint (who may start it) can watch; audited
    as ``image.<kind>`` when it ends (the pages and the API)."""
    who = audit.who(request)
    parameters = kwargs.pop("parameters", {})

    def on_done(job: jobs.Job) -> None:
        outcome = audit.OK if job.status == jobs.SUCCESS else audit.FAILED
        audit.record(
            who, f"image.{kind}", target=target, parameters=parameters, outcome=outcome, message=job.message
        )

    return engine.for_request(request).jobs.start(
        kind,
        target,
        work,
        required_role=role.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        on_done=on_done,
        **kwargs,
    )


def _start_job(
    request: HttpRequest, kind: str, target: str, work, *, role: Role, **kwargs: Any
) -> HttpResponse:
    """Start the job and go to its live page."""
    return redirect("image-job", job_id=start_job(request, kind, target, work, role=role, **kwargs).id)


@require_role(Role.OPERATOR, action="image.pull")
@require_http_methods(["GET", "POST"])
def image_pull(request: HttpRequest) -> HttpResponse:
    """GET: the pull form. POST: ``docker pull`` as a background job with live per-layer progress."""
    if request.method == "GET":
        return _form_page(request, "pull", PullForm())
    form = PullForm(request.POST)
    params = {"reference": request.POST.get("reference", ""), "registry": request.POST.get("registry", "")}
    if not form.is_valid():
        _refused(request, "image.pull", params["reference"], form, params)
        return _form_page(request, "pull", form, status=400)
    reference, auth = form.cleaned_data["reference"], form.auth_config()
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
    full_id = _resolve(engine.for_request(request), image_id)
    form = PushForm(request.POST)
    params = {
        "image": full_id,
        "reference": request.POST.get("reference", ""),
        "registry": request.POST.get("registry", ""),
    }
    if not form.is_valid():
        _refused(request, "image.push", params["reference"], form, params)
        return _detail_page(request, full_id, status=400, push_form=form)
    reference, auth = form.cleaned_data["reference"], form.auth_config()
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
        return _form_page(request, "build", BuildForm())
    form = BuildForm(request.POST, request.FILES)
    upload = request.FILES.get("context")
    params = {
        "tag": request.POST.get("tag", ""),
        "context": upload,
        "dockerfile": request.POST.get("dockerfile", "")[:200],
    }
    if not form.is_valid():
        _refused(request, "image.build", params["tag"], form, params)
        return _form_page(request, "build", form, status=400)
    tag = form.cleaned_data["tag"]
    if upload:
        # The upload's temp file dies with the request; the job needs its own copy.
        context = tempfile.NamedTemporaryFile(prefix="build-", suffix=".tar")
        for chunk in upload.chunks(SAVE_CHUNK):
            context.write(chunk)
        context.seek(0)
        gzipped = context.read(2) == b"\x1f\x8b"
        context.seek(0)
    else:
        context, gzipped = dockerfile_context(form.cleaned_data["dockerfile"]), False

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


@require_role(Role.OPERATOR, action="image.load")
@require_http_methods(["GET", "POST"])
def image_load(request: HttpRequest) -> HttpResponse:
    """GET: the load form. POST: ``docker load`` of an uploaded tar (streamed from its temp file)."""
    if request.method == "GET":
        return _form_page(request, "load", LoadForm())
    form = LoadForm(request.POST, request.FILES)
    params = {"archive": request.FILES.get("archive")}
    if not form.is_valid():
        _refused(request, "image.load", "", form, params)
        return _form_page(request, "load", form, status=400)
    docker = engine.for_request(request)
    try:
        with audit.action(request, "image.load", parameters=params) as details:
            result = docker.images.load(form.cleaned_data["archive"].file)
            details["message"] = ", ".join(result.images)
    except Refused as exc:
        form.add_error("archive", exc.message)
        return _form_page(request, "load", form, status=400)
    messages.success(request, f"Loaded {len(result.images)} image(s).")
    return render(request, "images/loaded.html", {"loaded": _with_ids(docker, result.images)})


def _with_ids(docker: engine.Engine, refs: tuple[str, ...]) -> list[tuple[str, str]]:
    """Each loaded reference (a name:tag or an id) with the short id its page is at ("": gone)."""
    rows = []
    for ref in refs:
        try:
            rows.append((ref, short(docker.images.resolve_id(ref))))
        except Refused:
            rows.append((ref, ""))
    return rows


@require_role(Role.OPERATOR, action="image.import")
@require_http_methods(["GET", "POST"])
def image_import(request: HttpRequest) -> HttpResponse:
    """GET: the import form. POST: ``docker import`` of a rootfs tarball (plain or gzipped)."""
    if request.method == "GET":
        return _form_page(request, "import", ImportForm())
    form = ImportForm(request.POST, request.FILES)
    params = {key: request.POST.get(key, "") for key in ("repository", "tag", "message")}
    params["archive"] = request.FILES.get("archive")
    target = f"{params['repository']}:{params['tag'] or 'latest'}"
    if not form.is_valid():
        _refused(request, "image.import", target, form, params)
        return _form_page(request, "import", form, status=400)
    data = form.cleaned_data
    try:
        with audit.action(request, "image.import", target=target, parameters=params) as details:
            image_id = engine.for_request(request).images.import_rootfs(
                data["archive"].file, repository=data["repository"], tag=data["tag"], message=data["message"]
            )
            details["message"] = image_id
    except Refused as exc:
        form.add_error("archive", exc.message)
        return _form_page(request, "import", form, status=400)
    messages.success(request, f"Imported {data['repository']}:{data['tag']} as {short(image_id)}.")
    return redirect("image-detail", image_id=short(image_id))


@require_role(Role.ADMIN, action="image.prune")
@require_http_methods(["GET", "POST"])
def image_prune(request: HttpRequest) -> HttpResponse:
    """GET or POST without ``confirm``: the preview. POST with ``confirm``: ``docker image prune`` as
    a job (a row per image of the preview, deleted or kept; one audit event)."""
    docker = engine.for_request(request)
    data = request.POST if request.method == "POST" else request.GET
    dangling_only = data.get("all") not in ("1", "on", "true")
    label = data.get("label", "").strip()
    if request.method == "POST" and data.get("confirm"):
        work, message = bulk.prune_images(audit.who(request), dangling_only=dangling_only, label=label)
        job = docker.jobs.start(
            "images",
            f"prune {'unused' if not dangling_only else 'dangling'} images"
            + (f" labelled {label}" if label else ""),
            work,
            required_role=Role.ADMIN.label,
            user=request.user,
            endpoint=request.endpoint.slug,
            success_message=message,
        )
        return jobs_view.started(request, job, back=reverse("image-list"), doing="Pruning images…")
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
    path("images/<image_id:image_id>/", image_detail, name="image-detail"),
    path("images/<image_id:image_id>/tag/", image_tag, name="image-tag"),
    path("images/<image_id:image_id>/delete/", image_delete, name="image-delete"),
    path("images/<image_id:image_id>/push/", image_push, name="image-push"),
    path("images/<image_id:image_id>/save/", image_save, name="image-save"),
    path("images/<image_id:image_id>/reveal/", image_reveal, name="image-reveal"),
]
