"""Containers over the live daphne server: event and stats websockets, streamed export, the browser flow."""

from __future__ import annotations

import json
import time
import urllib.request

import docker
import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from tests.support import RUN_ID, TEST_LABEL, screenshot, unique, wait_for


def _ws(live, path: str, cookie: str):
    return websockets.sync.client.connect(
        f"{live.ws_url}{path}",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": live.url},
        open_timeout=10,
        origin=None,
    )


def _frames_until(ws, predicate, timeout: float = 15) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"no matching frame in {seen}")


def test_events_socket_reports_container_changes_and_releases_its_thread(live, engine, make_container):
    cookie = live.session_cookie("viewer")
    for _ in range(2):  # warm the server's thread pools, which grow lazily, before the baseline
        with _ws(live, "/ws/events/", cookie) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    wait_for(lambda: live.thread_count() < 200, timeout=5, message="the live server to settle")
    time.sleep(0.5)
    threads_before = live.thread_count()
    with _ws(live, "/ws/events/", cookie) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        container = make_container(start=False)
        frames = _frames_until(ws, lambda f: f.get("action") == "create" and f.get("id") == container["Id"])
        assert all(f["type"] in ("container", "ready") for f in frames)
        engine.api.start(container["Id"])
        _frames_until(ws, lambda f: f.get("action") == "start" and f.get("id") == container["Id"])
        engine.api.remove_container(container["Id"], force=True)
        _frames_until(ws, lambda f: f.get("action") == "destroy" and f.get("id") == container["Id"])
    wait_for(lambda: live.thread_count() <= threads_before + 1, timeout=10, message="the pump thread to end")


def test_events_socket_replays_a_change_made_just_before_it_subscribed(live, make_container):
    """The engine answers /events before it subscribes the stream: a change in between must still
    come, so the stream starts a moment back (a change made just before connecting stands for it)."""
    cookie = live.session_cookie("viewer")
    container = make_container(start=False)
    with _ws(live, "/ws/events/", cookie) as ws:
        frames = _frames_until(ws, lambda f: f.get("action") == "create" and f.get("id") == container["Id"])
    assert frames[0]["type"] == "ready"


def test_stats_socket_sends_cpu_and_memory_for_a_busy_container(live, make_container):
    container = make_container(command=["sh", "-c", "yes > /dev/null"])
    cookie = live.session_cookie("viewer")
    with _ws(live, f"/ws/containers/{container['Id']}/stats/", cookie) as ws:
        frames = _frames_until(ws, lambda f: f["type"] == "stats" and f["cpu_percent"] > 5, timeout=20)
    sample = frames[-1]
    assert sample["memory_limit"] > 0 and sample["memory_usage"] > 0 and sample["pids"] >= 1


def test_stats_socket_for_unknown_container_sends_an_error(live):
    cookie = live.session_cookie("viewer")
    with _ws(live, f"/ws/containers/{RUN_ID}-nope/stats/", cookie) as ws:
        frame = json.loads(ws.recv(timeout=10))
    assert frame["type"] == "error" and "No such container" in frame["message"]


def test_events_socket_refuses_anonymous(live):
    with pytest.raises(InvalidStatus) as refused:
        websockets.sync.client.connect(f"{live.ws_url}/ws/events/", origin=None, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_export_streams_through_daphne(live, make_container):
    container = make_container(start=False)
    cookie = live.session_cookie("operator")
    request = urllib.request.Request(  # noqa: S310 - the loopback live server
        f"{live.url}/containers/{container['Id']}/export/", headers={"Cookie": f"sessionid={cookie}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        assert response.headers["Content-Type"] == "application/x-tar"
        total = 0
        while chunk := response.read(1 << 20):
            total += len(chunk)
    assert total > 1_000_000  # busybox alone is over a megabyte


def test_browser_runs_a_container_from_the_form_stops_and_deletes_it(page, live, login, engine, base_image):
    name = unique("browser")
    try:
        login(page, "admin")
        page.goto(f"{live.url}/containers/")
        page.wait_for_selector('[data-live-status="up"]', timeout=10000)
        page.click("text=Run a container")
        image = base_image
        page.fill("#id_image", image)
        page.fill("#id_name", name)
        page.fill("#id_command", "sleep 300")
        page.fill("#id_env", "TOKEN=<b>secret</b>")
        page.fill("#id_labels", f"{TEST_LABEL}={RUN_ID}")
        page.click('[data-testid="create-submit"]')
        page.wait_for_url(f"**/containers/{name}/")
        assert page.text_content('[data-testid="container-state"]') == "running"
        page.wait_for_selector('[data-stats-ws][data-samples]:not([data-samples="1"])', timeout=15000)
        page.click('button[data-action="reveal"]')  # an audited operator POST; the values are text
        page.wait_for_selector('[data-testid="env-value"]')
        assert page.locator('[data-testid="env"]').inner_text().count("<b>secret</b>") == 1
        screenshot(page, "containers-detail")
        page.goto(f"{live.url}/containers/{name}/")
        page.fill('form:has(button[data-action="stop"]) input[name="timeout"]', "0")
        page.click('button[data-action="stop"]')
        page.wait_for_selector('[data-testid="container-state"]:has-text("exited")')
        assert not engine.api.inspect_container(name)["State"]["Running"]
        page.click('[data-action="delete"]')
        page.click('[data-testid="confirm-delete"]')
        page.wait_for_url(f"{live.url}/containers/")
        page.wait_for_selector('[data-live-status="up"]', timeout=10000)
        with pytest.raises(docker.errors.NotFound):
            engine.api.inspect_container(name)
        # The list updates live: a container created elsewhere appears without a reload.
        other = unique("appears")
        engine.api.create_container(image, command="true", name=other, labels={TEST_LABEL: RUN_ID})
        page.wait_for_selector(f"text={other}", timeout=10000)
        # The live filter narrows the table in place.
        page.fill("#container-q", other)
        page.wait_for_selector('[data-testid="page-info"]:text-is("1 container")', timeout=10000)
        assert page.locator("#container-table tbody tr").count() == 1
        screenshot(page, "containers-list")
        assert page.problems == []
    finally:
        for leftover in (name,):
            try:
                engine.api.remove_container(leftover, force=True)
            except docker.errors.NotFound:
                pass
