"""Registries: linking, browsing a real docker-registry (basic and token auth), tag deletion, drift,
search, and every registry failure becoming a clear message (a local fake server answers them)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import docker
import pytest
import requests

from core.models import AuditEvent, Registry
from core.registry import RegistryClient, forget_auth
from tests.registries_support import (
    DOCKER_MANIFEST,
    FakeServer,
    TokenRegistry,
    json_reply,
    push_index,
    push_tiny_image,
    put_manifest,
    self_signed,
    start_token_registry,
)
from tests.support import RUN_ID, free_port, unique

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _fresh_auth_cache() -> Iterator[None]:
    forget_auth()
    yield
    forget_auth()


def _engine_push(engine: docker.DockerClient, source: str, repository: str, tag: str, auth: dict) -> str:
    engine.api.tag(source, repository, tag=tag)
    lines = [json.loads(line) for line in engine.api.push(repository, tag=tag, auth_config=auth, stream=True)]
    assert not [line for line in lines if "error" in line], lines
    return next(line["aux"]["Digest"] for line in lines if "aux" in line)


@pytest.fixture(scope="module")
def seeded(engine, base_image, registry_server) -> dict:
    """The real engine pushes the base image as alpha:v1 and alpha:v2 (one digest) and beta:v1."""
    host = registry_server.host
    auth = registry_server.auth_config
    alpha, beta = f"{RUN_ID}/alpha", f"{RUN_ID}/beta"
    digest = _engine_push(engine, base_image, f"{host}/{alpha}", "v1", auth)
    assert _engine_push(engine, base_image, f"{host}/{alpha}", "v2", auth) == digest
    _engine_push(engine, base_image, f"{host}/{beta}", "v1", auth)
    return {"alpha": alpha, "beta": beta, "digest": digest, "host": host}


@pytest.fixture
def linked(db, registry_server) -> Registry:
    registry = Registry(
        name=unique("reg"),
        url=registry_server.url,
        username=registry_server.username,
        allow_private_addresses=True,  # the test registries listen on 127.0.0.1
    )
    registry.secret = registry_server.password
    registry.save()
    return registry


def _basic(registry_server) -> tuple[str, str]:
    return (registry_server.username, registry_server.password)


def _link(url: str, **fields) -> Registry:
    """A linked registry row; the local test servers are on 127.0.0.1, so private addresses are on."""
    fields.setdefault("allow_private_addresses", True)
    registry = Registry(name=unique("reg"), url=url, username=fields.pop("username", ""), **fields)
    registry.secret = fields.pop("secret", "") if "secret" in fields else ""
    registry.save()
    return registry


# --------------------------------------------------------------------------- linking


@pytest.mark.parametrize(
    "url", ["ftp://registry.example.com", "javascript:alert(1)", "file:///etc/passwd", "gopher://x:70"]
)
def test_registry_form_rejects_non_http_schemes(admin_client, url):
    response = admin_client.post("/registries/new/", {"name": "bad", "url": url, "verify_tls": "on"})
    assert response.status_code == 400
    assert not Registry.objects.filter(name="bad").exists()
    assert "http" in response.content.decode()


def test_registry_form_rejects_credentials_in_the_url(admin_client):
    response = admin_client.post("/registries/new/", {"name": "bad", "url": "https://u:p@example.com"})
    assert "not the URL" in response.content.decode()
    assert not Registry.objects.filter(name="bad").exists()


def test_admin_links_a_registry_with_the_secret_encrypted_and_audited(admin_client, registry_server):
    name = unique("linked")
    response = admin_client.post(
        "/registries/new/",
        {
            "name": name,
            "url": registry_server.url + "/",
            "username": registry_server.username,
            "secret": registry_server.password,
            "verify_tls": "on",
            "allow_private_addresses": "on",
        },
    )
    registry = Registry.objects.get(name=name)
    assert response.status_code == 302 and response["Location"] == f"/registries/{registry.pk}/"
    assert registry.url == registry_server.url
    assert registry_server.password not in registry.secret_encrypted
    assert registry.secret == registry_server.password
    event = AuditEvent.objects.get(action="registry.create", target=name)
    assert event.outcome == "ok" and event.parameters["secret"] == "***"
    # Editing without a new secret keeps the stored one.
    admin_client.post(
        f"/registries/{registry.pk}/edit/",
        {
            "name": name,
            "url": registry_server.url,
            "username": registry_server.username,
            "verify_tls": "on",
            "allow_private_addresses": "on",
        },
    )
    registry.refresh_from_db()
    assert registry.secret == registry_server.password
    admin_client.post(
        f"/registries/{registry.pk}/edit/",
        {
            "name": name,
            "url": registry_server.url,
            "username": "",
            "clear_secret": "on",
            "allow_private_addresses": "on",
            "save_anyway": "on",  # anonymous is refused by this registry: saved on purpose
        },
    )
    registry.refresh_from_db()
    assert registry.secret == "" and registry.secret_encrypted == "" and not registry.verify_tls


def test_viewer_browses_but_cannot_link_edit_or_unlink(viewer_client, linked):
    assert viewer_client.get("/registries/").status_code == 200
    assert viewer_client.get("/registries/new/").status_code == 403
    assert viewer_client.get(f"/registries/{linked.pk}/edit/").status_code == 403
    assert viewer_client.get(f"/registries/{linked.pk}/push/").status_code == 403
    assert viewer_client.post(f"/registries/{linked.pk}/delete/").status_code == 403
    assert Registry.objects.filter(pk=linked.pk).exists()
    assert AuditEvent.objects.filter(action="registry.delete", outcome="denied").exists()


def test_unlinking_is_two_steps_and_audited(admin_client, linked):
    confirm = admin_client.get(f"/registries/{linked.pk}/delete/")
    assert confirm.status_code == 200 and b"Nothing in the registry itself is deleted" in confirm.content
    assert Registry.objects.filter(pk=linked.pk).exists()
    assert admin_client.post(f"/registries/{linked.pk}/delete/").status_code == 302
    assert not Registry.objects.filter(pk=linked.pk).exists()
    assert AuditEvent.objects.filter(action="registry.delete", target=linked.name, outcome="ok").exists()


def test_status_says_auth_ok_unauthorized_or_unreachable(admin_client, linked, registry_server):
    ok = admin_client.get(f"/registries/{linked.pk}/status/").content.decode()
    assert 'data-state="ok"' in ok and "registry/2.0" in ok
    wrong = _link(registry_server.url, username=registry_server.username)
    wrong.secret = "not-the-password"
    wrong.save()
    refused = admin_client.get(f"/registries/{wrong.pk}/status/").content.decode()
    assert 'data-state="unauthorized"' in refused and "refused the username and password" in refused
    down = _link(f"http://127.0.0.1:{free_port()}")
    unreachable = admin_client.get(f"/registries/{down.pk}/status/").content.decode()
    assert 'data-state="down"' in unreachable and "not reachable" in unreachable


# --------------------------------------------------------------------------- browsing the real registry


def _ids(html: str) -> list[str]:
    """The ``data-id`` of each table row, in order."""
    return re.findall(r'<tr [^>]*data-id="([^"]+)"', html)


def test_catalog_is_a_table_filtered_sorted_and_paged_here(viewer_client, linked, seeded):
    url = f"/registries/{linked.pk}/"
    ours = viewer_client.get(url, {"q": f"{RUN_ID}/"})
    assert ours.status_code == 200
    ids = _ids(ours.content.decode())
    assert ids[:2] == [seeded["alpha"], seeded["beta"]]
    assert all(name.startswith(f"{RUN_ID}/") for name in ids)
    backwards = _ids(viewer_client.get(url, {"q": f"{RUN_ID}/", "dir": "desc"}).content.decode())
    assert backwards == ids[::-1]
    only_beta = _ids(viewer_client.get(url, {"q": seeded["beta"].upper()}).content.decode())
    assert only_beta == [seeded["beta"]]
    empty = viewer_client.get(url, {"q": f"{RUN_ID}/zzz"}).content.decode()
    assert "No repository matches" in empty


def test_catalog_rows_link_to_their_repository_pages(viewer_client, linked, seeded):
    html = viewer_client.get(f"/registries/{linked.pk}/", {"q": seeded["alpha"]}).content.decode()
    href = re.search(rf'<tr data-id="{re.escape(seeded["alpha"])}"><td><a href="([^"]+)"', html).group(1)
    assert href == f"/registries/{linked.pk}/repositories/{seeded['alpha']}/"
    repository = viewer_client.get(href)
    assert repository.status_code == 200
    assert _ids(repository.content.decode()) == ["v1", "v2"]


def test_old_catalog_links_with_n_last_and_prefix_redirect_to_the_table(viewer_client, linked, seeded):
    url = f"/registries/{linked.pk}/"
    response = viewer_client.get(url, {"prefix": f"{RUN_ID}/", "n": "1", "last": "x", "sort": "name"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?sort=name&q={RUN_ID}%2F"
    assert _ids(viewer_client.get(response["Location"]).content.decode())[:2] == [
        seeded["alpha"],
        seeded["beta"],
    ]
    tags = viewer_client.get(f"{url}repositories/{seeded['alpha']}/", {"n": "1", "last": "v1"})
    assert tags["Location"] == f"{url}repositories/{seeded['alpha']}/"


def test_catalog_htmx_filter_answers_the_table_with_links_keeping_the_filter(viewer_client, linked, seeded):
    response = viewer_client.get(
        f"/registries/{linked.pk}/", {"q": f"{RUN_ID}/", "per_page": "25"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="table-wrap" id="catalog-table"')
    sort_link = re.search(r'<a href="([^"]+)" hx-get="[^"]+" data-sort="name"', html).group(1)
    assert f"q={RUN_ID}%2F" in sort_link
    assert "per_page=25" in sort_link
    assert "dir=desc" in sort_link


def test_catalog_read_stops_at_the_bound_and_says_so(viewer_client, linked, seeded, settings):
    settings.REGISTRY_LIST_MAX = 1
    html = viewer_client.get(f"/registries/{linked.pk}/").content.decode()
    assert len(_ids(html)) == 1
    assert "showing the first 1 in the registry's order" in html
    settings.REGISTRY_LIST_MAX = 10_000
    assert 'data-testid="list-bound"' not in viewer_client.get(f"/registries/{linked.pk}/").content.decode()


def test_catalog_never_asks_for_more_than_1000(viewer_client, db):
    asked: list[str] = []

    def handler(method, path, headers):
        asked.append(path)
        return json_reply({"repositories": ["a", "b"]})

    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        assert viewer_client.get(f"/registries/{registry.pk}/?n=5000", follow=True).status_code == 200
    finally:
        server.close()
    assert any("n=1000" in path for path in asked)
    assert not any("n=5000" in path for path in asked)


def test_repository_lists_tags_with_lazy_rows_showing_the_engines_digest(viewer_client, linked, seeded):
    page = viewer_client.get(f"/registries/{linked.pk}/repositories/{seeded['alpha']}/").content.decode()
    summary = f"/registries/{linked.pk}/repositories/{seeded['alpha']}/-/tags/v1/summary/"
    assert f'hx-get="{summary}"' in page and 'hx-trigger="revealed"' in page
    assert f'href="/registries/{linked.pk}/repositories/{seeded["alpha"]}/-/tags/v2/"' in page
    row = viewer_client.get(summary, headers={"HX-Request": "true"}).content.decode()
    assert seeded["digest"] in row and "linux/amd64" in row


# Thirty tags of one repository, in the order a person reads versions.
PAGED_TAGS = ["1.0.0-rc.1", "1.0.0-rc.2", "1.0.0", "1.0.0-alpine", "1.2", "1.10"] + [
    f"v{number}" for number in range(1, 25)
]


@pytest.fixture(scope="module")
def paged_repository(registry_server) -> str:
    """A repository with the 30 PAGED_TAGS (one tiny image put under each tag)."""
    auth = {"Authorization": requests.auth._basic_auth_str(*_basic(registry_server))}
    name = f"{RUN_ID}/paged"
    image = push_tiny_image(registry_server.url, name, PAGED_TAGS[0], headers=auth, text="paged")
    for tag in PAGED_TAGS[1:]:
        put_manifest(registry_server.url, name, tag, image.manifest, DOCKER_MANIFEST, auth)
    return name


def test_tags_sort_as_versions_both_ways(viewer_client, linked, paged_repository):
    url = f"/registries/{linked.pk}/repositories/{paged_repository}/"
    assert _ids(viewer_client.get(url).content.decode()) == PAGED_TAGS
    assert _ids(viewer_client.get(url, {"sort": "name", "dir": "desc"}).content.decode()) == PAGED_TAGS[::-1]


def test_tags_filter_and_page_and_a_page_past_the_end_is_the_last(viewer_client, linked, paged_repository):
    url = f"/registries/{linked.pk}/repositories/{paged_repository}/"
    assert _ids(viewer_client.get(url, {"q": "V1"}).content.decode()) == ["v1"] + [
        f"v{number}" for number in range(10, 20)
    ]
    first = viewer_client.get(url, {"per_page": "25"}).content.decode()
    assert _ids(first) == PAGED_TAGS[:25]
    assert "1\u201325 of 30 tags · page 1 of 2" in first
    next_href = re.search(r'<a href="([^"]+)" hx-get="[^"]+" rel="next"', first).group(1)
    assert _ids(viewer_client.get(url + next_href.replace("&amp;", "&")).content.decode()) == PAGED_TAGS[25:]
    past = viewer_client.get(url, {"per_page": "25", "page": "99"}).content.decode()
    assert _ids(past) == PAGED_TAGS[25:]
    assert "26\u201330 of 30 tags · page 2 of 2" in past


def test_tags_bad_paging_values_fall_back_to_the_defaults(viewer_client, linked, paged_repository):
    url = f"/registries/{linked.pk}/repositories/{paged_repository}/"
    response = viewer_client.get(url, {"sort": "size", "dir": "sideways", "page": "-3", "per_page": "7"})
    assert response.status_code == 200
    html = response.content.decode()
    assert _ids(html) == PAGED_TAGS
    assert '<strong aria-current="true">50</strong>' in html
    assert viewer_client.get(url, {"page": "x" * 50, "per_page": "1e9"}).status_code == 200


def test_tags_read_stops_at_the_bound_and_says_so(viewer_client, linked, paged_repository, settings):
    settings.REGISTRY_LIST_MAX = 10
    html = viewer_client.get(f"/registries/{linked.pk}/repositories/{paged_repository}/").content.decode()
    assert len(_ids(html)) == 10
    assert f"{paged_repository} has more tags than this page reads: showing the first 10 " in html


def test_tag_rows_link_to_the_manifest_and_load_their_summary(viewer_client, linked, paged_repository):
    url = f"/registries/{linked.pk}/repositories/{paged_repository}/"
    html = viewer_client.get(url, {"q": "1.10"}).content.decode()
    row = re.search(r'<tr id="tag-1" [^>]*>', html).group(0)
    assert f'hx-get="{url}-/tags/1.10/summary/"' in row
    assert 'hx-target="this"' in row and 'hx-push-url="false"' in row
    assert viewer_client.get(f"{url}-/tags/1.10/").status_code == 200
    summary = viewer_client.get(f"{url}-/tags/1.10/summary/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-id="1.10"' in summary and "linux/amd64" in summary


def test_manifest_page_shows_schema2_layers_config_history_and_pull(operator_client, linked, seeded, engine):
    url = f"/registries/{linked.pk}/repositories/{seeded['alpha']}/-/tags/v1/"
    html = operator_client.get(url).content.decode()
    assert "Docker image manifest v2, schema 2" in html
    assert seeded["digest"] in html
    assert f"docker pull {seeded['host']}/{seeded['alpha']}:v1" in html
    assert "PATH=/bin" in html and "<code>sh</code>" in html
    assert 'data-testid="history"' in html
    layers = re.findall(r"<tr><td>\d+</td><td><code>(sha256:[0-9a-f]+)</code>", html)
    assert len(layers) == 1
    # The pull form posts to the images page's pull action with the linked registry.
    form = re.search(r'<form method="post" action="/images/pull/"(.*?)</form>', html, re.S).group(1)
    assert 'name="csrfmiddlewaretoken"' in form
    assert f'name="reference" value="{seeded["host"]}/{seeded["alpha"]}:v1"' in form
    assert f'name="registry" value="{linked.pk}"' in form


def test_viewer_sees_no_pull_or_delete_controls(viewer_client, linked, seeded):
    html = viewer_client.get(
        f"/registries/{linked.pk}/repositories/{seeded['alpha']}/-/tags/v1/"
    ).content.decode()
    assert "/images/pull/" not in html and "Delete tag" not in html
    assert (
        viewer_client.get(
            f"/registries/{linked.pk}/repositories/{seeded['alpha']}/-/tags/v1/delete/"
        ).status_code
        == 403
    )


def test_index_lists_each_platform_and_each_is_browsable(viewer_client, linked, registry_server):
    url, auth = (
        registry_server.url,
        {"Authorization": requests.auth._basic_auth_str(*_basic(registry_server))},
    )
    name = f"{RUN_ID}/multi"
    amd = push_tiny_image(url, name, "amd64-only", headers=auth, text="amd", architecture="amd64")
    arm = push_tiny_image(url, name, "arm64-only", headers=auth, text="arm", architecture="arm64")
    index_digest = push_index(url, name, "both", [(amd, "amd64"), (arm, "arm64")], headers=auth)
    html = viewer_client.get(f"/registries/{linked.pk}/repositories/{name}/-/tags/both/").content.decode()
    assert "OCI image index (multi-platform)" in html and index_digest in html
    assert "linux/amd64" in html and "linux/arm64" in html
    platform = viewer_client.get(
        f"/registries/{linked.pk}/repositories/{name}/-/tags/both/", {"digest": arm.digest}
    ).content.decode()
    assert "Docker image manifest v2, schema 2" in platform and arm.digest in platform
    assert "linux/arm64" in platform and "ADD hello.txt (arm)" in platform
    assert f"docker pull {registry_server.host}/{name}@{arm.digest}" in platform
    row = viewer_client.get(
        f"/registries/{linked.pk}/repositories/{name}/-/tags/both/summary/"
    ).content.decode()
    assert "linux/amd64" in row and "linux/arm64" in row


def test_unknown_repository_or_tag_is_a_404_page_not_a_500(viewer_client, linked, seeded):
    missing = viewer_client.get(f"/registries/{linked.pk}/repositories/{RUN_ID}/nothing/-/tags/v1/")
    assert missing.status_code == 404 and b"does not exist" in missing.content
    invalid = viewer_client.get(f"/registries/{linked.pk}/repositories/UPPER..case/")
    assert invalid.status_code == 404


# --------------------------------------------------------------------------- deleting a tag


def test_delete_tag_warns_about_every_tag_sharing_the_digest_then_deletes(
    admin_client, registry_server, db, engine, base_image
):
    registry = _link(registry_server.url, username=registry_server.username)
    registry.secret = registry_server.password
    registry.save()
    auth = {"Authorization": requests.auth._basic_auth_str(*_basic(registry_server))}
    name = f"{RUN_ID}/doomed"
    image = push_tiny_image(registry_server.url, name, "one", headers=auth, text="doomed")
    for tag in ("two", "three"):
        push_tiny_image(registry_server.url, name, tag, headers=auth, text="doomed")
    other = push_tiny_image(registry_server.url, name, "keep", headers=auth, text="kept")
    base = f"/registries/{registry.pk}/repositories/{name}/-/tags/one/delete/"
    confirm = admin_client.get(base).content.decode()
    assert image.digest in confirm and 'data-testid="shared-warning"' in confirm
    for tag in ("one", "two", "three"):
        assert f"<code>{name}:{tag}</code>" in confirm
    assert f"{name}:keep" not in confirm and "garbage collection" in confirm
    tags = requests.get(
        f"{registry_server.url}/v2/{name}/tags/list", auth=_basic(registry_server), timeout=10
    )
    assert sorted(tags.json()["tags"]) == ["keep", "one", "three", "two"]  # GET changed nothing
    done = admin_client.post(base, {"digest": image.digest})
    assert done.status_code == 302
    tags = requests.get(
        f"{registry_server.url}/v2/{name}/tags/list", auth=_basic(registry_server), timeout=10
    )
    assert tags.json()["tags"] == ["keep"]
    client = RegistryClient(
        url=registry_server.url,
        username=registry_server.username,
        password=registry_server.password,
        allow_private_addresses=True,
    )
    assert client.manifest_digest(name, "keep") == other.digest
    assert AuditEvent.objects.get(action="registry.tag_delete").outcome == "ok"


def test_delete_refuses_when_the_tag_moved_since_the_confirmation(admin_client, linked, registry_server):
    auth = {"Authorization": requests.auth._basic_auth_str(*_basic(registry_server))}
    name = f"{RUN_ID}/moving"
    before = push_tiny_image(registry_server.url, name, "latest", headers=auth, text="before")
    push_tiny_image(registry_server.url, name, "latest", headers=auth, text="after")
    response = admin_client.post(
        f"/registries/{linked.pk}/repositories/{name}/-/tags/latest/delete/", {"digest": before.digest}
    )
    assert response.status_code == 502 and b"nothing was" in response.content
    assert AuditEvent.objects.get(action="registry.tag_delete").outcome == "failed"
    client = RegistryClient(
        url=registry_server.url,
        username=registry_server.username,
        password=registry_server.password,
        allow_private_addresses=True,
    )
    assert client.manifest_digest(name, "latest") is not None


def test_delete_on_a_registry_with_deletion_disabled_explains_405(admin_client, db):
    digest = "sha256:" + "a" * 64

    def handler(method, path, headers):
        if method == "HEAD":
            return 200, {"Docker-Content-Digest": digest, "Content-Type": "application/json"}, b""
        if method == "DELETE":
            return json_reply(
                {"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}, 405
            )
        return json_reply({"tags": ["v1"], "name": "app"})

    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        response = admin_client.post(
            f"/registries/{registry.pk}/repositories/app/-/tags/v1/delete/", {"digest": digest}
        )
    finally:
        server.close()
    html = response.content.decode()
    assert response.status_code == 502 and "HTTP 405" in html and "deletion is disabled" in html
    assert "Traceback" not in html


# --------------------------------------------------------------------------- failures become messages


def _fault(status: int, body: bytes = b"", headers: dict | None = None):
    def handler(method, path, request_headers):
        return status, {"Content-Type": "application/json", **(headers or {})}, body

    return handler


FAULTS = {
    "401": (_fault(401, b"{}", {"WWW-Authenticate": 'Basic realm="x"'}), "requires a login"),
    "403": (_fault(403, b"{}"), "denied access"),
    "404": (_fault(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'), "does not exist"),
    "429": (
        _fault(429, b"{}", {"Retry-After": "30"}),
        "rate-limiting requests (HTTP 429); try again in 30 s",
    ),
    "500": (_fault(500, b"oops"), "failed with HTTP 500"),
    "503": (_fault(503, b""), "failed with HTTP 503"),
    "garbage": (_fault(200, b"<html>not json"), "not valid JSON"),
    "wrong shape": (_fault(200, b'{"repositories": "x"}'), "malformed repositories list"),
    "loop": (
        lambda m, p, h: json_reply(
            {"repositories": ["b" if "last=a" in p else "a"]},
            headers={"Link": '</v2/_catalog?last=a&n=1>; rel="next"'},
        ),
        "loops",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_registry_fault_is_a_clear_message_never_a_500(admin_client, db, fault):
    handler, message = FAULTS[fault]
    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        response = admin_client.get(f"/registries/{registry.pk}/")
        status = admin_client.get(f"/registries/{registry.pk}/status/")
    finally:
        server.close()
    html = response.content.decode()
    assert response.status_code in (404, 502, 503), response.status_code
    assert message in html and "Traceback" not in html
    assert status.status_code == 200


def test_names_outside_the_grammar_and_malformed_manifests_are_handled(viewer_client, admin_client, db):
    def handler(method, path, headers):
        if path.startswith("/v2/_catalog"):
            return json_reply({"repositories": ["ok/app", "", "<script>alert(1)</script>", "UPPER"]})
        if "/tags/list" in path:
            return json_reply({"name": "ok/app", "tags": ["v1", "", "bad tag"]})
        return json_reply({"schemaVersion": 2, "layers": "not-a-list"})

    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        catalog = viewer_client.get(f"/registries/{registry.pk}/")
        tags = viewer_client.get(f"/registries/{registry.pk}/repositories/ok/app/")
        # The detail is for admins (viewers get the generic "unavailable" message).
        manifest = admin_client.get(f"/registries/{registry.pk}/repositories/ok/app/-/tags/v1/")
    finally:
        server.close()
    assert catalog.status_code == 200 and b"ok/app</a>" in catalog.content
    assert b"<script>alert" not in catalog.content and b"UPPER" not in catalog.content
    assert tags.status_code == 200 and b'data-tag="v1"' in tags.content and b"bad tag" not in tags.content
    assert manifest.status_code == 502 and b"malformed layers" in manifest.content


def test_endless_catalog_pages_stop_at_the_name_bound(viewer_client, db, settings):
    settings.REGISTRY_LIST_MAX = 250
    pages = iter(range(10**6))

    def handler(method, path, headers):
        page = next(pages)
        names = [f"r{page:06d}/n{index:04d}" for index in range(1000)]
        return json_reply(
            {"repositories": names}, headers={"Link": f'</v2/_catalog?n=1000&last={names[-1]}>; rel="next"'}
        )

    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        html = viewer_client.get(
            f"/registries/{registry.pk}/", {"per_page": "200", "page": "2"}
        ).content.decode()
    finally:
        server.close()
    assert len(server.seen) == 1
    assert "201\u2013250 of 250 repositories · page 2 of 2" in html
    assert "showing the first 250 in the registry's order" in html


def test_one_name_pages_and_pages_of_invalid_names_stop_at_the_page_bound(viewer_client, db, settings):
    settings.REGISTRY_LIST_MAX = 250  # at most 250 // 100 + 1 = 3 pages
    pages = iter(range(10**6))

    def handler(method, path, headers):
        page = next(pages)
        names = [f"ok{page}"] if page % 2 else ["a" * 300, "UPPER", "../x", "<b>"]
        return json_reply(
            {"repositories": names}, headers={"Link": f'</v2/_catalog?n=1000&last=m{page}>; rel="next"'}
        )

    server = FakeServer(handler)
    try:
        registry = _link(server.url())
        response = viewer_client.get(f"/registries/{registry.pk}/")
    finally:
        server.close()
    html = response.content.decode()
    assert response.status_code == 200
    assert len(server.seen) == 3
    assert _ids(html) == ["ok1"]
    assert "a" * 256 not in html
    assert "UPPER" not in html
    assert "showing the first 1 in the registry's order" in html


def test_paging_loop_while_searching_a_catalog_is_stopped(admin_client, db):
    server = FakeServer(
        lambda m, p, h: json_reply(
            {"repositories": ["a", "b"]}, headers={"Link": '</v2/_catalog?last=b&n=2>; rel="next"'}
        )
    )
    try:
        _link(server.url())
        html = admin_client.get("/registries/search/catalogs/", {"q": "a"}).content.decode()
    finally:
        server.close()
    assert "loops" in html
    assert len(server.seen) < 10


def test_unreachable_and_tls_failure_are_clear_messages(admin_client, db, tmp_path):
    down = _link(f"http://127.0.0.1:{free_port()}")
    response = admin_client.get(f"/registries/{down.pk}/")
    assert response.status_code == 503 and b"not reachable" in response.content
    cert, key = self_signed(tmp_path / "tls")
    server = FakeServer(lambda m, p, h: json_reply({}), tls=(cert, key))
    try:
        untrusted = _link(server.url())
        refused = admin_client.get(f"/registries/{untrusted.pk}/")
        assert refused.status_code == 503 and b"TLS verification failed" in refused.content
        trusted = _link(server.url(), ca_bundle=cert.read_text())
        status = admin_client.get(f"/registries/{trusted.pk}/status/").content.decode()
        assert 'data-state="ok"' in status
    finally:
        server.close()


# --------------------------------------------------------------------------- auth safety


def test_credentials_never_follow_a_redirect_to_another_host(db):
    blob = FakeServer(
        lambda m, p, h: (200, {"Content-Type": "application/json"}, b'{"architecture":"amd64"}')
    )
    digest = "sha256:" + __import__("hashlib").sha256(b'{"architecture":"amd64"}').hexdigest()

    def registry_handler(method, path, headers):
        if "Authorization" not in headers:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        if "/blobs/" in path:
            return 307, {"Location": f"{blob.url('localhost')}/storage/blob"}, b""
        return json_reply({})

    registry = FakeServer(registry_handler)
    try:
        client = RegistryClient(
            url=registry.url(), username="me", password="secret-pw", allow_private_addresses=True
        )
        assert client.blob_json("app", digest) == {"architecture": "amd64"}
    finally:
        registry.close()
        blob.close()
    assert [s for s in registry.seen if "Authorization" in s.headers]
    assert blob.seen and all("Authorization" not in s.headers for s in blob.seen)


def test_token_realm_on_another_host_gets_no_credentials_unless_allowed(db, tmp_path):
    issuer_seen: list[dict] = []

    def token_handler(method, path, headers):
        issuer_seen.append(headers)
        return json_reply({"token": "tok-123", "expires_in": 300})

    token_server = FakeServer(token_handler)
    realm = f"{token_server.url('localhost')}/token"

    def registry_handler(method, path, headers):
        if headers.get("Authorization") != "Bearer tok-123":
            challenge = f'Bearer realm="{realm}",service="svc",scope="registry:catalog:*"'
            return 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b"{}"
        return json_reply({"repositories": ["x"]})

    registry = FakeServer(registry_handler)
    try:
        client = RegistryClient(
            url=registry.url(), username="me", password="secret-pw", allow_private_addresses=True
        )
        assert client.catalog().items == ("x",)
        assert issuer_seen and "Authorization" not in issuer_seen[-1]
        forget_auth()
        trusting = RegistryClient(
            url=registry.url(),
            username="me",
            password="secret-pw",
            allowed_token_hosts=f"localhost:{token_server.port}",
            allow_private_addresses=True,
        )
        assert trusting.catalog().items == ("x",)
        assert issuer_seen[-1]["Authorization"].startswith("Basic ")
    finally:
        registry.close()
        token_server.close()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory) -> Iterator[TokenRegistry]:
    registry = start_token_registry(
        tmp_path_factory.mktemp("token-registry"), username="alice", password="wonderland-1"
    )
    yield registry
    registry.close()


def test_token_auth_registry_pushed_by_the_engine_is_browsed_with_the_bearer_flow(
    viewer_client, admin_client, token_registry, engine, base_image, db
):
    name = f"{RUN_ID}/tokened"
    auth = {"username": "alice", "password": "wonderland-1", "serveraddress": token_registry.host}
    digest = _engine_push(engine, base_image, f"{token_registry.host}/{name}", "v1", auth)
    # The issuer listens on another port: its origin must be listed to receive the credentials.
    registry = _link(
        token_registry.url, username="alice", allowed_token_hosts=token_registry.issuer.server.url()
    )
    registry.secret = "wonderland-1"
    registry.save()
    status = viewer_client.get(f"/registries/{registry.pk}/status/").content.decode()
    assert 'data-state="ok"' in status and "bearer" in status
    catalog = viewer_client.get(f"/registries/{registry.pk}/?q={RUN_ID}/").content.decode()
    assert f"{name}</a>" in catalog
    manifest = viewer_client.get(f"/registries/{registry.pk}/repositories/{name}/-/tags/v1/").content.decode()
    assert digest in manifest and "PATH=/bin" in manifest
    asked = [s for s in token_registry.issuer.seen if "scope=" in s.path]
    assert any("registry%3Acatalog" in s.path for s in asked)
    assert all(s.headers.get("Authorization", "").startswith("Basic ") for s in asked)
    admin_client.post(f"/registries/{registry.pk}/repositories/{name}/-/tags/v1/delete/", {"digest": digest})
    headers = token_registry.bearer([f"repository:{name}:pull"])
    check = requests.head(
        f"{token_registry.url}/v2/{name}/manifests/v1",
        headers={**headers, "Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert check.status_code == 404
    assert AuditEvent.objects.get(action="registry.tag_delete").outcome == "ok"


def test_token_auth_with_a_wrong_password_is_a_clear_message(viewer_client, token_registry, db):
    # The issuer listens on another port: its origin must be listed to receive the credentials.
    registry = _link(
        token_registry.url, username="alice", allowed_token_hosts=token_registry.issuer.server.url()
    )
    registry.secret = "wrong"
    registry.save()
    response = viewer_client.get(f"/registries/{registry.pk}/")
    assert response.status_code == 502 and b"refused the credentials" in response.content


# --------------------------------------------------------------------------- pull, push, drift, search


def test_push_page_offers_each_local_tag_with_a_form_to_the_images_push_action(
    admin_client, linked, seeded, engine
):
    html = admin_client.get(
        f"/registries/{linked.pk}/push/", {"repository": f"{RUN_ID}/pushed", "q": seeded["alpha"]}
    ).content.decode()
    image_id = engine.images.get(f"{seeded['host']}/{seeded['alpha']}:v1").id.removeprefix("sha256:")
    form = re.search(rf'<form method="post" action="/images/{image_id}/push/"(.*?)</form>', html, re.S)
    assert form is not None
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert f'name="registry" value="{linked.pk}"' in form.group(1)
    assert f'name="reference" value="{seeded["host"]}/{RUN_ID}/pushed:' in form.group(1)


def test_push_page_filters_local_tags(admin_client, linked, seeded):
    html = admin_client.get(f"/registries/{linked.pk}/push/", {"q": seeded["alpha"]}).content.decode()
    shown = set(re.findall(r"<td><code>([^<]+)</code>", html))
    assert shown == {f"{seeded['host']}/{seeded['alpha']}:v1", f"{seeded['host']}/{seeded['alpha']}:v2"}


def test_push_page_shows_one_page_of_local_tags(admin_client, linked, seeded):
    html = admin_client.get(f"/registries/{linked.pk}/push/", {"q": RUN_ID, "per_page": 25, "page": 1})
    assert len(re.findall(r"<td><code>", html.content.decode())) <= 25


def test_push_page_bad_paging_falls_back_to_defaults(admin_client, linked, seeded):
    response = admin_client.get(f"/registries/{linked.pk}/push/", {"page": "x", "per_page": "3", "sort": "?"})
    assert response.status_code == 200


def test_drift_says_in_sync_differs_and_not_in_registry(viewer_client, linked, seeded, engine, base_image):
    host = seeded["host"]
    in_sync = f"{host}/{seeded['alpha']}:v1"
    image_id = engine.images.get(in_sync).id
    engine.api.tag(base_image, f"{host}/{RUN_ID}/never-pushed", tag="v1")
    # beta:v1 on the registry is replaced by another image: the local beta:v1 now differs.
    auth = {"Authorization": requests.auth._basic_auth_str(linked.username, linked.secret)}
    other = push_tiny_image(linked.url, seeded["beta"], "v1", headers=auth, text="replaced")
    html = viewer_client.get(
        "/registries/drift/", {"image": image_id}, headers={"HX-Request": "true"}
    ).content.decode()
    found = {
        ref: state for state, ref in re.findall(r'<tr data-state="([\w-]+)"><td><code>([^<]+)</code>', html)
    }
    assert found[in_sync] == "in-sync"
    assert found[f"{host}/{seeded['beta']}:v1"] == "differs"
    assert found[f"{host}/{RUN_ID}/never-pushed:v1"] == "missing"
    assert other.digest[:19] in html
    assert "not in registry" in html and "in sync" in html


def test_drift_template_is_an_htmx_placeholder_for_the_image_page(rf, db):
    from django.template.loader import render_to_string

    class FakeImage:
        id = "sha256:" + "b" * 64

    html = render_to_string("images/_registry_drift.html", {"image": FakeImage()})
    assert f'hx-get="/registries/drift/?image=sha256%3A{"b" * 64}"' in html
    assert 'href="/registries/drift/?image=' in html
    assert render_to_string("images/_registry_drift.html", {"image": None}).strip() == ""


def test_docker_search_offline_is_a_clear_message(viewer_client):
    html = viewer_client.get("/registries/search/index/", {"q": "busybox"}).content.decode()
    assert 'data-testid="index-error"' in html
    assert "could not reach its image index" in html
    assert "Tried Docker Hub through the engine, and it failed" in html


def test_docker_hub_is_searched_only_when_asked(viewer_client, linked):
    page = viewer_client.get("/registries/search/", {"q": "alpha"}).content.decode()
    assert "/registries/search/index/" not in page
    assert 'data-testid="hub-not-searched"' in page
    assert 'href="/registries/search/?q=alpha&amp;hub=1"' in page
    asked = viewer_client.get("/registries/search/", {"q": "alpha", "hub": "1"}).content.decode()
    assert 'hx-get="/registries/search/index/?q=alpha"' in asked


def test_search_box_finds_repositories_across_linked_registries(viewer_client, linked, seeded):
    page = viewer_client.get("/registries/search/", {"q": "alpha"}).content.decode()
    assert "/registries/search/catalogs/?q=alpha" in page
    html = viewer_client.get("/registries/search/catalogs/", {"q": f"{RUN_ID}/alp"}).content.decode()
    assert f"{seeded['alpha']}</a>" in html and f"{seeded['beta']}</a>" not in html


def test_every_registries_view_declares_a_role():
    from core.views import registries

    for pattern in registries.urlpatterns:
        assert getattr(pattern.callback, "required_role", None) is not None, pattern.name


def test_catalog_order_prefix_start_matches_the_registry(linked, registry_server, seeded):
    client = RegistryClient(
        url=registry_server.url,
        username=registry_server.username,
        password=registry_server.password,
        allow_private_addresses=True,
    )
    assert client.catalog(prefix=f"{RUN_ID}/a", n=10).items == (seeded["alpha"],)
    everything = client.catalog(prefix=f"{RUN_ID}/", n=100).items
    assert everything[:2] == (seeded["alpha"], seeded["beta"])
    assert all(name.startswith(f"{RUN_ID}/") for name in everything)


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_browser_link_browse_and_delete_a_tag_with_the_shared_digest_warning(page, live, registry_server):
    from tests.support import screenshot

    auth = {"Authorization": requests.auth._basic_auth_str(*_basic(registry_server))}
    name = f"{RUN_ID}/browsed"
    image = push_tiny_image(registry_server.url, name, "stable", headers=auth, text="browsed")
    push_tiny_image(registry_server.url, name, "1.0", headers=auth, text="browsed")
    push_tiny_image(registry_server.url, name, "edge", headers=auth, text="other")
    # Log in straight to the form (not via the overview, whose disk-usage call can collide with
    # another suite's `docker system df` on the shared engine).
    username, password = live.users["admin"]
    page.goto(f"{live.url}/accounts/login/?next=/registries/new/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live.url}/registries/new/")
    registry_name = unique("ui")
    page.fill("#id_name", registry_name)
    page.fill("#id_url", registry_server.url)
    page.fill("#id_username", registry_server.username)
    page.fill("#id_secret", registry_server.password)
    page.check("#id_allow_private_addresses")  # the test registry listens on 127.0.0.1
    page.click("form.reg-form button[type=submit]")
    page.wait_for_url(re.compile(r"/registries/\d+/$"))
    catalog_url = page.url
    page.fill("#catalog-q", f"{RUN_ID}/")
    page.wait_for_url(re.compile(r"[?&]q="))
    page.click(f"text={name}")
    page.wait_for_selector("tr[data-loaded][data-tag=stable]")
    page.wait_for_selector("tr[data-loaded][data-tag=edge]")
    assert image.digest[:19] in page.inner_text("tr[data-tag=stable]")
    screenshot(page, "registries-repository")
    # Sorting swaps the table in place; its rows then load their details into themselves.
    page.click("#tag-table th a[data-sort=name]")
    page.wait_for_selector("#tag-table th a.sorted.desc[data-sort=name]")
    page.wait_for_url(re.compile(r"dir=desc"))
    for tag in ("stable", "edge", "1.0"):
        page.wait_for_selector(f"#tag-table tr[data-loaded][data-tag='{tag}']")
    rows = page.query_selector_all("#tag-table tbody tr")
    assert [row.get_attribute("data-id") for row in rows] == ["stable", "edge", "1.0"]
    page.click("tr[data-tag=stable] a")
    page.wait_for_selector("[data-testid=media-type]")
    assert "Docker image manifest v2, schema 2" in page.inner_text("[data-testid=media-type]")
    assert (
        page.inner_text("[data-testid=pull-command]") == f"docker pull {registry_server.host}/{name}:stable"
    )
    screenshot(page, "registries-manifest")
    page.click("[data-testid=delete-tag]")
    warning = page.inner_text("[data-testid=shared-warning]")
    assert f"{name}:1.0" in warning and f"{name}:stable" in warning and "edge" not in warning
    screenshot(page, "registries-delete-confirm")
    page.click("[data-testid=confirm-delete]")
    page.wait_for_selector(".msg-success")
    assert "garbage collection" in page.inner_text(".msg-success")
    remaining = [row.get_attribute("data-tag") for row in page.query_selector_all("tr[data-tag]")]
    assert remaining == ["edge"]
    page.goto(f"{live.url}/registries/")
    page.wait_for_selector("[data-state=ok]")
    screenshot(page, "registries-list")
    page.goto(catalog_url)
    screenshot(page, "registries-catalog")
    assert not page.problems, page.problems
