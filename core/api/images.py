"""/api/images/: list, detail, tag, untag, delete, prune preview + prune, pull/push/build as jobs.

Fixed paths (untag, pull, build, prune) are declared before ``/{image}/`` so they win the match.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from core import audit, engine
from core.api.base import need, page_out, table_params
from core.api.schemas import (
    BuildIn,
    ImageDetailOut,
    ImageOut,
    JobOut,
    Message,
    Page,
    PruneIn,
    PruneOut,
    PrunePreviewOut,
    PullIn,
    PushIn,
    TagIn,
    UntagIn,
)
from core.engine.images import dockerfile_context, short
from core.errors import InvalidReference
from core.references import parse_input
from core.roles import Role
from core.views.images import SORTS, filter_images, registry_auth, start_job

router = Router(tags=["images"])
Image = Path(
    ...,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
    max_length=255,
    description="Image id (sha256:…), id prefix, or name:tag without a registry path",
)


def _audited_auth(request: HttpRequest, action: str, body, params: dict) -> tuple[str, dict | None]:
    """``registry_auth`` for a pull/push body; a refused reference is audited as ``action`` failed."""
    try:
        return registry_auth(body.reference, str(body.registry or ""))
    except InvalidReference as exc:
        audit.record(
            request,
            action,
            target=body.reference,
            parameters=params,
            outcome=audit.FAILED,
            message=exc.message,
        )
        raise


class ListQuery(Schema):
    q: str = Field("", max_length=200, description="Text in the repository, tag or id")
    show: Literal["", "dangling", "in-use", "unused"] = ""
    sort: Literal["repository", "tag", "id", "size", "created", "containers"] = "created"
    dir: Literal["", "asc", "desc"] = ""
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


class PruneQuery(Schema):
    all: bool = Field(False, description="Unused images too, not only dangling ones")
    label: str = Field("", max_length=256)


@router.get("/", response=Page[ImageOut], summary="List images (one row per tag)")
def list_images(request: HttpRequest, query: Query[ListQuery]):
    need(request, Role.VIEWER, "image.list")
    params = table_params(query, SORTS, default_sort="created", descending=("created", "size", "containers"))
    return page_out(filter_images(engine.for_request(request), params, show=query.show), params)


@router.post("/untag/", response=Message, summary="Remove one tag")
def untag(request: HttpRequest, body: UntagIn):
    need(request, Role.OPERATOR, "image.untag", body.reference)
    with audit.action(request, "image.untag", target=body.reference):
        lines = engine.for_request(request).images.untag(body.reference)
    return {"detail": "; ".join(lines) or f"untagged {body.reference}"}


def _job(
    request: HttpRequest, kind: str, target: str, work, role: Role, parameters: dict, done: str
) -> Status:
    job = start_job(
        request, kind, target, work, role=role, parameters=parameters, success_message=lambda job: done
    )
    return Status(202, {**job.snapshot(), "id": job.id})


@router.post("/pull/", response={202: JobOut}, summary="Pull an image (a job)")
def pull(request: HttpRequest, body: PullIn):
    """Starts ``docker pull`` as a job (a linked registry's credentials with ``registry``); follow
    it at ``GET /api/jobs/{id}``. Audited as ``image.pull`` when it ends."""
    need(request, Role.OPERATOR, "image.pull", body.reference)
    params = {"reference": body.reference, "registry": body.registry or ""}
    reference, auth = _audited_auth(request, "image.pull", body, params)
    return _job(
        request,
        "pull",
        reference,
        lambda docker, job: docker.images.pull_stream(reference, auth_config=auth),
        Role.OPERATOR,
        params,
        f"Pulled {reference}.",
    )


@router.post("/build/", response={202: JobOut}, summary="Build from a Dockerfile (a job)")
def build(request: HttpRequest, body: BuildIn):
    """Builds a pasted Dockerfile (no context files: upload a context on the page) as a job."""
    need(request, Role.OPERATOR, "image.build", body.tag)
    params = {"tag": body.tag, "dockerfile": body.dockerfile[:200]}
    try:
        tag = str(parse_input(body.tag)) if body.tag else ""
    except InvalidReference as exc:
        audit.record(
            request,
            "image.build",
            target=body.tag,
            parameters=params,
            outcome=audit.FAILED,
            message=exc.message,
        )
        raise
    context = dockerfile_context(body.dockerfile)

    def work(docker, job):
        try:
            yield from docker.images.build_stream(context, tag=tag, gzipped=False)
        finally:
            context.close()

    return _job(
        request, "build", tag or "(untagged)", work, Role.OPERATOR, params, f"Built {tag or 'image'}."
    )


@router.get("/prune/", response=PrunePreviewOut, summary="What a prune would remove (admin)")
def prune_preview(request: HttpRequest, query: Query[PruneQuery]):
    need(request, Role.ADMIN, "image.prune")
    preview = engine.for_request(request).images.prune_preview(dangling_only=not query.all, label=query.label)
    return {"images": list(preview.images), "bytes": preview.bytes}


@router.post("/prune/", response=PruneOut, summary="Prune images (admin)")
def prune(request: HttpRequest, body: PruneIn):
    need(request, Role.ADMIN, "image.prune")
    params = {"all": body.all, "label": body.label}
    with audit.action(request, "image.prune", target=body.label or "all", parameters=params) as details:
        result = engine.for_request(request).images.prune(dangling_only=not body.all, label=body.label)
        details["message"] = f"{len(result.deleted)} deleted, {result.reclaimed} bytes"
    return result


@router.get("/{image}/", response=ImageDetailOut, summary="Inspect an image")
def image_detail(request: HttpRequest, image: str = Image):
    """Config (env values masked), tags, history and the containers using it."""
    need(request, Role.VIEWER, "image.inspect", image)
    docker = engine.for_request(request)
    detail = docker.images.image_detail(docker.images.resolve_id(image))
    return {
        **{f: getattr(detail, f) for f in ImageDetailOut.model_fields if f != "env"},
        "env": list(detail.env_masked),
        "labels": dict(detail.labels),
    }


@router.post("/{image}/tag/", response={201: Message}, summary="Add a repository:tag")
def tag(request: HttpRequest, body: TagIn, image: str = Image):
    need(request, Role.OPERATOR, "image.tag", image)
    docker = engine.for_request(request)
    full = docker.images.resolve_id(image)
    with audit.action(
        request, "image.tag", target=full, parameters={"repository": body.repository, "tag": body.tag}
    ):
        reference = docker.images.tag_image(full, repository=body.repository, tag=body.tag)
    return Status(201, {"detail": f"tagged {short(full)} as {reference}"})


@router.post("/{image}/push/", response={202: JobOut}, summary="Push to a registry (admin, a job)")
def push(request: HttpRequest, body: PushIn, image: str = Image):
    need(request, Role.ADMIN, "image.push", image)
    docker = engine.for_request(request)
    full = docker.images.resolve_id(image)
    params = {"image": full, "reference": body.reference, "registry": body.registry or ""}
    reference, auth = _audited_auth(request, "image.push", body, params)
    return _job(
        request,
        "push",
        reference,
        lambda docker, job: docker.images.push_stream(full, reference, auth_config=auth),
        Role.ADMIN,
        params,
        f"Pushed {reference}.",
    )


@router.delete("/{image}/", response=Message, summary="Delete an image (admin)")
def delete(request: HttpRequest, image: str = Image, force: bool = False):
    """``docker rmi``; an image containers use is 409 naming them (unless ``force``)."""
    need(request, Role.ADMIN, "image.delete", image)
    docker = engine.for_request(request)
    full = docker.images.resolve_id(image)
    with audit.action(request, "image.delete", target=full, parameters={"force": force}):
        lines = docker.images.delete_image(full, force=force)
    return {"detail": f"deleted {short(full)}: {len(lines)} item(s)"}
