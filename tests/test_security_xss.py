"""XSS corpus in the real browser: hostile text shows as text everywhere, no script runs, no CSP
violation; htmx and the xterm.js replay work under the strict CSP.

To cover another feature's pages, add an ``XssCase`` to CASES: a setup that plants the corpus through
the live server's database or the engine (labelled test resources only) and returns the URL to open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.security_support import ROOT, live_shell
from tests.support import RUN_ID, screenshot, unique, wait_for

IMG = '"><img src=x onerror=alert(1)>'
SCRIPT = "</script><script>alert(1)</script>"
ANSI = "\x1b[31mred\x1b[0m\x1b]0;pwned-title\x07"
OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # "write 'evil' to the clipboard"
CORPUS = [IMG, SCRIPT, ANSI, OSC52, "javascript:alert(1)", "{{7*7}}"]
MARKERS = ("<img src=x onerror=alert(1)>", "<script>alert(1)</script>")


@dataclass(frozen=True)
class XssCase:
    """A page showing planted hostile text: ``setup(live, page)`` returns the URL to open (or None
    when it already navigated there), ``role`` is who looks at it."""

    name: str
    setup: Callable[..., str | None]
    role: str = "admin"
    shows_markers: bool = True


def _plant(live, code: str) -> str:
    return live_shell(live, f"import json\nCORPUS = json.loads({json.dumps(json.dumps(CORPUS))})\n{code}")


def team_user_names(live, page) -> str:
    name = f"{RUN_ID[-6:]}{IMG}{SCRIPT}"[:150]
    _plant(
        live,
        "from django.contrib.auth import get_user_model\nfrom core.roles import Role, set_role\n"
        f"u = get_user_model().objects.create(username={name!r}, is_active=False)\n"
        "set_role(u, Role.VIEWER)\n",
    )
    return "/team/"


def audit_targets_and_messages(live, page) -> str:
    action = unique("xss.audit").replace("-", "")
    _plant(
        live,
        "from core.models import AuditEvent\n"
        "for text in CORPUS:\n"
        f"    AuditEvent.objects.create(action={action!r}, target=text, message=text, username=text[:150],\n"
        "        outcome='failed', parameters={'name': text, text[:20]: 'v'})\n",
    )
    return f"/audit/?action={action}"


def messages_after_a_role_change(live, page) -> None:
    name = f"m{RUN_ID[-6:]}{IMG}{SCRIPT}"
    _plant(
        live,
        "from django.contrib.auth import get_user_model\nfrom core.roles import Role, set_role\n"
        f"u = get_user_model().objects.create(username={name!r})\nset_role(u, Role.VIEWER)\n",
    )
    page.goto(f"{live.url}/team/")
    row = page.locator("tr", has=page.locator("td.username", has_text=name))
    row.locator("select[name=role]").select_option("operator")  # team.js submits the form
    page.wait_for_selector(".msg-success")
    assert f"{name} is now operator." in page.inner_text(".messages")
    return None


def login_form(live, page) -> None:
    page.context.clear_cookies()
    page.goto(f"{live.url}/accounts/login/")
    page.fill("#id_username", IMG + SCRIPT)
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    page.wait_for_selector(".msg-error")
    assert page.input_value("#id_username") == IMG + SCRIPT
    return None


def make_recording(live, *, target: str, events: list[tuple[float, str, str]], title: str = "") -> int:
    """A Recording (with its audit event) in the live database, its .cast written by hand."""
    header = {"version": 2, "width": 80, "height": 12, "timestamp": 0, "title": title or target}
    lines = [json.dumps(header)] + [json.dumps(list(e)) for e in events]
    out = live_shell(
        live,
        "from core.models import AuditEvent, Recording\nfrom core.recordings import recordings_dir\n"
        f"p = recordings_dir() / '{RUN_ID}-{unique('cast')}.cast'\n"
        f"p.write_text({chr(10).join(lines)!r} + '\\n')\n"
        f"e = AuditEvent.objects.create(action='container.exec', target={target!r}, outcome='ok', "
        "username='live-admin')\n"
        "r = Recording.objects.create(audit_event=e, path=str(p), width=80, height=12, command='sh')\n"
        "print('PK', r.pk)\n",
    )
    return int(out.rsplit("PK", 1)[1].split()[0])


def recording_replay(live, page) -> str:
    text = "\r\n".join(CORPUS) + "\r\n"
    pk = make_recording(live, target=IMG, title=IMG + SCRIPT, events=[(0.0, "o", text), (0.1, "i", SCRIPT)])
    return f"/audit/recordings/{pk}/"


CASES = [
    XssCase("team user names", team_user_names),
    XssCase("audit targets, messages and parameters", audit_targets_and_messages),
    XssCase("messages", messages_after_a_role_change),
    XssCase("login form", login_form),
    XssCase("recording replay (title, terminal output, input)", recording_replay),
    # After the merge: containers (names, labels, env), images (tags), registries (repos), logs (lines).
]


@pytest.fixture
def login(live):
    """Log in through the real form, landing on /team/ (not the overview: its engine calls are
    slow when the shared engine is busy, and are not what these tests look at)."""

    def do_login(page, role: str) -> None:
        username, password = live.users[role]
        page.goto(f"{live.url}/accounts/login/?next=/team/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return do_login


@pytest.fixture(autouse=True)
def _remove_planted_recordings():
    yield
    for file in (ROOT / "data" / "recordings").glob(f"{RUN_ID}-*.cast"):
        file.unlink(missing_ok=True)


@pytest.mark.browser
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_text_is_shown_as_text_and_never_runs(case, page, live, login):
    login(page, case.role)
    url = case.setup(live, page)
    if url:
        page.goto(f"{live.url}{url}")
    page.wait_for_load_state("networkidle")
    if "recordings" in (url or ""):
        wait_for(lambda: page.get_attribute("#replay", "data-state") == "ended", timeout=15, message="replay")
    assert page.locator("img[src=x]").count() == 0
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))")
    assert all(src and src.startswith("/static/") for src in scripts), scripts
    body = page.inner_text("body") + "".join(
        page.eval_on_selector_all("input", "els => els.map(e => e.value)")
    )
    for marker in MARKERS:
        assert marker in body or not case.shows_markers, f"{marker!r} is not shown as text"
    page.wait_for_timeout(300)  # a late onerror or CSP report would land here
    screenshot(page, "xss-" + "-".join(case.name.replace(",", "").split()[:2]))
    assert page.problems == [], page.problems


@pytest.mark.browser
def test_the_stack_list_shows_hostile_compose_labels_as_text(page, live, login, make_container):
    # The stack list's rows are built by one tag (core/templatetags/rows.py stack_row), not by
    # template nodes: a project found on the engine carries whatever its labels say.
    tag = RUN_ID[-6:].lower()
    make_container(
        start=False,
        labels={
            "com.docker.compose.project": f"x{tag}{IMG}{SCRIPT}",
            "com.docker.compose.service": IMG + SCRIPT,
            "com.docker.compose.project.config_files": IMG + SCRIPT,
        },
    )
    login(page, "admin")  # the fixture lands on /team/, which only an admin may open
    page.goto(f"{live.url}/stacks/?q=x{tag}")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=stack-table] tbody tr").count() == 1
    assert page.locator("img[src=x]").count() == 0
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))")
    assert all(src and src.startswith("/static/") for src in scripts), scripts
    body = page.inner_text("body")
    for marker in MARKERS:
        assert marker in body, f"{marker!r} is not shown as text"
    page.wait_for_timeout(300)
    screenshot(page, "xss-stacks")
    assert page.problems == [], page.problems


# --------------------------------------------------------------------------- htmx and xterm under CSP


@pytest.mark.browser
def test_htmx_filters_the_audit_log_under_the_csp(page, live, login):
    target = unique("htmx-target")
    _plant(
        live,
        "from core.models import AuditEvent\n"
        f"AuditEvent.objects.create(action='test.htmx', target={target!r}, outcome='ok')\n"
        "AuditEvent.objects.create(action='test.htmx', target='other-target', outcome='ok')\n",
    )
    login(page, "admin")
    page.goto(f"{live.url}/audit/?action=test.htmx")
    assert page.locator("td.target", has_text="other-target").count() >= 1
    page.fill("#f-target", target)
    with page.expect_response(
        lambda r: "/audit/?" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.click(".audit-filters button[type=submit]")
    wait_for(lambda: page.locator("td.target", has_text="other-target").count() == 0, message="htmx swap")
    assert page.locator("td.target", has_text=target).count() == 1
    assert f"target={target}" in page.url  # hx-push-url
    screenshot(page, "audit")
    assert page.problems == [], page.problems


@pytest.mark.browser
def test_replay_honours_timing_pause_and_speed_under_the_csp(page, live, login):
    pk = make_recording(
        live,
        target="replay-timing",
        events=[
            (0.0, "o", "first-line\r\n"),
            (5.0, "o", "\x1b[32msecond-line\x1b[0m\r\n"),
            (5.1, "i", "exit\r"),
        ],
    )
    login(page, "admin")
    page.goto(f"{live.url}/audit/recordings/{pk}/")
    rows = page.locator("#replay .xterm-rows")
    wait_for(lambda: "first-line" in rows.inner_text(), timeout=30, message="the first output")
    assert "second-line" not in rows.inner_text()
    page.click("[data-replay-toggle]")  # pause
    assert page.get_attribute("#replay", "data-state") == "paused"
    page.wait_for_timeout(2500)
    assert "second-line" not in rows.inner_text()  # paused: time stands still
    page.select_option("[data-replay-speed]", "16")
    page.click("[data-replay-toggle]")
    wait_for(lambda: page.get_attribute("#replay", "data-state") == "ended", timeout=20, message="the end")
    assert "second-line" in rows.inner_text()
    assert page.text_content("[data-replay-input]") == "exit\r"
    assert page.inner_text("[data-testid=cast-title]") == "replay-timing"
    download = page.get_attribute("[data-testid=download-cast]", "href")
    assert download == f"/audit/recordings/{pk}/cast"
    screenshot(page, "replay")
    assert page.problems == [], page.problems


@pytest.mark.browser
def test_team_page_creates_a_user_in_the_browser(page, live, login):
    login(page, "admin")
    page.goto(f"{live.url}/team/")
    name = unique("browser")
    page.fill("#id_new_username", name)
    page.select_option("#id_new_role", "viewer")
    page.click(".add-user-form button[type=submit]")
    password = page.inner_text("[data-testid=one-time-password]")
    assert len(password) >= 16
    assert page.locator("tr", has=page.locator("td.username", has_text=name)).count() == 1
    screenshot(page, "team")
    assert page.problems == [], page.problems
