"""One small hierarchy of errors, and the one place where SDK/HTTP failures are mapped onto it.

Views and consumers only ever see these classes. ``from_engine_exception`` recognises docker-py's
exceptions by their shape (status code, ``explanation``) and requests' by class, so this module does
not import the SDK: core/engine/ stays the only importer of ``docker``.
"""

from __future__ import annotations

import logging

import requests

log = logging.getLogger(__name__)


class DashboardError(Exception):
    """Base class: ``message`` is safe to show a person (plain text, escaped by templates)."""

    status = 500

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class EngineError(DashboardError):
    """The engine refused or failed an operation."""

    status = 502


class EngineUnavailable(EngineError):
    """The engine could not be reached at all."""

    status = 503


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


class InvalidRequest(EngineError):
    """The engine rejected the request's parameters (HTTP 400 from the engine)."""

    status = 400


class InvalidReference(DashboardError):
    """An image reference, tag or name that does not fit Docker's grammar."""

    status = 400


class RegistryError(DashboardError):
    status = 502


class RegistryUnavailable(RegistryError):
    status = 503


class RegistryAuthFailed(RegistryError):
    status = 401


class RegistryNotFound(RegistryError):
    status = 404


def _explanation(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not text:
        text = str(exc)
    return str(text).strip()


def from_engine_exception(exc: BaseException, *, host: str = "") -> EngineError:
    """Map any exception raised by the docker SDK or requests to an :class:`EngineError`.

    Args:
        exc: the exception caught around an SDK call.
        host: the DOCKER_HOST that was tried, named in the unavailable message.

    Returns:
        The matching error; never raises.
    """
    if isinstance(exc, EngineError):
        return exc
    where = f" at {host}" if host else ""
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return EngineUnavailable(f"The Docker engine{where} is not answering.", detail=repr(exc))
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    message = _explanation(exc)
    if status == 404:
        return NotFound(message or "Not found.", detail=repr(exc))
    if status == 409:
        return Conflict(message, detail=repr(exc))
    if status == 400:
        return InvalidRequest(message, detail=repr(exc))
    if status == 500 and "Multiple IDs found" in message:  # an ambiguous id prefix (engines < 23 say 500)
        return InvalidRequest(f"{message}: give more characters of the id.", detail=repr(exc))
    if status is not None:
        return EngineError(message or f"The engine answered HTTP {status}.", detail=repr(exc))
    module = type(exc).__module__ or ""
    if module.startswith("docker") or isinstance(exc, (OSError, requests.RequestException)):
        # DockerException without a response: the client could not be created or connect.
        if "Connection" in message or "No such file" in message or "Error while fetching" in message:
            return EngineUnavailable(f"The Docker engine{where} is not answering.", detail=message)
        return EngineError(message, detail=repr(exc))
    log.exception("unexpected error around an engine call", exc_info=exc)
    return EngineError("The engine call failed unexpectedly; see the server log.", detail=repr(exc))
