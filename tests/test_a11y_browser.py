"""Accessibility of the main pages: the vendored axe-core (tests/vendor/axe-core, see
static/vendor/VERSIONS) runs in chromium on each page, light at 1400 px and dark at 390 px; a
serious or critical violation fails the test with the rule, the help text and the elements."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import screenshot, unique, wait_for

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")
CHROMIUM_CONTEXT = {"bypass_csp": True}  # the page's CSP allows only its own scripts; axe is injected


def _pages(container_id: str) -> list[tuple[str, str]]:
    return [
        ("overview", "/"),
        ("containers", "/containers/"),
        ("images", "/images/"),
        ("volumes", "/volumes/"),
        ("networks", "/networks/"),
        ("stacks", "/stacks/"),
        ("registries", "/registries/"),
        ("audit", "/audit/"),
        ("team", "/team/"),
        ("container", f"/containers/{container_id}/"),
        ("logs", f"/containers/{container_id}/logs/"),
        ("terminal", f"/containers/{container_id}/terminal/"),
    ]


def _violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in FAILING]


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"][:5]]
        lines.append(f"{v['impact']} {v['id']}: {v['help']} -> {targets}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("theme", "viewport"),
    [("light", {"width": 1400, "height": 900}), ("dark", {"width": 390, "height": 844})],
    ids=["light-1400", "dark-390"],
)
def test_main_pages_have_no_serious_accessibility_violations(browser, live, make_container, theme, viewport):
    container = make_container(name=unique("a11y"), command="sh -c 'echo ready; sleep 300'", tty=True)
    context = browser.new_context(viewport=viewport, color_scheme=theme, **CHROMIUM_CONTEXT)
    page = context.new_page()
    try:
        username, password = live.users["admin"]
        page.goto(f"{live.url}/accounts/login/")
        found = {"login": _violations(page)}
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        for name, path in _pages(container["Id"]):
            page.goto(f"{live.url}{path}")
            page.wait_for_load_state("networkidle")
            if name == "terminal":
                wait_for(lambda: page.locator(".xterm").count() > 0, message="the terminal")
            found[name] = _violations(page)
            screenshot(page, f"a11y-{theme}-{viewport['width']}-{name}")
        page.keyboard.press("Control+k")  # the palette and the shortcuts dialog, open
        found["palette"] = _violations(page)
        page.keyboard.press("Escape")
        page.goto(f"{live.url}/")
        page.keyboard.press("?")
        found["shortcuts"] = _violations(page)
    finally:
        context.close()
    failing = {name: _describe(v) for name, v in found.items() if v}
    assert failing == {}, "\n\n".join(f"[{name}]\n{text}" for name, text in failing.items())
