"""The engine object bound to one endpoint, the client cache behind it, and the error translation.

``Engine(ref)`` is cheap: it holds an :class:`EndpointRef` and asks the cache for that endpoint's
client on use. The cache is keyed by the endpoint's URL and a fingerprint of its TLS material, and
owns each client's TLS files: one private temp dir per cached client, removed when the client is
forgotten or replaced (:func:`forget_client`) and at process exit.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.constants
import docker.errors
import docker.tls
import docker.utils
import orjson
import requests
import urllib3.exceptions
from django.conf import settings

from core.errors import (
    Conflict,
    DashboardError,
    EngineHandshakeFailed,
    EngineRefused,
    EngineUnavailable,
    InvalidInput,
    InvalidReference,
    NotFound,
)
from core.references import BadReference

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class EndpointRef:
    """What the engine layer needs to reach one endpoint (a plain value, safe to pass to threads)."""

    slug: str
    name: str
    url: str
    is_default: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    def __repr__(self) -> str:  # never print key material
        return f"EndpointRef(slug={self.slug!r}, url={self.url!r})"

    @property
    def cache_key(self) -> tuple[str, str]:
        """URL + a fingerprint of the TLS material: a changed certificate is a new client."""
        material = "\0".join((self.tls_ca, self.tls_cert, self.tls_key)) if self.uses_tls else ""
        return self.url, hashlib.sha256(material.encode()).hexdigest() if material else ""

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_cert) and self.url.startswith("tcp://")


# The oldest API the dashboard speaks; the version handshake raises it to what both sides support.
MIN_API_VERSION = "1.30"


@dataclass
class _Cached:
    client: docker.DockerClient
    tls_dir: Path | None

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.tls_dir is not None:
                shutil.rmtree(self.tls_dir, ignore_errors=True)


_clients: dict[tuple[str, str], _Cached] = {}
_lock = threading.Lock()


def write_tls_files(ref: EndpointRef, directory: Path) -> dict[str, str]:
    """Write ``ref``'s TLS material as ca.pem, cert.pem, key.pem (mode 0600) into ``directory`` (a
    private dir its caller owns and removes): the one way the client cache and the compose CLI get
    an endpoint's certificates onto disk."""
    files = {}
    for name, pem in (("ca.pem", ref.tls_ca), ("cert.pem", ref.tls_cert), ("key.pem", ref.tls_key)):
        path = directory / name
        path.touch(mode=0o600)
        path.write_text(pem)
        files[name] = str(path)
    return files


def _tls_config(ref: EndpointRef) -> tuple[docker.tls.TLSConfig | None, Path | None]:
    """TLS client config for a tcp endpoint with certificates, written to a private temp dir that
    the returned cache entry owns (requests reads the files on each new connection)."""
    if not ref.uses_tls:
        return None, None
    directory = Path(tempfile.mkdtemp(prefix="dashboard-tls-"))
    directory.chmod(0o700)
    files = write_tls_files(ref, directory)
    config = docker.tls.TLSConfig(
        client_cert=(files["cert.pem"], files["key.pem"]),
        ca_cert=files["ca.pem"] if ref.tls_ca else None,
        verify=bool(ref.tls_ca),
    )
    return config, directory


def _result(
    api: docker.APIClient, response: requests.Response, json: bool = False, binary: bool = False
) -> Any:
    """docker-py's ``APIClient._result`` with the JSON decoded by orjson: the same objects, ~2x
    faster on the big lists (``/containers/json`` of 500 containers: ~1 ms of each page). Integers
    are exact over Go's int64 and uint64 ranges (wider ones, which the engine never sends, would
    become floats); a body orjson refuses (not UTF-8) is decoded by requests as before."""
    if not json:
        return docker.APIClient._result(api, response, json=False, binary=binary)
    api._raise_for_status(response)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def _new_client(ref: EndpointRef, *, handshake_timeout: float) -> _Cached:
    """A client for ``ref`` with its TLS material, ssh via the ssh binary, and no environment
    overrides: requests would otherwise let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace an endpoint's
    own CA (``trust_env`` must be off before the first request, so the version is negotiated here
    rather than by docker-py's "auto"). The handshake is bounded by ``handshake_timeout``."""
    tls, tls_dir = _tls_config(ref)
    try:
        created = docker.DockerClient(
            base_url=ref.url,
            timeout=settings.DOCKER_TIMEOUT,
            version=MIN_API_VERSION,
            tls=tls or False,
            use_ssh_client=ref.url.startswith("ssh://"),
        )
        try:
            api = created.api
            api.trust_env = False
            api._result = functools.partial(_result, api)  # every docker-py call decodes through it
            response = api._get(api._url("/version", versioned_api=False), timeout=handshake_timeout)
            server = str(api._result(response, json=True).get("ApiVersion", MIN_API_VERSION))
            ours = docker.constants.DEFAULT_DOCKER_API_VERSION
            api._version = server if docker.utils.version_lt(server, ours) else ours
        except BaseException:
            created.close()
            raise
    except BaseException:
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)
        raise
    return _Cached(created, tls_dir)


def client_for(ref: EndpointRef, *, handshake_timeout: float | None = None) -> docker.DockerClient:
    """The cached client of ``ref``, created (version handshake) if needed.

    Raises:
        EngineUnavailable: the engine did not answer the handshake. Nothing is cached, so the next
            call tries again and the dashboard recovers by itself.
    """
    key = ref.cache_key
    with _lock:
        cached = _clients.get(key)
    if cached is not None:
        return cached.client
    with translated(ref.url):
        created = _new_client(ref, handshake_timeout=handshake_timeout or settings.DOCKER_TIMEOUT)
    with _lock:
        winner = _clients.setdefault(key, created)
    if winner is not created:  # another thread made one meanwhile: keep one
        created.close()
    return winner.client


def forget_client(url: str) -> None:
    """Drop (close, TLS files removed) every cached client of ``url``: the endpoint changed or went away."""
    with _lock:
        stale = [_clients.pop(key) for key in [k for k in _clients if k[0] == url]]
    for entry in stale:
        entry.close()


@atexit.register
def forget_all_clients() -> None:
    """Close every cached client and remove its TLS files (process exit, tests)."""
    with _lock:
        stale = list(_clients.values())
        _clients.clear()
    for entry in stale:
        entry.close()


# What the engine package translates: the SDK's, requests' and urllib3's exceptions and the
# socket's OSError. Anything else raised inside an engine call (a KeyError, a TypeError) is a bug
# in our code and leaves with its traceback.
LIBRARY_ERRORS = (
    docker.errors.DockerException,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)


def _explanation(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text or exc).strip()


# A failed TLS handshake as Python's ssl module (docker-py, docker-compose v1) and Go (the docker
# CLI) word it: which side refused is what the person fixing the endpoint needs to know.
_TLS_FAILURE = re.compile(
    r"\[SSL: (?P<code>[A-Z0-9_]+)\]\s*(?P<reason>[^(\]'\"\n]*)"
    r"|remote error: tls: (?P<alert>[a-z ]+)"
    r"|x509: (?P<x509>[^\"'\n]+)"
)


def tls_failure(text: str) -> str:
    """What went wrong in a failed TLS handshake named in ``text`` (an exception's repr, a CLI's
    output) as a sentence for the page, or ``""`` when ``text`` names none."""
    found = _TLS_FAILURE.search(text)
    if found is None:
        return ""
    if found["x509"] or (found["code"] or "").endswith("CERTIFICATE_VERIFY_FAILED"):
        reason = (found["x509"] or found["reason"]).strip()
        return f"its certificate was not accepted with the endpoint's CA ({reason})"
    reason = (found["alert"] or found["reason"]).strip()
    if re.search(r"certificate|unknown ca", reason, re.IGNORECASE):
        return f"it did not accept the endpoint's client certificate ({reason})"
    return f"the TLS handshake failed ({reason or found['code']})"


def translate(exc: BaseException, *, host: str) -> DashboardError:
    """The :mod:`core.errors` exception for one of :data:`LIBRARY_ERRORS` raised talking to ``host``.

    An HTTP answer becomes a refusal by its status (404 NotFound, 409 Conflict, 400 InvalidInput,
    other EngineRefused); no answer at all (connection refused/reset, timeout, no socket, a client
    that could not be created) becomes :class:`EngineUnavailable` naming ``host``.
    """
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    message = _explanation(exc)
    if status is None:
        # No HTTP answer. The SDK also raises its own exceptions before any request (an invalid
        # argument, bad TLS parameters): those are refusals, not an absent engine.
        if isinstance(exc, docker.errors.DockerException) and not any(
            hint in message for hint in ("Connection", "No such file", "Error while fetching")
        ):
            return EngineRefused(message, detail=repr(exc))
        if tls := tls_failure(repr(exc)):
            message = f"The Docker engine at {host} refused the connection: {tls}."
            return EngineHandshakeFailed(message, tried=host, detail=repr(exc))
        return EngineUnavailable(tried=host, detail=repr(exc))
    if status == 404:
        return NotFound(message or "Not found.", detail=repr(exc))
    if status == 409:
        return Conflict(message, detail=repr(exc))
    if status == 400:
        return InvalidInput(message, detail=repr(exc))
    if status == 500 and "Multiple IDs found" in message:  # an ambiguous id prefix (engines < 23 say 500)
        return InvalidInput(f"{message}: give more characters of the id.", detail=repr(exc))
    return EngineRefused(message or f"The engine answered HTTP {status}.", detail=repr(exc))


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Re-raise the library exceptions raised inside the block as :mod:`core.errors` exceptions
    naming ``url``.

    Only :data:`LIBRARY_ERRORS` are translated, plus the reference grammar's ``BadReference``
    (input checked before the call); ours (``DashboardError``) and bugs pass unchanged.
    """
    try:
        yield
    except DashboardError:
        raise
    except BadReference as exc:
        raise InvalidReference(str(exc)) from exc
    except LIBRARY_ERRORS as exc:
        raise translate(exc, host=url) from exc


# One pool for a page's second engine read made while it makes the first (the volume list and who
# uses what; compose projects and swarm stacks): a pool per call started and joined a thread on
# every page load. Bounded: past 8 at once, a side call waits for a free worker.
_SIDE_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="engine-side")


def side_call(func: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """``func(*args, **kwargs)`` in the shared side pool, for a read made at the same time as
    another one. Take ``.result()`` (it raises what the call raised) or ``.cancel()`` it."""
    return _SIDE_POOL.submit(func, *args, **kwargs)


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """``(first(), second())`` at the same time, ``second`` in the side pool: the caller waits for
    the slower of the two, not for both in turn. Errors of either are raised here."""
    pending = side_call(second)
    try:
        result = first()
    except BaseException:
        pending.cancel()
        raise
    return result, pending.result()


def engine_call(func: F) -> F:
    """Decorator of the engine functions: ``func(engine, ...)`` runs with its failures translated,
    and is offered as a method of the engine's namespace for its module (``docker.<module>.<func>``)."""

    @functools.wraps(func)
    def wrapper(engine: Engine, *args: Any, **kwargs: Any) -> Any:
        with engine.translated():
            return func(engine, *args, **kwargs)

    wrapper.engine_call = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class _Namespace:
    """``docker.containers`` etc.: the engine functions of one module, bound to one engine."""

    def __init__(self, engine: Engine, module_name: str):
        self._engine = engine
        self._module = importlib.import_module(f"core.engine.{module_name}")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        func = getattr(self._module, name, None)
        if not getattr(func, "engine_call", False):
            raise AttributeError(f"{self._module.__name__} has no engine call {name!r}")
        bound = functools.partial(func, self._engine)
        setattr(self, name, bound)
        return bound


class _Module:
    """Descriptor: ``Engine.containers`` is a :class:`_Namespace`, made once per engine object."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, engine: Engine | None, owner: type) -> Any:
        if engine is None:
            return self
        namespace = _Namespace(engine, self.name)
        engine.__dict__[self.name] = namespace
        return namespace


class Engine:
    """The Docker engine of ONE endpoint: ``docker.containers.stop(ref=..., timeout=...)``.

    Get it with ``engine.for_request(request)``, ``engine.for_scope(scope)`` or
    ``engine.for_endpoint(ref)``; pass it on explicitly (to worker threads too).
    """

    containers = _Module()
    images = _Module()
    system = _Module()
    swarm = _Module()
    streams = _Module()
    jobs = _Module()
    registry_images = _Module()
    volumes = _Module()
    networks = _Module()
    compose = _Module()
    recreate = _Module()

    def __init__(self, ref: EndpointRef):
        self.ref = ref

    def __repr__(self) -> str:
        return f"Engine({self.ref.slug!r}, {self.ref.url!r})"

    @property
    def url(self) -> str:
        return self.ref.url

    def client(self, *, handshake_timeout: float | None = None) -> docker.DockerClient:
        """The cached SDK client of this endpoint (for code inside core/engine only)."""
        return client_for(self.ref, handshake_timeout=handshake_timeout)

    @property
    def api(self) -> docker.APIClient:
        """The low-level SDK client of this endpoint (for code inside core/engine only)."""
        return self.client().api

    def translated(self) -> Any:
        """Context manager: SDK/requests failures inside become core.errors exceptions naming this URL."""
        return translated(self.ref.url)
