"""/api/images/: list, detail, tag, untag, delete, prune preview + prune, pull as a job."""

from __future__ import annotations

from django.http import HttpRequest, QueryDict
from ninja import Query, Router, Schema
from pydantic import Field

from core import audit, engine, tables
from core.api.base import need, page_out
from core.api.schemas import ImageOut, JobOut, Message, Page, PruneIn, PruneOut, PrunePreviewOut, PullIn, TagIn, UntagIn
from core.roles import Role
from core.views.images import IMAGE_SORTS, filter_images, start_pull

router = Router(tags=["images"])


class ListQuery(Schema):
    q: str = Field("", max_length=200)
    dangling: bool = False
    sort: str = "created"
    dir: str = ""
    page: int = 1
    per_page: int = 50


@router.get("/", response=Page[ImageOut], summary="List images")
def list_images(request: HttpRequest, query: Query[ListQuery]):
    need(request, Role.VIEWER, "image.list")
    raw = QueryDict(mutable=True)
    raw.update({k: str(v) for k, v in query.dict().items()})
    params = tables.read(raw, sorts=IMAGE_SORTS, default_sort="created", descending=("created", "size"))
    return page_out(filter_images(engine.for_request(request), params, dangling=query.dangling), params)


@router.get("/{image}/", summary="Inspect an image")
def image_detail(request: HttpRequest, image: str) -> dict:
    """The image's config (env values masked), history and tags."""
    need(request, Role.VIEWER, "image.inspect", image)
    docker = engine.for_request(request)
    detail = docker.images.image_detail(docker.images.resolve_id(image))
    return detail.as_api() if hasattr(detail, "as_api") else {"id": detail.id, "tags": list(detail.tags)}


@router.post("/{image}/tag/", response={201: Message})
def tag(request: HttpRequest, image: str, body: TagIn):
    need(request, Role.OPERATOR, "image.tag", image)
    docker = engine.for_request(request)
    full = docker.images.resolve_id(image)
    with audit.action(request, "image.tag", target=image, parameters=body.dict()):
        reference = docker.images.tag_image(full, repository=body.repository, tag=body.tag)
    return 201, {"detail": f"tagged {reference}"}


@router.post("/untag/", response=Message)
def untag(request: HttpRequest, body: UntagIn):
    need(request, Role.OPERATOR, "image.untag", body.reference)
    with audit.action(request, "image.untag", target=body.reference):
        engine.for_request(request).images.untag(body.reference)
    return {"detail": f"untagged {body.reference}"}


@router.delete("/{image}/", response=Message)
def delete(request: HttpRequest, image: str, force: bool = False):
    need(request, Role.ADMIN, "image.delete", image)
    docker = engine.for_request(request)
    full = docker.images.resolve_id(image)
    with audit.action(request, "image.delete", target=image, parameters={"force": force}):
        removed = docker.images.delete_image(full, force=force)
    return {"detail": f"deleted {len(removed)} item(s)"}


@router.get("/prune/preview/", response=PrunePreviewOut)
def prune_preview(request: HttpRequest, query: Query[PruneIn]):
    need(request, Role.VIEWER, "image.prune")
    preview = engine.for_request(request).images.prune_preview(dangling_only=query.dangling_only, label=query.label)
    return {"images": list(preview.images), "bytes": preview.bytes}


@router.post("/prune/", response=PruneOut)
def prune(request: HttpRequest, body: PruneIn):
    need(request, Role.ADMIN, "image.prune")
    with audit.action(request, "image.prune", parameters=body.dict()):
        result = engine.for_request(request).images.prune(dangling_only=body.dangling_only, label=body.label)
    return {"deleted": list(result.deleted), "untagged": list(result.untagged), "reclaimed": result.reclaimed}


@router.post("/pull/", response={202: JobOut}, summary="Pull an image (a job)")
def pull(request: HttpRequest, body: PullIn):
    """Starts ``docker pull`` as a job; follow it at ``GET /api/jobs/{id}``."""
    need(request, Role.OPERATOR, "image.pull", body.reference)
    job = start_pull(request, body.reference)
    return 202, job
