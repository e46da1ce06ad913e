"""Images in a real browser against the live daphne: list -> detail -> tag -> delete, and a live pull."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.images_support import has_image, make_image
from tests.support import RUN_ID, screenshot, wait_for

__all__ = ["make_image"]

pytestmark = pytest.mark.browser
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_list_detail_tag_then_delete_with_confirmation(page, login, live, engine, make_image):
    image = make_image(labels={"note": "<b>bold?</b>"})
    short = image["id"][7:19]
    login(page, "admin")
    page.goto(f"{live.url}/images/")
    page.fill("#image-q", image["repository"])
    rows = page.locator("#image-rows tr[data-image]")
    wait_for(lambda: rows.count() == 1, timeout=10, message="the filtered rows")
    assert page.locator(f'tr[data-image="{short}"]').count() == 1
    screenshot(page, "images-list")
    page.click(f'tr[data-image="{short}"] a')
    page.wait_for_url(f"**/images/{short}/")
    assert "note=<b>bold?</b>" in page.inner_text("[data-testid=labels]")  # shown as text
    page.fill("#tag-repository", f"{RUN_ID}-browser/app")
    page.fill("#tag-tag", "b1")
    page.click("[data-testid=tag-form] button[type=submit]")
    page.wait_for_selector(f"text=Tagged {short}")
    assert f"{RUN_ID}-browser/app:b1" in engine.api.inspect_image(image["id"])["RepoTags"]
    screenshot(page, "images-detail")
    page.click("[data-testid=delete-link]")
    page.wait_for_url(f"**/images/{short}/delete/")
    assert has_image(engine, image["id"])  # the confirm page changed nothing
    page.click("[data-testid=confirm-delete] button.danger")
    page.wait_for_url(f"{live.url}/images/")
    assert not has_image(engine, image["id"])
    assert page.problems == []


def _link_registry_in_live_db(live, registry_server) -> int:
    """Create a linked Registry row in the live server's own database; return its pk."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=f"sqlite:///{live.database}", DJANGO_SETTINGS_MODULE="dashboard.settings")
    script = (
        "from core.models import Registry\n"
        f"r = Registry(name='live-{RUN_ID}', url='{registry_server.url}',\n"
        f"             username='{registry_server.username}', allow_private_addresses=True)\n"
        f"r.secret = '{registry_server.password}'\n"
        "r.save()\n"
        "print(r.pk)\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return int(result.stdout.decode().strip().splitlines()[-1])


def test_pull_shows_live_layer_progress_then_success(page, login, live, engine, make_image, registry_server):
    from tests.support import default_engine

    image = make_image(payload=os.urandom(2_000_000))
    path = f"{RUN_ID}-livepull"
    remote = f"{registry_server.host}/{path}:v1"
    list(default_engine().images.push_stream(image["id"], remote, auth_config=registry_server.auth_config))
    engine.api.remove_image(image["id"], force=True)
    pk = _link_registry_in_live_db(live, registry_server)
    login(page, "operator")
    page.goto(f"{live.url}/images/")
    page.click("text=Pull an image")
    page.fill("#pull-reference", f"{path}:v1")
    page.select_option("#pull-registry", str(pk))
    page.click("form[action='/images/pull/'] button[type=submit]")
    page.wait_for_url("**/images/jobs/*/")
    page.wait_for_selector("[data-job-status=success]", timeout=60_000)
    assert page.locator(".layer").count() >= 1
    assert "Pull complete" in page.inner_text("[data-testid=layers]")
    assert f"Pulled {remote}" in page.inner_text("[data-testid=job-message]")
    screenshot(page, "images-pull-job")
    wait_for(lambda: has_image(engine, remote), timeout=10, message="the pulled image")
    assert engine.api.inspect_image(remote)["Id"] == image["id"]
    # A reload (or a tab opened later) gets the whole state from the server.
    page.reload()
    page.wait_for_selector("[data-job-status=success]")
    page.wait_for_selector(".layer")  # layers come with the socket's state frame (read from the job's row)
    assert "Pull complete" in page.inner_text("[data-testid=layers]")
    assert page.problems == []


def test_pull_of_a_missing_reference_ends_in_an_error_on_the_page(page, login, live, registry_server):
    login(page, "operator")
    page.goto(f"{live.url}/images/")
    page.click("text=Pull an image")
    page.fill("#pull-reference", f"{registry_server.host}/{RUN_ID}-absent:nope")
    page.click("form[action='/images/pull/'] button[type=submit]")
    page.wait_for_selector("[data-job-status=error]", timeout=60_000)
    message = page.inner_text("[data-testid=job-message]")
    assert message.strip(), "the error frame carries the engine's message"


def test_build_streams_its_log_and_links_to_the_new_image(page, login, live, engine, base_image):
    tag = f"{RUN_ID}-browserbuild:v1"
    login(page, "operator")
    page.goto(f"{live.url}/images/build/")
    page.fill("#build-tag", tag)
    page.fill(
        "#build-dockerfile",
        f'FROM {base_image}\nLABEL org.dockerdashboard.test="{RUN_ID}"\n'
        "RUN echo step-output-from-the-build\n",
    )
    page.click("form[action='/images/build/'] button[type=submit]")
    page.wait_for_selector("[data-job-status=success]", timeout=60_000)
    assert "step-output-from-the-build" in page.inner_text("[data-testid=job-log]")
    screenshot(page, "images-build-job")
    page.click("[data-job-result]")
    page.wait_for_url("**/images/*/")
    image_id = engine.api.inspect_image(tag)["Id"]
    assert image_id in page.inner_text("body")
    assert page.problems == []
