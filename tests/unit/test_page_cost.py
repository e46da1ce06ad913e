"""The fixed cost of every page: what is read once per request, and that nothing outlives the request.

What is remembered (the Account row on the request's user object, the role on it) lives for ONE
request: a role, a cap, a one-time password or a theme changed between two requests is in force at
the second, even when it was changed elsewhere (another process, the shell).
"""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth import get_user_model

from core.accounts import must_change_password, require_password_change, set_one_time_password, theme_of
from core.models import DEFAULT_SLUG, Account, Endpoint, EndpointAccess
from core.roles import Role, set_role
from tests.unit.aio import run as run_async


def _user(name: str, role: Role | None = None):
    user = get_user_model().objects.create_user(username=name, password=f"pw-{name}-123456")
    if role is not None:
        set_role(user, role)
    return user


def _fresh(user):
    """The user as the next request loads it."""
    return get_user_model().objects.get(pk=user.pk)


# --------------------------------------------------------------------------- the Account row


def test_the_password_check_and_the_theme_share_one_query(db, django_assert_num_queries):
    user = _user("amy")
    Account.objects.create(user=user, theme=Account.Theme.DARK)
    with django_assert_num_queries(1):
        assert must_change_password(user) is False
        assert theme_of(user) == "dark"


def test_a_one_time_password_set_on_the_same_object_is_seen_at_once(db):
    user = _user("amy")
    assert must_change_password(user) is False
    set_one_time_password(user, "temporary-pass-1")
    assert must_change_password(user) is True


def test_a_password_change_on_the_same_object_is_seen_at_once(db):
    user = _user("amy")
    set_one_time_password(user, "temporary-pass-1")
    assert must_change_password(user) is True
    require_password_change(user, required=False)
    assert must_change_password(user) is False


def test_a_one_time_password_set_elsewhere_is_seen_by_the_next_request(db):
    user = _user("amy")
    assert must_change_password(user) is False
    Account.objects.update_or_create(user_id=user.pk, defaults={"must_change_password": True})
    assert must_change_password(_fresh(user)) is True


def test_a_one_time_password_set_between_two_pages_sends_the_second_to_the_password_page(db, client):
    user = _user("amy", Role.VIEWER)
    client.force_login(user)
    assert client.get("/accounts/login/").status_code == 200
    Account.objects.update_or_create(user_id=user.pk, defaults={"must_change_password": True})
    response = client.get("/account/tokens/")
    assert response.status_code == 302
    assert response["Location"] == "/account/password/"


def test_a_theme_picked_is_on_the_next_page(db, client):
    user = _user("amy", Role.VIEWER)
    client.force_login(user)
    assert 'data-theme="system"' in client.get("/accounts/login/").content.decode()
    client.post("/account/theme/", {"theme": "dark", "next": "/accounts/login/"})
    assert 'data-theme="dark"' in client.get("/accounts/login/").content.decode()


# --------------------------------------------------------------------------- roles


def test_a_role_lowered_between_two_pages_is_refused_at_the_second(db, client):
    user = _user("ada", Role.ADMIN)
    client.force_login(user)
    assert client.get("/team/").status_code == 200
    set_role(_fresh(user), Role.OPERATOR)  # another admin's action: another user object
    assert client.get("/team/").status_code == 403


def test_a_cap_added_between_two_pages_is_in_force_at_the_second(db, client):
    user = _user("ada", Role.ADMIN)
    client.force_login(user)
    assert client.get("/team/").status_code == 200
    EndpointAccess.objects.create(user=user, endpoint=Endpoint.objects.default(), role="viewer")
    assert client.get("/team/").status_code == 403


def test_a_role_raised_between_two_pages_is_granted_at_the_second(db, client):
    user = _user("ada", Role.OPERATOR)
    client.force_login(user)
    assert client.get("/team/").status_code == 403
    set_role(_fresh(user), Role.ADMIN)
    assert client.get("/team/").status_code == 200


# --------------------------------------------------------------------------- endpoints in the chrome


def test_the_first_page_creates_the_default_endpoint(db, client):
    client.force_login(_user("amy", Role.VIEWER))
    assert Endpoint.objects.count() == 0
    client.get("/accounts/login/")
    assert list(Endpoint.objects.values_list("is_default", flat=True)) == [True]


def test_an_endpoint_added_between_two_pages_is_in_the_switcher(db, client):
    client.force_login(_user("amy", Role.VIEWER))
    assert 'data-testid="endpoint-switcher"' not in client.get("/accounts/login/").content.decode()
    Endpoint.objects.create(name="second", slug="second", url="tcp://127.0.0.1:2376")
    page = client.get("/accounts/login/").content.decode()
    assert "/e/second/" in page


def test_a_logged_in_page_reads_the_database_four_times(db, client, django_assert_num_queries):
    """session, user, one statement for the Account row + role groups + endpoint cap, endpoints
    list: a guard against one more query sneaking into every page."""
    client.force_login(_user("amy", Role.VIEWER))
    client.get("/accounts/login/")  # the default endpoint exists from here on
    with django_assert_num_queries(4):
        client.get("/accounts/login/")


@pytest.mark.parametrize("superuser", [False, True])
def test_the_one_statement_reads_what_the_three_queries_read(db, superuser):
    """prime_user() fills the same memos as the separate queries would, for each kind of user."""
    from core.accounts import prime_user
    from core.roles import effective_role

    user = _user("ada", Role.OPERATOR)
    if superuser:
        user.is_superuser = True
        user.save()
    other = Endpoint.objects.create(name="other", slug="other", url="tcp://127.0.0.1:2376")
    EndpointAccess.objects.create(user=user, endpoint=other, role="viewer")
    Account.objects.create(user=user, theme=Account.Theme.DARK, must_change_password=True)
    for slug in (DEFAULT_SLUG, "other"):
        primed, plain = _fresh(user), _fresh(user)
        prime_user(primed, slug)
        assert effective_role(primed, slug) == effective_role(plain, slug)
        assert must_change_password(primed) == must_change_password(plain)
        assert theme_of(primed) == theme_of(plain)
    primed = _fresh(user)
    prime_user(primed, "other")
    assert (effective_role(primed, "other"), theme_of(primed), must_change_password(primed)) == (
        Role.VIEWER,
        "dark",
        True,
    )


def test_the_one_statement_for_a_user_with_nothing(db, django_assert_num_queries):
    from core.accounts import prime_user
    from core.roles import effective_role

    user = _fresh(_user("nobody"))
    with django_assert_num_queries(1):
        prime_user(user, DEFAULT_SLUG)
        assert effective_role(user, DEFAULT_SLUG) is None
        assert (must_change_password(user), theme_of(user)) == (False, "system")


def test_the_highest_role_group_counts(db):
    from django.contrib.auth.models import Group

    from core.roles import effective_role

    user = _user("ada", Role.VIEWER)
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    assert effective_role(_fresh(user), DEFAULT_SLUG) == Role.ADMIN


def test_a_cap_on_another_endpoint_does_not_apply(db):
    from core.roles import effective_role

    user = _user("ada", Role.OPERATOR)
    other = Endpoint.objects.create(name="other", slug="other", url="tcp://127.0.0.1:2376")
    EndpointAccess.objects.create(user=user, endpoint=other, role="viewer")
    assert effective_role(_fresh(user), DEFAULT_SLUG) == Role.OPERATOR
    assert effective_role(_fresh(user), "other") == Role.VIEWER


def test_a_user_in_no_role_group_has_no_role(db):
    from core.roles import effective_role

    assert effective_role(_fresh(_user("nobody")), DEFAULT_SLUG) is None


def test_a_cap_never_raises_a_role(db):
    from core.roles import effective_role

    user = _user("vic", Role.VIEWER)
    EndpointAccess.objects.create(user=user, endpoint=Endpoint.objects.default(), role="admin")
    assert effective_role(_fresh(user), DEFAULT_SLUG) == Role.VIEWER


# --------------------------------------------------------------------------- the ASGI handler


def _asgi(method: str, path: str, *, cookie: str = "", body: bytes = b"") -> tuple[int, dict, bytes]:
    from dashboard.asgi import django_asgi_app

    headers = [(b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if body:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    out: dict = {"status": 0, "headers": {}, "body": b""}

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        else:
            out["body"] += message.get("body", b"")

    run_async(django_asgi_app(scope, receive, send))
    return out["status"], out["headers"], out["body"]


def test_the_asgi_chain_is_synchronous_and_complete():
    from django.utils.module_loading import import_string

    from dashboard.asgi import django_asgi_app

    assert asyncio.iscoroutinefunction(django_asgi_app._middleware_chain) is False
    assert all(not asyncio.iscoroutinefunction(m) for m in django_asgi_app._view_middleware), (
        "a process_view adapted to async would hop threads again"
    )
    assert import_string("django.conf.settings").MIDDLEWARE  # the chain is the settings' chain


@pytest.mark.django_db(transaction=True)
def test_through_asgi_an_anonymous_page_still_goes_to_the_login():
    status, headers, _ = _asgi("GET", "/team/")
    assert (status, headers["location"]) == (302, "/accounts/login/?next=/team/")


@pytest.mark.django_db(transaction=True)
def test_through_asgi_a_post_without_csrf_is_still_refused():
    status, _, _ = _asgi("POST", "/accounts/login/", body=b"username=a&password=b")
    assert status == 403


@pytest.mark.django_db(transaction=True)
def test_through_asgi_the_security_headers_are_still_set():
    _, headers, _ = _asgi("GET", "/accounts/login/")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.django_db(transaction=True)
def test_through_asgi_a_lowered_role_is_refused_at_the_next_request(client):
    user = _user("ada", Role.ADMIN)
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert _asgi("GET", "/team/", cookie=cookie)[0] == 200
    set_role(_fresh(user), Role.VIEWER)
    assert _asgi("GET", "/team/", cookie=cookie)[0] == 403
