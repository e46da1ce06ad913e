"""The ONLY HTTP client of registries: Registry HTTP API v2 with basic and bearer-token auth.

Everything a page needs from a linked registry goes through :class:`RegistryClient`: the ``/v2/``
ping, one page of the catalog or of a repository's tags (following the ``Link`` header, ``n`` never
above 1000) or the whole list up to a bound (``catalog_listing``/``tag_listing``), manifests
(Docker v2 schema 2, OCI manifest, manifest list / OCI index), image configs, digests by ``HEAD``
and deletion by digest.

Safety rules kept here, in one place:

* Addresses (SSRF): every host the client connects to (the registry, a redirect target, a token
  realm) is resolved once per client, EVERY resolved address is checked, and the connection goes to
  the checked address (pinned: no second lookup, so DNS rebinding cannot swap it) while the Host
  header, TLS SNI and certificate check keep the name. Link-local and metadata addresses
  (169.254.0.0/16, fe80::/10, fd00::/8, ...) are always refused; loopback and private ranges only
  when the registry's ``allow_private_addresses`` is on (:class:`AddressPolicy`).
* Credentials (basic, or a bearer token) are sent only to the registry's own origin (scheme, host
  AND port), and to a token realm whose whole origin is the registry's or is listed in the
  registry's ``allowed_token_hosts`` (ContainerDrip, CVE-2020-15157). A realm elsewhere is asked
  anonymously. An https registry's realm on plain http is refused outright (no downgrade).
* Redirects are followed by hand: never from https to http; to another origin only for blob
  downloads (blob storage, a CDN) and then without any ``Authorization`` header. A catalog, tags
  list, manifest or ping redirected to another origin is refused, so a registry answering 302 to
  an internal URL cannot make this client fetch it and show its body.
* Every request has explicit timeouts and a cap on the size of the body read; a whole-list read
  stops at its bound of names and of pages (endless pages, a paging loop, names outside the grammar).
* Every failure leaves this module as a :class:`core.errors.RegistryRefused` whose ``message`` a
  person can read: unreachable, refused address, TLS failure, 401/403, 404, 405, 429, 5xx,
  malformed JSON, a paging loop.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from core import references
from core.errors import RegistryAuthFailed, RegistryNotFound, RegistryRefused, RegistryUnavailable

log = logging.getLogger(__name__)

MAX_PAGE = 1000  # registry >= 2.8 rejects n > 1000 (distribution/distribution#3200)
DEFAULT_PAGE = 100
# A registry may answer fewer names per page than asked (some cap ``n`` at 100): a whole-list read
# of ``limit`` names asks for at most ``limit // SMALLEST_PAGE + 1`` pages, so pages of no valid
# names (or one name each) with fresh markers cannot keep it reading for ever.
SMALLEST_PAGE = 100
MAX_BODY = 8 * 1024 * 1024  # manifests and configs are small; never read an unbounded body
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 5.0

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)

MEDIA_TYPE_NAMES = {
    DOCKER_MANIFEST: "Docker image manifest v2, schema 2",
    DOCKER_MANIFEST_LIST: "Docker manifest list (multi-platform)",
    OCI_MANIFEST: "OCI image manifest",
    OCI_INDEX: "OCI image index (multi-platform)",
    DOCKER_MANIFEST_V1: "Docker schema 1 manifest (deprecated)",
    DOCKER_MANIFEST_V1_SIGNED: "Docker schema 1 manifest, signed (deprecated)",
}


class RegistryOperationRefused(RegistryRefused):
    """The registry does not allow this operation (HTTP 405: e.g. deletion is disabled)."""


class RegistryRateLimited(RegistryRefused):
    """The registry asked us to slow down (HTTP 429)."""


class RegistryAddressRefused(RegistryRefused):
    """The address policy refused a host (link-local/metadata always; private unless allowed)."""

    status = 403


# --------------------------------------------------------------------------- address policy (SSRF)

# Refused whatever the registry's settings: cloud metadata services live here (169.254.169.254,
# fd00:ec2::254, Alibaba's 100.100.100.200), and nothing a registry needs does.
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "100.100.100.200/32",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "fe80::/10",
        "fec0::/10",
        "fd00::/8",
        "ff00::/8",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_verdict(address: str) -> str:
    """Classify one IP address for the registry address policy.

    Args:
        address: an IPv4 or IPv6 address as text (a scope id such as ``%eth0`` is ignored).

    Returns:
        ``"refused"`` (link-local, metadata, multicast, reserved: never), ``"private"`` (loopback,
        RFC 1918, ULA, CGNAT ...: only when allowed for the registry) or ``"public"``.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        candidates.append(inner)
    if any(
        candidate in network
        for candidate in candidates
        for network in ALWAYS_REFUSED
        if candidate.version == network.version
    ):
        return "refused"
    if any(not candidate.is_global for candidate in candidates):
        return "private"
    return "public"


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a registry's client may connect to, and how names are resolved.

    Args:
        allow_private: loopback and private ranges are allowed (an admin's per-registry choice).
        resolver: ``(host, port) -> [address, ...]``; the system resolver unless a test gives one.
    """

    allow_private: bool = False
    resolver: Resolver = system_resolver

    def pin(self, host: str, port: int) -> str:
        """Resolve ``host``, check every address it resolves to, return the one to connect to.

        Raises:
            RegistryAddressRefused: one of the addresses is refused by the policy.
            RegistryUnavailable: the name does not resolve.
        """
        try:
            addresses = self.resolver(host.strip("[]"), port)
        except (OSError, UnicodeError) as exc:
            raise RegistryUnavailable(f"{host} could not be resolved.", detail=repr(exc)) from exc
        if not addresses:
            raise RegistryUnavailable(f"{host} could not be resolved.")
        for address in addresses:
            verdict = address_verdict(address)
            if verdict == "refused":
                raise RegistryAddressRefused(
                    f"{host} resolves to {address}, a link-local, metadata or reserved address: "
                    "registries there are always refused."
                )
            if verdict == "private" and not self.allow_private:
                raise RegistryAddressRefused(
                    f"{host} resolves to {address}, a loopback or private address: refused unless an "
                    "admin allows private addresses for this registry."
                )
        return addresses[0]


class _PinnedConnectionMixin:
    """Connect the socket to ``pinned`` (the checked address); ``host`` stays the name (Host, SNI)."""

    pinned = ""

    def _new_conn(self) -> socket.socket:
        # urllib3's own hook (HTTPConnection._new_conn), same contract; only the address differs.
        try:
            sock = urllib3_connection.create_connection(
                (self.pinned, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        return sock


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedPoolMixin:
    pinned = ""

    def _new_conn(self) -> Any:
        conn = super()._new_conn()
        conn.pinned = self.pinned
        return conn


class _PinnedHTTPPool(_PinnedPoolMixin, HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(_PinnedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    """One pool per origin, created only after the policy checked (and pinned) the host's address."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any):
        super().__init__(**kwargs)
        self.policy = policy
        self.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict | None = None
    ) -> HTTPConnectionPool:
        pinned = self.policy.pin(host, port)  # raises before any connection exists
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.pinned = pinned
        return pool


class PinnedAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes to an address the policy checked."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any):
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = _PinnedPoolManager(
            self.policy, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RegistryStatus:
    """What ``GET /v2/`` said: reachable, whether our credentials work, the API version header."""

    reachable: bool
    auth_ok: bool
    api_version: str
    auth_scheme: str
    message: str
    auth_refused: bool = False  # the registry (or its token service) refused the credentials


@dataclass(frozen=True)
class Page:
    """One page of names (repositories or tags) and the ``last`` marker of the next page, if any."""

    items: tuple[str, ...]
    next_last: str | None
    scanned: int = 0


@dataclass(frozen=True)
class Listing:
    """Names (repositories or tags) read through the registry's own paging, up to a bound."""

    names: tuple[str, ...]
    complete: bool  # False: the registry has more names than were read (the bound was reached)


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part) or "unknown"


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor inside a manifest: a layer, a config, or one platform of an index."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it, parsed; ``raw`` is the exact body (for the digest)."""

    media_type: str
    digest: str
    size: int
    schema_version: int
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    raw: bytes = field(repr=False)

    @property
    def text(self) -> str:
        """The body as text for display (undecodable bytes replaced)."""
        return self.raw.decode("utf-8", "replace")

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def kind(self) -> str:
        return MEDIA_TYPE_NAMES.get(self.media_type, self.media_type or "unknown media type")

    @property
    def layers_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def total_size(self) -> int:
        """Compressed bytes a pull downloads: config plus layers (for an index, its own body only)."""
        return (self.config.size if self.config else 0) + self.layers_size


@dataclass(frozen=True)
class ManifestHead:
    """What a HEAD of a manifest says: its digest, media type, and the registry's pull quota left."""

    digest: str
    media_type: str
    rate_limit_remaining: str = ""

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass(frozen=True)
class HistoryEntry:
    created: str
    created_by: str
    empty_layer: bool
    comment: str = ""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config blob the manifest page shows."""

    created: str
    os: str
    architecture: str
    variant: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    exposed_ports: tuple[str, ...]
    working_dir: str
    user: str
    history: tuple[HistoryEntry, ...]

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)


@dataclass(frozen=True)
class TagSummary:
    """One row of the tag list, fetched lazily: digest, compressed size, created, platform(s)."""

    tag: str
    digest: str
    media_type: str
    size: int
    created: str
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class SharedDigest:
    """The tags of a repository that point at one digest, and whether every tag was checked."""

    digest: str
    tags: tuple[str, ...]
    checked: int
    total: int

    @property
    def complete(self) -> bool:
        return self.checked >= self.total


# --------------------------------------------------------------------------- helpers


def validate_repository(name: str) -> str:
    """Return ``name`` when it is a valid repository path; raise RegistryNotFound otherwise.

    Args:
        name: a repository path such as ``team/app``.

    Returns:
        The same name.

    Raises:
        RegistryNotFound: the name cannot exist in any registry.
    """
    try:
        return references.validate_repository_path(name)
    except references.BadReference as exc:
        raise RegistryNotFound(str(exc)) from None


def validate_reference(reference: str) -> str:
    """Return a tag or digest when it is valid; raise RegistryNotFound otherwise.

    Args:
        reference: a tag (``v1.2``) or a digest (``sha256:...``).

    Returns:
        The same reference.

    Raises:
        RegistryNotFound: neither a tag nor a digest.
    """
    if references.is_tag(reference) or references.is_digest(reference):
        return reference
    raise RegistryNotFound(f"{reference!r} is not a valid tag or digest.")


def catalog_order_key(name: str) -> str:
    """The order docker-registry lists its catalog in: '/' sorts before every other character."""
    return name.replace("/", "\x00")


def prefix_start(prefix: str) -> str:
    """A ``last`` marker just before every repository that starts with ``prefix`` (catalog order).

    Args:
        prefix: the beginning of a repository name.

    Returns:
        A string that sorts after every name outside the prefix range that comes before it, so the
        catalog page that follows it starts at the first match. ``""`` for an empty prefix.
    """
    if not prefix:
        return ""
    if prefix.endswith("/"):
        return prefix[:-1]
    head, last = prefix[:-1], prefix[-1]
    # "~" sorts after every character a repository name may contain.
    return head + chr(ord(last) - 1) + "~"


def _parse_link(header: str) -> str | None:
    """The target of the ``rel="next"`` entry of an RFC 5988 ``Link`` header."""
    for part in header.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return match.group(1)
    return None


def _last_of(link: str) -> str | None:
    values = parse_qs(urlsplit(link).query).get("last")
    return values[0] if values else None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse ``WWW-Authenticate: Bearer realm="...",service="...",scope="..."`` (or Basic)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {key.lower(): value for key, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', rest)}
    for key, value in re.findall(r'(\w+)\s*=\s*([^",\s]+)', rest):
        params.setdefault(key.lower(), value)
    return scheme.lower(), params


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port; a malformed port matches nothing."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port


def _allowed_origins(entries: Any, registry_scheme: str) -> frozenset[tuple[str, str, int | None]]:
    """The token realm origins an admin listed: ``scheme://host[:port]``, or ``host[:port]`` meaning
    that host on the registry's scheme or on https (never a downgrade), default port of each."""
    origins: set[tuple[str, str, int | None]] = set()
    for entry in entries:
        entry = entry.strip().lower().rstrip("/")
        if not entry:
            continue
        if "://" in entry:
            origins.add(_origin(entry))
            continue
        for scheme in {registry_scheme, "https"}:
            origins.add(_origin(f"{scheme}://{entry}"))
    return frozenset(origins)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()


def _descriptor(data: Any) -> Descriptor:
    if not isinstance(data, Mapping):
        raise RegistryRefused("The registry served a manifest with a malformed descriptor.")
    platform = data.get("platform")
    size = data.get("size")
    return Descriptor(
        media_type=str(data.get("mediaType", "")),
        digest=str(data.get("digest", "")),
        size=size if isinstance(size, int) and size >= 0 else 0,
        platform=Platform(
            str(platform.get("os", "")),
            str(platform.get("architecture", "")),
            str(platform.get("variant", "")),
        )
        if isinstance(platform, Mapping)
        else None,
        annotations=tuple(sorted((str(k), str(v)) for k, v in (data.get("annotations") or {}).items()))
        if isinstance(data.get("annotations"), Mapping)
        else (),
    )


def parse_manifest(raw: bytes, *, content_type: str = "", digest: str = "") -> Manifest:
    """Parse a manifest body into a :class:`Manifest`.

    Args:
        raw: the body exactly as served.
        content_type: the ``Content-Type`` header (the media type when the body has none).
        digest: the ``Docker-Content-Digest`` header; computed from ``raw`` when empty.

    Returns:
        The parsed manifest.

    Raises:
        RegistryRefused: the body is not JSON or not a manifest.
    """
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RegistryRefused("The registry answered with a manifest that is not valid JSON.") from exc
    if not isinstance(data, Mapping):
        raise RegistryRefused("The registry answered with something that is not a manifest.")
    media_type = str(data.get("mediaType") or content_type.split(";")[0].strip())
    if not media_type and "manifests" in data:
        media_type = OCI_INDEX
    elif not media_type and "layers" in data:
        media_type = OCI_MANIFEST
    elif data.get("schemaVersion") == 1:
        media_type = (
            media_type
            if media_type in (DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED)
            else DOCKER_MANIFEST_V1
        )
    layers = data.get("layers") or []
    manifests = data.get("manifests") or []
    if not isinstance(layers, list) or not isinstance(manifests, list):
        raise RegistryRefused("The registry served a manifest with malformed layers.")
    config = data.get("config")
    return Manifest(
        media_type=media_type,
        digest=digest or "sha256:" + hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        schema_version=int(data.get("schemaVersion") or 0)
        if str(data.get("schemaVersion", "0")).isdigit()
        else 0,
        config=_descriptor(config) if isinstance(config, Mapping) else None,
        layers=tuple(_descriptor(layer) for layer in layers),
        manifests=tuple(_descriptor(entry) for entry in manifests),
        raw=raw,
    )


def parse_config(data: Any) -> ImageConfig:
    """Parse an image config blob (OCI / Docker) into an :class:`ImageConfig`.

    Args:
        data: the decoded JSON of the config blob.

    Returns:
        The parts the manifest page shows; missing fields are empty.

    Raises:
        RegistryRefused: the blob is not a JSON object.
    """
    if not isinstance(data, Mapping):
        raise RegistryRefused("The image config blob is not a JSON object.")
    config = data.get("config") if isinstance(data.get("config"), Mapping) else {}
    labels = config.get("Labels") if isinstance(config.get("Labels"), Mapping) else {}
    ports = config.get("ExposedPorts") if isinstance(config.get("ExposedPorts"), Mapping) else {}
    history = data.get("history") if isinstance(data.get("history"), list) else []
    return ImageConfig(
        created=str(data.get("created") or ""),
        os=str(data.get("os") or ""),
        architecture=str(data.get("architecture") or ""),
        variant=str(data.get("variant") or ""),
        entrypoint=_strings(config.get("Entrypoint")),
        cmd=_strings(config.get("Cmd")),
        env=_strings(config.get("Env")),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        exposed_ports=tuple(sorted(str(port) for port in ports)),
        working_dir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        history=tuple(
            HistoryEntry(
                created=str(entry.get("created") or ""),
                created_by=str(entry.get("created_by") or ""),
                empty_layer=bool(entry.get("empty_layer")),
                comment=str(entry.get("comment") or ""),
            )
            for entry in history
            if isinstance(entry, Mapping)
        ),
    )


# --------------------------------------------------------------------------- auth state


@dataclass
class _AuthState:
    """What we learnt about a registry's auth: its scheme, and bearer tokens per scope."""

    scheme: str = ""
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)


_auth_states: dict[str, _AuthState] = {}
_auth_lock = threading.Lock()


def forget_auth() -> None:
    """Drop every cached auth scheme and token (tests, or after a registry's settings changed)."""
    with _auth_lock:
        _auth_states.clear()


# --------------------------------------------------------------------------- the client


class RegistryClient:
    """A client for one registry (Registry HTTP API v2). Cheap to create; auth state is cached.

    Args:
        url: the registry's base URL (``https://host:port``), without ``/v2``.
        username: for basic auth and the token request; empty for anonymous.
        password: the password or token.
        verify_tls: verify the server certificate.
        ca_bundle: PEM certificates to trust instead of the system store (empty: the system store).
        allowed_token_hosts: other token realm origins trusted with the credentials: ``host``,
            ``host:port`` (the registry's scheme or https, default port of that scheme) or
            ``scheme://host[:port]``.
        timeout: the read timeout in seconds (default: settings.REGISTRY_TIMEOUT).
        allow_private_addresses: loopback and private addresses may be connected to.
        resolver: name resolution for the address policy (tests); the system resolver by default.
        cached_auth: share the auth scheme and tokens learnt with other clients of the same
            registry and credentials; off for a one-off check of new settings.
    """

    def __init__(
        self,
        *,
        url: str,
        username: str = "",
        password: str = "",
        verify_tls: bool = True,
        ca_bundle: str = "",
        allowed_token_hosts: str | list[str] = "",
        timeout: float | None = None,
        allow_private_addresses: bool = False,
        resolver: Resolver | None = None,
        cached_auth: bool = True,
    ):
        self.base = url.rstrip("/")
        parts = urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryRefused(f"{url!r} is not an http(s) registry URL.")
        self.username = username
        self.password = password
        self.verify_tls = verify_tls
        self.ca_bundle = ca_bundle.strip()
        if isinstance(allowed_token_hosts, str):
            allowed_token_hosts = re.split(r"[\s,]+", allowed_token_hosts)
        self.timeout = (CONNECT_TIMEOUT, timeout if timeout is not None else settings.REGISTRY_TIMEOUT)
        self.origin = _origin(self.base)
        self.allowed_realms = _allowed_origins(allowed_token_hosts, self.origin[0])
        self.host = parts.netloc
        secret_hash = hashlib.sha256(f"{username}\x00{password}".encode()).hexdigest()[:16]
        self._state_key = f"{self.base}|{secret_hash}|{verify_tls}|{hash(self.ca_bundle)}"
        self._private_state = None if cached_auth else _AuthState()
        self.policy = AddressPolicy(allow_private_addresses, resolver or system_resolver)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies, no .netrc credentials from the environment
        adapter = PinnedAdapter(self.policy)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._ca_file: Any = None

    @classmethod
    def for_registry(cls, registry: Any, *, timeout: float | None = None) -> RegistryClient:
        """A client for a linked :class:`core.models.Registry`.

        Args:
            registry: the model instance (its secret is decrypted here).
            timeout: read timeout override.

        Returns:
            A :class:`RegistryClient`.
        """
        return cls(
            url=registry.url,
            username=registry.username,
            password=registry.secret,
            verify_tls=registry.verify_tls,
            ca_bundle=registry.ca_bundle,
            allowed_token_hosts=registry.allowed_token_hosts,
            timeout=timeout,
            allow_private_addresses=registry.allow_private_addresses,
        )

    def close(self) -> None:
        """Close the HTTP session (and the temporary CA file)."""
        self._session.close()
        if self._ca_file is not None:
            self._ca_file.close()
            self._ca_file = None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transport

    @property
    def _state(self) -> _AuthState:
        if self._private_state is not None:
            return self._private_state
        with _auth_lock:
            return _auth_states.setdefault(self._state_key, _AuthState())

    def _verify(self) -> bool | str:
        if not self.verify_tls:
            return False
        if self.ca_bundle:
            if self._ca_file is None:
                self._ca_file = tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="registry-ca-")
                self._ca_file.write(self.ca_bundle + "\n")
                self._ca_file.flush()
            return self._ca_file.name
        return True

    def _basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def _same_origin(self, url: str) -> bool:
        return _origin(url) == self.origin

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        authorization: str | None,
        cross_origin_redirects: bool = False,
    ) -> requests.Response:
        """One request with redirects followed by hand: no credentials leave the registry's origin.

        A redirect from https to http is refused; one to another origin too, unless
        ``cross_origin_redirects`` (blob downloads only), and then it carries no credentials.
        """
        for _ in range(MAX_REDIRECTS + 1):
            send_headers = dict(headers)
            if authorization and self._same_origin(url):
                send_headers["Authorization"] = authorization
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=send_headers,
                    timeout=self.timeout,
                    verify=self._verify(),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.SSLError as exc:
                raise RegistryUnavailable(
                    f"TLS verification failed for {urlsplit(url).netloc}: the certificate is not trusted "
                    "(add its CA bundle to the registry's settings, or turn off TLS verification).",
                    detail=repr(exc),
                ) from exc
            except requests.exceptions.Timeout as exc:
                raise RegistryUnavailable(
                    f"The registry at {urlsplit(url).netloc} did not answer in time.", detail=repr(exc)
                ) from exc
            except (requests.exceptions.ConnectionError, OSError) as exc:
                raise RegistryUnavailable(
                    f"The registry at {urlsplit(url).netloc} is not reachable.", detail=repr(exc)
                ) from exc
            except requests.RequestException as exc:
                raise RegistryRefused(
                    f"The request to {urlsplit(url).netloc} failed.", detail=repr(exc)
                ) from exc
            if response.is_redirect and response.headers.get("Location"):
                target = urljoin(url, response.headers["Location"])
                response.close()
                if urlsplit(target).scheme not in ("http", "https"):
                    raise RegistryRefused("The registry redirected to a non-http(s) address.", detail=target)
                if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                    raise RegistryRefused(
                        "The registry redirected from https to plain http; refused.", detail=target
                    )
                if not cross_origin_redirects and not self._same_origin(target):
                    raise RegistryRefused(
                        f"The registry at {self.host} redirected an API request to another address "
                        f"({urlsplit(target).netloc}); refused: only blob downloads may be redirected "
                        "elsewhere.",
                        detail=target,
                    )
                if method == "HEAD" or response.status_code in (307, 308):
                    url = target
                else:
                    method, url = "GET", target
                continue
            return response
        raise RegistryRefused("The registry redirected too many times.")

    def _token(self, params: Mapping[str, str], fallback_scope: str) -> str:
        """Fetch (or reuse) a bearer token for the challenge's scope from its realm."""
        realm = params.get("realm", "")
        scope = params.get("scope", fallback_scope)
        cached = self._state.tokens.get(scope)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryAuthFailed(
                "The registry named a token service that is not an http(s) URL.", detail=realm
            )
        if self.origin[0] == "https" and parts.scheme != "https":
            raise RegistryAuthFailed(
                f"The registry at {self.host} (https) sends logins to a token service over plain http "
                f"({parts.netloc}); refused: nothing is sent in clear text.",
                detail=realm,
            )
        realm_origin = _origin(realm)
        trusted = realm_origin == self.origin or realm_origin in self.allowed_realms
        query = {"service": params["service"]} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        headers = {"Accept": "application/json"}
        if trusted and self.username:
            headers["Authorization"] = self._basic()
        try:
            response = self._session.get(
                realm,
                params=query,
                headers=headers,
                timeout=self.timeout,
                verify=self._verify(),
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryUnavailable(
                f"TLS verification failed for the token service at {parts.netloc}.", detail=repr(exc)
            ) from exc
        except requests.RequestException as exc:
            raise RegistryUnavailable(
                f"The token service at {parts.netloc} is not reachable.", detail=repr(exc)
            ) from exc
        if response.status_code in (401, 403):
            if not trusted and self.username:
                raise RegistryAuthFailed(
                    f"The registry sends logins to a token service at another origin ({parts.netloc}); "
                    "credentials were not sent there. Add it to the registry's allowed token hosts "
                    "if you trust it."
                )
            raise RegistryAuthFailed(f"The token service at {parts.netloc} refused the credentials.")
        if response.status_code != 200:
            raise RegistryRefused(
                f"The token service at {parts.netloc} answered HTTP {response.status_code}."
            )
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            expires_in = int(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError) as exc:
            raise RegistryRefused(f"The token service at {parts.netloc} answered malformed JSON.") from exc
        if not isinstance(token, str) or not token:
            raise RegistryRefused(f"The token service at {parts.netloc} gave no token.")
        # Renew a little early; tokens are short-lived (60 s is the spec's minimum).
        expiry = time.monotonic() + max(expires_in - 10, 5)
        self._state.tokens[scope] = (token, expiry)
        if fallback_scope:
            self._state.tokens[fallback_scope] = (token, expiry)
        return token

    def _authorization(self, scope: str) -> str | None:
        state = self._state
        if state.scheme == "basic" and self.username:
            return self._basic()
        if state.scheme == "bearer":
            cached = state.tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return "Bearer " + cached[0]
        return None

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        cross_origin_redirects: bool = False,
    ) -> requests.Response:
        """Send one API request with auth (answering one challenge) and map failures to messages.

        Args:
            method: HTTP method.
            path: a path under the registry (``/v2/...``) or an absolute URL on its origin.
            scope: the token scope the request needs (``repository:team/app:pull``).
            headers: extra request headers.
            ok: the status codes that count as success.
            cross_origin_redirects: follow a redirect to another origin (blob downloads only).

        Returns:
            The response (streamed; read it with :meth:`read_body` or close it).

        Raises:
            RegistryUnavailable: unreachable, timeout or TLS failure.
            RegistryAddressRefused: the address policy refused a host on the way.
            RegistryAuthFailed: 401/403 after authenticating.
            RegistryNotFound: 404.
            RegistryOperationRefused: 405.
            RegistryRateLimited: 429.
            RegistryRefused: any other failure.
        """
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if not self._same_origin(url):
            raise RegistryRefused(
                "The registry pointed to another host for an API call; refused.", detail=url
            )
        headers = dict(headers or {})
        redirects = {"cross_origin_redirects": cross_origin_redirects}
        response = self._send(
            method, url, headers=headers, authorization=self._authorization(scope), **redirects
        )
        if response.status_code == 401:
            scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
            response.close()
            authorization: str | None = None
            if scheme == "basic":
                if not self.username:
                    raise RegistryAuthFailed(
                        "The registry requires a login (HTTP 401) and no credentials are given."
                    )
                authorization = self._basic()
            elif scheme == "bearer":
                authorization = "Bearer " + self._token(params, scope)
            else:
                raise RegistryAuthFailed("The registry refused the request (HTTP 401).")
            self._state.scheme = scheme
            response = self._send(method, url, headers=headers, authorization=authorization, **redirects)
            if response.status_code == 401:
                response.close()
                if scheme == "basic":
                    raise RegistryAuthFailed("The registry refused the username and password (HTTP 401).")
                raise RegistryAuthFailed(
                    "The registry refused the token it was given (HTTP 401): the account may lack access."
                )
        if response.status_code in ok:
            return response
        self._raise_for(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for(self, response: requests.Response) -> None:
        status = response.status_code
        detail = ""
        try:
            detail = response.raw.read(4096, decode_content=True).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - the detail is only for the log
            log.debug("could not read the error body: %r", exc)
        response.close()
        codes = re.findall(r'"code"\s*:\s*"([A-Z_]+)"', detail)
        where = self.host
        if status == 403:
            raise RegistryAuthFailed(f"The registry at {where} denied access (HTTP 403).", detail=detail)
        if status == 404:
            what = {
                "NAME_UNKNOWN": "That repository does not exist",
                "MANIFEST_UNKNOWN": "That tag or manifest does not exist",
                "BLOB_UNKNOWN": "That blob does not exist",
            }.get(codes[0] if codes else "", "Not found")
            raise RegistryNotFound(f"{what} in the registry at {where} (HTTP 404).", detail=detail)
        if status == 405:
            raise RegistryOperationRefused(
                f"The registry at {where} does not allow this operation (HTTP 405). If this was a delete, "
                "deletion is disabled in its configuration (storage: delete: enabled: true).",
                detail=detail,
            )
        if status == 429:
            retry = response.headers.get("Retry-After", "")
            later = f" in {retry} s" if retry.isdigit() else " later"
            raise RegistryRateLimited(
                f"The registry at {where} is rate-limiting requests (HTTP 429); try again{later}.",
                detail=detail,
            )
        if status >= 500:
            raise RegistryUnavailable(
                f"The registry at {where} failed with HTTP {status}; it may be overloaded or broken.",
                detail=detail,
            )
        raise RegistryRefused(f"The registry at {where} answered HTTP {status}.", detail=detail)

    @staticmethod
    def read_body(response: requests.Response, *, limit: int = MAX_BODY) -> bytes:
        """Read a streamed response body, refusing one larger than ``limit`` bytes.

        Args:
            response: a response from :meth:`request`.
            limit: the largest body accepted.

        Returns:
            The body.

        Raises:
            RegistryRefused: the body is too large or the connection broke.
        """
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(65536):
                total += len(chunk)
                if total > limit:
                    raise RegistryRefused(
                        f"The registry sent more than {limit // (1024 * 1024)} MiB; refused."
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise RegistryUnavailable(
                "The connection to the registry broke while reading.", detail=repr(exc)
            ) from exc
        finally:
            response.close()
        return b"".join(chunks)

    def _json(self, response: requests.Response) -> Any:
        body = self.read_body(response)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RegistryRefused(
                f"The registry at {self.host} answered with something that is not valid JSON.",
                detail=body[:300].decode("utf-8", "replace"),
            ) from exc

    # ----------------------------------------------------------------- API

    def ping(self) -> RegistryStatus:
        """``GET /v2/``: is the registry reachable, do our credentials work, which API version.

        Returns:
            A :class:`RegistryStatus`; never raises for the usual failures (they become its message).

        Raises:
            RegistryAddressRefused: the address policy refused the registry's host.
        """
        try:
            response = self.request("GET", "/v2/")
        except RegistryAddressRefused:
            raise
        except RegistryAuthFailed as exc:
            return RegistryStatus(True, False, "", self._state.scheme, exc.message, auth_refused=True)
        except RegistryNotFound:
            return RegistryStatus(
                True, False, "", "", f"{self.host} does not serve the Registry API v2 (/v2/ is 404)."
            )
        except (RegistryRefused, RegistryUnavailable) as exc:
            reachable = not isinstance(exc, RegistryUnavailable) or "HTTP" in exc.message
            return RegistryStatus(reachable, False, "", "", exc.message)
        version = response.headers.get("Docker-Distribution-API-Version", "")
        response.close()
        return RegistryStatus(True, True, version, self._state.scheme or "none", "")

    def _page(
        self, path: str, key: str, *, scope: str, last: str | None, n: int
    ) -> tuple[list[str], str | None]:
        n = max(1, min(int(n), MAX_PAGE))
        query = {"n": str(n)}
        if last:
            query["last"] = last
        response = self.request("GET", f"{path}?{urlencode(query)}", scope=scope)
        link = response.headers.get("Link", "")
        data = self._json(response)
        if not isinstance(data, Mapping) or not isinstance(data.get(key) or [], list):
            raise RegistryRefused(f"The registry at {self.host} answered a malformed {key} list.")
        names = [str(name) for name in data.get(key) or []]
        next_link = _parse_link(link) if link else None
        next_last = _last_of(next_link) if next_link else None
        if next_link and next_link.startswith(("http://", "https://")) and not self._same_origin(next_link):
            raise RegistryRefused(
                "The registry's next-page link points to another host; refused.", detail=next_link
            )
        if len(names) > n or (last and names and names[0] == last):
            # The registry ignored n/last (older ones list every tag): page here instead.
            if last:
                names = (
                    [name for name in names if name > last]
                    if key == "tags"
                    else [name for name in names if catalog_order_key(name) > catalog_order_key(last)]
                )
            more = len(names) > n
            names = names[:n]
            next_last = names[-1] if more and names else None
        if next_last is not None and next_last == last:
            raise RegistryRefused(f"The registry at {self.host} sent a paging link that loops; stopped.")
        # Names outside Docker's grammar cannot be browsed (nor safely put in a URL): leave them out.
        valid = references.is_tag if key == "tags" else references.is_repository_path
        return [name for name in names if valid(name)], next_last

    def catalog(
        self, *, last: str | None = None, n: int = DEFAULT_PAGE, prefix: str = "", max_pages: int = 20
    ) -> Page:
        """One page of the catalog (``GET /v2/_catalog?n=&last=``), never the whole catalog.

        With a ``prefix``, starts just before the first match (the registry lists in order) and reads
        on until a page of matches is found, the names pass the prefix, or ``max_pages`` were read.

        Args:
            last: the marker from the previous page (``Page.next_last``).
            n: names per page, at most 1000.
            prefix: keep only repositories starting with this.
            max_pages: the most registry pages read for one prefix page.

        Returns:
            A :class:`Page`; ``next_last`` is None on the last page.

        Raises:
            RegistryRefused: as :meth:`request`, or a paging loop / malformed answer.
        """
        if not prefix:
            names, next_last = self._page(
                "/v2/_catalog", "repositories", scope="registry:catalog:*", last=last, n=n
            )
            return Page(tuple(names), next_last, len(names))
        found: list[str] = []
        cursor = last or prefix_start(prefix)
        seen: set[str] = set()
        scanned = 0
        for _ in range(max_pages):
            names, next_last = self._page(
                "/v2/_catalog", "repositories", scope="registry:catalog:*", last=cursor, n=n
            )
            scanned += len(names)
            for name in names:
                if name.startswith(prefix):
                    found.append(name)
                    if len(found) >= n:
                        return Page(tuple(found), name, scanned)
                elif catalog_order_key(name) > catalog_order_key(prefix) and found:
                    return Page(tuple(found), None, scanned)
                elif catalog_order_key(name) > catalog_order_key(prefix + "~"):
                    return Page(tuple(found), None, scanned)
            if next_last is None:
                return Page(tuple(found), None, scanned)
            if next_last in seen:
                raise RegistryRefused(f"The registry at {self.host} sent a paging link that loops; stopped.")
            seen.add(next_last)
            cursor = next_last
        return Page(tuple(found), cursor, scanned)

    def _walk(self, path: str, key: str, *, scope: str) -> Iterator[tuple[list[str], bool]]:
        """Every page of a list (``n`` = 1000), following the registry's markers: ``(names, more)``.

        Raises:
            RegistryRefused: as :meth:`request`, a malformed page, or a marker seen twice (a loop).
        """
        last: str | None = None
        seen: set[str] = set()
        while True:
            names, next_last = self._page(path, key, scope=scope, last=last, n=MAX_PAGE)
            yield names, next_last is not None
            if next_last is None:
                return
            if next_last in seen:
                raise RegistryRefused(f"The registry at {self.host} sent a paging link that loops; stopped.")
            seen.add(next_last)
            last = next_last

    def _listing(self, path: str, key: str, *, scope: str, limit: int) -> Listing:
        """The first ``limit`` names of a list, in the registry's order, and whether that is all.

        Bounded three ways: at most ``limit`` names kept, at most ``limit // SMALLEST_PAGE + 1``
        pages asked for, and each page's body at most ``MAX_BODY`` (names outside Docker's grammar,
        which caps their length, are dropped by :meth:`_page`).
        """
        limit = max(1, int(limit))
        max_pages = limit // SMALLEST_PAGE + 1
        found: list[str] = []
        for pages, (names, more) in enumerate(self._walk(path, key, scope=scope), start=1):
            found.extend(names[: limit + 1 - len(found)])
            if len(found) > limit or (more and (len(found) == limit or pages >= max_pages)):
                return Listing(tuple(found[:limit]), complete=False)
        return Listing(tuple(found), complete=True)

    def catalog_listing(self, *, limit: int) -> Listing:
        """The catalog's first ``limit`` repositories, read page by page (``GET /v2/_catalog``).

        Args:
            limit: the most names read (the pages use settings.REGISTRY_LIST_MAX).

        Returns:
            A :class:`Listing` in catalog order; ``complete`` is False when the registry has more.

        Raises:
            RegistryRefused: as :meth:`request`, a malformed page, or a paging loop.
        """
        return self._listing("/v2/_catalog", "repositories", scope="registry:catalog:*", limit=limit)

    def iter_catalog(self, *, limit: int = 50_000) -> Iterator[str]:
        """Every repository name, page by page, up to ``limit`` names (search over a catalog).

        Args:
            limit: stop after this many names (and after ``limit // SMALLEST_PAGE + 1`` pages).

        Yields:
            Repository names in catalog order.

        Raises:
            RegistryRefused: as :meth:`catalog`, including a paging loop.
        """
        count = 0
        pages = 0
        for names, _more in self._walk("/v2/_catalog", "repositories", scope="registry:catalog:*"):
            pages += 1
            for name in names:
                yield name
                count += 1
                if count >= limit:
                    return
            if pages > limit // SMALLEST_PAGE:
                return

    def tags(self, name: str, *, last: str | None = None, n: int = DEFAULT_PAGE) -> Page:
        """One page of a repository's tags (``GET /v2/<name>/tags/list?n=&last=``).

        Args:
            name: the repository.
            last: the marker from the previous page.
            n: tags per page, at most 1000.

        Returns:
            A :class:`Page` of tags.

        Raises:
            RegistryNotFound: no such repository.
            RegistryRefused: as :meth:`request`.
        """
        validate_repository(name)
        names, next_last = self._page(
            f"/v2/{name}/tags/list", "tags", scope=f"repository:{name}:pull", last=last, n=n
        )
        return Page(tuple(names), next_last, len(names))

    def tag_listing(self, name: str, *, limit: int) -> Listing:
        """A repository's first ``limit`` tags, read page by page (``GET /v2/<name>/tags/list``).

        Args:
            name: the repository.
            limit: the most tags read.

        Returns:
            A :class:`Listing` in the registry's order; ``complete`` is False when it has more.

        Raises:
            RegistryNotFound: no such repository.
            RegistryRefused: as :meth:`tags`, including a paging loop.
        """
        validate_repository(name)
        return self._listing(f"/v2/{name}/tags/list", "tags", scope=f"repository:{name}:pull", limit=limit)

    def all_tags(self, name: str, *, limit: int = 20_000) -> list[str]:
        """Every tag of a repository (following pages), up to ``limit``: :meth:`tag_listing`'s names."""
        return list(self.tag_listing(name, limit=limit).names)

    def manifest(self, name: str, reference: str, *, limit: int = MAX_BODY) -> Manifest:
        """``GET /v2/<name>/manifests/<reference>`` accepting Docker v2/list and OCI manifest/index.

        Args:
            name: the repository.
            reference: a tag or a digest.
            limit: the largest body read (bytes).

        Returns:
            The parsed :class:`Manifest` with its digest.

        Raises:
            RegistryNotFound: no such tag/digest/repository.
            RegistryRefused: as :meth:`request`, or a malformed manifest.
        """
        validate_repository(name)
        validate_reference(reference)
        response = self.request(
            "GET",
            f"/v2/{name}/manifests/{quote(reference, safe=':')}",
            scope=f"repository:{name}:pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        content_type = response.headers.get("Content-Type", "")
        digest = response.headers.get("Docker-Content-Digest", "")
        raw = self.read_body(response, limit=limit)
        computed = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and computed != reference:
            raise RegistryRefused("The manifest the registry served does not match the digest asked for.")
        return parse_manifest(raw, content_type=content_type, digest=digest or computed)

    def head_manifest(self, name: str, reference: str) -> ManifestHead:
        """``HEAD /v2/<name>/manifests/<reference>`` only (a GET counts as a pull on Docker Hub).

        Args:
            name: the repository.
            reference: a tag or a digest.

        Returns:
            A :class:`ManifestHead`: the digest, media type and ``RateLimit-Remaining`` the registry sent.

        Raises:
            RegistryNotFound: no such tag or repository.
            RegistryRefused: as :meth:`request`, or no ``Docker-Content-Digest`` header (never
                answered by a GET here).
        """
        validate_repository(name)
        validate_reference(reference)
        response = self.request(
            "HEAD",
            f"/v2/{name}/manifests/{quote(reference, safe=':')}",
            scope=f"repository:{name}:pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        response.close()
        digest = response.headers.get("Docker-Content-Digest", "")
        if not references.is_digest(digest):
            raise RegistryRefused(f"The registry at {self.host} sent no manifest digest on HEAD.")
        return ManifestHead(
            digest=digest,
            media_type=response.headers.get("Content-Type", "").split(";", 1)[0].strip(),
            rate_limit_remaining=response.headers.get("RateLimit-Remaining", "")[:64],
        )

    def manifest_digest(self, name: str, reference: str) -> str | None:
        """``HEAD /v2/<name>/manifests/<reference>``: the digest a tag points at, or None if absent.

        Args:
            name: the repository.
            reference: a tag or a digest.

        Returns:
            ``sha256:...`` or None when the tag/repository does not exist.

        Raises:
            RegistryRefused: as :meth:`request` (other than 404).
        """
        validate_repository(name)
        validate_reference(reference)
        try:
            response = self.request(
                "HEAD",
                f"/v2/{name}/manifests/{quote(reference, safe=':')}",
                scope=f"repository:{name}:pull",
                headers={"Accept": MANIFEST_ACCEPT},
            )
        except RegistryNotFound:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        response.close()
        if not digest:
            # Some registries omit the header on HEAD: fall back to hashing the body.
            return self.manifest(name, reference).digest
        return digest

    def blob_json(self, name: str, digest: str, *, limit: int = MAX_BODY) -> Any:
        """``GET /v2/<name>/blobs/<digest>`` for a small JSON blob (an image config).

        Redirects to blob storage on another host are followed without credentials.

        Args:
            name: the repository.
            digest: the blob digest.
            limit: the largest body read (bytes).

        Returns:
            The decoded JSON.

        Raises:
            RegistryRefused: as :meth:`request`, a digest mismatch, or malformed JSON.
        """
        validate_repository(name)
        if not references.is_digest(digest):
            raise RegistryRefused(f"{digest!r} is not a digest.")
        response = self.request(
            "GET", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull", cross_origin_redirects=True
        )
        raw = self.read_body(response, limit=limit)
        if digest.startswith("sha256:") and "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise RegistryRefused("The blob the registry served does not match its digest.")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RegistryRefused("The image config blob is not valid JSON.") from exc

    def config(self, name: str, manifest: Manifest, *, limit: int = MAX_BODY) -> ImageConfig | None:
        """The image config of an image manifest (None for an index or a schema 1 manifest).

        Args:
            name: the repository.
            manifest: an image manifest from :meth:`manifest`.
            limit: the largest config blob read (bytes).

        Returns:
            The parsed :class:`ImageConfig` or None.

        Raises:
            RegistryRefused: as :meth:`blob_json`.
        """
        if manifest.config is None or not manifest.config.digest:
            return None
        return parse_config(self.blob_json(name, manifest.config.digest, limit=limit))

    def tag_summary(self, name: str, tag: str) -> TagSummary:
        """Digest, compressed size, created and platform(s) of one tag (a lazily loaded row).

        Args:
            name: the repository.
            tag: the tag.

        Returns:
            A :class:`TagSummary`. For an index, the size is the sum over its platforms' manifests
            as listed (not their layers) and ``created`` is empty.

        Raises:
            RegistryRefused: as :meth:`manifest`.
        """
        manifest = self.manifest(name, tag)
        if manifest.is_index:
            platforms = tuple(str(entry.platform) for entry in manifest.manifests if entry.platform)
            return TagSummary(tag, manifest.digest, manifest.media_type, 0, "", platforms)
        config = self.config(name, manifest)
        return TagSummary(
            tag,
            manifest.digest,
            manifest.media_type,
            manifest.total_size,
            config.created if config else "",
            (str(config.platform),) if config else (),
        )

    def tags_sharing(self, name: str, digest: str, *, limit: int = 5000, workers: int = 8) -> SharedDigest:
        """Every tag of ``name`` whose manifest digest is ``digest`` (HEAD per tag, in parallel).

        The registry has no reverse index, so this asks for each tag's digest; at most ``limit``
        tags are checked and the result says whether the check was complete.

        Args:
            name: the repository.
            digest: the manifest digest.
            limit: the most tags checked.
            workers: parallel HEAD requests.

        Returns:
            A :class:`SharedDigest`.

        Raises:
            RegistryRefused: as :meth:`all_tags`.
        """
        every = self.all_tags(name)
        checked = every[:limit]

        def head(tag: str) -> tuple[str, str | None]:
            try:
                return tag, self.manifest_digest(name, tag)
            except RegistryNotFound:
                return tag, None

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(head, checked))
        sharing = tuple(sorted(tag for tag, found in results if found == digest))
        return SharedDigest(digest=digest, tags=sharing, checked=len(checked), total=len(every))

    def delete_manifest(self, name: str, digest: str) -> None:
        """``DELETE /v2/<name>/manifests/<digest>``: removes the manifest and EVERY tag pointing at it.

        Space comes back only after the registry's garbage collection runs.

        Args:
            name: the repository.
            digest: the manifest digest (registries refuse deletion by tag).

        Raises:
            RegistryOperationRefused: deletion is disabled (405).
            RegistryNotFound: the manifest is gone already.
            RegistryRefused: as :meth:`request`.
        """
        validate_repository(name)
        if not references.is_digest(digest):
            raise RegistryRefused(f"{digest!r} is not a digest.")
        response = self.request(
            "DELETE", f"/v2/{name}/manifests/{digest}", scope=f"repository:{name}:delete", ok=(200, 202)
        )
        response.close()


def client_for(registry: Any, *, timeout: float | None = None) -> RegistryClient:
    """Shorthand for :meth:`RegistryClient.for_registry`.

    Args:
        registry: a :class:`core.models.Registry`.
        timeout: read timeout override.

    Returns:
        A :class:`RegistryClient`.
    """
    return RegistryClient.for_registry(registry, timeout=timeout)
