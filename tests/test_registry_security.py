"""Registry client security (issue 13): token realms by whole origin, no https->http downgrade,
no cross-origin redirects outside blob downloads, the SSRF address policy with pinned connections,
credentials checked on save, and one generic status message for non-admins.

Malicious registries are small local HTTP servers on 127.0.0.1 (tests/registries_support.py); the
credential checks run against the real docker-registry (htpasswd and token auth). Addresses the
policy refuses are refused before any connection, so nothing here ever connects beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest

from core.errors import RegistryAuthFailed, RegistryRefused
from core.models import AuditEvent, Registry
from core.registry import (
    RegistryAddressRefused,
    RegistryClient,
    address_verdict,
    forget_auth,
)
from tests.registries_support import FakeServer, TokenRegistry, json_reply, self_signed, start_token_registry
from tests.support import free_port, unique


@pytest.fixture(autouse=True)
def _fresh_auth_cache() -> Iterator[None]:
    forget_auth()
    yield
    forget_auth()


@pytest.fixture
def servers() -> Iterator[list[FakeServer]]:
    """Fake servers started by a test, all closed at its end."""
    started: list[FakeServer] = []
    yield started
    for server in started:
        server.close()


def _serve(servers: list[FakeServer], handler, **kwargs) -> FakeServer:
    server = FakeServer(handler, **kwargs)
    servers.append(server)
    return server


def _link(url: str, **fields) -> Registry:
    secret = fields.pop("secret", "")
    registry = Registry(name=unique("sec"), url=url, **fields)
    registry.secret = secret
    registry.save()
    return registry


def _bearer_registry(realm: str):
    """A registry that wants a bearer token from ``realm`` and lists one repository with it."""

    def handler(method, path, headers):
        if headers.get("Authorization") != "Bearer tok-123":
            challenge = f'Bearer realm="{realm}",service="svc",scope="registry:catalog:*"'
            return 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b"{}"
        return json_reply({"repositories": ["x"]})

    return handler


def _token_handler(method, path, headers):
    return json_reply({"token": "tok-123", "expires_in": 300})


# --------------------------------------------------------------------------- token realms


def test_realm_on_another_port_of_the_same_host_gets_no_credentials(servers):
    token = _serve(servers, _token_handler)
    registry = _serve(servers, _bearer_registry(f"{token.url()}/token"))
    client = RegistryClient(
        url=registry.url(), username="me", password="secret-pw", allow_private_addresses=True
    )
    assert client.catalog().items == ("x",)
    assert "Authorization" not in token.seen[-1].headers


def test_realm_on_another_port_gets_credentials_when_its_origin_is_listed(servers):
    token = _serve(servers, _token_handler)
    registry = _serve(servers, _bearer_registry(f"{token.url()}/token"))
    client = RegistryClient(
        url=registry.url(),
        username="me",
        password="secret-pw",
        allowed_token_hosts=f"127.0.0.1:{token.port}",
        allow_private_addresses=True,
    )
    client.catalog()
    assert token.seen[-1].headers["Authorization"].startswith("Basic ")


def test_real_token_registry_with_an_unlisted_issuer_port_sends_it_no_credentials(
    admin_client, token_registry
):
    registry = _link(
        token_registry.url, username="alice", secret="wonderland-1", allow_private_addresses=True
    )
    before = len(token_registry.issuer.seen)
    html = admin_client.get(f"/registries/{registry.pk}/status/").content.decode()
    asked = token_registry.issuer.seen[before:]
    assert "credentials were not sent there" in html
    assert asked
    assert all("Authorization" not in seen.headers for seen in asked)


def test_https_registry_with_an_http_realm_is_refused_and_the_realm_never_asked(servers, tmp_path):
    cert, key = self_signed(tmp_path / "tls")
    token = _serve(servers, _token_handler)
    registry = _serve(servers, _bearer_registry(f"{token.url()}/token"), tls=(cert, key))
    client = RegistryClient(
        url=registry.url(),
        username="me",
        password="secret-pw",
        ca_bundle=cert.read_text(),
        allowed_token_hosts=token.url(),  # even an explicitly listed http realm: no downgrade
        allow_private_addresses=True,
    )
    with pytest.raises(RegistryAuthFailed, match="plain http"):
        client.catalog()
    assert token.seen == []


# --------------------------------------------------------------------------- redirects


def test_catalog_redirected_to_an_internal_url_is_not_fetched_nor_shown(servers, admin_client, viewer_client):
    internal = _serve(servers, lambda m, p, h: json_reply({"repositories": ["internal-secret"]}))
    registry = _serve(servers, lambda m, p, h: (302, {"Location": f"{internal.url()}/v2/_catalog"}, b""))
    linked = _link(registry.url(), allow_private_addresses=True)
    viewer = viewer_client.get(f"/registries/{linked.pk}/")
    admin = admin_client.get(f"/registries/{linked.pk}/")
    assert viewer.status_code == 502
    assert b"internal-secret" not in viewer.content
    assert b"internal-secret" not in admin.content
    assert b"redirected an API request to another address" in admin.content
    assert internal.seen == []


def test_manifest_redirected_to_another_origin_is_refused(servers):
    internal = _serve(servers, lambda m, p, h: json_reply({"schemaVersion": 2, "layers": []}))
    registry = _serve(servers, lambda m, p, h: (307, {"Location": f"{internal.url()}/m"}, b""))
    client = RegistryClient(url=registry.url(), allow_private_addresses=True)
    with pytest.raises(RegistryRefused, match="only blob downloads"):
        client.manifest("app", "v1")
    assert internal.seen == []


def test_same_origin_redirect_is_followed_with_the_credentials(servers):
    def handler(method, path, headers):
        if "Authorization" not in headers:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        if path.startswith("/v2/_catalog"):
            return 302, {"Location": "/v2/moved/_catalog?n=100"}, b""
        return json_reply({"repositories": ["moved"]})

    registry = _serve(servers, handler)
    client = RegistryClient(url=registry.url(), username="me", password="pw", allow_private_addresses=True)
    assert client.catalog().items == ("moved",)
    assert registry.seen[-1].headers["Authorization"].startswith("Basic ")


def test_blob_redirect_to_another_origin_is_followed_without_credentials(servers):
    body = b'{"architecture":"amd64"}'
    storage = _serve(servers, lambda m, p, h: (200, {"Content-Type": "application/json"}, body))

    def handler(method, path, headers):
        if "Authorization" not in headers:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        return 307, {"Location": f"{storage.url()}/blob"}, b""

    registry = _serve(servers, handler)
    client = RegistryClient(url=registry.url(), username="me", password="pw", allow_private_addresses=True)
    assert client.blob_json("app", "sha256:" + hashlib.sha256(body).hexdigest()) == {"architecture": "amd64"}
    assert "Authorization" not in storage.seen[-1].headers


def test_https_redirect_to_http_is_refused_even_for_a_blob(servers, tmp_path):
    cert, key = self_signed(tmp_path / "tls")
    plain = _serve(servers, lambda m, p, h: json_reply({}))
    registry = _serve(
        servers, lambda m, p, h: (307, {"Location": f"{plain.url()}/blob"}, b""), tls=(cert, key)
    )
    client = RegistryClient(url=registry.url(), ca_bundle=cert.read_text(), allow_private_addresses=True)
    with pytest.raises(RegistryRefused, match="from https to plain http"):
        client.blob_json("app", "sha256:" + "a" * 64)
    assert plain.seen == []


# --------------------------------------------------------------------------- address policy


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "0.0.0.0",
        "100.100.100.200",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "224.0.0.1",
        "::",
    ],
)
def test_link_local_and_metadata_addresses_are_always_refused(address):
    assert address_verdict(address) == "refused"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "::1",
        "fc00::1",
        "::ffff:127.0.0.1",
    ],
)
def test_loopback_and_private_addresses_need_the_registry_setting(address):
    assert address_verdict(address) == "private"


def test_public_addresses_are_allowed():
    assert address_verdict("93.184.216.34") == "public"


def test_private_address_is_refused_without_the_setting_before_any_connection(servers):
    registry = _serve(servers, lambda m, p, h: json_reply({"repositories": ["x"]}))
    client = RegistryClient(url=registry.url())
    with pytest.raises(RegistryAddressRefused, match="loopback or private"):
        client.catalog()
    assert registry.seen == []


def test_private_address_is_allowed_with_the_setting(servers):
    registry = _serve(servers, lambda m, p, h: json_reply({"repositories": ["x"]}))
    assert RegistryClient(url=registry.url(), allow_private_addresses=True).catalog().items == ("x",)


def test_metadata_address_is_refused_even_with_private_addresses_allowed():
    client = RegistryClient(url="http://169.254.169.254", allow_private_addresses=True)
    with pytest.raises(RegistryAddressRefused, match="always refused"):
        client.ping()


def test_a_name_with_any_refused_address_is_refused(servers):
    registry = _serve(servers, lambda m, p, h: json_reply({}))
    resolver = lambda host, port: ["127.0.0.1", "169.254.169.254"]  # noqa: E731 - a one-line fake DNS
    client = RegistryClient(
        url=f"http://registry.invalid:{registry.port}", allow_private_addresses=True, resolver=resolver
    )
    with pytest.raises(RegistryAddressRefused):
        client.ping()
    assert registry.seen == []


def test_the_checked_address_is_pinned_and_the_host_header_keeps_the_name(servers):
    registry = _serve(servers, lambda m, p, h: json_reply({"repositories": ["x"]}))
    lookups: list[str] = []

    def resolver(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    client = RegistryClient(
        url=f"http://registry.invalid:{registry.port}", allow_private_addresses=True, resolver=resolver
    )
    client.catalog()
    client.catalog()
    assert lookups == ["registry.invalid"]
    assert registry.seen[-1].headers["Host"] == f"registry.invalid:{registry.port}"


def test_pinned_https_still_checks_the_certificate_against_the_name(servers, tmp_path):
    cert, key = self_signed(tmp_path / "tls")  # valid for localhost and 127.0.0.1 only
    registry = _serve(servers, lambda m, p, h: json_reply({}), tls=(cert, key))
    pinned = lambda host, port: ["127.0.0.1"]  # noqa: E731 - a one-line fake DNS
    good = RegistryClient(
        url=f"https://localhost:{registry.port}",
        ca_bundle=cert.read_text(),
        allow_private_addresses=True,
        resolver=pinned,
    )
    wrong_name = RegistryClient(
        url=f"https://registry.invalid:{registry.port}",
        ca_bundle=cert.read_text(),
        allow_private_addresses=True,
        resolver=pinned,
    )
    assert good.ping().auth_ok
    assert "TLS verification failed" in wrong_name.ping().message


def test_a_redirect_to_a_metadata_address_is_refused_even_for_a_blob(servers):
    registry = _serve(servers, lambda m, p, h: (307, {"Location": "http://169.254.169.254/latest/"}, b""))
    client = RegistryClient(url=registry.url(), allow_private_addresses=True)
    with pytest.raises(RegistryAddressRefused, match="always refused"):
        client.blob_json("app", "sha256:" + "a" * 64)


def test_a_token_realm_on_a_metadata_address_is_refused(servers):
    registry = _serve(servers, _bearer_registry("http://169.254.169.254/token"))
    client = RegistryClient(url=registry.url(), allow_private_addresses=True)
    with pytest.raises(RegistryAddressRefused, match="always refused"):
        client.catalog()


# --------------------------------------------------------------------------- linking checks


def _form(url: str, **fields) -> dict:
    return {"name": fields.pop("name", unique("linked")), "url": url, "verify_tls": "on", **fields}


def test_linking_a_private_address_is_refused_without_the_checkbox(admin_client, registry_server):
    data = _form(registry_server.url, username=registry_server.username, secret=registry_server.password)
    response = admin_client.post("/registries/new/", data)
    assert response.status_code == 400
    assert "loopback or private address" in response.content.decode()
    assert not Registry.objects.filter(name=data["name"]).exists()


def test_linking_a_private_address_works_with_the_checkbox(admin_client, registry_server):
    data = _form(
        registry_server.url,
        username=registry_server.username,
        secret=registry_server.password,
        allow_private_addresses="on",
    )
    response = admin_client.post("/registries/new/", data, follow=True)
    assert Registry.objects.get(name=data["name"]).allow_private_addresses
    assert "GET /v2/ works with these credentials" in response.content.decode()


def test_linking_the_metadata_address_is_refused_even_with_the_checkbox_or_save_anyway(admin_client):
    data = _form("http://169.254.169.254", allow_private_addresses="on", save_anyway="on")
    response = admin_client.post("/registries/new/", data)
    assert "always refused" in response.content.decode()
    assert not Registry.objects.filter(name=data["name"]).exists()


def test_wrong_password_is_refused_on_save_and_nothing_is_saved(admin_client, registry_server):
    data = _form(
        registry_server.url, username=registry_server.username, secret="wrong", allow_private_addresses="on"
    )
    response = admin_client.post("/registries/new/", data)
    assert "refused these credentials" in response.content.decode()
    assert not Registry.objects.filter(name=data["name"]).exists()
    refusal = AuditEvent.objects.get(action="registry.create", target=data["name"])
    assert refusal.outcome == "failed"  # refused input is audited, never recorded as a link


def test_wrong_password_on_a_token_registry_is_refused_on_save(admin_client, token_registry):
    data = _form(
        token_registry.url,
        username="alice",
        secret="wrong",
        allow_private_addresses="on",
        allowed_token_hosts=token_registry.issuer.server.url(),
    )
    response = admin_client.post("/registries/new/", data)
    assert "refused these credentials" in response.content.decode()
    assert not Registry.objects.filter(name=data["name"]).exists()


def test_right_password_on_a_token_registry_is_checked_through_the_token_flow(admin_client, token_registry):
    data = _form(
        token_registry.url,
        username="alice",
        secret="wonderland-1",
        allow_private_addresses="on",
        allowed_token_hosts=token_registry.issuer.server.url(),
    )
    admin_client.post("/registries/new/", data)
    assert Registry.objects.filter(name=data["name"]).exists()


def test_editing_to_a_wrong_password_changes_nothing(admin_client, registry_server):
    registry = _link(
        registry_server.url,
        username=registry_server.username,
        secret=registry_server.password,
        allow_private_addresses=True,
    )
    data = _form(
        registry_server.url,
        name=registry.name,
        username=registry_server.username,
        secret="wrong",
        allow_private_addresses="on",
    )
    response = admin_client.post(f"/registries/{registry.pk}/edit/", data)
    registry.refresh_from_db()
    assert "refused these credentials" in response.content.decode()
    assert registry.secret == registry_server.password


def test_save_anyway_links_an_offline_registry_and_says_the_check_failed(admin_client):
    data = _form(f"http://127.0.0.1:{free_port()}", allow_private_addresses="on", save_anyway="on")
    response = admin_client.post("/registries/new/", data, follow=True)
    assert Registry.objects.filter(name=data["name"]).exists()
    assert "Saved without a working check" in response.content.decode()


def test_offline_registry_without_save_anyway_is_a_form_error(admin_client):
    data = _form(f"http://127.0.0.1:{free_port()}", allow_private_addresses="on")
    response = admin_client.post("/registries/new/", data)
    assert "Could not check the registry" in response.content.decode()
    assert not Registry.objects.filter(name=data["name"]).exists()


# --------------------------------------------------------------------------- status messages


def _status(client, registry: Registry) -> str:
    return client.get(f"/registries/{registry.pk}/status/").content.decode()


def test_non_admin_status_does_not_tell_a_closed_port_from_a_non_registry(viewer_client, servers):
    web = _serve(servers, lambda m, p, h: (404, {"Content-Type": "text/html"}, b"<h1>some web app</h1>"))
    closed = _link(f"http://127.0.0.1:{free_port()}", allow_private_addresses=True)
    not_registry = _link(web.url(), allow_private_addresses=True)
    assert _status(viewer_client, closed) == _status(viewer_client, not_registry)


def test_admin_status_tells_a_closed_port_from_a_non_registry(admin_client, servers):
    web = _serve(servers, lambda m, p, h: (404, {"Content-Type": "text/html"}, b"<h1>some web app</h1>"))
    closed = _link(f"http://127.0.0.1:{free_port()}", allow_private_addresses=True)
    not_registry = _link(web.url(), allow_private_addresses=True)
    assert "not reachable" in _status(admin_client, closed)
    assert "does not serve the Registry API" in _status(admin_client, not_registry)


def test_non_admin_status_of_a_refused_address_is_the_generic_message(viewer_client, admin_client):
    metadata = _link("http://169.254.169.254", allow_private_addresses=True)
    assert "could not be reached or did not answer as a registry" in _status(viewer_client, metadata)
    assert "always refused" in _status(admin_client, metadata)


# --------------------------------------------------------------------------- the real token registry


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory) -> Iterator[TokenRegistry]:
    registry = start_token_registry(
        tmp_path_factory.mktemp("token-registry-sec"), username="alice", password="wonderland-1"
    )
    yield registry
    registry.close()


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_browser_link_form_refuses_a_wrong_password_then_links_with_the_right_one(
    page, live, registry_server
):
    from tests.support import screenshot

    username, password = live.users["admin"]
    page.goto(f"{live.url}/accounts/login/?next=/registries/new/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live.url}/registries/new/")
    name = unique("ui-sec")
    page.fill("#id_name", name)
    page.fill("#id_url", registry_server.url)
    page.fill("#id_username", registry_server.username)
    page.fill("#id_secret", "not-the-password")
    page.check("#id_allow_private_addresses")
    page.click("form.reg-form button[type=submit]")
    page.wait_for_selector("form.reg-form .errorlist")
    assert "refused these credentials" in page.inner_text("form.reg-form .errorlist")
    screenshot(page, "registries-form-refused")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "registries-form-refused-390")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.fill("#id_secret", registry_server.password)
    page.click("form.reg-form button[type=submit]")
    page.wait_for_url(re.compile(r"/registries/\d+/$"))
    assert "works with these credentials" in page.inner_text(".msg-success")
    # The refused form answers 400 (the browser logs that); anything else is a problem.
    assert not [p for p in page.problems if "status of 400" not in p], page.problems


def test_a_registry_linked_from_registry_url_may_use_private_addresses(settings, db, registry_server):
    from core.management.commands.bootstrap import Command

    settings.REGISTRY_URL = registry_server.url
    settings.REGISTRY_NAME = unique("env")
    settings.REGISTRY_USERNAME = registry_server.username
    settings.REGISTRY_PASSWORD = registry_server.password
    Command().link_env_registry()
    assert Registry.objects.get(name=settings.REGISTRY_NAME).allow_private_addresses
