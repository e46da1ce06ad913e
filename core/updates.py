"""Image update detection: does the registry now serve another image for a container's reference?

For each distinct reference the containers use, ONE ``HEAD`` of its manifest (never a GET: a GET
counts as a pull on Docker Hub) through :mod:`core.registry` and its safety rules: the stored
credentials and address policy of the linked registry whose host matches, else anonymous under the
default policy (public addresses only). The answer is cached per reference for
``settings.UPDATE_CHECK_TTL`` seconds (failures for ``UPDATE_CHECK_FAILURE_TTL``).

The comparison (:func:`compare`) is against the local image's ``RepoDigests`` for that repository:

* the served digest is one of them (the index digest of a multi-arch image, or the manifest digest
  of a single-platform one) -> ``current``;
* none of them and the served manifest is a single-platform image -> ``available``;
* the served manifest is a multi-platform index and a local digest is an index of that repository
  (a second HEAD, of the local digest: cached for good, a digest never changes) -> ``available``;
* the local digest is a platform manifest (pulled by platform digest) and the registry serves an
  index: the platform entries need a GET to compare, so ``unknown`` with that reason, never a false
  "update available" because a platform digest differs from the index digest;
* no RepoDigests for the repository (built, loaded, imported or committed locally), a digest-pinned
  reference, or a registry that cannot be asked -> ``unknown`` with why. Never a false "up to date".

Pure parts (:func:`compare`) are unit-tested; :func:`check` does the HTTP.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from core.errors import DashboardError
from core.references import parse_input
from core.registry import ManifestHead, RegistryClient

AVAILABLE, CURRENT, UNKNOWN = "available", "current", "unknown"
DOCKER_HUB = "registry-1.docker.io"
CACHE_SIZE = 5000  # references remembered (the oldest go first)
WORKERS = 8  # references checked in parallel


@dataclass(frozen=True)
class Remote:
    """What the registry answered for one reference (or why it could not be asked)."""

    head: ManifestHead | None
    error: str = ""
    checked_at: float = 0.0


@dataclass(frozen=True)
class UpdateStatus:
    state: str  # available / current / unknown
    reference: str
    why: str = ""  # for unknown: the reason; for available: a note
    local_digest: str = ""
    remote_digest: str = ""
    rate_limit_remaining: str = ""
    checked_at: float = 0.0

    @property
    def available(self) -> bool:
        return self.state == AVAILABLE

    @property
    def short_remote(self) -> str:
        return self.remote_digest.split(":", 1)[-1][:12]


class _Cache:
    """Per-reference registry answers with an expiry; bounded; shared by the process's threads."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, Remote]] = OrderedDict()
        self._digest_types: OrderedDict[str, str] = OrderedDict()  # repo@digest -> media type
        self._checked: set[str] = set()  # endpoints a check ran on
        self._lock = threading.Lock()

    def get(self, key: str) -> Remote | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def peek(self, key: str) -> Remote | None:
        """The last answer even when expired (what the list shows until the next check)."""
        with self._lock:
            found = self._items.get(key)
            return found[1] if found else None

    def put(self, key: str, remote: Remote, ttl: float) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, remote)
            self._items.move_to_end(key)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)

    def digest_type(self, key: str) -> str | None:
        with self._lock:
            return self._digest_types.get(key)

    def put_digest_type(self, key: str, media_type: str) -> None:
        with self._lock:
            self._digest_types[key] = media_type
            while len(self._digest_types) > CACHE_SIZE:
                self._digest_types.popitem(last=False)

    def has_endpoint(self, endpoint: str) -> bool:
        """Whether anything was checked on ``endpoint`` (pages skip the work when nothing was)."""
        with self._lock:
            return endpoint in self._checked

    def mark_checked(self, endpoint: str) -> None:
        with self._lock:
            self._checked.add(endpoint)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._digest_types.clear()
            self._checked.clear()


cache = _Cache()


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
) -> dict[str, UpdateStatus]:
    """The status of each subject, by its key: ONE HEAD per distinct reference per TTL.

    Args:
        endpoint: the endpoint's slug (answers are cached per endpoint and reference).
        subjects: what to check.
        registries: the linked :class:`core.models.Registry` rows (credentials by host).
        refresh: ask the registries again even when a cached answer is fresh ("check now").
        cached_only: never ask a registry: the last answers (pages that must not wait on registries).
    """
    subjects = list(subjects)
    registries = list(registries)
    if not cached_only:
        cache.mark_checked(endpoint)
    locals_ = {s.key: _local(s) for s in subjects}
    # Only references some local image came from are worth a request (no digest: unknown anyway).
    references = sorted({s.reference for s in subjects if locals_[s.key]})
    remotes: dict[str, Remote] = {}
    missing = []
    for reference in references:
        found = cache.peek(_key(endpoint, reference)) if cached_only else cache.get(_key(endpoint, reference))
        if found is not None and not refresh:
            remotes[reference] = found
        elif not cached_only:
            missing.append(reference)
    if missing:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(missing))) as pool:
            for reference, remote in zip(
                missing, pool.map(lambda r: _ask(r, registries), missing), strict=True
            ):
                ttl = settings.UPDATE_CHECK_TTL if remote.head else settings.UPDATE_CHECK_FAILURE_TTL
                cache.put(_key(endpoint, reference), remote, ttl)
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
    return result


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


def for_endpoint(
    request, containers: Iterable | None = None, *, cached_only: bool = True, refresh: bool = False
):
    """The update status of the request endpoint's containers, by container id."""
    from core import engine
    from core.models import Registry

    if cached_only and not cache.has_endpoint(request.endpoint.slug):
        return {}  # nothing checked here yet: no engine calls, no badges
    docker = engine.for_request(request)
    subjects = container_subjects(docker, containers)
    return statuses(
        request.endpoint.slug,
        subjects,
        registries=[] if cached_only else Registry.objects.all(),
        cached_only=cached_only,
        refresh=refresh,
    )
