"""The error path in a real browser: a refused form keeps what was typed; an htmx error is shown."""

from __future__ import annotations

import pytest

from tests.support import RUN_ID, screenshot, wait_for

pytestmark = pytest.mark.browser

DOCKERFILE = f"FROM busybox\nLABEL dashtest.browser={RUN_ID}\nRUN echo hello\n"


@pytest.mark.parametrize("width", [1280, 390])
def test_a_refused_build_keeps_the_pasted_dockerfile(page, login, live, width):
    page.set_viewport_size({"width": width, "height": 860})
    login(page, "operator")
    page.goto(f"{live.url}/images/build/")
    page.fill("#build-tag", "Not A Tag!")
    page.fill("#build-dockerfile", DOCKERFILE)
    page.click("[data-testid=image-form] button[type=submit]")
    page.wait_for_selector("[data-field=tag] .errorlist")
    screenshot(page, f"images-build-refused-{width}")
    assert page.input_value("#build-dockerfile") == DOCKERFILE
    assert page.title().startswith("Build an image")
    assert [p for p in page.problems if "status of 400" not in p] == []  # the 400 itself is expected


def test_an_htmx_refusal_shows_the_server_message(page, login, live, make_container):
    container = make_container(start=False)
    login(page, "operator")
    page.goto(f"{live.url}/containers/")
    page.evaluate(
        "url => htmx.ajax('POST', url, {source: document.body, swap: 'none'})",
        f"/containers/{container['Id']}/pause/",
    )
    messages = page.locator("#messages")
    wait_for(
        lambda: "is not running" in messages.inner_text(), timeout=10, message="the refusal in #messages"
    )
    screenshot(page, "htmx-refusal-message")
    assert messages.locator("[role=alert]").count() == 1


@pytest.mark.parametrize("width", [1280, 390])
def test_a_refused_start_is_one_page_with_the_engine_reason_once(page, login, live, make_container, width):
    container = make_container(command="/no-such-command", start=False)
    page.set_viewport_size({"width": width, "height": 860})
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id']}/")
    page.click("button[data-action=start]")
    page.wait_for_selector("[data-testid=refusal]")
    screenshot(page, f"containers-start-refused-{width}")
    assert page.locator("text=no-such-command").count() == 1
