"""The Docker endpoint a request or websocket is about (set from the `/e/<slug>/` URL prefix).

No imports from the rest of the app: the engine layer, roles and templates all read it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


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

    @property
    def prefix(self) -> str:
        """URL prefix of this endpoint's pages: '' for the default endpoint, else '/e/<slug>'."""
        return "" if self.is_default else f"/e/{self.slug}"


_active: contextvars.ContextVar[EndpointRef | None] = contextvars.ContextVar("endpoint", default=None)
# TLS material by URL, so a client made in a worker thread (which has no context) still finds it.
_tls_by_url: dict[str, EndpointRef] = {}


def active_endpoint() -> EndpointRef | None:
    return _active.get()


def activate(ref: EndpointRef | None) -> contextvars.Token:
    if ref is not None and ref.tls_cert:
        _tls_by_url[ref.url] = ref
    return _active.set(ref)


def deactivate(token: contextvars.Token) -> None:
    _active.reset(token)


def tls_for(url: str) -> EndpointRef | None:
    ref = _active.get()
    if ref is not None and ref.url == url and ref.tls_cert:
        return ref
    return _tls_by_url.get(url)


def context_thread(*, target, name: str, daemon: bool = True, args: tuple = ()):
    """A ``threading.Thread`` that runs ``target`` in a copy of the caller's context, so engine calls
    made in it still address the endpoint of the page or websocket that started it."""
    import threading

    context = contextvars.copy_context()
    return threading.Thread(target=context.run, args=(target, *args), name=name, daemon=daemon)
