"""The security sweep, generated from the URL conf and the websocket routing at test time.

Every route x every role (and anonymous) gets the documented allow/deny; a route without a role
check fails. GET never changes state, every POST needs CSRF, websockets check origin (scheme, host
and port), login and role before any engine call, and never take credentials from the URL.

Safety: allowed roles only send GET and POSTs with EMPTY bodies (no ``confirm``) to dummy ids, and the
dashboard talks to the engine through a proxy that notes every API request: none may change anything.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import websockets.sync.client
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.consumers.base import CLOSE_FORBIDDEN, CLOSE_REVOKED
from core.models import AuditEvent
from core.roles import ROLE_GROUPS, Role, set_role
from tests.conftest import _engine_url
from tests.security_support import (
    PUBLIC_ROUTES,
    ROOT,
    SniffingProxy,
    http_routes,
    live_login,
    live_post,
    websocket_routes,
)
from tests.support import unique

User = get_user_model()
HTTP_ROUTES = http_routes()
WS_ROUTES = websocket_routes()
ROLES: tuple[str | None, ...] = (None, "viewer", "operator", "admin")  # None: logged in, no role
LOGIN_PREFIX = "/accounts/login/"


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PREFIX)


def _fast_client(role: str | None, **kwargs) -> Client:
    """A logged-in client for a fresh user of ``role`` (no password hashing: force_login)."""
    user = User.objects.create(username=unique(role or "norole"))
    set_role(user, ROLE_GROUPS[role] if role else None)
    client = Client(**kwargs)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def sniffing_engine(settings):
    """The dashboard's engine, through a proxy that records every Docker API request."""
    from core.engine import forget_client

    upstream = _engine_url().removeprefix("unix://")
    proxy = SniffingProxy.in_temp_dir(upstream, prefix="dash-sec-")
    proxy.start()
    settings.DOCKER_HOST = proxy.url
    yield proxy
    proxy.close()
    forget_client(proxy.url)


# --------------------------------------------------------------------------- the route list itself


def test_the_sweep_sees_the_known_routes():
    paths = {route.path for route in HTTP_ROUTES}
    assert {"/", "/team/", "/audit/", "/accounts/login/", "/healthz"} <= paths
    assert "/ws/overview/" in {route.path for route in WS_ROUTES}


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=str)
def test_every_route_declares_a_role_or_is_on_the_public_list(route):
    assert not route.path.startswith("/UNFILLABLE/"), f"add a dummy value for the route {route.path}"
    if route.name in PUBLIC_ROUTES:
        assert route.required_role is None, f"{route.name} is public and has a role: take it off the list"
        return
    assert isinstance(route.required_role, Role), (
        f"{route.path} ({route.name}) has no @require_role: every view must declare its role"
    )


@pytest.mark.parametrize("route", WS_ROUTES, ids=str)
def test_every_websocket_route_declares_a_role(route):
    from core.consumers.base import GuardedConsumer

    assert issubclass(route.view.consumer_class, GuardedConsumer), f"{route.path} is not a GuardedConsumer"
    assert isinstance(route.required_role, Role)


# --------------------------------------------------------------------------- HTTP permission matrix


GUARDED = [route for route in HTTP_ROUTES if route.name not in PUBLIC_ROUTES]


@pytest.mark.parametrize("route", GUARDED, ids=str)
def test_permission_matrix(route, db, sniffing_engine):
    needed = route.required_role
    assert isinstance(needed, Role), f"{route.path} declares no role (see the test above)"
    anonymous = Client()
    for method in ("get", "post"):
        response = getattr(anonymous, method)(route.path)
        assert _is_login_redirect(response), (
            f"anonymous {method.upper()} {route.path}: {response.status_code}"
        )
    admin = _fast_client("admin")
    accepts = {m for m in ("get", "post") if getattr(admin, m)(route.path).status_code != 405}
    assert accepts, f"{route.path} answers 405 to both GET and POST"
    for role in ROLES:
        client = _fast_client(role)
        allowed = role is not None and ROLE_GROUPS[role] >= needed
        for method in ("get", "post"):
            response = getattr(client, method)(route.path)  # POST: an EMPTY body, never a confirm
            who = f"{role or 'no-role'} {method.upper()} {route.path}"
            assert not _is_login_redirect(response), f"{who}: sent to the login page"
            if allowed:
                assert response.status_code != 403, f"{who}: refused, but {needed.label} is enough"
                assert response.status_code != 500, f"{who}: a server error"
            elif method in accepts:
                assert response.status_code == 403, f"{who}: {response.status_code}, expected 403"
            else:
                assert response.status_code in (403, 405), f"{who}: {response.status_code}"
    assert sniffing_engine.changes() == [], "the sweep changed something on the engine"


@pytest.mark.parametrize("route", GUARDED, ids=str)
def test_get_never_changes_state(route, db, sniffing_engine):
    admin = _fast_client("admin")
    before_events = AuditEvent.objects.count()
    before_users = list(User.objects.order_by("pk").values_list("pk", "is_active", "is_superuser"))
    sniffing_engine.requests.clear()
    response = admin.get(route.path)
    assert response.status_code not in (403, 500), f"GET {route.path}: {response.status_code}"
    assert AuditEvent.objects.count() == before_events, f"GET {route.path} wrote an audit event"
    assert list(User.objects.order_by("pk").values_list("pk", "is_active", "is_superuser")) == before_users
    assert sniffing_engine.changes(strict=True) == [], f"GET {route.path} asked the engine for a change"


# --------------------------------------------------------------------------- one audit name per action


@pytest.mark.parametrize("route", GUARDED, ids=str)
def test_every_route_that_takes_a_post_declares_its_audit_action(route, db, sniffing_engine):
    response = _fast_client("admin").post(route.path)  # an EMPTY body
    declared = getattr(route.view, "audit_action", None)
    assert response.status_code == 405 or declared, (
        f"POST {route.path} is accepted but the view declares no @require_role(..., action=...)"
    )


MUTATING = [route for route in GUARDED if getattr(route.view, "audit_action", None)]


def _role_below(needed: Role) -> str | None:
    below = [name for name, role in ROLE_GROUPS.items() if role < needed]
    return max(below, key=lambda name: ROLE_GROUPS[name]) if below else None


def _declared(route) -> str:
    """The audit name a route's view declares for an empty POST (a name, or a function of the request)."""
    from django.test import RequestFactory

    action = route.view.audit_action
    return action(RequestFactory().post(route.path)) if callable(action) else action


@pytest.mark.parametrize("route", MUTATING, ids=str)
def test_a_refused_post_is_audited_under_the_views_action_name(route, db, sniffing_engine):
    client = _fast_client(_role_below(route.required_role))
    assert client.post(route.path).status_code == 403
    event = AuditEvent.objects.filter(username=client.user.username).latest("pk")
    assert (event.action, event.outcome) == (_declared(route), "denied")


@pytest.mark.parametrize("route", MUTATING, ids=str)
def test_an_allowed_post_is_audited_under_the_same_name(route, db, sniffing_engine):
    """An admin's empty POST to a dummy id fails or is refused: audited under the declared name, unless
    it never reached the action (404 for the dummy id, 405 for a download, 200 for a confirm step)."""
    admin = _fast_client("admin")
    response = admin.post(route.path)  # an EMPTY body, never a confirm
    names = set(AuditEvent.objects.filter(username=admin.user.username).values_list("action", flat=True))
    assert names == {_declared(route)} or (response.status_code in (200, 404, 405) and not names), (
        f"POST {route.path}: {response.status_code}, audited as {names or 'nothing'}"
    )


def test_a_refused_get_is_audited_once_a_minute_per_user_and_route(db):
    viewer = _fast_client("viewer")
    for _ in range(3):
        assert viewer.get("/team/").status_code == 403
    events = AuditEvent.objects.filter(username=viewer.user.username)
    assert list(events.values_list("action", "outcome")) == [("page.team", "denied")]


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=str)
def test_every_post_needs_the_csrf_token(route, db):
    client = _fast_client("admin", enforce_csrf_checks=True)
    before = AuditEvent.objects.count()
    response = client.post(route.path)  # an EMPTY body: should the check be missing, nothing is confirmed
    assert response.status_code == 403, f"POST {route.path} without CSRF token: {response.status_code}"
    assert AuditEvent.objects.count() == before


def test_htmx_requests_carry_the_csrf_token_from_the_body_headers(db):
    client = _fast_client("admin", enforce_csrf_checks=True)
    page = client.get("/team/").content.decode()
    token = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))["X-CSRFToken"]
    name = unique("htmx")
    response = client.post(
        "/team/users/create/",
        {"username": name, "role": "viewer"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and User.objects.filter(username=name).exists()


def test_no_url_creates_a_superuser_or_any_user_for_anonymous(db):
    fields = {
        "username": "intruder",
        "password": "Intruder-pass-1",
        "password1": "Intruder-pass-1",
        "password2": "Intruder-pass-1",
        "role": "admin",
        "is_superuser": "on",
    }
    before = list(User.objects.values_list("pk", flat=True))
    for route in HTTP_ROUTES:
        Client().post(route.path, fields)
        Client().get(route.path, fields)
    assert list(User.objects.values_list("pk", flat=True)) == before
    assert not User.objects.filter(is_superuser=True).exists()


def test_first_admin_comes_only_from_the_bootstrap_command(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'boot.sqlite3'}",
        "DJANGO_SUPERUSER_USERNAME": "first",
        "DJANGO_SUPERUSER_PASSWORD": "",
    }
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run("migrate", "--no-input", "-v", "0").returncode == 0
    first = run("bootstrap")
    assert "Created the first admin account." in first.stdout and "password:" in first.stdout
    again = run("bootstrap")
    assert again.returncode == 0 and "Created" not in again.stdout and "password:" not in again.stdout


# --------------------------------------------------------------------------- headers and settings


def test_security_headers_on_pages(db):
    for client, path in ((Client(), "/accounts/login/"), (_fast_client("admin"), "/team/")):
        response = client.get(path)
        csp = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]+)", csp).group(1)
        assert script_src.strip() == "'self'", csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        HTTPS="1",
        DEBUG="0",
        SECRET_KEY="k" * 10 + "-Production-Secret-Key-That-Is-Long-And-Random-9f8e7d6c5b4a3210zyx",
        ALLOWED_HOSTS="dash.example.com",
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_https_flag_turns_on_secure_cookies_and_hsts():
    code = (
        "from django.conf import settings as s\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz', secure=True, HTTP_HOST='dash.example.com')\n"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, r.headers.get('Strict-Transport-Security'))\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    secure, csrf_secure, hsts = result.stdout.strip().splitlines()[-1].split(" ", 2)
    assert secure == csrf_secure == "True"
    assert hsts.startswith("max-age=31536000")


# --------------------------------------------------------------------------- websockets, in process


def _ws_connect(route, user) -> tuple[bool, int | None]:
    from tests.support import default_endpoint_ref

    endpoint = default_endpoint_ref()

    async def attempt():
        communicator = WebsocketCommunicator(URLRouter([_ws_pattern(route)]), route.path)
        communicator.scope["user"] = user
        communicator.scope["session"] = None
        communicator.scope["endpoint"] = endpoint
        connected, code = await communicator.connect(timeout=10)
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(attempt)()


def _ws_pattern(route):
    from core.routing import websocket_urlpatterns

    return next(p for p in websocket_urlpatterns if p.callback is route.view)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", WS_ROUTES, ids=str)
def test_websocket_permission_matrix_refuses_before_any_engine_call(route, sniffing_engine):
    needed = route.required_role
    users = {"anonymous": AnonymousUser()}
    for role in ROLES:
        user = User.objects.create(username=unique(role or "norole"))
        set_role(user, ROLE_GROUPS[role] if role else None)
        users[role or "no-role"] = User.objects.get(pk=user.pk)
    refused = [
        name for name, user in users.items() if not (name in ROLE_GROUPS and ROLE_GROUPS[name] >= needed)
    ]
    for name in refused:
        connected, code = _ws_connect(route, users[name])
        assert not connected and code == CLOSE_FORBIDDEN, f"{name} on {route.path}: {connected}, {code}"
    assert sniffing_engine.requests == [], (
        f"refused handshakes reached the engine: {sniffing_engine.requests}"
    )
    for name in set(users) - set(refused):
        connected, code = _ws_connect(route, users[name])
        assert connected or code != CLOSE_FORBIDDEN, f"{name} refused on {route.path}"
    assert sniffing_engine.changes() == []


@pytest.mark.parametrize(
    ("scheme", "host", "origin", "query", "refused"),
    [
        ("ws", "127.0.0.1:8000", "http://127.0.0.1:8000", "", False),
        ("ws", "localhost:8000", "http://localhost:8000", "tail=100", False),
        ("ws", "127.0.0.1", "http://127.0.0.1:80", "", False),
        ("wss", "127.0.0.1", "https://127.0.0.1", "", False),
        ("ws", "evil.example:8000", "http://evil.example:8000", "", True),  # not in ALLOWED_HOSTS
        ("ws", "127.0.0.1:8000", "http://127.0.0.1:8001", "", True),
        ("ws", "127.0.0.1:8000", "https://127.0.0.1:8000", "", True),
        ("wss", "127.0.0.1", "http://127.0.0.1", "", True),
        ("ws", "127.0.0.1:8000", None, "", True),
        ("ws", "127.0.0.1:8000", "http://127.0.0.1:8000", "sessionid=abc", True),
        ("ws", "127.0.0.1:8000", "http://127.0.0.1:8000", "x=1&Token=abc", True),
        ("ws", None, "http://127.0.0.1:8000", "", True),
    ],
)
def test_origin_guard_compares_scheme_host_and_port(scheme, host, origin, query, refused):
    from core.wsguard import refusal_reason

    headers = [(b"host", host.encode())] if host else []
    if origin:
        headers.append((b"origin", origin.encode()))
    scope = {"type": "websocket", "scheme": scheme, "headers": headers, "query_string": query.encode()}
    assert (refusal_reason(scope) is not None) is refused, refusal_reason(scope)


# --------------------------------------------------------------------------- websockets, live daphne


def _live_ws(live, path: str, *, cookie: str | None = None, origin: str | None = None):
    headers = {}
    if cookie:
        headers["Cookie"] = f"sessionid={cookie}"
    if origin:
        headers["Origin"] = origin
    return websockets.sync.client.connect(
        f"{live.ws_url}{path}", additional_headers=headers, open_timeout=10, origin=None
    )


def _refused(live, path: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as refused:
        _live_ws(live, path, **kwargs).close()
    return refused.value.response.status_code


@pytest.fixture(scope="module")
def live_admin_cookie(live_server_process) -> str:
    return live_server_process.session_cookie("admin")


def test_live_websocket_same_origin_is_accepted(live, live_admin_cookie):
    with _live_ws(live, "/ws/overview/", cookie=live_admin_cookie, origin=live.url) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "status"


@pytest.mark.parametrize("route", WS_ROUTES, ids=str)
def test_live_websocket_handshakes_refused(route, live, live_admin_cookie):
    port = int(live.url.rsplit(":", 1)[1])
    cases = {
        "anonymous": {"origin": live.url},
        "cross-origin": {"cookie": live_admin_cookie, "origin": "http://evil.example"},
        "same host, other port": {"cookie": live_admin_cookie, "origin": f"http://127.0.0.1:{port + 1}"},
        "same host, default port": {"cookie": live_admin_cookie, "origin": "http://127.0.0.1"},
        "https origin on http": {"cookie": live_admin_cookie, "origin": f"https://127.0.0.1:{port}"},
        "other allowed host": {"cookie": live_admin_cookie, "origin": f"http://localhost:{port}"},
        "missing origin": {"cookie": live_admin_cookie},
        "null origin": {"cookie": live_admin_cookie, "origin": "null"},
    }
    for name, kwargs in cases.items():
        assert _refused(live, route.path, **kwargs) == 403, name


@pytest.mark.parametrize("param", ["sessionid", "token", "session", "access_token"])
def test_live_websocket_never_takes_credentials_from_the_query_string(param, live, live_admin_cookie):
    # The valid session id in the URL must not log anyone in...
    assert _refused(live, f"/ws/overview/?{param}={live_admin_cookie}", origin=live.url) == 403
    # ...and a URL carrying a credential is refused even next to a valid cookie.
    assert _refused(live, f"/ws/overview/?{param}=x", cookie=live_admin_cookie, origin=live.url) == 403


@pytest.mark.parametrize("change", ["deactivate", "downgrade"])
def test_deactivating_or_downgrading_closes_the_users_open_websocket(change, live):
    admin = live_login(live, *live.users["admin"])
    name = unique("victim")
    created = live_post(live, admin, "/team/users/create/", {"username": name, "role": "operator"})
    password = re.search(r'data-testid="one-time-password">([^<]+)<', created.text).group(1)
    victim = live_login(live, name, password)
    own = f"Chosen-{time.monotonic_ns()}-pw"  # a one-time password is changed before any websocket
    changed = live_post(
        live,
        victim,
        "/account/password/",
        {"old_password": password, "new_password1": own, "new_password2": own},
    )
    assert changed.status_code == 302
    page = admin.get(f"{live.url}/team/", timeout=10).text
    user_id = re.search(rf'<tr data-user="{name}">.*?/team/users/(\d+)/role/', page, re.S).group(1)
    with _live_ws(live, "/ws/overview/", cookie=victim.cookies["sessionid"], origin=live.url) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "status"
        started = time.monotonic()
        if change == "deactivate":
            done = live_post(live, admin, f"/team/users/{user_id}/deactivate/", {"confirm": "yes"})
        else:
            done = live_post(live, admin, f"/team/users/{user_id}/role/", {"role": "viewer"})
        assert done.status_code == 302
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(ws.recv(timeout=10)))
        assert time.monotonic() - started < 5
    assert closed.value.rcvd.code == CLOSE_REVOKED
    assert any(f["type"] == "error" and "Session ended" in f["message"] for f in frames)
    home = victim.get(f"{live.url}/", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and home.headers["Location"].startswith(LOGIN_PREFIX)


def test_a_user_with_a_one_time_password_cannot_open_a_websocket(live):
    admin = live_login(live, *live.users["admin"])
    name = unique("fresh")
    created = live_post(live, admin, "/team/users/create/", {"username": name, "role": "operator"})
    password = re.search(r'data-testid="one-time-password">([^<]+)<', created.text).group(1)
    fresh = live_login(live, name, password)
    assert _refused(live, "/ws/overview/", cookie=fresh.cookies["sessionid"], origin=live.url) == 403


# --------------------------------------------------------------------------- endpoint-scoped routes


@pytest.mark.parametrize("route", GUARDED, ids=str)
def test_permission_matrix_under_an_endpoint_prefix_honours_the_endpoint_limit(route, db, sniffing_engine):
    """Every route again under /e/<slug>/: a global admin capped to viewer on that endpoint gets
    exactly a viewer's rights there; anonymous still goes to the login page."""
    from core.models import Endpoint, EndpointAccess

    endpoint = Endpoint.objects.create(name="scoped", slug="scoped", url=sniffing_engine.url)
    path = f"/e/scoped{route.path}"
    capped = _fast_client("admin")
    EndpointAccess.objects.create(user=capped.user, endpoint=endpoint, role="viewer")
    allowed = route.required_role <= Role.VIEWER
    for method in ("get", "post"):
        assert _is_login_redirect(getattr(Client(), method)(path)), f"anonymous {method.upper()} {path}"
        response = getattr(capped, method)(path)  # POST: an EMPTY body, never a confirm
        who = f"admin capped to viewer: {method.upper()} {path}"
        assert not _is_login_redirect(response), who
        if allowed:
            assert response.status_code not in (403, 500), f"{who}: {response.status_code}"
        elif response.status_code != 405:
            assert response.status_code == 403, f"{who}: {response.status_code}, expected 403"
