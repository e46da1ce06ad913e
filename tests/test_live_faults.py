"""The live core under faults, on the real engine: long lines, slow and stalled viewers, a hung
engine (through a socket proxy, never by stopping the daemon), heartbeats, session re-checks and
refused or unknown websocket paths."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live_support import HangingProxy, login_cookie, read_log_frames, second_daphne, ws_connect
from tests.support import LiveServer, create_role_users, dashboard_env, unique

ENGINE = "unix:///var/run/docker.sock"


def _logs_path(container: dict, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/ws/containers/{container['Id']}/logs/?{query}"


@pytest.fixture
def make_container(make_container, engine):
    def make(**kwargs):
        kwargs.setdefault("host_config", engine.api.create_host_config(network_mode="none"))
        return make_container(**kwargs)

    return make


@pytest.fixture(scope="module")
def viewer_cookie(live_server_process):
    return login_cookie(live_server_process, "viewer")


@pytest.fixture(scope="module")
def quick(live_server_process, tmp_path_factory):
    """A second daphne on the same database with short live limits (buffer, stall, beats, checks)."""
    with second_daphne(
        live_server_process,
        docker_host=ENGINE,
        workdir=tmp_path_factory.mktemp("quick"),
        LIVE_SEND_BUFFER=str(256 * 1024),
        LIVE_STALL_SECONDS="10",
        LIVE_HEARTBEAT_SECONDS="1",
        LIVE_SESSION_CHECK_SECONDS="1",
    ) as server:
        yield server


def _frames(ws, *, timeout: float, until) -> list[dict]:
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        except TimeoutError:
            break
        frames.append(frame)
        if until(frame):
            return frames
    kinds = sorted({frame["type"] for frame in frames})
    raise AssertionError(
        f"no such frame in {timeout} s; {len(frames)} frames of {kinds}; last: {frames[-2:]}"
    )


# --------------------------------------------------------------------------- long lines


def test_a_10_mib_line_is_cut_with_its_full_length_and_the_next_line_follows(
    live, engine, make_container, viewer_cookie
):
    script = "head -c 10485760 /dev/zero | tr '\\0' x; echo; echo after"
    container = make_container(command=["sh", "-c", script])
    engine.api.wait(container["Id"], timeout=60)
    with ws_connect(live, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws, timeout=30)
    assert end["type"] == "end"
    assert [line.get("truncated") for line in lines] == [10485760, None]
    assert "line truncated: 10,485,760 bytes" in lines[0]["text"]
    assert lines[1]["text"] == "after"


def test_a_200_kb_line_of_control_bytes_does_not_freeze_the_stream(
    live, engine, make_container, viewer_cookie
):
    script = "head -c 204800 /dev/zero | tr '\\0' '\\001'; echo; echo after"
    container = make_container(command=["sh", "-c", script])
    engine.api.wait(container["Id"], timeout=60)
    with ws_connect(live, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws, timeout=30)
    assert end["type"] == "end"
    assert lines[-1]["text"] == "after"


def test_a_10_mib_line_being_followed_arrives_cut_within_a_second(live, make_container, viewer_cookie):
    script = "sleep 2; head -c 10485760 /dev/zero | tr '\\0' x; echo; echo after; sleep 60"
    container = make_container(command=["sh", "-c", script])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
        lines, _ = read_log_frames(ws, timeout=30, until_text="after")
    assert lines[0]["truncated"] == 10485760


# --------------------------------------------------------------------------- slow and stalled viewers


def _small_window_connect(server: LiveServer, path: str, cookie: str):
    """A websocket whose kernel receive buffer is small, so not reading backs up into the server
    quickly whatever the machine's load (the default buffers hold several MB)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    host, port = server.host.split(":")
    sock.connect((host, int(port)))
    return websockets.sync.client.connect(
        f"{server.ws_url}{path}",
        sock=sock,
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": server.url},
        open_timeout=15,
        origin=None,
        max_size=None,
        max_queue=4,
    )


def test_a_viewer_who_cannot_keep_up_is_told_how_many_lines_were_skipped(quick, make_container):
    cookie = login_cookie(quick, "viewer")
    container = make_container(command=["sh", "-c", "yes flood"])
    with _small_window_connect(quick, _logs_path(container, tail="0"), cookie) as ws:
        ws.recv(timeout=15)
        time.sleep(4)  # not reading: the socket and daphne's buffer fill up
        frames = _frames(ws, timeout=20, until=lambda frame: frame["type"] == "skipped")
    assert frames[-1]["count"] > 0


def test_a_viewer_stalled_past_the_limit_is_closed_with_the_reason(quick, make_container):
    cookie = login_cookie(quick, "viewer")
    container = make_container(command=["sh", "-c", "yes flood"])
    with _small_window_connect(quick, _logs_path(container, tail="0"), cookie) as ws:
        ws.recv(timeout=15)
        time.sleep(25)  # stalled well past LIVE_STALL_SECONDS=10
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
    assert closed.value.rcvd is None or closed.value.rcvd.code in (4008, 1006)


# --------------------------------------------------------------------------- engine faults


def test_a_hung_engine_gives_engine_disconnected_within_15_seconds(
    live, make_container, tmp_path: Path, viewer_cookie
):
    proxy = HangingProxy("/var/run/docker.sock", str(tmp_path / "docker.sock"))
    proxy.start()
    container = make_container(command=["sh", "-c", "echo first; sleep 300"])
    try:
        with second_daphne(live, docker_host=proxy.url, workdir=tmp_path) as other:
            with ws_connect(other, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
                read_log_frames(ws, until_text="first")
                proxy.hang()
                started = time.monotonic()
                _, frame = read_log_frames(ws, timeout=25)
                elapsed = time.monotonic() - started
        assert frame["message"].startswith("engine disconnected")
        assert elapsed <= 15
    finally:
        proxy.stop()


def test_healthz_says_whether_the_engine_answers(live, tmp_path: Path):
    assert requests.get(f"{live.url}/healthz", timeout=10).json() == {"status": "ok", "engine": "ok"}
    with second_daphne(live, docker_host=f"unix://{tmp_path}/nobody.sock", workdir=tmp_path) as other:
        answer = requests.get(f"{other.url}/healthz", timeout=10)
    assert answer.json() == {"status": "ok", "engine": "unreachable"}


@pytest.mark.parametrize("kind", ["logs", "events", "stats", "overview"])
def test_every_stream_sends_heartbeats(quick, make_container, kind):
    cookie = login_cookie(quick, "viewer")
    container = make_container(command=["sh", "-c", "sleep 300"])
    path = {
        "logs": _logs_path(container, tail="0"),
        "events": "/ws/events/",
        "stats": f"/ws/containers/{container['Id']}/stats/",
        "overview": "/ws/overview/",
    }[kind]
    with ws_connect(quick, path, cookie=cookie) as ws:
        frames = _frames(ws, timeout=10, until=lambda frame: frame["type"] == "heartbeat")
    assert frames[-1]["type"] == "heartbeat"


def test_a_log_stream_ends_with_the_exit_code(live, make_container, viewer_cookie):
    container = make_container(command=["sh", "-c", "echo bye; sleep 1; exit 3"])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
        _, end = read_log_frames(ws, timeout=30)
    assert "exit code 3" in end["reason"]


# --------------------------------------------------------------------------- sessions (issue 13)


def _own_viewer(quick: LiveServer) -> tuple[LiveServer, dict[str, str]]:
    env = dashboard_env(DATABASE_URL=f"sqlite:///{quick.database}")
    users = create_role_users(env, ("viewer",), prefix=unique("sess"))
    return (
        LiveServer(
            url=quick.url, pid=quick.pid, users=users, database=quick.database, log_path=quick.log_path
        ),
        env,
    )


def test_a_password_change_closes_the_users_open_streams(quick, make_container):
    from tests.support import manage

    server, env = _own_viewer(quick)
    cookie = login_cookie(server, "viewer")
    container = make_container(command=["sh", "-c", "echo hello; sleep 300"])
    username = server.users["viewer"][0]
    with ws_connect(quick, _logs_path(container, tail="all"), cookie=cookie) as ws:
        read_log_frames(ws, until_text="hello")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            f"u = get_user_model().objects.get(username={username!r})\n"
            "u.set_password('another-Password-1'); u.save()\n",
        )
        _, frame = read_log_frames(ws, timeout=10)
    assert frame["message"] == "Session ended: the password was changed."


def test_a_role_taken_away_closes_the_users_open_streams(quick, make_container):
    from tests.support import manage

    server, env = _own_viewer(quick)
    cookie = login_cookie(server, "viewer")
    container = make_container(command=["sh", "-c", "echo hello; sleep 300"])
    username = server.users["viewer"][0]
    with ws_connect(quick, _logs_path(container, tail="all"), cookie=cookie) as ws:
        read_log_frames(ws, until_text="hello")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\nfrom core.roles import set_role\n"
            f"set_role(get_user_model().objects.get(username={username!r}), None)\n",
        )
        _, frame = read_log_frames(ws, timeout=10)
    assert "no longer allows" in frame["message"]


def test_unknown_websocket_paths_are_refused_without_a_traceback(quick):
    cookie = login_cookie(quick, "viewer")
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(quick, "/ws/no/such/thing/", cookie=cookie)
    log = quick.log_path.read_text()
    assert refused.value.response.status_code == 403
    assert "Traceback" not in log


def test_refused_handshakes_are_logged_with_reason_origin_path_and_client(quick, make_container):
    cookie = login_cookie(quick, "viewer")
    path = "/ws/events/"
    with pytest.raises(InvalidStatus):
        ws_connect(quick, path, cookie=cookie, origin="http://user:pw@127.0.0.1")
    line = next(
        line
        for line in quick.log_path.read_text().splitlines()
        if "websocket refused" in line and "pw@" in line
    )
    assert "carries credentials" in line
    assert "path='/ws/events/'" in line
    assert "client=127.0.0.1:" in line


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_pause_stops_rendering_under_a_yes_flood(page, login, live, make_container):
    from tests.support import screenshot

    container = make_container(command=["sh", "-c", "yes flood"])
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id']}/logs/")
    page.wait_for_selector(".logview .line")
    page.evaluate(
        """() => { window.__longest = 0;
        new PerformanceObserver((list) => { for (const e of list.getEntries()) {
          window.__longest = Math.max(window.__longest, e.duration); } }).observe({type: "longtask"}); }"""
    )
    page.wait_for_timeout(3000)
    started = time.monotonic()
    page.click("[data-log-pause]")
    page.wait_for_selector("[data-log-pause][aria-pressed=true]")
    reacted_ms = (time.monotonic() - started) * 1000
    shown = page.locator(".logview .line").count()
    page.wait_for_timeout(500)
    longest = page.evaluate("() => window.__longest")
    print(f"yes flood: Pause reacted in {reacted_ms:.0f} ms; longest main-thread task {longest:.0f} ms")
    screenshot(page, "logs-yes-flood-paused")
    # The figures (goal: Pause <= 100 ms, longest task <= 50 ms) are printed and reported
    # (bench/bench_logs_browser.py measures them without Playwright's own pre-click checks); on a
    # loaded 2-core machine they vary, so the test holds the behaviour: Pause stops at once, and
    # only the rows in sight are in the DOM (a virtualized window), whatever the flood.
    assert page.locator(".logview .line").count() == shown
    assert shown <= 200
    assert page.problems == []


@pytest.mark.django_db(transaction=True)
def test_a_log_socket_cancelled_while_the_engine_hangs_frees_its_slot(make_container, user_factory, tmp_path):
    """daphne cancels a handler still in ``start()`` 10 s after the browser left (here: waiting for a
    hung engine); it never sees ``websocket.disconnect``, and must release its stream slot anyway."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from core.consumers.logs import LogsConsumer
    from core.consumers.streaming import _open_streams
    from core.endpoints import EndpointRef

    container = make_container(command=["sh", "-c", "echo here; sleep 300"])
    viewer = user_factory("viewer")
    proxy = HangingProxy("/var/run/docker.sock", str(tmp_path / "hangs.sock"))
    proxy.start()
    proxy.hang()

    async def scenario() -> int:
        communicator = WebsocketCommunicator(
            LogsConsumer.as_asgi(), f"/ws/containers/{container['Id']}/logs/?tail=all"
        )
        communicator.scope["user"] = viewer
        communicator.scope["endpoint"] = EndpointRef(
            slug="hangs", name="hangs", url=proxy.url, is_default=False
        )
        communicator.scope["url_route"] = {"kwargs": {"container_id": container["Id"]}}
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        for _ in range(500):  # start() takes its slot, then waits for the engine
            if _open_streams.get(viewer.pk, 0):
                break
            await asyncio.sleep(0.01)
        held = _open_streams.get(viewer.pk, 0)
        await asyncio.sleep(0.2)  # well into the engine call
        communicator.future.cancel()
        try:
            await communicator.future
        except BaseException:  # noqa: BLE001, S110 - the cancellation we caused
            pass
        return held

    try:
        assert async_to_sync(scenario)() == 1
        assert _open_streams.get(viewer.pk, 0) == 0
    finally:
        proxy.stop()
