"""The page chrome on the server side: the theme kept per user, the palette's name search (real
engine), the endpoint form's derived slug and plain labels. The browser side: test_chrome_browser.py."""

from __future__ import annotations

import docker
import pytest

from core.models import Account, AuditEvent, Endpoint
from core.views.search import PER_KIND
from tests.support import RUN_ID, TEST_LABEL, unique
from tests.volumes_support import volume

__all__ = ["volume"]  # a fixture


# --------------------------------------------------------------------------- theme


def test_a_picked_theme_is_kept_on_the_account_and_rendered_on_every_page(viewer_client):
    response = viewer_client.post("/account/theme/", {"theme": "dark", "next": "/images/"})
    assert response.status_code == 302
    assert response.url == "/images/"
    assert Account.objects.get(user=viewer_client.user).theme == "dark"
    assert '<html lang="en" data-theme="dark">' in viewer_client.get("/endpoints/").content.decode()


def test_a_script_saving_the_theme_gets_204(viewer_client):
    response = viewer_client.post("/account/theme/", {"theme": "light"}, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 204
    assert Account.objects.get(user=viewer_client.user).theme == "light"


def test_a_new_user_follows_the_system_theme(viewer_client):
    assert '<html lang="en" data-theme="system">' in viewer_client.get("/endpoints/").content.decode()


def test_an_unknown_theme_is_refused_and_changes_nothing(viewer_client):
    viewer_client.post("/account/theme/", {"theme": "dark"})
    response = viewer_client.post("/account/theme/", {"theme": "purple"})
    assert response.status_code == 400
    assert Account.objects.get(user=viewer_client.user).theme == "dark"
    event = AuditEvent.objects.filter(action="user.theme").latest("pk")
    assert event.outcome == "failed"


def test_the_theme_is_changed_only_by_post(viewer_client):
    assert viewer_client.get("/account/theme/", {"theme": "dark"}).status_code == 405
    assert not Account.objects.filter(user=viewer_client.user, theme="dark").exists()


def test_an_offsite_next_goes_to_the_overview(viewer_client):
    response = viewer_client.post("/account/theme/", {"theme": "dark", "next": "https://example.invalid/"})
    assert response.url == "/"


def test_the_login_page_carries_no_theme_of_its_own(client, db):
    assert "data-theme" not in client.get("/accounts/login/").content.decode().split(">", 2)[1]


# --------------------------------------------------------------------------- palette search


@pytest.fixture
def named_network(engine):
    made: list[str] = []

    def make(name: str) -> str:
        made.append(engine.api.create_network(name, labels={TEST_LABEL: RUN_ID})["Id"])
        return made[-1]

    yield make
    for network_id in made:
        try:
            engine.api.remove_network(network_id)
        except docker.errors.NotFound:
            pass


def _search(client, q: str) -> dict:
    response = client.get("/search/", {"q": q})
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_search_finds_each_kind_by_name_with_its_page(viewer_client, make_container, volume, named_network):
    stem = unique("find")
    container = make_container(name=f"{stem}-web", labels={"com.docker.compose.project": f"{stem}-proj"})
    volume_name = volume(f"{stem}-data")
    network_id = named_network(f"{stem}-net")
    results = _search(viewer_client, stem.upper())["results"]  # case does not matter
    found = {(r["kind"], r["name"]): r["url"] for r in results}
    assert found[("container", f"{stem}-web")] == f"/containers/{container['Id']}/"
    assert found[("volume", volume_name)] == f"/volumes/{volume_name}/"
    assert found[("network", f"{stem}-net")] == f"/networks/{network_id}/"
    assert found[("stack", f"{stem}-proj")] == f"/stacks/{stem}-proj/"


def test_search_finds_an_image_by_tag(viewer_client, base_image):
    results = _search(viewer_client, base_image)["results"]
    images = [r for r in results if r["kind"] == "image"]
    assert [r["name"] for r in images] == [base_image]
    assert viewer_client.get(images[0]["url"]).status_code == 200


def test_search_is_bounded_per_kind_and_says_there_is_more(viewer_client, volume):
    stem = unique("many")
    for n in range(PER_KIND + 2):
        volume(f"{stem}-{n}")
    answer = _search(viewer_client, stem)
    assert len([r for r in answer["results"] if r["kind"] == "volume"]) == PER_KIND
    assert answer["more"] is True


def test_an_empty_search_asks_the_engine_nothing(viewer_client, engine_proxy):
    engine_proxy.stop()
    assert _search(viewer_client, "   ") == {"results": [], "more": False}


def test_search_with_the_engine_away_is_a_message_not_a_500(viewer_client, engine_proxy):
    engine_proxy.stop()
    response = viewer_client.get("/search/", {"q": "web"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"The Docker engine at {engine_proxy.url} is not answering."


def test_search_needs_a_role(norole_client):
    assert norole_client.get("/search/", {"q": "web"}).status_code == 403


# --------------------------------------------------------------------------- endpoint form


def test_endpoint_form_derives_the_address_name_from_the_name(admin_client, tmp_path):
    response = admin_client.post(
        "/endpoints/new/", {"name": "Build Farm 2", "url": f"unix://{tmp_path}/d.sock"}
    )
    assert response.status_code == 302
    assert Endpoint.objects.get(name="Build Farm 2").slug == "build-farm-2"


def test_endpoint_form_keeps_a_typed_address_name(admin_client, tmp_path):
    admin_client.post(
        "/endpoints/new/", {"name": "Build Farm", "slug": "bf", "url": f"unix://{tmp_path}/d.sock"}
    )
    assert Endpoint.objects.get(name="Build Farm").slug == "bf"


def test_a_name_with_nothing_to_derive_from_asks_for_the_address_name(admin_client, tmp_path):
    response = admin_client.post("/endpoints/new/", {"name": "!!!", "url": f"unix://{tmp_path}/d.sock"})
    assert response.status_code == 400
    assert "Give a name in addresses" in response.content.decode()
    assert not Endpoint.objects.filter(name="!!!").exists()


def test_endpoint_form_labels_are_plain_words(admin_client):
    page = admin_client.get("/endpoints/new/").content.decode()
    for label in ("Engine URL", "Client key (PEM)", "Client certificate (PEM)", "CA certificate (PEM)"):
        assert f">{label}</label>" in page


@pytest.mark.parametrize(
    "path", ["/", "/containers/", "/containers/new/", "/images/", "/images/prune/", "/volumes/", "/networks/",
             "/stacks/", "/registries/", "/accounts/login/"],
)  # fmt: skip
def test_every_page_carries_the_action_helpers_once(admin_client, client, path):
    page = (client if path == "/accounts/login/" else admin_client).get(path)
    assert page.status_code == 200
    body = page.content.decode()
    for script in ("js/busy.js", "js/jobs.js", "js/cli.js"):
        assert body.count(script) == 1, script
