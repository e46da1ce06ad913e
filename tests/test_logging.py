"""The text log cannot be forged, and daphne's access log keeps credentials out (a real daphne)."""

from __future__ import annotations

import re
import time

import requests

from tests.security_support import live_login
from tests.support import RUN_ID, wait_for

FORGED = f"2026-01-01 00:00:00,000 INFO core.audit: audit admin user.create forged-{RUN_ID} ok"


def _log(live) -> str:
    return live.log_path.read_text(errors="replace")


def _lines_starting_with_forgery(live) -> list[str]:
    return [line for line in _log(live).splitlines() if line.startswith("2026-01-01 00:00:00,000")]


def test_a_token_in_a_query_string_is_redacted_in_the_access_log(live):
    secret = f"s3cret-{RUN_ID}-{time.monotonic_ns()}"
    requests.get(f"{live.url}/healthz?token={secret}&probe={RUN_ID}", timeout=10)
    wait_for(lambda: f"probe={RUN_ID}" in _log(live), message="the access log line")
    assert secret not in _log(live)


def test_the_redacted_access_line_keeps_the_other_parameters(live):
    marker = f"m{time.monotonic_ns()}"
    requests.get(f"{live.url}/healthz?password=hunter2-{marker}&probe={marker}", timeout=10)
    wait_for(lambda: marker in _log(live), message="the access log line")
    assert re.search(rf'"GET /healthz\?password=REDACTED&probe={marker}" 200', _log(live))


def test_a_newline_in_a_path_does_not_start_a_log_line(live):
    session = live_login(live, *live.users["viewer"])
    marker = f"nf{time.monotonic_ns()}"
    session.get(f"{live.url}/{marker}%0a{FORGED.replace(' ', '%20')}", timeout=10)
    wait_for(lambda: f"Not Found: /{marker}" in _log(live), message="the 404 log line")
    assert _lines_starting_with_forgery(live) == []


def test_the_404_line_shows_the_newline_escaped(live):
    session = live_login(live, *live.users["viewer"])
    marker = f"nf{time.monotonic_ns()}"
    session.get(f"{live.url}/{marker}%0aINFO%20x", timeout=10)
    wait_for(lambda: f"Not Found: /{marker}" in _log(live), message="the 404 log line")
    assert f"Not Found: /{marker}\\nINFO x" in _log(live)


def test_a_login_username_with_a_newline_is_refused_and_forges_nothing(live):
    session = requests.Session()
    page = session.get(f"{live.url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{live.url}/accounts/login/",
        data={"username": f"eve\n{FORGED}", "password": "x", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{live.url}/accounts/login/"},
        timeout=30,
    )
    assert 'data-testid="login-bad-username"' in response.text
    assert _lines_starting_with_forgery(live) == []
