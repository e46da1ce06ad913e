"""The containers list paged on the real engine: filter, sort and page keep each other; bad values
fall back to defaults; "select all matching" acts on the filtered set across pages; the browser view."""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import pytest

from tests.support import RUN_ID, TEST_LABEL, finished_job, screenshot, unique

PAGED = 27  # more than one page of 25


@pytest.fixture(scope="module")
def paged(engine, base_image) -> Iterator[dict]:
    """PAGED created (not started) containers named <prefix>-NN, and two others that must be left alone."""
    prefix, other = unique("paged"), unique("spared")
    ids: dict[str, str] = {}
    for name in [f"{prefix}-{i:02d}" for i in range(PAGED)] + [f"{other}-{i}" for i in range(2)]:
        ids[name] = engine.api.create_container(
            base_image, command="sleep 300", name=name, labels={TEST_LABEL: RUN_ID}
        )["Id"]
    yield {"prefix": prefix, "other": other, "ids": ids}
    for container_id in ids.values():
        try:
            engine.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass


def _get(client, query: str) -> str:
    return client.get(f"/containers/?{query}").content.decode()


def _names(html: str, prefix: str) -> list[str]:
    return re.findall(rf'class="cname">({re.escape(prefix)}-\d+)<', html)


def _running(engine, name: str) -> bool:
    return engine.api.inspect_container(name)["State"]["Running"]


def test_first_page_shows_per_page_rows_and_the_total(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&per_page=25&sort=name")
    assert len(_names(html, paged["prefix"])) == 25


def test_pager_says_how_many_match(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&per_page=25")
    assert f"1\u201325 of {PAGED} containers" in html


def test_second_page_holds_the_rest_in_order(viewer_client, paged):
    html = viewer_client.get(
        f"/containers/?q={paged['prefix']}&per_page=25&sort=name&page=2"
    ).content.decode()
    assert _names(html, paged["prefix"]) == [f"{paged['prefix']}-25", f"{paged['prefix']}-26"]


def test_page_past_the_end_shows_the_last_page(viewer_client, paged):
    html = viewer_client.get(
        f"/containers/?q={paged['prefix']}&per_page=25&sort=name&page=99"
    ).content.decode()
    assert _names(html, paged["prefix"]) == [f"{paged['prefix']}-25", f"{paged['prefix']}-26"]


def test_sort_links_keep_the_filter(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&per_page=25&page=2")
    link = re.search(r'<a href="([^"]*)"[^>]*data-sort="name"', html).group(1)
    assert f"q={paged['prefix']}" in link


def test_filter_then_sort_keeps_the_filter(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&sort=name&dir=desc")
    assert _names(html, paged["other"]) == []


def test_sort_after_filter_is_applied(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&sort=name&dir=desc")
    assert _names(html, paged["prefix"])[0] == f"{paged['prefix']}-26"


def test_sorting_goes_back_to_page_one(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&per_page=25&page=2")
    link = re.search(r'<a href="([^"]*)"[^>]*data-sort="name"', html).group(1)
    assert "page" not in dict(p.split("=", 1) for p in link.replace("&amp;", "&").lstrip("?").split("&"))


def test_pager_links_keep_filter_sort_and_size(viewer_client, paged):
    html = viewer_client.get(
        f"/containers/?q={paged['prefix']}&sort=name&dir=desc&per_page=25"
    ).content.decode()
    link = re.search(r'<a href="([^"]*)"[^>]*rel="next"', html).group(1).replace("&amp;", "&")
    assert sorted(link.lstrip("?").split("&")) == sorted(
        [f"q={paged['prefix']}", "sort=name", "dir=desc", "per_page=25", "page=2"]
    )


@pytest.mark.parametrize(
    "query", ["sort=__class__", "dir=sideways", "page=abc", "page=-1", "per_page=7", "per_page=99999"]
)
def test_bad_list_parameters_fall_back_to_defaults(viewer_client, paged, query):
    response = viewer_client.get(f"/containers/?q={paged['prefix']}&{query}")
    assert response.status_code == 200


def test_bad_sort_sorts_by_created_newest_first(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&sort=nope&dir=nope")
    assert 'data-sort="created" class="sorted desc"' in html


def test_bad_per_page_is_fifty(viewer_client, paged):
    html = _get(viewer_client, f"q={paged['prefix']}&per_page=7")
    assert '<strong aria-current="true">50</strong>' in html


def test_select_all_matching_is_offered_with_the_count(operator_client, paged):
    html = operator_client.get(f"/containers/?q={paged['prefix']}&per_page=25").content.decode()
    assert f"Select all {PAGED} matching containers" in html


@pytest.mark.django_db(transaction=True)  # bulk actions are jobs: rows written from their thread
def test_bulk_start_of_all_matching_acts_on_every_page_of_the_filter_only(operator_client, engine, paged):
    form = {"action": "start", "select": "matching", "q": paged["prefix"], "per_page": "25", "page": "1"}
    finished_job(operator_client.post("/containers/bulk/", form), timeout=240)
    assert all(_running(engine, f"{paged['prefix']}-{i:02d}") for i in range(PAGED))
    assert not any(_running(engine, f"{paged['other']}-{i}") for i in range(2))


@pytest.mark.django_db(transaction=True)
def test_bulk_job_page_leads_back_to_the_same_filter_and_page(operator_client, paged):
    form = {"action": "start", "select": "matching", "q": paged["prefix"], "per_page": "25", "page": "2"}
    response = operator_client.post("/containers/bulk/", form)
    job = finished_job(response, timeout=240)
    page = operator_client.get(response["Location"]).content.decode()
    assert f'href="/containers/?q={paged["prefix"]}&amp;page=2&amp;per_page=25"' in page
    assert job.message == f"Started {PAGED} containers."


@pytest.mark.django_db(transaction=True)
def test_bulk_delete_of_all_matching_names_each_container_then_deletes_only_those(
    admin_client, engine, paged
):
    confirm = admin_client.post(
        "/containers/bulk/", {"action": "delete", "select": "matching", "q": paged["prefix"]}
    ).content.decode()
    assert sorted(re.findall(rf"<strong>({re.escape(paged['prefix'])}-\d+)</strong>", confirm)) == sorted(
        f"{paged['prefix']}-{i:02d}" for i in range(PAGED)
    )
    ids = re.findall(r'<input type="hidden" name="ids" value="([0-9a-f]{64})">', confirm)
    finished_job(
        admin_client.post(
            "/containers/bulk/", {"action": "delete", "confirm": "yes", "ids": ids, "force": "on"}
        ),
        timeout=240,
    )
    left = {c["Names"][0].lstrip("/") for c in engine.api.containers(all=True, filters={"label": TEST_LABEL})}
    assert not any(name.startswith(f"{paged['prefix']}-") for name in left)
    assert {f"{paged['other']}-0", f"{paged['other']}-1"} <= left


def test_empty_bulk_selection_is_a_message_and_changes_nothing(operator_client, paged):
    response = operator_client.post(
        "/containers/bulk/", {"action": "stop", "q": paged["prefix"]}, follow=True
    )
    assert "Choose containers" in response.content.decode()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 390])
def test_browser_pages_through_the_filtered_list(page, login, live, engine, base_image, width):
    prefix = unique("browse")
    ids = [
        engine.api.create_container(
            base_image, command="true", name=f"{prefix}-{i:02d}", labels={TEST_LABEL: RUN_ID}
        )["Id"]
        for i in range(30)
    ]
    try:
        page.set_viewport_size({"width": width, "height": 900})
        login(page, "operator")
        page.goto(f"{live.url}/containers/?per_page=25&sort=name")
        page.fill("#container-q", prefix)
        # The filter's answer, not the unfiltered page (which shows "of 30" too when the engine holds
        # only these 30): its address is pushed once it has swapped.
        page.wait_for_url(lambda url: f"q={prefix}" in url, timeout=10000)
        page.wait_for_selector('[data-testid="page-info"]:has-text("of 30 containers")', timeout=10000)
        page.click('[data-testid="pager"] a[rel="next"]')
        page.wait_for_selector('[data-testid="page-info"]:has-text("26\u201330 of 30")', timeout=10000)
        assert f"q={prefix}" in page.url
        page.check("[data-select-all]")
        page.check("[data-select-matching]")
        assert page.inner_text("[data-selected-count]") == "all 30 matching selected"
        page.reload()
        page.wait_for_selector('[data-testid="page-info"]:has-text("26\u201330 of 30")', timeout=10000)
        screenshot(page, f"containers-paged-{width}")
        assert page.problems == []
    except Exception:
        # Before the cleanup: the live list refreshes on the removals, so the page fixture's own
        # failure screenshot would show an empty list whatever went wrong.
        screenshot(page, f"containers-paged-{width}-at-failure")
        print(f"url at failure: {page.url}; problems: {page.problems}")
        raise
    finally:
        for container_id in ids:
            engine.api.remove_container(container_id, force=True)
