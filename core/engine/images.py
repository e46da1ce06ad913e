"""Images: list, inspect, tag, untag, delete, pull, push, save, load, import, build, prune.

Lists are one ``/images/json`` call plus one ``/containers/json`` call (for "used by"); nothing
here inspects images one by one. Streaming operations (pull, push, build) return iterators of the
engine's JSON progress messages so a background job can relay them.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from django.dispatch import Signal

from core import references
from core.engine._client import Engine, engine_call
from core.errors import Conflict, EngineRefused, InvalidInput, InvalidReference, NotFound
from core.policy import masked_document, masked_env

# Sent when a pull through :func:`pull_stream` completed, with ``endpoint`` (the slug) and
# ``reference``: the update checks (core/updates.py) ask the registry again for that reference.
image_pulled = Signal()

# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class ImageRow:
    """One row of the list: an image under one of its tags (or ``<none>``)."""

    id: str
    short_id: str
    repository: str
    tag: str
    size: int
    created: int
    containers: int
    labels: tuple[tuple[str, str], ...]
    dangling: bool
    digests: tuple[str, ...] = ()  # RepoDigests (``repo@sha256:...``): where it was pulled from

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}" if self.repository != "<none>" else self.short_id

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, tz=UTC)


@dataclass(frozen=True)
class ContainerRef:
    id: str
    short_id: str
    name: str
    state: str


@dataclass(frozen=True)
class HistoryRow:
    id: str
    created: int
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return self.size == 0

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, tz=UTC)


@dataclass(frozen=True)
class ImageDetail:
    id: str
    short_id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    size: int
    created: str
    os: str
    architecture: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    exposed_ports: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    history: tuple[HistoryRow, ...]
    containers: tuple[ContainerRef, ...]
    inspect_json: str
    inspect_json_masked: str  # env values masked (what the page shows until revealed)

    @property
    def env_masked(self) -> tuple[str, ...]:
        return masked_env(self.env)


@dataclass(frozen=True)
class PruneCandidate:
    id: str
    short_id: str
    tags: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class PrunePreview:
    dangling_only: bool
    label: str
    images: tuple[PruneCandidate, ...]

    @property
    def bytes(self) -> int:
        return sum(image.size for image in self.images)


@dataclass(frozen=True)
class PruneResult:
    deleted: tuple[str, ...]
    untagged: tuple[str, ...]
    reclaimed: int


@dataclass(frozen=True)
class LoadResult:
    images: tuple[str, ...]
    messages: tuple[str, ...] = field(default=())


class ImageInUse(Conflict):
    """The image is used by containers (listed in ``containers``)."""

    def __init__(self, message: str, *, containers: tuple[ContainerRef, ...]):
        super().__init__(message)
        self.containers = containers


class AmbiguousId(InvalidInput):
    """An id prefix that matches several images."""


# --------------------------------------------------------------------------- helpers


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _labels(raw: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (raw or {}).items()))


def _container_refs(api: Any, image_id: str) -> tuple[ContainerRef, ...]:
    refs = []
    for container in api.containers(all=True):
        if container.get("ImageID") == image_id:
            name = ((container.get("Names") or ["/?"])[0]).lstrip("/")
            refs.append(
                ContainerRef(
                    id=container["Id"],
                    short_id=container["Id"][:12],
                    name=name,
                    state=str(container.get("State", "")),
                )
            )
    return tuple(refs)


def _label_matches(labels: dict | None, label: str) -> bool:
    if not label:
        return True
    key, sep, value = label.partition("=")
    labels = labels or {}
    if key not in labels:
        return False
    return not sep or labels[key] == value


def _stream_error(message: dict) -> str | None:
    """The error text of one engine JSON progress message, if it is an error."""
    if message.get("error") or message.get("errorDetail"):
        detail = message.get("errorDetail") or {}
        return str(message.get("error") or detail.get("message") or "the engine reported an error")
    return None


# --------------------------------------------------------------------------- reading


@engine_call
def list_images(engine: Engine) -> list[ImageRow]:
    """All top-level images, one row per tag (untagged ones as ``<none>``), with container counts.

    Args:

    Returns:
        Rows newest first.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    images = api.images()
    used: dict[str, int] = {}
    for container in api.containers(all=True):
        image_id = container.get("ImageID") or ""
        used[image_id] = used.get(image_id, 0) + 1
    rows: list[ImageRow] = []
    for image in images:
        image_id = image["Id"]
        tags = [t for t in image.get("RepoTags") or () if t and t != "<none>:<none>"]
        base = {
            "id": image_id,
            "short_id": short(image_id),
            "size": int(image.get("Size") or 0),
            "created": int(image.get("Created") or 0),
            "containers": used.get(image_id, 0),
            "labels": _labels(image.get("Labels")),
            "dangling": not tags,
            "digests": tuple(str(d) for d in image.get("RepoDigests") or () if "@" in str(d)),
        }
        if not tags:
            rows.append(ImageRow(repository="<none>", tag="<none>", **base))
        for reference in tags:
            repository, _, tag = reference.rpartition(":")
            rows.append(ImageRow(repository=repository, tag=tag, **base))
    rows.sort(key=lambda row: (-row.created, row.repository, row.tag))
    return rows


@engine_call
def local_tags(engine: Engine) -> list[str]:
    """The ``repository:tag`` of every local image, sorted (one request; for pickers)."""
    tags = {t for image in engine.api.images() for t in image.get("RepoTags") or () if t != "<none>:<none>"}
    return sorted(tags)


@engine_call
def repo_digests(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Every local image's ``RepoDigests`` (``repo@sha256:...``: where it was pulled from), by image id,
    in ONE list call.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    return {
        str(image["Id"]): tuple(str(d) for d in image.get("RepoDigests") or () if "@" in str(d))
        for image in engine.api.images()
    }


@engine_call
def image_labels(engine: Engine, image_id: str) -> dict[str, str]:
    """The labels of one image's config (``docker image inspect``), e.g. its OCI version labels.

    Raises:
        NotFound: the image is gone.
        EngineUnavailable: the engine does not answer.
    """
    config = engine.api.inspect_image(image_id).get("Config") or {}
    return dict(_labels(config.get("Labels")))


@engine_call
def resolve_id(engine: Engine, image: str) -> str:
    """The full id of an image given its full id, a unique id prefix, or a reference.

    Args:
        image: ``sha256:<hex>``, a hex prefix, or a name[:tag].

    Returns:
        ``sha256:<64 hex>``.

    Raises:
        NotFound: no image matches.
        AmbiguousId: the prefix matches several images.
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    prefix = references.image_id_prefix(image or "")
    if prefix:
        found = {i for i in api.images(all=True, quiet=True) if i.removeprefix("sha256:").startswith(prefix)}
        if len(found) > 1:
            raise AmbiguousId(f"The id prefix “{prefix}” matches {len(found)} images; give more characters.")
        if found:
            return found.pop()
    try:
        return str(api.inspect_image(image)["Id"])
    except Exception as exc:
        if getattr(exc, "status_code", None) in (400, 404):
            raise NotFound(f"No image “{image}”.") from exc
        raise


@engine_call
def image_detail(engine: Engine, image_id: str) -> ImageDetail:
    """``docker image inspect`` + ``docker history`` + the containers using the image.

    Args:
        image_id: a full id (see :func:`resolve_id`).

    Returns:
        An :class:`ImageDetail`.

    Raises:
        NotFound: the image is gone.
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    data = api.inspect_image(image_id)
    history = api.history(image_id)
    config = data.get("Config") or {}
    return ImageDetail(
        id=data["Id"],
        short_id=short(data["Id"]),
        tags=tuple(data.get("RepoTags") or ()),
        digests=tuple(data.get("RepoDigests") or ()),
        size=int(data.get("Size") or 0),
        created=str(data.get("Created") or ""),
        os=str(data.get("Os") or ""),
        architecture=str(data.get("Architecture") or ""),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        env=tuple(config.get("Env") or ()),
        exposed_ports=tuple(sorted(config.get("ExposedPorts") or {})),
        labels=_labels(config.get("Labels")),
        history=tuple(
            HistoryRow(
                id=str(row.get("Id") or ""),
                created=int(row.get("Created") or 0),
                created_by=str(row.get("CreatedBy") or ""),
                size=int(row.get("Size") or 0),
                comment=str(row.get("Comment") or ""),
                tags=tuple(row.get("Tags") or ()),
            )
            for row in history
        ),
        containers=_container_refs(api, data["Id"]),
        inspect_json=json.dumps(data, indent=2, sort_keys=True),
        inspect_json_masked=json.dumps(masked_document(data), indent=2, sort_keys=True),
    )


# --------------------------------------------------------------------------- changing


@engine_call
def tag_image(engine: Engine, image_id: str, *, repository: str, tag: str = "latest") -> str:
    """``docker tag``: add ``repository:tag`` to an image (validated first).

    Args:
        image_id: the image's id.
        repository: ``[registry/]path``.
        tag: the tag (default ``latest``).

    Returns:
        The new reference.

    Raises:
        InvalidReference: repository or tag do not fit the grammar (nothing changed).
        NotFound: the image is gone.
    """
    references.split_repository(repository)
    references.validate_tag(tag)
    engine.api.tag(image_id, repository.strip(), tag, force=True)
    return f"{repository.strip()}:{tag}"


@engine_call
def untag(engine: Engine, reference: str) -> list[str]:
    """Remove one tag (``docker rmi <ref>`` on a tag). The image goes too only if it was its last tag.

    Args:
        reference: ``repository:tag``.

    Returns:
        The engine's report lines ("Untagged: …", "Deleted: …").

    Raises:
        InvalidReference: not a tag reference.
        NotFound: no such tag.
        Conflict: the engine refused (e.g. the last tag of an image a running container uses).
    """
    ref = references.parse(reference, default_tag="")
    if not ref.tag or ref.digest or ref.path == "sha256":
        raise InvalidReference("Give a repository:tag to remove.")
    result = engine.api.remove_image(str(ref), noprune=True)
    return [f"{k}: {v}" for item in result or () for k, v in item.items()]


@engine_call
def delete_image(engine: Engine, image_id: str, *, force: bool = False) -> list[str]:
    """``docker rmi`` by id: all its tags and its layers.

    Without ``force`` an image used by any container is refused with :class:`ImageInUse`
    naming them. With ``force`` the engine removes it even when stopped containers use it
    (running ones still block it).

    Args:
        image_id: the full id.
        force: ``docker rmi -f``.

    Returns:
        The engine's report lines.

    Raises:
        ImageInUse: containers use it (without force).
        NotFound: the image is already gone.
        Conflict: the engine refused.
    """
    api = engine.api
    if not force:
        users = _container_refs(api, image_id)
        if users:
            names = ", ".join(c.name for c in users)
            raise ImageInUse(
                f"Image {short(image_id)} is used by {len(users)} container(s): {names}. Remove them first.",
                containers=users,
            )
    try:
        result = []
        if not force:
            # The engine refuses an id with several repositories unless forced; removing the
            # tags one by one first keeps the "in use" check of the engine for the last step.
            tags = [t for t in api.inspect_image(image_id).get("RepoTags") or () if t != "<none>:<none>"]
            for reference in tags[:-1]:
                result += api.remove_image(reference, noprune=True) or []
        result += api.remove_image(image_id, force=force) or []
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            raise NotFound(f"Image {short(image_id)} no longer exists (removed meanwhile?).") from exc
        raise
    return [f"{k}: {v}" for item in result or () for k, v in item.items()]


@engine_call
def prune_preview(engine: Engine, *, dangling_only: bool = True, label: str = "") -> PrunePreview:
    """What ``docker image prune`` would remove, from one images and one containers call.

    Args:
        dangling_only: only untagged images (``docker image prune``), else all unused (``-a``).
        label: ``key`` or ``key=value`` filter, as ``--filter label=``.

    Returns:
        The candidates and the sum of their sizes (an upper bound: shared layers stay).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    used = {c.get("ImageID") for c in api.containers(all=True)}
    filters: dict[str, Any] = {"dangling": True} if dangling_only else {}
    candidates = []
    for image in api.images(filters=filters):
        if image["Id"] in used or not _label_matches(image.get("Labels"), label):
            continue
        tags = tuple(t for t in image.get("RepoTags") or () if t != "<none>:<none>")
        if dangling_only and tags:
            continue
        candidates.append(
            PruneCandidate(
                id=image["Id"], short_id=short(image["Id"]), tags=tags, size=int(image.get("Size") or 0)
            )
        )
    return PrunePreview(dangling_only=dangling_only, label=label, images=tuple(candidates))


@engine_call
def prune(engine: Engine, *, dangling_only: bool = True, label: str = "") -> PruneResult:
    """``docker image prune [-a] [--filter label=…]``.

    Args:
        dangling_only: only untagged images, else all unused ones.
        label: ``key`` or ``key=value`` filter.

    Returns:
        Deleted and untagged ids and the bytes reclaimed.

    Raises:
        EngineRefused: the engine refused (e.g. a prune already running).
    """
    filters: dict[str, Any] = {"dangling": "true" if dangling_only else "false"}
    if label:
        filters["label"] = [label]
    result = engine.api.prune_images(filters=filters)
    items = result.get("ImagesDeleted") or []
    return PruneResult(
        deleted=tuple(i["Deleted"] for i in items if i.get("Deleted")),
        untagged=tuple(i["Untagged"] for i in items if i.get("Untagged")),
        reclaimed=int(result.get("SpaceReclaimed") or 0),
    )


# --------------------------------------------------------------------------- streams


@engine_call
def pull_stream(engine: Engine, reference: str, *, auth_config: dict | None = None) -> Iterator[dict]:
    """``docker pull`` as the engine's decoded progress messages.

    Args:
        reference: a validated reference (see :func:`core.references.parse`).
        auth_config: registry credentials ``{username, password, serveraddress}`` or None.

    Yields:
        Progress dicts (``id``, ``status``, ``progressDetail``...).

    Raises:
        EngineRefused: the pull failed (an ``error`` message in the stream becomes one).
        EngineUnavailable: the engine does not answer.
    """
    with engine.translated():
        ref = references.parse(reference)
        stream = engine.api.pull(
            ref.repository,
            tag=ref.digest or ref.tag,
            stream=True,
            decode=True,
            auth_config=auth_config,
        )
        for message in stream:
            error = _stream_error(message)
            if error:
                raise EngineRefused(error)
            yield message
    image_pulled.send(sender=Engine, endpoint=engine.ref.slug, reference=reference)


@engine_call
def push_stream(
    engine: Engine, image_id: str, reference: str, *, auth_config: dict | None = None
) -> Iterator[dict]:
    """Tag ``image_id`` as ``reference`` if needed, then ``docker push`` it.

    Args:
        image_id: the image to push.
        reference: ``registry/path[:tag]``.
        auth_config: registry credentials or None.

    Yields:
        Progress dicts.

    Raises:
        InvalidReference: the reference is not valid.
        EngineRefused: the push failed.
    """
    with engine.translated():
        ref = references.parse(reference)
        api = engine.api
        if f"{ref.repository}:{ref.tag}" not in (api.inspect_image(image_id).get("RepoTags") or ()):
            api.tag(image_id, ref.repository, ref.tag, force=True)
        for message in api.push(
            ref.repository, tag=ref.tag, stream=True, decode=True, auth_config=auth_config
        ):
            error = _stream_error(message)
            if error:
                raise EngineRefused(error)
            yield message


def dockerfile_context(dockerfile: str) -> IO[bytes]:
    """A build context (tar) holding only the given Dockerfile text."""
    data = dockerfile.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@engine_call
def build_stream(
    engine: Engine,
    context: IO[bytes],
    *,
    tag: str = "",
    gzipped: bool = False,
    labels: dict[str, str] | None = None,
) -> Iterator[dict]:
    """``docker build`` from a tar context (file object, streamed to the engine).

    Args:
        context: the context tarball (a Dockerfile at its root).
        tag: optional ``repository[:tag]`` for the result.
        gzipped: the context is gzip-compressed.
        labels: labels added to the image.

    Yields:
        Build messages (``stream`` lines, ``aux`` with the ``ID`` of the result).

    Raises:
        InvalidReference: the tag is not valid.
        EngineRefused: the build failed (the message from the engine).
    """
    with engine.translated():
        tag = str(references.parse(tag)) if tag else ""
        for message in engine.api.build(
            fileobj=context,
            custom_context=True,
            encoding="gzip" if gzipped else None,
            tag=tag or None,
            rm=True,
            forcerm=True,
            decode=True,
            labels=labels or None,
        ):
            error = _stream_error(message)
            if error:
                raise EngineRefused(error)
            yield message


@engine_call
def open_save(engine: Engine, image_id: str) -> Any:
    """Open ``docker save`` of one image as a raw HTTP response (the caller reads and closes it).

    Args:
        image_id: a full id or a reference (a reference keeps its tag in the tar).

    Returns:
        An object with ``read(n)`` and ``close()`` (urllib3 response, undecoded).

    Raises:
        NotFound: the image is gone.
        EngineUnavailable: the engine does not answer.
    """
    with engine.translated():
        api = engine.api
        response = api._get(api._url("/images/{0}/get", image_id), stream=True, timeout=None)
        api._raise_for_status(response)
        return response.raw


def _read_json_lines(response: Any) -> list[dict]:
    messages = []
    for line in response.iter_lines():
        if line.strip():
            try:
                messages.append(json.loads(line))
            except ValueError:
                messages.append({"stream": line.decode("utf-8", "replace")})
    return messages


@engine_call
def load(engine: Engine, archive: IO[bytes]) -> LoadResult:
    """``docker load`` of a saved tar, streamed from a file object.

    Args:
        archive: an open file positioned at its start.

    Returns:
        The references (or ids) the archive contained.

    Raises:
        InvalidInput: the file is not an image archive (nothing loaded).
        EngineUnavailable: the engine does not answer.
    """
    head = archive.read(512)
    archive.seek(0)
    if len(head) < 512 or head[257:262] != b"ustar":
        raise InvalidInput("That file is not a tar archive made by docker save.")
    api = engine.api
    response = api._post(
        api._url("/images/load"),
        data=archive,
        params={"quiet": "1"},
        headers={"Content-Type": "application/x-tar"},
        stream=True,
        timeout=None,
    )
    if response.status_code >= 400:
        message = response.text.strip()
        try:
            message = json.loads(message).get("message", message)
        except ValueError:
            pass
        raise InvalidInput(f"The engine could not load the archive: {message}")
    messages = _read_json_lines(response)
    loaded = []
    for message in messages:
        error = _stream_error(message)
        if error:
            raise InvalidInput(f"The engine could not load the archive: {error}")
        text = str(message.get("stream") or "").strip()
        for prefix in ("Loaded image: ", "Loaded image ID: "):
            if text.startswith(prefix):
                loaded.append(text.removeprefix(prefix))
    return LoadResult(
        images=tuple(loaded), messages=tuple(str(m.get("stream", "")).strip() for m in messages)
    )


@engine_call
def import_rootfs(
    engine: Engine,
    archive: IO[bytes],
    *,
    repository: str,
    tag: str = "latest",
    message: str = "",
    changes: list[str] | None = None,
) -> str:
    """``docker import``: a rootfs tarball (plain or gzipped, e.g. a container export) as an image.

    Args:
        archive: an open file positioned at its start.
        repository: name of the new image.
        tag: its tag.
        message: the commit message stored in the image history.
        changes: Dockerfile instructions applied (``LABEL a=b``, ``CMD ["sh"]``...).

    Returns:
        The new image's id.

    Raises:
        InvalidReference: repository or tag are not valid.
        InvalidInput: the file is empty or not a tarball.
        EngineUnavailable: the engine does not answer.
    """
    references.split_repository(repository)
    references.validate_tag(tag)
    head = archive.read(512)
    archive.seek(0)
    if not head:
        raise InvalidInput("The file is empty: a root filesystem tarball is needed.")
    if not (head[:2] == b"\x1f\x8b" or (len(head) >= 262 and head[257:262] == b"ustar")):
        raise InvalidInput("That file is not a tar archive (plain or gzipped).")
    api = engine.api
    params: dict[str, Any] = {"fromSrc": "-", "repo": repository.strip(), "tag": tag}
    if message:
        params["message"] = message
    if changes:
        params["changes"] = changes
    response = api._post(
        api._url("/images/create"),
        data=archive,
        params=params,
        headers={"Content-Type": "application/tar"},
        stream=True,
        timeout=None,
    )
    api._raise_for_status(response)
    image_id = ""
    for item in _read_json_lines(response):
        error = _stream_error(item)
        if error:
            raise InvalidInput(f"The engine could not import the archive: {error}")
        status = str(item.get("status") or "")
        if status.startswith("sha256:"):
            image_id = status
    if not image_id:
        raise EngineRefused("The engine did not report the imported image's id.")
    return image_id
