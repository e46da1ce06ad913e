"""The page chrome in chromium at 1400 px and 390 px: the folding navigation and no sideways scroll
on the main pages, the theme toggle kept per user, keyboard shortcuts, the Ctrl-K palette (engine up
and away), the skip link and focus style, and the endpoint form's slug that follows the name."""

from __future__ import annotations

import pytest

from tests.support import RUN_ID, screenshot, unique, wait_for

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
COLLAPSED_NAV_MAX = 80  # px: the top bar on a phone, menu closed


def _no_sideways_scroll(page) -> int:
    """How far the document is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def _create_user(page, live, username: str) -> None:
    page.goto(f"{live.url}/team/")
    page.fill("#id_new_username", username)
    page.click("[data-testid=user-form] button[type=submit]")
    page.wait_for_selector("[data-testid=created-user]")


def _main_pages(container_id: str) -> list[tuple[str, str]]:
    return [
        ("overview", "/"),
        ("containers", "/containers/"),
        ("container", f"/containers/{container_id}/"),
        ("logs", f"/containers/{container_id}/logs/"),
        ("new-container", "/containers/new/"),
        ("images", "/images/"),
        ("volumes", "/volumes/"),
        ("networks", "/networks/"),
        ("stacks", "/stacks/"),
        ("registries", "/registries/"),
        ("swarm", "/swarm/"),
        ("endpoints", "/endpoints/"),
        ("endpoint-new", "/endpoints/new/"),
        ("team", "/team/"),
        ("audit", "/audit/"),
        ("tokens", "/account/tokens/"),
        ("password", "/account/password/"),
    ]


def test_main_pages_at_390_px_fold_the_menu_and_never_scroll_sideways(page, login, live, make_container):
    container = make_container(name=unique("phone"))
    login(page, "admin")
    long_name = (f"{RUN_ID}-" + "x" * 150)[:150]
    _create_user(page, live, long_name)
    page.set_viewport_size(PHONE)
    wide = {}
    for name, path in _main_pages(container["Id"]):
        page.goto(f"{live.url}{path}")
        page.wait_for_load_state("networkidle")
        wide[name] = _no_sideways_scroll(page)
        assert page.locator("[data-topbar]").bounding_box()["height"] < COLLAPSED_NAV_MAX, name
        assert page.get_attribute("[data-menu-toggle]", "aria-expanded") == "false", name
        assert not page.is_visible(".mainnav"), name
        screenshot(page, f"chrome-phone-{name}")
    assert wide == {name: 0 for name in wide}, "pages wider than 390 px"

    page.goto(f"{live.url}/team/")
    cell = page.locator(f'tr[data-user="{long_name}"] .clip')
    assert cell.get_attribute("title") == long_name  # truncated on screen, whole on hover
    assert cell.bounding_box()["width"] < PHONE["width"]

    page.click("[data-menu-toggle]")
    assert page.get_attribute("[data-menu-toggle]", "aria-expanded") == "true"
    assert page.is_visible('.mainnav a[data-nav="volumes"]')
    assert page.get_attribute('.mainnav a[data-nav="team"]', "aria-current") == "page"
    assert _no_sideways_scroll(page) == 0
    screenshot(page, "chrome-phone-menu-open")
    page.click('.mainnav a[data-nav="volumes"]')
    page.wait_for_url("**/volumes/")

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live.url}/team/")
    assert not page.is_visible("[data-menu-toggle]")
    assert page.is_visible('.mainnav a[data-nav="volumes"]')
    assert _no_sideways_scroll(page) == 0
    screenshot(page, "chrome-desktop-team")
    assert page.problems == []


def _saved_theme(page):
    """Wait for the theme's POST (two choices in flight could be saved in either order)."""
    return page.expect_response(lambda r: "/account/theme/" in r.url and r.request.method == "POST")


def _pick_theme(page, theme: str) -> None:
    page.click("[data-usermenu] summary")
    with _saved_theme(page):
        page.select_option("[data-theme-select]", theme)


def _background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


LIGHT_BG = "rgb(246, 247, 249)"
DARK_BG = "rgb(15, 20, 25)"


def test_the_theme_toggle_is_kept_per_user_and_paints_the_login_page_too(page, login, live):
    login(page, "operator")
    try:
        page.emulate_media(color_scheme="light")
        assert _background(page) == LIGHT_BG
        _pick_theme(page, "dark")
        assert page.get_attribute("html", "data-theme") == "dark"
        assert _background(page) == DARK_BG
        wait_for(
            lambda: page.evaluate("localStorage.getItem('dashboard-theme')") == "dark", message="storage"
        )
        # Kept on the server: a fresh browser (no localStorage) logged in as the same user gets it.
        fresh = page.context.browser.new_context(viewport=PHONE, color_scheme="light")
        try:
            other = fresh.new_page()
            login(other, "operator")
            wait_for(lambda: other.get_attribute("html", "data-theme") == "dark", message="the stored theme")
            assert _background(other) == DARK_BG
            screenshot(other, "chrome-phone-dark-overview")
        finally:
            fresh.close()
        page.set_viewport_size(DESKTOP)
        page.goto(f"{live.url}/containers/")
        page.click("[data-usermenu] summary")
        screenshot(page, "chrome-desktop-dark-containers-usermenu")
        page.click("text=Log out")
        page.wait_for_url("**/accounts/login/**")
        assert page.get_attribute("html", "data-theme") == "dark"  # from localStorage, before paint
        assert _background(page) == DARK_BG

        login(page, "operator")
        _pick_theme(page, "light")
        page.emulate_media(color_scheme="dark")
        assert _background(page) == LIGHT_BG  # an explicit light beats a dark system
        with _saved_theme(page):
            page.select_option("[data-theme-select]", "system")
        assert _background(page) == DARK_BG  # system: follows the (emulated) dark system
    finally:
        if not page.is_visible("[data-theme-select]"):
            page.click("[data-usermenu] summary")
        # The choice is saved by a POST: the reload must come after the server has it (else the page
        # is rendered with the theme stored before, which is what the server knows).
        with _saved_theme(page):
            page.select_option("[data-theme-select]", "system")
        wait_for(
            lambda: page.evaluate("localStorage.getItem('dashboard-theme')") == "system", message="reset"
        )
        page.reload()
        assert page.get_attribute("html", "data-theme") == "system"
    assert page.problems == []


def test_keyboard_shortcuts_go_places_and_never_fire_while_typing(page, login, live):
    login(page, "viewer")
    page.goto(f"{live.url}/")
    page.keyboard.press("?")
    dialog = page.locator("[data-shortcuts]")
    assert dialog.is_visible()
    assert "Go to registries" in dialog.inner_text()
    screenshot(page, "chrome-desktop-shortcuts")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    page.keyboard.press("g")
    page.keyboard.press("i")
    page.wait_for_url("**/images/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "image-q"
    page.keyboard.type("gv?")  # typed into the filter: no navigation, no dialog
    assert page.input_value("#image-q") == "gv?"
    assert not dialog.is_visible()
    assert page.url.endswith("/images/") or "/images/?" in page.url

    page.locator("body").click(position={"x": 5, "y": 300})
    for key, where in (
        ("c", "/containers/"),
        ("v", "/volumes/"),
        ("n", "/networks/"),
        ("s", "/stacks/"),
        ("r", "/registries/"),
    ):
        page.keyboard.press("g")
        page.keyboard.press(key)
        page.wait_for_url(f"**{where}")
    assert page.problems == []


def test_skip_link_and_a_visible_focus_ring(page, login, live):
    login(page, "viewer")
    page.goto(f"{live.url}/containers/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert skip.bounding_box()["y"] >= 0  # on screen once focused
    screenshot(page, "chrome-desktop-skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    assert page.problems == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400", "390"])
def test_ctrl_k_finds_a_container_by_name_and_opens_it(page, login, live, make_container, viewport):
    name = unique("palette")
    container = make_container(name=name)
    page.set_viewport_size(viewport)
    login(page, "viewer")
    page.keyboard.press("Control+k")
    palette = page.locator("[data-palette]")
    assert palette.is_visible()
    page.keyboard.type(name)
    option = page.locator(f'[data-palette-results] li:has(.palette-name:text-is("{name}"))')
    option.wait_for()
    assert option.locator(".palette-kind").inner_text().lower() == "container"
    screenshot(page, f"chrome-{viewport['width']}-palette")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/containers/{container['Id']}/")
    assert page.problems == []


def test_the_palette_lists_pages_and_says_when_the_engine_is_away(page, login, live, tmp_path):
    login(page, "admin")
    page.goto(f"{live.url}/endpoints/new/")
    page.fill("#id_name", "Gone Away ÄÖ")
    assert page.input_value("#id_slug") == "gone-away-ao"  # follows the name
    page.fill("#id_slug", "gone")
    page.fill("#id_name", "Gone Away")
    assert page.input_value("#id_slug") == "gone"  # typed: kept
    screenshot(page, "chrome-desktop-endpoint-form")
    page.fill("#id_url", f"unix://{tmp_path}/nothing-here.sock")
    page.click("form.card button[type=submit]")
    page.wait_for_url("**/endpoints/")
    try:
        page.goto(f"{live.url}/e/gone/")
        assert page.locator("[data-testid=unavailable]").is_visible()
        page.keyboard.press("Control+k")
        page.keyboard.type("net")
        status = page.locator("[data-palette-status]")
        wait_for(lambda: "not answering" in status.inner_text(), message="the engine's message")
        assert "Only pages listed" in status.inner_text()
        pages = page.locator("[data-palette-results] .palette-name").all_inner_texts()
        assert pages == ["Networks"]
        assert page.get_attribute("[data-palette-results] li", "data-url").endswith("/e/gone/networks/")
        screenshot(page, "chrome-desktop-palette-engine-away")
    finally:
        page.goto(f"{live.url}/endpoints/gone/delete/")
        page.click("form button.danger")
        page.wait_for_url("**/endpoints/")
    assert [p for p in page.problems if "503" not in p] == []
