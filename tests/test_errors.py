"""The one error path (issue 11): refs checked before the engine, 503/404/refusal pages, htmx text."""

from __future__ import annotations

import pytest

from core.models import AuditEvent
from tests.support import RUN_ID

# URL refs outside Docker's name/id grammar: each must be a 404 with no engine call at all.
BAD_REFS = [
    "/containers/%2e%2e/",
    "/containers/..%2f..%2fversion/",
    "/containers/.hidden/",
    "/containers/-x/",
    "/containers/a%0ab/",
    "/containers/a%1b%5b2J/",
    "/containers/a%00b/",
    "/containers/%2e%2e/logs/",
    "/containers/%2e%2e/stop/",
    f"/containers/{'x' * 256}/",
    "/swarm/services/%2e%2e/",
    "/images/not-an-id/",
    "/images/%2e%2e/",
]


@pytest.mark.parametrize("path", BAD_REFS)
def test_a_ref_outside_the_grammar_is_a_404_without_any_engine_call(operator_client, engine_proxy, path):
    # With the engine "down", any engine call would answer 503: a 404 proves none was made.
    engine_proxy.stop()
    response = operator_client.get(path) if not path.endswith("/stop/") else operator_client.post(path)
    assert response.status_code == 404


def test_a_grammatical_ref_with_the_engine_away_is_a_503(operator_client, engine_proxy):
    engine_proxy.stop()
    assert operator_client.get(f"/containers/{RUN_ID}-absent/").status_code == 503


def test_the_503_page_says_retry_after(admin_client, engine_proxy):
    engine_proxy.stop()
    assert admin_client.get("/").headers["Retry-After"] == "5"


def test_an_htmx_request_with_the_engine_away_gets_the_message_as_text(viewer_client, engine_proxy):
    engine_proxy.stop()
    response = viewer_client.get("/images/", {"q": "x", "partial": "rows"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"The Docker engine at {engine_proxy.url} is not answering."


def test_an_htmx_refusal_gets_the_engine_reason_as_text(operator_client, make_container):
    container = make_container(start=False)
    response = operator_client.post(f"/containers/{container['Id']}/pause/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "is not running" in response.content.decode()


def test_a_refusal_page_shows_the_message_once(operator_client, make_container):
    container = make_container(start=False)
    response = operator_client.post(f"/containers/{container['Id']}/pause/")
    assert response.content.decode().count("is not running") == 1


def test_a_refusal_page_has_a_plain_title(operator_client, make_container):
    container = make_container(start=False)
    response = operator_client.post(f"/containers/{container['Id']}/pause/")
    assert f"<title>Could not pause {container['Id']}" in response.content.decode()


def test_a_refused_action_is_audited_as_failed(operator_client, make_container):
    container = make_container(start=False)
    operator_client.post(f"/containers/{container['Id']}/pause/")
    # main's audit targets are "name (id12)"
    event = AuditEvent.objects.get(action="container.pause", target__endswith=f"({container['Id'][:12]})")
    assert event.outcome == "failed"


def test_a_bulk_action_with_a_ref_outside_the_grammar_calls_no_engine(operator_client, engine_proxy):
    engine_proxy.stop()
    response = operator_client.post("/containers/bulk/", {"action": "stop", "ids": ["..", "web"]})
    assert response.status_code == 302
