"""Lazily created, cached docker clients (one per DOCKER_HOST) and the error translation wrapper."""

from __future__ import annotations

import functools
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import docker
import docker.constants
import docker.errors
import docker.tls
import docker.utils
import requests
import urllib3.exceptions
from django.conf import settings

from core.context import active_endpoint, tls_for
from core.errors import (
    Conflict,
    DashboardError,
    EngineRefused,
    EngineUnavailable,
    InvalidInput,
    InvalidReference,
    NotFound,
)
from core.references import BadReference

P = ParamSpec("P")
R = TypeVar("R")

_clients: dict[str, docker.DockerClient] = {}
_lock = threading.Lock()


def current_host(host: str | None = None) -> str:
    """``host`` if given, else the endpoint of the current request/websocket, else DOCKER_HOST."""
    if host:
        return host
    ref = active_endpoint()
    return ref.url if ref is not None else settings.DOCKER_HOST


def _tls_config(base_url: str) -> docker.tls.TLSConfig | None:
    """TLS client config for a tcp endpoint with certificates (written to a private temp dir)."""
    ref = tls_for(base_url)
    if ref is None or not base_url.startswith("tcp://"):
        return None
    directory = Path(tempfile.mkdtemp(prefix="dashboard-tls-"))
    directory.chmod(0o700)
    files = {}
    for name, pem in (("ca.pem", ref.tls_ca), ("cert.pem", ref.tls_cert), ("key.pem", ref.tls_key)):
        path = directory / name
        path.touch(mode=0o600)
        path.write_text(pem)
        files[name] = str(path)
    return docker.tls.TLSConfig(
        client_cert=(files["cert.pem"], files["key.pem"]),
        ca_cert=files["ca.pem"] if ref.tls_ca else None,
        verify=bool(ref.tls_ca),
    )


# The oldest API the dashboard speaks; the version handshake raises it to what both sides support.
MIN_API_VERSION = "1.30"


def new_client(base_url: str, *, timeout: float, negotiate: bool = True) -> docker.DockerClient:
    """A client for ``base_url`` with the endpoint's TLS material, ssh via the ssh binary, and no
    environment overrides: requests would otherwise let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace an
    endpoint's own CA (``trust_env`` must be off before the first request, so the version is
    negotiated here rather than by docker-py's "auto")."""
    created = docker.DockerClient(
        base_url=base_url,
        timeout=timeout,
        version=MIN_API_VERSION,
        tls=_tls_config(base_url) or False,
        use_ssh_client=base_url.startswith("ssh://"),
    )
    created.api.trust_env = False
    if negotiate:
        server = str(created.api.version(api_version=False).get("ApiVersion", MIN_API_VERSION))
        ours = docker.constants.DEFAULT_DOCKER_API_VERSION
        created.api._version = server if docker.utils.version_lt(server, ours) else ours
    return created


def client(host: str | None = None) -> docker.DockerClient:
    """Return the cached client for ``host`` (default: settings.DOCKER_HOST), creating it if needed.

    Args:
        host: a Docker host URL (``unix://``, ``tcp://``, ``ssh://``); None for the default engine.

    Returns:
        A ``docker.DockerClient`` with explicit timeouts.

    Raises:
        EngineUnavailable: the engine did not answer the version handshake. Nothing is cached,
            so the next call tries again and the dashboard recovers by itself.
    """
    base_url = current_host(host)
    with _lock:
        cached = _clients.get(base_url)
    if cached is not None:
        return cached
    with translated(base_url):
        created = new_client(base_url, timeout=settings.DOCKER_TIMEOUT)
    with _lock:
        return _clients.setdefault(base_url, created)


def forget_client(host: str | None = None) -> None:
    """Drop a cached client (its host changed or went away)."""
    with _lock:
        stale = _clients.pop(current_host(host), None)
    if stale is not None:
        stale.close()


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
        return EngineUnavailable(tried=host, detail=repr(exc))
    if status == 404:
        return NotFound(message or "Not found.", detail=repr(exc))
    if status == 409:
        return Conflict(message, detail=repr(exc))
    if status == 400:
        return InvalidInput(message, detail=repr(exc))
    return EngineRefused(message or f"The engine answered HTTP {status}.", detail=repr(exc))


@contextmanager
def translated(host: str | None = None) -> Iterator[None]:
    """Re-raise the library exceptions raised inside the block as :mod:`core.errors` exceptions.

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
        raise translate(exc, host=current_host(host)) from exc


def engine_call(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``func`` with its failures translated (uses its ``host`` kwarg if given)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated(kwargs.get("host")):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return wrapper
