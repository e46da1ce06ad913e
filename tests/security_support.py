"""Helpers for the security sweep: every route from the URL conf and websocket routing, filled with
harmless dummy values; a sniffing engine proxy; a logged-in HTTP session on the live server."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

from tests.support import UnixSocketProxy

ROOT = Path(__file__).resolve().parent.parent

# The only routes without @require_role, and why. A new route missing from here and without a
# required_role FAILS the sweep.
PUBLIC_ROUTES = {
    "login": "the login form itself",
    "logout": "POST only; ends the caller's own session",
    "healthz": "liveness for load balancers; says only ok/unreachable",
}
DUMMIES = {
    "int": "999999",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "str": "0000doesnotexist",
    "slug": "0000doesnotexist",
    "path": "0000doesnotexist",
}
_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^)]*)\)")
# Harmless values tried, in order, for a regex group: the first its pattern fully matches is used.
_GROUP_DUMMIES = ("0000doesnotexist", "999999", "0" * 32, "0" * 64, "x")


def _group_dummy(match: re.Match, default: str) -> str:
    for candidate in (default, *_GROUP_DUMMIES):
        if re.fullmatch(match.group("regex"), candidate):
            return candidate
    return default


@dataclass(frozen=True)
class Route:
    """One concrete URL of a route, with its view (HTTP) or consumer (websocket)."""

    path: str
    name: str
    view: object

    @property
    def required_role(self):
        role = getattr(self.view, "required_role", None)
        view_class = getattr(self.view, "view_class", None) or getattr(self.view, "consumer_class", None)
        return role if role is not None else getattr(view_class, "required_role", None)

    def __str__(self) -> str:
        return self.path


def _fill(template: str) -> list[str]:
    """Candidate concrete paths for a route template (converters and regex groups)."""
    candidates = []
    for default in ("0000doesnotexist", "999999"):
        text = _GROUP.sub(lambda m, d=default: _group_dummy(m, d), template)  # before <name> params
        text = _PARAM.sub(lambda m, d=default: DUMMIES.get(m.group("conv") or "str", d), text)
        text = text.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
        candidates.append(text)
    return candidates


def _pattern_text(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern._route)
    if isinstance(pattern, RegexPattern):
        return pattern._regex
    return str(pattern)


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        text = prefix + _pattern_text(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, text)
        elif isinstance(entry, URLPattern):
            yield text, entry


def http_routes() -> list[Route]:
    """Every URL pattern of the project (includes recursed), as a concrete path with dummy values."""
    routes = []
    for template, entry in _walk(get_resolver().url_patterns):
        for candidate in _fill(template):
            path = "/" + candidate
            try:
                match = resolve(path)
            except Exception:  # noqa: BLE001, S112 - try the next dummy
                continue
            if match.func is entry.callback:
                routes.append(Route(path=path, name=entry.name or template, view=entry.callback))
                break
        else:
            routes.append(
                Route(path="/UNFILLABLE/" + template, name=entry.name or template, view=entry.callback)
            )
    return routes


def websocket_routes() -> list[Route]:
    """Every websocket route of core.routing, as a concrete path with dummy values."""
    from core.routing import websocket_urlpatterns

    routes = []
    for entry in websocket_urlpatterns:
        template = _pattern_text(entry.pattern)
        path = "/" + _fill(template)[0]
        routes.append(Route(path=path, name=entry.name or template, view=entry.callback))
    return routes


class SniffingProxy(UnixSocketProxy):
    """The engine socket proxy, also noting every Docker API request line that passes through."""

    def __init__(self, upstream: str, path: str):
        super().__init__(upstream, path)
        self.requests: list[str] = []

    def _pipe(self, source, sink) -> None:  # type: ignore[override]
        try:
            outgoing = source.getpeername() != self.upstream
        except OSError:
            outgoing = False
        try:
            while data := source.recv(65536):
                if outgoing:
                    self.requests += re.findall(
                        rb"(?m)^(GET|HEAD|POST|PUT|DELETE|PATCH) (\S+) HTTP/1\.[01]\r$", data
                    )
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(2)
                except OSError:
                    pass

    def changes(self, *, strict: bool = False) -> list[str]:
        """Requests that may change the engine. Unless ``strict``, those naming a dummy id are left
        out: they ask for an object that does not exist (the engine answers 404)."""
        found = [f"{m.decode()} {p.decode()}" for m, p in self.requests if m not in (b"GET", b"HEAD")]
        if strict:
            return found
        dummies = {value for value in DUMMIES.values()} | {"0000doesnotexist"}
        return [line for line in found if not any(d in line for d in dummies)]


def live_login(live, username: str, password: str) -> requests.Session:
    """A requests session logged in on the live server through the real form (csrftoken kept)."""
    session = requests.Session()
    page = session.get(f"{live.url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{live.url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"},
        headers={"Referer": f"{live.url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, f"login of {username} on the live server failed"
    return session


def live_post(live, session: requests.Session, path: str, data: dict) -> requests.Response:
    """POST on the live server with the session's CSRF token, as a form in the app would."""
    return session.post(
        f"{live.url}{path}",
        data={**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{live.url}/team/"},
        allow_redirects=False,
        timeout=30,
    )


def live_shell(live, code: str) -> str:
    """Run Python in ``manage.py shell`` against the live server's database; returns its stdout."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=f"sqlite:///{live.database}", DJANGO_SETTINGS_MODULE="dashboard.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
