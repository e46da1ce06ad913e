"""One hierarchy of the failures a person can be told about (docs/architecture.md, "Errors").

::

    DashboardError                 message: plain text a person may read (templates escape it)
    ├── Refused                    someone said no; the request can be corrected
    │   ├── NotFound (404)         ├── RegistryNotFound (also a RegistryRefused)
    │   ├── Conflict (409)
    │   ├── InvalidInput (400)     ├── InvalidReference (the reference grammar said no)
    │   ├── EngineRefused (409)    the engine answered with another error (a failed build, a 500)
    │   └── RegistryRefused (502)  ├── RegistryAuthFailed, RegistryNotFound (404) ...
    └── Unavailable (503)          nobody answered; ``tried`` names where we knocked
        ├── EngineUnavailable
        └── RegistryUnavailable

Views catch ``Refused`` (to show the message next to the form); they never catch ``Unavailable``:
core.middleware.ErrorMiddleware renders it as one 503 page. Nothing here imports a library: the
engine package (core/engine/_client.py) translates the docker SDK's exceptions, the registry
client (core/registry.py) its HTTP failures; any other exception is a bug and stays one.
"""

from __future__ import annotations


class DashboardError(Exception):
    """Base class: ``message`` is safe to show a person (plain text, escaped by templates)."""

    status = 500

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


# --------------------------------------------------------------------------- refusals


class Refused(DashboardError):
    """The engine, a registry or the dashboard said no: the person can read why and act on it."""

    status = 400


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    status = 409


class InvalidInput(Refused):
    """Input that does not fit (a form value, a query parameter, the engine's own HTTP 400)."""

    status = 400


class InvalidReference(InvalidInput):
    """An image reference, tag, digest or name that does not fit Docker's grammar (core.references)."""


class EngineRefused(Refused):
    """The engine answered with an error that is none of the above (a failed start/pull/build, its
    500): a 409, the person asked for something the engine would not do in its present state."""

    status = 409


class RegistryRefused(Refused):
    """A registry answered, but not with what was asked (an error status, a malformed answer)."""

    status = 502


class RegistryAuthFailed(RegistryRefused):
    """The registry refused our credentials (its 401/403; the dashboard answers 502: the person
    is allowed, the registry behind it said no)."""


class RegistryNotFound(RegistryRefused, NotFound):
    status = 404


# --------------------------------------------------------------------------- unavailability


class Unavailable(DashboardError):
    """Nobody answered. ``tried`` names what was tried (e.g. ``unix:///var/run/docker.sock``)."""

    status = 503
    what = "The service"
    handshake = False  # it answered, but refused our TLS connection (the message says why)

    def __init__(self, message: str = "", *, tried: str = "", detail: str = ""):
        where = f" at {tried}" if tried else ""
        super().__init__(message or f"{self.what}{where} is not answering.", detail=detail)
        self.tried = tried


class EngineUnavailable(Unavailable):
    what = "The Docker engine"


class EngineHandshakeFailed(EngineUnavailable):
    """The engine answered but the TLS handshake failed (its CA or our client certificate): the
    endpoint's TLS settings need fixing, the engine is not down."""

    handshake = True


class RegistryUnavailable(Unavailable):
    what = "The registry"
