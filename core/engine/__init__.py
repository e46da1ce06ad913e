"""The engine boundary: the only package that imports the docker SDK (shared/STYLE.md).

Each module covers one resource (``system``, ``images``, ``containers``, ``streams`` ...) with plain,
typed functions that return frozen dataclasses, never SDK objects. Callers reach them through an
:class:`Engine` bound to one endpoint::

    docker = engine.for_request(request)      # views: request.endpoint (set by the middleware)
    docker = engine.for_scope(scope)          # consumers: scope["endpoint"]
    docker = engine.for_endpoint(ref)         # anything else, given an EndpointRef
    docker.containers.stop(ref=ref, timeout=10)

Every SDK/requests failure leaves this package as a :mod:`core.errors` exception.
"""

from __future__ import annotations

from typing import Any

from core.engine._client import EndpointRef, Engine, forget_all_clients, forget_client


def for_endpoint(ref: EndpointRef) -> Engine:
    """The engine of ``ref``."""
    return Engine(ref)


def for_request(request: Any) -> Engine:
    """The engine of the request's endpoint (``request.endpoint``, set by EndpointMiddleware)."""
    return Engine(request.endpoint)


def for_scope(scope: dict) -> Engine:
    """The engine of a websocket's endpoint (``scope["endpoint"]``, set by EndpointWebsocketMiddleware)."""
    return Engine(scope["endpoint"])


__all__ = [
    "EndpointRef",
    "Engine",
    "for_endpoint",
    "for_request",
    "for_scope",
    "forget_all_clients",
    "forget_client",
]
