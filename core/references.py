"""THE grammar of Docker names: image references, and container/volume/network names and ids.

Pure: no imports from the app, no I/O; every function raises :class:`BadReference` (a
``ValueError`` whose text a person may read) for input that does not fit. The engine package turns
it into ``core.errors.InvalidReference``, forms into a field error, the registry client into its
own refusal. Image references follow github.com/distribution/reference (what the docker CLI and
the engine accept)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path           (at most 255 characters)
    domain     := host [ ":" port ]             a registry host, e.g. localhost:5000, ghcr.io
    path       := component ( "/" component )*  lowercase: [a-z0-9]+ joined by . _ __ or -+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" encoded          sha256 is 64 lowercase hex digits

The first ``/``-separated component is a registry host when it contains ``.`` or ``:`` or is
``localhost`` (docker's ``splitDockerDomain``; newer releases also take an uppercase component for
a host, engines up to 20.10 refuse it, and so do we); otherwise the name is on Docker Hub, whose
canonical spelling is ``docker.io/library/<name>`` for one-component paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRIES = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_NAMESPACE = "library"
NAME_TOTAL_LENGTH_MAX = 255
TAG_LENGTH_MAX = 128
# Container, volume and network names: Docker's own restricted name pattern (daemon/names).
OBJECT_NAME_LENGTH_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"

DOMAIN_RE = re.compile(rf"{_DOMAIN}")
PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
# Digests of a registered algorithm have a fixed spelling (OCI image spec, descriptor.md).
_DIGEST_ENCODED = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
OBJECT_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# Swarm service names: one DNS-label-sized name (swarmkit refuses longer ones).
SERVICE_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
HEX_ID_RE = re.compile(r"[0-9a-f]{1,64}")
IMAGE_ID_RE = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadReference(ValueError):
    """A reference, name, tag or digest that does not fit the grammar; ``str()`` says why."""

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: ``[registry/]path[:tag][@digest]`` (registry "" for Docker Hub
    spelt without a host)."""

    registry: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """The repository as the engine spells it (registry host included when there is one)."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def on_docker_hub(self) -> bool:
        return self.registry in ("", DEFAULT_REGISTRY, *LEGACY_REGISTRIES)

    def normalized(self) -> Reference:
        """The canonical spelling: ``docker.io/library/<name>`` for Hub names, others unchanged."""
        if not self.on_docker_hub:
            return self
        path = self.path if "/" in self.path else f"{OFFICIAL_NAMESPACE}/{self.path}"
        return replace(self, registry=DEFAULT_REGISTRY, path=path)

    def familiar(self) -> Reference:
        """The short spelling the docker CLI shows: ``nginx`` for ``docker.io/library/nginx``."""
        if not self.on_docker_hub:
            return self
        path = self.path.removeprefix(f"{OFFICIAL_NAMESPACE}/")
        return replace(self, registry="", path=path if "/" not in path else self.path)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _quoted(text: str) -> str:
    """``text`` for a message: control characters shown as escapes, long input cut."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return f"“{shown[:80]}…”" if len(shown) > 80 else f"“{shown}”"


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character or DEL (newline and tab included)."""
    return bool(_CONTROL.search(text))


def is_registry_host(component: str) -> bool:
    """Whether the first ``/``-separated component of a name is a registry host, not a path."""
    return "." in component or ":" in component or component == "localhost"


def split_repository(repository: str) -> tuple[str, str]:
    """Split a repository name (no tag or digest) into ``(registry host or "", path)``, validated.

    Raises:
        BadReference: the name does not fit (the message says which part and why).
    """
    name = repository.strip()
    if not name:
        raise BadReference("A repository name is required.")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise BadReference(f"A repository name is at most {NAME_TOTAL_LENGTH_MAX} characters.")
    first, _, rest = name.partition("/")
    if rest and is_registry_host(first):
        if not DOMAIN_RE.fullmatch(first):
            raise BadReference(f"{_quoted(first)} is not a valid registry host[:port].")
        registry, path = first, rest
    else:
        registry, path = "", name
    if not PATH_RE.fullmatch(path):
        raise BadReference(
            f"{_quoted(path)} is not a valid repository path: use lowercase letters, digits and "
            "single separators (. _ __ -) in each /-separated component."
        )
    return registry, path


def validate_repository_path(path: str) -> str:
    """A repository path without a registry host (what a registry's API names), validated."""
    if not is_repository_path(path):
        raise BadReference(f"{_quoted(path)} is not a valid repository name.")
    return path


def is_repository_path(text: str) -> bool:
    return len(text) <= NAME_TOTAL_LENGTH_MAX and bool(PATH_RE.fullmatch(text))


def validate_tag(tag: str) -> str:
    """Return ``tag`` when it fits ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``."""
    if not TAG_RE.fullmatch(tag):
        raise BadReference(
            f"{_quoted(tag)} is not a valid tag: up to {TAG_LENGTH_MAX} letters, digits, _ . or -, "
            "not starting with . or -."
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return ``digest`` when it is ``algorithm:encoded`` (sha256/sha512: lowercase hex of their length)."""
    algorithm, _, encoded = digest.partition(":")
    fixed = _DIGEST_ENCODED.get(algorithm)
    if not DIGEST_RE.fullmatch(digest) or (fixed is not None and not fixed.fullmatch(encoded)):
        raise BadReference(f"{_quoted(digest)} is not a valid digest (e.g. sha256:<64 hex digits>).")
    return digest


def is_tag(text: str) -> bool:
    return bool(TAG_RE.fullmatch(text))


def is_digest(text: str) -> bool:
    try:
        validate_digest(text)
    except BadReference:
        return False
    return True


def parse(reference: str, *, default_tag: str = "latest") -> Reference:
    """Parse and validate ``[registry/]path[:tag][@digest]`` (surrounding blanks ignored).

    Args:
        reference: what a person typed.
        default_tag: the tag when there is neither tag nor digest ("" to keep none).

    Raises:
        BadReference: the reference does not fit the grammar.
    """
    text = reference.strip()
    if not text:
        raise BadReference("An image reference is required.")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        validate_digest(digest)
    tag = ""
    if ":" in text.rsplit("/", 1)[-1]:
        text, tag = text.rsplit(":", 1)
        validate_tag(tag)
    registry, path = split_repository(text)
    if not tag and not digest:
        tag = default_tag
    return Reference(registry=registry, path=path, tag=tag, digest=digest)


def is_object_name(text: str) -> bool:
    """A container/volume/network name by Docker's pattern ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``."""
    return len(text) <= OBJECT_NAME_LENGTH_MAX and bool(OBJECT_NAME_RE.fullmatch(text))


def is_hex_id(text: str) -> bool:
    """A full or abbreviated object id: 1 to 64 lowercase hex digits."""
    return bool(HEX_ID_RE.fullmatch(text))


def is_object_ref(text: str) -> bool:
    """A container/volume/network reference: a name or a (short) hex id."""
    return is_object_name(text) or is_hex_id(text)


def validate_object_ref(ref: str) -> str:
    """A container/volume/network reference: a name or a (short) hex id; returned unchanged.

    Raises:
        BadReference: anything else (``..``, a slash, a control character, an empty string).
    """
    if is_object_ref(ref):
        return ref
    raise BadReference(
        f"{_quoted(ref)} is not a Docker name or id: letters, digits, _ . or -, "
        "starting with a letter or digit."
    )


def validate_object_name(name: str) -> str:
    """A new container/volume/network name (a leading ``/`` as the engine prints it is dropped)."""
    bare = name.removeprefix("/")
    if not is_object_name(bare):
        raise BadReference(
            f"{_quoted(name)} is not a valid name: at least 2 characters, letters, digits, _ . or -, "
            "starting with a letter or digit."
        )
    return bare


def validate_service_name(name: str) -> str:
    """A swarm service name: 1 to 63 letters, digits, _ . or -, starting with a letter or digit."""
    if not SERVICE_NAME_RE.fullmatch(name):
        raise BadReference(
            f"{_quoted(name)} is not a valid service name: up to 63 letters, digits, _ . or -, "
            "starting with a letter or digit."
        )
    return name


def image_id_prefix(text: str) -> str | None:
    """The hex digits of an image id or id prefix (``sha256:`` optional); None when it is not one."""
    match = IMAGE_ID_RE.fullmatch(text)
    return match.group(1) if match else None


def parse_input(reference: str, *, default_tag: str = "latest") -> Reference:
    """:func:`parse` for callers on the error path: a bad reference is an ``InvalidReference`` (a
    refusal the views, the API and job threads already handle), not a ``BadReference``."""
    from core.errors import InvalidReference

    try:
        return parse(reference, default_tag=default_tag)
    except BadReference as exc:
        raise InvalidReference(str(exc)) from None
