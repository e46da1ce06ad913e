"""Image update detection: does the registry now serve another image for a container's reference?

For each distinct reference the containers and local tags use, ONE ``HEAD`` of its manifest (never
a GET: a GET counts as a pull on Docker Hub) through :mod:`core.registry` and its safety rules: the stored
credentials and address policy of the linked registry whose host matches, else anonymous under the
default policy (public addresses only). The answer is cached per endpoint and reference for
``settings.UPDATE_CHECK_TTL`` seconds (failures for ``UPDATE_CHECK_FAILURE_TTL``) in Django's
``updates`` cache (Redis when ``REDIS_URL`` is set: shared by the server processes), and asked
again when a pull of that reference ends (:func:`recheck`, on the ``image_pulled`` signal). For a
reference with an update, the new image's config (``created``, OCI labels) is read once per digest
(:func:`read_details`: GETs of the manifest by digest and of the config blob, never from Docker Hub).

The comparison (:func:`compare`) is against the local image's ``RepoDigests`` for that repository:

* the served digest is one of them (the index digest of a multi-arch image, or the manifest digest
  of a single-platform one) -> ``current``;
* none of them and the served manifest is a single-platform image -> ``available``;
* the served manifest is a multi-platform index and a local digest is an index of that repository
  (a second HEAD, of the local digest: cached 30 days, a digest never changes) -> ``available``;
* the local digest is a platform manifest (pulled by platform digest) and the registry serves an
  index: the platform entries need a GET to compare, so ``unknown`` with that reason, never a false
  "update available" because a platform digest differs from the index digest;
* no RepoDigests for the repository (built, loaded, imported or committed locally), a digest-pinned
  reference, or a registry that cannot be asked -> ``unknown`` with why. Never a false "up to date".

Pure parts (:func:`compare`) are unit-tested; :func:`statuses` does the HTTP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.dispatch import receiver
from django.utils.dateparse import parse_datetime

from core.engine.images import image_pulled
from core.errors import DashboardError
from core.references import parse_input
from core.registry import ManifestHead, RegistryClient

AVAILABLE, CURRENT, UNKNOWN = "available", "current", "unknown"
DOCKER_HUB = "registry-1.docker.io"
HUB_HOSTS = ("docker.io", "index.docker.io")
WORKERS = 8  # references checked in parallel
KEEP = 7 * 24 * 3600  # an expired answer is still shown (as the last check's) this long
DIGEST_TYPE_TTL = 30 * 24 * 3600  # a digest's media type never changes
DETAIL_LIMIT = 1024 * 1024  # bytes read of the new image's manifest and config blob
LABEL_MAX = 256  # characters kept of a label's value (untrusted text, shown escaped)
# The OCI labels shown as "old -> new", by the short name the page uses.
OCI_LABELS = (
    ("version", "org.opencontainers.image.version"),
    ("revision", "org.opencontainers.image.revision"),
    ("source", "org.opencontainers.image.source"),
)


@dataclass(frozen=True)
class Details:
    """The new image as the registry serves it: when it was built ("pushed") and its OCI labels.

    Read from its config blob (a GET of a blob, after a GET of the manifest by digest: only from
    registries other than Docker Hub, where a manifest GET counts as a pull). ``error`` says why
    there is nothing to show.
    """

    digest: str  # the served manifest digest these details are about
    created: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # (OCI label name, value) of :data:`OCI_LABELS`
    error: str = ""

    @property
    def created_at(self) -> datetime | None:
        try:
            return parse_datetime(self.created)
        except ValueError:
            return None


@dataclass(frozen=True)
class Remote:
    """What the registry answered for one reference (or why it could not be asked)."""

    head: ManifestHead | None
    error: str = ""
    checked_at: float = 0.0
    details: Details | None = None


@dataclass(frozen=True)
class UpdateStatus:
    state: str  # available / current / unknown
    reference: str
    why: str = ""  # for unknown: the reason; for available: a note
    local_digest: str = ""
    remote_digest: str = ""
    rate_limit_remaining: str = ""
    checked_at: float = 0.0
    details: Details | None = None  # for available: the new image's, when read

    @property
    def available(self) -> bool:
        return self.state == AVAILABLE

    @property
    def short_remote(self) -> str:
        return self.remote_digest.split(":", 1)[-1][:12]


def label_changes(details: Details | None, old_labels: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(short name, old, new)`` of the OCI labels either image has (for "version 1 -> 2")."""
    new = dict(details.labels) if details else {}
    rows = []
    for short, name in OCI_LABELS:
        old = str(old_labels.get(name, ""))[:LABEL_MAX]
        if old or new.get(name):
            rows.append((short, old, new.get(name, "")))
    return rows


class _Cache:
    """The registry answers per (endpoint, reference), in Django's ``updates`` cache.

    That cache is Redis when ``REDIS_URL`` is set (every server process reads what one asked),
    else this process's memory (bounded by its ``MAX_ENTRIES``). An answer is stored with its own
    expiry (the TTL) and kept ``KEEP`` seconds longer, so pages show the last check's answer until
    the next one. Keys are hashes: a reference can be longer than a cache key may be.
    """

    alias = "updates"

    def __init__(self, store=None) -> None:
        self._store = store  # a cache backend of its own (tests: two clients of one Redis)

    @property
    def store(self):
        return self._store if self._store is not None else caches[self.alias]

    FORMAT = "2"  # part of every key: bump it when Remote/Details change shape (old pickles ignored)

    @classmethod
    def _hashed(cls, kind: str, *parts: str) -> str:
        return f"{kind}:" + hashlib.sha256("\x00".join((cls.FORMAT, *parts)).encode()).hexdigest()[:40]

    def answers(self, endpoint: str, references: Iterable[str]) -> dict[str, tuple[float, Remote]]:
        """``reference -> (expires at, answer)`` of those cached, expired or not (ONE cache read)."""
        keys = {self._hashed("answer", endpoint, canonical(r)): r for r in references}
        found = self.store.get_many(list(keys))
        return {keys[key]: value for key, value in found.items()}

    def get(self, endpoint: str, reference: str) -> Remote | None:
        """The answer for ``reference`` while it is fresh."""
        found = self.answers(endpoint, [reference]).get(reference)
        return found[1] if found and found[0] >= time.time() else None

    def put(self, endpoint: str, reference: str, remote: Remote, ttl: float) -> None:
        self.store.set(
            self._hashed("answer", endpoint, canonical(reference)), (time.time() + ttl, remote), ttl + KEEP
        )

    def drop(self, endpoint: str, reference: str) -> None:
        self.store.delete(self._hashed("answer", endpoint, canonical(reference)))

    def digest_type(self, key: str) -> str | None:
        return self.store.get(self._hashed("type", key))

    def put_digest_type(self, key: str, media_type: str) -> None:
        self.store.set(self._hashed("type", key), media_type, DIGEST_TYPE_TTL)

    def has_endpoint(self, endpoint: str) -> bool:
        """Whether anything was checked on ``endpoint`` (pages skip the work when nothing was)."""
        return bool(self.store.get(self._hashed("checked", endpoint)))

    def mark_checked(self, endpoint: str) -> None:
        self.store.set(self._hashed("checked", endpoint), True, settings.UPDATE_CHECK_TTL + KEEP)

    def clear(self) -> None:
        """Forget everything (tests and benches). Local memory only: on Redis, ``clear`` would
        empty the whole database (the channel layer's too)."""
        if not isinstance(self.store, LocMemCache):
            raise RuntimeError("updates.cache.clear() is for the local-memory cache only")
        self.store.clear()


cache = _Cache()


def canonical(reference: str) -> str:
    """``reference`` as one spelling: ``busybox``, ``busybox:latest`` and
    ``docker.io/library/busybox:latest`` are one cache entry."""
    try:
        ref = parse_input(reference)
    except DashboardError:
        return reference
    return f"{_normal(ref.repository)}:{ref.tag}"


def _key(endpoint: str, reference: str) -> str:
    return f"{endpoint}|{reference}"


def registry_target(reference: str) -> tuple[str, str, str]:
    """``(registry host as Docker names it, API base URL, repository path)`` of a tagged reference."""
    ref = parse_input(reference)
    host = ref.registry or "docker.io"
    path = ref.path if ref.registry or "/" in ref.path else f"library/{ref.path}"
    url = f"https://{DOCKER_HUB}" if host in ("docker.io", "index.docker.io") else f"https://{host}"
    return host, url, path


def client_for_host(host: str, url: str, registries: Iterable) -> RegistryClient:
    """The linked registry's client when its host matches (credentials, TLS and address settings),
    else an anonymous one under the default address policy."""
    for registry in registries:
        if registry.host == host:
            return RegistryClient.for_registry(registry)
    return RegistryClient(url=url)


def _local_digests(repository: str, digests: Iterable[str]) -> tuple[str, ...]:
    """The digests of ``repo@digest`` entries whose repository is ``repository`` (normalized)."""
    wanted = _normal(repository)
    return tuple(d.split("@", 1)[1] for d in digests if _normal(d.split("@", 1)[0]) == wanted)


def _normal(repository: str) -> str:
    try:
        ref = parse_input(repository, default_tag="")
    except DashboardError:
        return repository
    host = ref.registry if ref.registry not in ("", "index.docker.io") else "docker.io"
    path = ref.path if ref.registry or "/" in ref.path else f"library/{ref.path}"
    return f"{host}/{path}"


def compare(
    reference: str,
    local: tuple[str, ...],
    remote: Remote,
    *,
    local_type: Callable[[str], str] | None = None,
) -> UpdateStatus:
    """The update status of an image whose RepoDigests for ``reference``'s repository are ``local``.

    ``local_type(digest)`` gives the media type of a local digest in the registry (a cached HEAD);
    it is only asked when the registry serves an index that none of the local digests is.
    """
    base = {"reference": reference, "checked_at": remote.checked_at}
    if remote.head is None:
        return UpdateStatus(UNKNOWN, why=remote.error or "not checked yet", **base)
    head = remote.head
    base.update(remote_digest=head.digest, rate_limit_remaining=head.rate_limit_remaining)
    if not local:
        return UpdateStatus(
            UNKNOWN,
            why="the local image has no digest from this registry (built, loaded or imported locally)",
            **base,
        )
    if head.digest in local:
        return UpdateStatus(CURRENT, local_digest=head.digest, **base)
    if not head.is_index:
        return UpdateStatus(AVAILABLE, local_digest=local[0], **base)
    for digest in local:
        kind = local_type(digest) if local_type else ""
        if kind in (
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ):
            return UpdateStatus(
                AVAILABLE, local_digest=digest, why="the multi-platform index changed", **base
            )
    return UpdateStatus(
        UNKNOWN,
        local_digest=local[0],
        why="the local image came from a platform manifest and the registry serves a multi-platform "
        "index; comparing them needs a GET of the index (counted as a pull), which is not made",
        **base,
    )


def _local(subject: Subject) -> tuple[str, ...]:
    if pinned_or_invalid(subject.reference):
        return ()
    return _local_digests(parse_input(subject.reference).repository, subject.repo_digests)


def _ask(reference: str, registries: list) -> Remote:
    now = time.time()
    try:
        host, url, path = registry_target(reference)
        if not settings.UPDATE_CHECK_UNLINKED and not any(r.host == host for r in registries):
            return Remote(
                None,
                error=f"{host} is not a linked registry, and unlinked registries are not asked "
                "(UPDATE_CHECK_UNLINKED=False)",
                checked_at=now,
            )
        with client_for_host(host, url, registries) as client:
            tag = parse_input(reference).tag
            return Remote(client.head_manifest(path, tag), checked_at=now)
    except DashboardError as error:
        return Remote(None, error=f"the registry could not be asked: {error.message}", checked_at=now)


def _digest_type(endpoint: str, reference: str, digest: str, registries: list) -> str:
    """The media type of ``digest`` in ``reference``'s repository (one HEAD, cached for good)."""
    key = _key(endpoint, f"{reference}@{digest}")
    found = cache.digest_type(key)
    if found is not None:
        return found
    try:
        host, url, path = registry_target(reference)
        with client_for_host(host, url, registries) as client:
            media_type = client.head_manifest(path, digest).media_type
    except DashboardError:
        return ""  # not cached: asked again next time
    cache.put_digest_type(key, media_type)
    return media_type


def pinned_or_invalid(reference: str) -> str:
    """Why ``reference`` cannot be checked ('' when it can)."""
    if reference.startswith("sha256:"):
        return "the container was created from an image id, not a reference"
    try:
        ref = parse_input(reference)
    except DashboardError as error:
        return f"not a reference the registry can be asked about ({error.message})"
    if ref.digest:
        return "pinned by digest: it never changes"
    return ""


@dataclass(frozen=True)
class Subject:
    """One thing to check: a container (or a local tag) and its image's RepoDigests."""

    key: str  # container id (or the tag itself)
    reference: str
    repo_digests: tuple[str, ...]


def statuses(
    endpoint: str,
    subjects: Iterable[Subject],
    *,
    registries: Iterable = (),
    refresh: bool = False,
    cached_only: bool = False,
    platform: str = "",
) -> dict[str, UpdateStatus]:
    """The status of each subject, by its key: ONE HEAD per distinct reference per TTL.

    Args:
        endpoint: the endpoint's slug (answers are cached per endpoint and reference).
        subjects: what to check.
        registries: the linked :class:`core.models.Registry` rows (credentials by host).
        refresh: ask the registries again even when a cached answer is fresh ("check now").
        cached_only: never ask a registry: the last answers (pages that must not wait on registries).
        platform: the engine's ``os/arch[/variant]``: which image of a new multi-platform index
            the details ("pushed", OCI labels) are read from.
    """
    subjects = list(subjects)
    registries = list(registries)
    if not cached_only:
        cache.mark_checked(endpoint)
    locals_ = {s.key: _local(s) for s in subjects}
    # Only references some local image came from are worth a request (no digest: unknown anyway).
    references = sorted({s.reference for s in subjects if locals_[s.key]})
    cached = cache.answers(endpoint, references)
    now = time.time()
    remotes: dict[str, Remote] = {}
    missing = []
    for reference in references:
        found = cached.get(reference)
        if found is not None and (cached_only or (not refresh and found[0] >= now)):
            remotes[reference] = found[1]
        elif not cached_only:
            missing.append(reference)
    if missing:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(missing))) as pool:
            for reference, remote in zip(
                missing, pool.map(lambda r: _ask(r, registries), missing), strict=True
            ):
                remote = _carry_details(cached.get(reference, (0, None))[1], remote)
                cache.put(endpoint, reference, remote, _ttl(remote))
                remotes[reference] = remote
    result = {}
    for subject in subjects:
        why = pinned_or_invalid(subject.reference)
        if why:
            result[subject.key] = UpdateStatus(UNKNOWN, subject.reference, why=why)
            continue
        local = locals_[subject.key]
        if not local:
            result[subject.key] = compare(subject.reference, (), Remote(ManifestHead("", "")))
            continue
        remote = remotes.get(subject.reference)
        if remote is None:
            result[subject.key] = UpdateStatus(UNKNOWN, subject.reference, why="not checked yet")
            continue
        if cached_only:
            local_type = lambda d, r=subject.reference: cache.digest_type(_key(endpoint, f"{r}@{d}")) or ""  # noqa: E731
        else:
            local_type = lambda d, r=subject.reference: _digest_type(endpoint, r, d, registries)  # noqa: E731
        result[subject.key] = compare(subject.reference, local, remote, local_type=local_type)
    if not cached_only:
        _read_details(endpoint, result, remotes, registries, platform)
    return {key: _with_details(status, remotes.get(status.reference)) for key, status in result.items()}


def _ttl(remote: Remote) -> float:
    return settings.UPDATE_CHECK_TTL if remote.head else settings.UPDATE_CHECK_FAILURE_TTL


def _carry_details(old: Remote | None, new: Remote) -> Remote:
    """``new`` with the details ``old`` had read, when the registry still serves that digest."""
    if old and old.details and new.head and old.details.digest == new.head.digest:
        return replace(new, details=old.details)
    return new


def _with_details(status: UpdateStatus, remote: Remote | None) -> UpdateStatus:
    if status.available and remote and remote.details and remote.details.digest == status.remote_digest:
        return replace(status, details=remote.details)
    return status


def _read_details(
    endpoint: str,
    result: dict[str, UpdateStatus],
    remotes: dict[str, Remote],
    registries: list,
    platform: str,
) -> None:
    """Read the new image's details for each reference with an update available and none read yet
    (a GET of the manifest by digest, and of the config blob: bounded, Docker Hub excluded)."""
    wanted = sorted(
        {
            s.reference
            for s in result.values()
            if s.available
            and not (remotes[s.reference].details and remotes[s.reference].details.digest == s.remote_digest)
        }
    )
    if not wanted:
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(wanted))) as pool:
        read = pool.map(lambda r: read_details(r, remotes[r].head.digest, registries, platform), wanted)
        for reference, details in zip(wanted, read, strict=True):
            remote = replace(remotes[reference], details=details)
            remotes[reference] = remote
            cache.put(endpoint, reference, remote, _ttl(remote))


def _pick(manifests: Iterable, platform: str):
    """The entry of an index for ``platform`` (``os/arch[/variant]``), or None."""
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    for entry in manifests:
        p = entry.platform
        if p and p.os == os_ and p.architecture == arch and (not variant or p.variant == variant):
            return entry
    return None


def read_details(reference: str, digest: str, registries: Iterable, platform: str) -> Details:
    """What the new image ``digest`` of ``reference`` says about itself: its config's ``created``
    and OCI labels (a GET of the manifest by digest, then of the config blob, each at most
    ``DETAIL_LIMIT`` bytes). Not from Docker Hub: a manifest GET counts as a pull there."""
    try:
        host, url, path = registry_target(reference)
    except DashboardError as error:
        return Details(digest, error=error.message)
    if host in HUB_HOSTS:
        return Details(
            digest, error="not read from Docker Hub (reading the new image's manifest counts as a pull)"
        )
    try:
        with client_for_host(host, url, registries) as client:
            manifest = client.manifest(path, digest, limit=DETAIL_LIMIT)
            if manifest.is_index:
                entry = _pick(manifest.manifests, platform) if platform else None
                if entry is None:
                    where = platform or "this engine's platform"
                    return Details(digest, error=f"the new index has no image for {where}")
                manifest = client.manifest(path, entry.digest, limit=DETAIL_LIMIT)
            config = client.config(path, manifest, limit=DETAIL_LIMIT)
    except DashboardError as error:
        return Details(digest, error=f"the new image's config could not be read: {error.message}")
    if config is None:
        return Details(digest, error="the new image has no config to read")
    labels = dict(config.labels)
    return Details(
        digest,
        created=config.created[:64],
        labels=tuple((name, labels[name][:LABEL_MAX]) for _, name in OCI_LABELS if labels.get(name)),
    )


def recheck(endpoint: str, reference: str, registries: Iterable | None = None) -> None:
    """Drop the cached answer for ``reference`` and ask the registry again (one HEAD): after a pull,
    so a badge follows the image just pulled without waiting for the TTL. Nothing happens on an
    endpoint where no check ever ran (no registry request the user did not ask for)."""
    if pinned_or_invalid(reference) or not cache.has_endpoint(endpoint):
        return
    if registries is None:
        from core.models import Registry

        registries = Registry.objects.all()
    old = cache.answers(endpoint, [reference]).get(reference, (0, None))[1]
    cache.drop(endpoint, reference)
    remote = _carry_details(old, _ask(reference, list(registries)))
    cache.put(endpoint, reference, remote, _ttl(remote))


@receiver(image_pulled)
def _pulled(sender, *, endpoint: str, reference: str, **kwargs) -> None:
    recheck(endpoint, reference)


def container_subjects(docker, containers: Iterable | None = None) -> list[Subject]:
    """Containers (all of the engine's by default) as :class:`Subject` rows: the list calls (containers,
    images), plus an inspect for a container the list names by image id (its tag moved on since)."""
    digests = docker.images.repo_digests()
    if containers is None:
        containers = docker.containers.list_containers(include_stopped=True)
    subjects = []
    for container in containers:
        reference = container.image
        if reference.startswith("sha256:"):
            reference = docker.containers.inspect_container(ref=container.id).image or reference
        subjects.append(Subject(container.id, reference, digests.get(container.image_id, ())))
    return subjects


TAG_KEY = "tag:"  # a local tag's subject key: ``tag:<repository>:<tag>`` (container keys are ids)


def tag_subjects(rows: Iterable) -> list[Subject]:
    """The local tags of image list rows (:class:`core.engine.images.ImageRow`) as subjects."""
    return [Subject(TAG_KEY + row.reference, row.reference, row.digests) for row in rows if not row.dangling]


def for_endpoint(request, containers: Iterable | None = None) -> dict[str, UpdateStatus]:
    """The update status of the request endpoint's containers, by container id, from the last
    answers only (pages never wait on a registry)."""
    from core import engine

    if not cache.has_endpoint(request.endpoint.slug):
        return {}  # nothing checked here yet: no engine calls, no badges
    docker = engine.for_request(request)
    return statuses(request.endpoint.slug, container_subjects(docker, containers), cached_only=True)


def for_tags(request, rows: Iterable) -> dict[str, UpdateStatus]:
    """The update status of image list rows, by ``repository:tag``, from the last answers only
    (the images page never asks a registry; "check now" asks for tags and containers alike)."""
    if not cache.has_endpoint(request.endpoint.slug):
        return {}
    found = statuses(request.endpoint.slug, tag_subjects(rows), cached_only=True)
    return {key.removeprefix(TAG_KEY): status for key, status in found.items()}


def check_now(request) -> tuple[dict[str, UpdateStatus], dict[str, UpdateStatus]]:
    """Ask the registries again for every distinct reference of the endpoint's containers AND local
    tags (one HEAD each; details read for those with an update). Returns (containers by id, tags
    by ``repository:tag``)."""
    from core import engine
    from core.models import Registry

    docker = engine.for_request(request)
    subjects = container_subjects(docker) + tag_subjects(docker.images.list_images())
    found = statuses(
        request.endpoint.slug,
        subjects,
        registries=Registry.objects.all(),
        refresh=True,
        platform=docker.system.platform(),
    )
    tags = {k.removeprefix(TAG_KEY): v for k, v in found.items() if k.startswith(TAG_KEY)}
    return {k: v for k, v in found.items() if not k.startswith(TAG_KEY)}, tags
