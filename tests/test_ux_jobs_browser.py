"""Issue 18, slow actions and the overview's totals, in Debian's chromium against the live daphne and
the real engine: a single stop followed in place as a job (busy button, the row's words, then the
outcome by name), delete with volumes on the job page with its row and the way back, and the
engine totals chart on the overview. Screenshots at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

import docker
import pytest

from tests.support import screenshot, screenshot_both

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_stop_is_a_job_followed_in_place_then_named_in_the_outcome(
    page, login, live, make_container, engine
):
    container = make_container()  # sleep as PID 1 ignores SIGTERM: the stop takes its whole timeout
    name = container["Name"].lstrip("/")
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/")
    page.fill('form:has([data-action="stop"]) input[name="timeout"]', "4")
    page.click('[data-action="stop"]')
    button = page.locator('[data-action="stop"]')
    page.wait_for_selector('[data-testid="job-inline"]')
    assert button.get_attribute("aria-busy") == "true"
    assert button.is_disabled()
    assert name in page.inner_text('[data-testid="job-inline"]')
    screenshot(page, "ux-stop-job-busy-1400")
    # The job ends, the page comes back with the new state and the outcome by name.
    page.wait_for_selector('[data-testid="container-state"]:text-is("exited")', timeout=30000)
    outcome = page.locator('[data-testid="job-inline"]')
    assert outcome.inner_text().startswith(f"Stopped {name}.")
    assert "/jobs/" in outcome.locator("a").get_attribute("href")
    assert not engine.api.inspect_container(container["Id"])["State"]["Running"]
    screenshot_both(page, "ux-stop-job-done")
    assert page.problems == []


@pytest.mark.django_db(transaction=True)
def test_delete_with_volumes_runs_as_a_job_with_its_row_and_the_way_back(
    page, login, live, make_container, engine
):
    container = make_container()
    name = container["Name"].lstrip("/")
    login(page, "admin")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/delete/")
    page.check('input[name="force"]')
    page.check('input[name="volumes"]')
    page.click('[data-testid="confirm-delete"]')
    page.wait_for_url(lambda url: "/jobs/" in url)
    page.wait_for_selector('[data-testid="job-status"][data-job-status="success"]', timeout=30000)
    row = page.locator(f'.layer.item:has(.layer-id:text-is("{name}"))')
    assert row.get_attribute("data-outcome") == "ok"
    assert page.inner_text('[data-testid="job-message"]') == f"Deleted {name} and its anonymous volumes."
    assert page.inner_text('[data-testid="job-back"]') == "Back to the containers"
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_container(container["Id"])
    screenshot_both(page, "ux-delete-job")
    page.click('[data-testid="job-back"]')
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/containers"))
    assert page.problems == []


def test_the_overview_charts_the_engines_totals_against_fixed_scales(
    page, login, live, make_container, engine
):
    make_container()
    info = engine.info()
    login(page, "viewer")
    page.goto(f"{live.url}/")
    loaded = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    print(f"\noverview DOMContentLoaded after {loaded:.0f} ms")
    page.wait_for_selector('[data-totals][data-samples="2"]', timeout=30000)
    cpu = page.locator('[data-totals] canvas[data-chart="cpu"]')
    assert f"scale 0 to {100 * info['NCPU']} %" in cpu.get_attribute("aria-label")
    memory = page.get_attribute('[data-totals] canvas[data-chart="memory"]', "aria-label")
    assert "memory " in memory and "scale 0 to " in memory
    assert f" % of {100 * info['NCPU']} % (" in page.inner_text('[data-total="cpu"]')
    box = cpu.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 12, box["y"] + box["height"] / 2)
    tip = page.locator('[data-totals] .stat:has(canvas[data-chart="cpu"]) .chart-tip')
    assert tip.is_visible()
    assert "CPU " in tip.inner_text()
    screenshot_both(page, "ux-overview-totals")
    assert page.problems == []
