"""What the registries pages need from the engine: an image's references, local tags, ``docker search``."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine._client import Engine, engine_call
from core.errors import EngineRefused


@dataclass(frozen=True)
class ImageReferences:
    """An image's id, its ``repo:tag`` names and its ``repo@sha256:...`` digests."""

    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]


@dataclass(frozen=True)
class LocalTag:
    """One local ``repo:tag`` and the image it names (a row of the push form)."""

    reference: str
    image_id: str
    size: int
    created: int


@dataclass(frozen=True)
class SearchResult:
    name: str
    description: str
    stars: int
    official: bool


@engine_call
def image_references(engine: Engine, *, image: str) -> ImageReferences:
    """Tags and repo digests of one local image (``docker image inspect``).

    Args:
        image: an image id or reference.

    Returns:
        An :class:`ImageReferences`.

    Raises:
        NotFound: no such image.
        EngineUnavailable: the engine does not answer.
    """
    data = engine.api.inspect_image(image)
    return ImageReferences(
        id=str(data.get("Id", "")),
        tags=tuple(str(tag) for tag in data.get("RepoTags") or () if tag != "<none>:<none>"),
        repo_digests=tuple(str(digest) for digest in data.get("RepoDigests") or ()),
    )


@engine_call
def local_tags(engine: Engine) -> list[LocalTag]:
    """Every local ``repo:tag``, newest image first (one ``GET /images/json``).

    Args:

    Returns:
        One :class:`LocalTag` per tag (untagged images are left out: they cannot be pushed).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    rows = [
        LocalTag(
            reference=str(tag),
            image_id=str(image.get("Id", "")),
            size=int(image.get("Size") or 0),
            created=int(image.get("Created") or 0),
        )
        for image in engine.api.images()
        for tag in image.get("RepoTags") or ()
        if tag and tag != "<none>:<none>"
    ]
    return sorted(rows, key=lambda row: (-row.created, row.reference))


@engine_call
def search_index(engine: Engine, *, term: str, limit: int = 25) -> list[SearchResult]:
    """``docker search``: the engine asks its configured index (Docker Hub unless configured).

    Args:
        term: what to search for.
        limit: the most results.

    Returns:
        The index's results.

    Raises:
        EngineRefused: the engine could not reach its index (offline), with the engine's reason.
        EngineUnavailable: the engine does not answer.
    """
    try:
        found = engine.api.search(term, limit=limit)
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and status >= 500:
            explanation = getattr(exc, "explanation", "") or str(exc)
            if isinstance(explanation, bytes):
                explanation = explanation.decode("utf-8", "replace")
            raise EngineRefused(
                "The engine could not reach its image index (offline, or the index is down): "
                f"{str(explanation).strip()}",
                detail=repr(exc),
            ) from exc
        raise
    return [
        SearchResult(
            name=str(item.get("name", "")),
            description=str(item.get("description") or ""),
            stars=int(item.get("star_count") or 0),
            official=bool(item.get("is_official")),
        )
        for item in found or ()
    ]
