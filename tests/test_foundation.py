"""Foundation: login and roles, the overview against the real engine, engine down/up, the test stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from core.models import AppendOnlyError, AuditEvent
from tests.support import RUN_ID, screenshot, unique, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _numbers(html: str) -> dict[str, int]:
    found = dict(re.findall(r'data-testid="(containers-\w+|images-total)">([\d,]+)<', html))
    return {key: int(value.replace(",", "")) for key, value in found.items()}


# --------------------------------------------------------------------------- login and roles


def test_overview_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_user_without_a_role_is_refused_with_403(norole_client):
    response = norole_client.get("/")
    assert response.status_code == 403
    assert b"has no role yet" in response.content


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_overview(role_client, role, engine):
    response = role_client(role).get("/")
    assert response.status_code == 200
    assert b"Disk usage" in response.content


def test_logout_is_a_post_only_and_is_audited(viewer_client):
    assert viewer_client.get("/accounts/logout/").status_code == 405
    response = viewer_client.post("/accounts/logout/")
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="auth.logout").first()
    assert event is not None and event.username == viewer_client.user.username
    assert viewer_client.get("/").status_code == 302


def test_login_and_failed_login_are_audited_with_the_address(client, user_factory):
    user = user_factory("viewer", password="right-password-1")
    client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    assert (
        client.post(
            "/accounts/login/", {"username": user.username, "password": "right-password-1"}
        ).status_code
        == 302
    )
    outcomes = list(
        AuditEvent.objects.filter(action="auth.login", target=user.username)
        .order_by("id")
        .values_list("outcome", "client_address")
    )
    assert outcomes == [("denied", "127.0.0.1"), ("ok", "127.0.0.1")]


def test_audit_events_are_append_only(viewer_client):
    from core import audit

    event = audit.record(viewer_client.user, "test.thing", target="x")
    event.message = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(message="changed")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_allowed_hosts_star_is_refused_at_start_up():
    env = {**os.environ, "ALLOWED_HOSTS": "*"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS='*' is refused" in result.stderr


# --------------------------------------------------------------------------- websockets


def _ws(live, path: str, *, cookie: str | None = None, origin: str | None = None):
    headers = {}
    if cookie:
        headers["Cookie"] = f"sessionid={cookie}"
    if origin:
        headers["Origin"] = origin
    return websockets.sync.client.connect(
        f"{live.ws_url}{path}", additional_headers=headers, open_timeout=10, origin=None
    )


def test_websocket_refuses_anonymous_handshake(live):
    with pytest.raises(InvalidStatus) as refused:
        _ws(live, "/ws/overview/", origin=live.url)
    assert refused.value.response.status_code == 403


def test_websocket_refuses_cross_origin_even_when_logged_in(live):
    cookie = live.session_cookie("viewer")
    with pytest.raises(InvalidStatus) as refused:
        _ws(live, "/ws/overview/", cookie=cookie, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_websocket_overview_pushes_engine_numbers_to_a_viewer(live, engine):
    cookie = live.session_cookie("viewer")
    with _ws(live, "/ws/overview/", cookie=cookie, origin=live.url) as ws:
        frame = json.loads(ws.recv(timeout=15))
    assert frame["type"] == "status" and frame["engine"] == "up"
    assert frame["version"] == engine.version()["Version"]


def test_websocket_overview_pushes_the_engines_totals_with_their_scales(live, engine, make_container):
    make_container(command="sleep 300")
    cookie = live.session_cookie("viewer")
    with _ws(live, "/ws/overview/", cookie=cookie, origin=live.url) as ws:
        frames = [json.loads(ws.recv(timeout=15)) for _ in range(3)]  # status, status (1 s later), totals
    total = next(f for f in frames if f["type"] == "totals")
    info = engine.info()
    assert total["cpus"] == info["NCPU"]
    assert total["memory_total"] == info["MemTotal"]
    assert total["running"] >= 1  # ours at least
    assert total["counted"] == min(total["running"], 100)
    assert 0 <= total["cpu_percent"] <= 100 * info["NCPU"]
    assert total["memory_usage"] > 0  # our sleeping container's own pages at least


# --------------------------------------------------------------------------- overview vs the engine


def _stable_overview(client, engine) -> tuple[dict[str, int], dict, str]:
    """The overview's numbers with the engine's own, read while nothing else changed them."""
    keys = ("ContainersRunning", "ContainersPaused", "ContainersStopped", "Containers", "Images")
    for _ in range(20):
        first = engine.info()
        page = client.get("/").content.decode()
        second = engine.info()
        if all(first[key] == second[key] for key in keys):
            return _numbers(page), second, page
    raise AssertionError("the engine's counts kept changing (another suite running on this engine?)")


def test_overview_numbers_match_the_engine_for_containers_the_test_created(
    admin_client, engine, make_container
):
    before, before_info, _ = _stable_overview(admin_client, engine)
    running = make_container(command="sleep 300")
    paused = make_container(command="sleep 300")
    engine.api.pause(paused["Id"])
    stopped = make_container(command="true")
    engine.api.wait(stopped["Id"], timeout=30)
    after, info, page = _stable_overview(admin_client, engine)
    assert after == {
        "containers-running": info["ContainersRunning"],
        "containers-paused": info["ContainersPaused"],
        "containers-stopped": info["ContainersStopped"],
        "containers-total": info["Containers"],
        "images-total": info["Images"],
    }
    states = {c["Id"]: c["State"] for c in engine.api.containers(all=True)}
    assert (states[running["Id"]], states[paused["Id"]], states[stopped["Id"]]) == (
        "running",
        "paused",
        "exited",
    )
    if info["Containers"] - before_info["Containers"] == 3:  # nothing else ran meanwhile: exact deltas
        assert after["containers-running"] - before["containers-running"] == 1
        assert after["containers-paused"] - before["containers-paused"] == 1
        assert after["containers-stopped"] - before["containers-stopped"] == 1
    assert info["ServerVersion"] in page
    engine.api.unpause(paused["Id"])


def test_disk_usage_matches_system_df(admin_client, engine, base_image):
    df = engine.api.df()
    page = admin_client.get("/").content.decode()
    table = page.split('data-testid="disk-usage"', 1)[1]
    assert f'title="{df["LayersSize"]} bytes"' in table
    images_row = re.search(r"<td>Images</td><td class=\"num\">([\d,]+)</td>", table)
    assert int(images_row.group(1).replace(",", "")) == len(df["Images"])


# --------------------------------------------------------------------------- engine down and back


def test_engine_down_answers_503_naming_the_host_then_recovers(admin_client, engine_proxy):
    assert admin_client.get("/").status_code == 200
    engine_proxy.stop()
    response = admin_client.get("/")
    assert response.status_code == 503
    body = response.content.decode()
    assert engine_proxy.url in body
    assert "The Docker engine is not answering" in body
    assert "Traceback" not in body
    engine_proxy.start()
    assert admin_client.get("/").status_code == 200


@pytest.mark.parametrize("path", ["/", "/containers/", "/images/", "/volumes/", "/networks/", "/stacks/"])
def test_engine_never_reachable_answers_503_not_500(admin_client, settings, tmp_path, path):
    # /stacks/ asks the engine before the page is rendered and waits for it inside the template:
    # the failure must still be the engine-down page.
    settings.DOCKER_HOST = f"unix://{tmp_path}/nothing-here.sock"
    response = admin_client.get(path)
    assert response.status_code == 503
    body = response.content.decode()
    assert f"unix://{tmp_path}/nothing-here.sock" in body
    assert "Traceback" not in body


def test_unknown_page_is_a_404_page(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"404" in response.content


# --------------------------------------------------------------------------- the test stack itself


def test_registry_fixture_accepts_a_push_from_the_engine(engine, base_image, registry_server):
    repository = f"{registry_server.host}/{RUN_ID}/pushed"
    engine.api.tag(base_image, repository, tag="v1")
    lines = [
        json.loads(line)
        for line in engine.api.push(
            repository, tag="v1", auth_config=registry_server.auth_config, stream=True
        )
    ]
    assert not [line for line in lines if "error" in line], lines
    auth = (registry_server.username, registry_server.password)
    tags = requests.get(f"{registry_server.url}/v2/{RUN_ID}/pushed/tags/list", auth=auth, timeout=10)
    assert tags.json()["tags"] == ["v1"]
    assert requests.get(f"{registry_server.url}/v2/_catalog", timeout=10).status_code == 401
    engine.api.remove_image(f"{repository}:v1")


def test_base_image_runs_busybox_without_network(engine, make_container):
    container = make_container(command=["sh", "-c", "echo hello-from-$((6*7))"], start=True)
    engine.api.wait(container["Id"], timeout=30)
    assert engine.api.logs(container["Id"]).strip() == b"hello-from-42"


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_browser_login_through_the_form_shows_the_overview(page, live, login, engine):
    page.goto(f"{live.url}/")
    assert "/accounts/login/" in page.url
    login(page, "viewer")
    page.wait_for_selector("[data-testid=engine-version]")
    assert engine.version()["Version"] in page.inner_text("[data-testid=engine-version]")
    # The page's count against the engine's read just before and just after it: a container of
    # another test may start or stop meanwhile on this shared engine.
    for _ in range(10):
        before = engine.info()["ContainersRunning"]
        page.reload()
        page.wait_for_selector("[data-testid=containers-running]")
        running = int(page.inner_text("[data-testid=containers-running]").replace(",", ""))
        after = engine.info()["ContainersRunning"]
        if before == after:
            break
    assert running == after
    assert page.locator("nav.mainnav a", has_text="Images").count() == 1
    screenshot(page, "overview")
    wait_for(
        lambda: page.locator("[data-testid=engine-live][data-engine-status=up]").count() == 1,
        timeout=15,
        message="the live engine status pill",
    )
    assert page.problems == []


@pytest.mark.browser
def test_browser_wrong_password_shows_a_message(page, live):
    page.goto(f"{live.url}/accounts/login/")
    page.fill("#id_username", unique("nobody"))
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("main")


def test_session_recorder_writes_asciicast_v2(viewer_client, settings, tmp_path):
    from core import audit
    from core.recordings import SessionRecorder

    settings.RECORDINGS_DIR = tmp_path
    event = audit.record(viewer_client.user, "container.exec", target="abc")
    recorder = SessionRecorder.open(audit_event=event, width=100, height=30, command="sh")
    recorder.output(b"$ ")
    recorder.input(b"ls\r")
    recorder.resize(120, 40)
    recorder.output(b"bin\r\n\xff")
    recorder.close()
    lines = [json.loads(line) for line in open(event.recording.path, encoding="utf-8")]
    assert lines[0]["version"] == 2 and lines[0]["width"] == 100 and lines[0]["height"] == 30
    assert [(kind, data) for _, kind, data in lines[1:]] == [
        ("o", "$ "),
        ("i", "ls\r"),
        ("r", "120x40"),
        ("o", "bin\r\n\ufffd"),
    ]
    times = [t for t, _, _ in lines[1:]]
    assert times == sorted(times)
    event.recording.refresh_from_db()
    assert event.recording.ended_at is not None and event.recording.size > 0
