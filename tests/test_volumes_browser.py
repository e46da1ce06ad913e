"""Volumes in a real browser against the live daphne: list -> detail -> file browser -> download, and
the create form's volume picker with its "what this will create" list."""

from __future__ import annotations

import io
import tarfile

import pytest

from tests.support import screenshot, wait_for
from tests.volumes_support import helpers_left, volume, with_volume

__all__ = ["volume"]  # a fixture

pytestmark = pytest.mark.browser


def test_file_browser_walks_folders_and_downloads_a_file(page, login, live, engine, volume, make_container):
    name = volume()
    container = with_volume(
        engine,
        make_container,
        name,
        "mkdir -p /data/notes && printf 'dear <b>diary</b>' > /data/notes/today.txt"
        " && head -c 3000 /dev/zero > /data/blob.bin && touch /data/.ready",
    )
    login(page, "operator")
    page.goto(f"{live.url}/volumes/?q={name}")
    row = page.locator(f'tr[data-id="{name}"]')
    assert container["Name"].lstrip("/") in row.inner_text()  # used by
    wait_for(lambda: "…" not in row.locator("td.num").inner_text(), timeout=15, message="the lazy size")
    screenshot(page, "volumes-list")

    row.locator("a").first.click()
    page.wait_for_url(f"**/volumes/{name}/")
    page.click("[data-testid=browse-files]")
    page.wait_for_selector('[data-testid=file-table] tr[data-id="notes"]')
    assert page.locator('[data-testid=file-table] tr[data-id="blob.bin"] td').nth(1).inner_text() == "file"
    page.click('tr[data-id="notes"] a')
    page.wait_for_selector('[data-testid=file-table] tr[data-id="today.txt"]')
    assert page.inner_text("[data-testid=path]").split() == ["/", "notes", "/"]
    screenshot(page, "volumes-files")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "volumes-files-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    with page.expect_download() as info:
        page.click('tr[data-id="today.txt"] [data-testid=download-entry]')
    download = info.value
    assert download.suggested_filename == "today.txt.tar"
    with tarfile.open(fileobj=io.BytesIO(open(download.path(), "rb").read())) as tar:
        assert tar.extractfile("today.txt").read() == b"dear <b>diary</b>"

    page.click('[data-testid=file-table] a:text-is("..")')
    page.wait_for_selector('[data-testid=file-table] tr[data-id="blob.bin"]')
    wait_for(lambda: helpers_left(engine) == [], timeout=15, message="the helper containers to go")
    assert page.problems == []


def test_create_form_picker_adds_volume_lines_and_says_what_will_be_created(page, login, live, volume):
    existing = volume()
    login(page, "operator")
    page.goto(f"{live.url}/containers/new/")
    page.fill("#id_image", "busybox:latest")
    picker = page.locator("[data-volume-picker]")
    picker.locator('[data-pick="source"]').fill(existing)
    picker.locator('[data-pick="target"]').fill("/data")
    picker.locator('[data-pick="ro"]').check()
    picker.locator('[data-pick="add"]').click()
    picker.locator('[data-pick="target"]').fill("/cache")  # empty name: anonymous
    picker.locator('[data-pick="add"]').click()
    assert page.input_value("#id_volumes") == f"{existing}:/data:ro\n/cache"
    plan = page.locator("[data-testid=create-plan] li")
    texts = [plan.nth(i).inner_text() for i in range(plan.count())]
    assert f"the existing volume {existing} at /data (read-only)" in texts
    assert "a new anonymous volume at /cache (the engine names it)" in texts
    assert "a container (the engine names it) from busybox:latest, started" in texts
    page.fill("#id_network", "no-such-network-here")
    assert any(
        "there is no network no-such-network-here" in t for t in page.locator("[data-plan]").all_inner_texts()
    )
    screenshot(page, "containers-new-plan")
    assert page.problems == []
