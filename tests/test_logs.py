"""Live logs over websockets: framing, follow and restarts, merged view, download, security, hygiene."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
from asgiref.sync import async_to_sync
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.engine.streams import parse_since, ts_to_since
from tests.live_support import (
    EngineProxy,
    assert_cycles_leave_nothing,
    login_cookie,
    read_log_frames,
    second_daphne,
    ws_connect,
)
from tests.support import screenshot, wait_for


def _logs_path(container: dict, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/ws/containers/{container['Id']}/logs/?{query}"


def _finished(engine, container: dict) -> dict:
    engine.api.wait(container["Id"], timeout=30)
    return container


async def _body(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.fixture
def make_container(make_container, engine):
    """Containers without a network: logs and terminals need none (and the bridge may be busy)."""

    def make(**kwargs):
        kwargs.setdefault("host_config", engine.api.create_host_config(network_mode="none"))
        return make_container(**kwargs)

    return make


@pytest.fixture(scope="module")
def viewer_cookie(live_server_process):
    return login_cookie(live_server_process, "viewer")


# --------------------------------------------------------------------------- framing


def test_non_tty_log_is_demultiplexed_into_stdout_and_stderr(live, engine, make_container, viewer_cookie):
    container = _finished(engine, make_container(command=["sh", "-c", "echo out1; echo err1 >&2; echo out2"]))
    with ws_connect(
        live, _logs_path(container, tail="all", follow="0", timestamps="1"), cookie=viewer_cookie
    ) as ws:
        lines, end = read_log_frames(ws)
    assert end == {"type": "end", "reason": "end of the log (not following)"}
    assert sorted((line["stream"], line["text"]) for line in lines) == [
        ("stderr", "err1"),
        ("stdout", "out1"),
        ("stdout", "out2"),
    ]
    assert all(line["ts"].endswith("Z") and line["ts"][:2] == "20" for line in lines)
    # Without timestamps the engine is asked for none (it formats no time): the same lines, ts blank
    with ws_connect(live, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie) as ws:
        plain, end = read_log_frames(ws)
    assert end == {"type": "end", "reason": "end of the log (not following)"}
    assert [(line["stream"], line["text"], line["ts"]) for line in plain] == [
        (line["stream"], line["text"], "") for line in lines
    ]


def test_tty_log_is_one_stream_and_timestamps_off_gives_empty_ts(live, engine, make_container, viewer_cookie):
    container = _finished(engine, make_container(command=["sh", "-c", "echo one; echo two >&2"], tty=True))
    with ws_connect(live, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws)
    assert end["type"] == "end"
    assert [(line["stream"], line["text"], line["ts"]) for line in lines] == [
        ("stdout", "one", ""),
        ("stdout", "two", ""),
    ]


def test_long_lines_are_joined_and_invalid_utf8_is_replaced(live, engine, make_container, viewer_cookie):
    script = "head -c 40000 /dev/zero | tr '\\0' x; echo; printf 'bad \\377\\376 end\\n'; printf 'no newline'"
    container = _finished(engine, make_container(command=["sh", "-c", script]))
    with ws_connect(live, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws)
    assert end["type"] == "end"
    texts = [line["text"] for line in lines]
    assert texts[0] == "x" * 40000
    assert texts[1] == "bad \ufffd\ufffd end"
    assert texts[2] == "no newline"


def test_tail_and_since_select_lines(live, engine, make_container, viewer_cookie):
    container = _finished(engine, make_container(command=["seq", "1", "1000"]))
    with ws_connect(live, _logs_path(container, tail="3", follow="0"), cookie=viewer_cookie) as ws:
        lines, _ = read_log_frames(ws)
    assert [line["text"] for line in lines] == ["998", "999", "1000"]
    with ws_connect(
        live, _logs_path(container, tail="all", follow="0", since="1m"), cookie=viewer_cookie
    ) as ws:
        recent, _ = read_log_frames(ws)
    assert len(recent) == 1000
    future = str(int(time.time()) + 3600)
    with ws_connect(
        live, _logs_path(container, tail="all", follow="0", since=future), cookie=viewer_cookie
    ) as ws:
        none, end = read_log_frames(ws)
    assert none == [] and end["type"] == "end"


def test_until_ends_the_stream_at_that_moment_without_following(live, engine, make_container, viewer_cookie):
    container = make_container(command=["sh", "-c", "echo before; sleep 2; echo after; sleep 300"])
    wait_for(lambda: b"after" in engine.api.logs(container["Id"]), timeout=15, message="the second line")
    stamped = engine.api.logs(container["Id"], timestamps=True).decode().splitlines()
    after = next(line.split()[0] for line in stamped if line.endswith(" after"))
    until = after.split(".")[0] + "Z"  # the second the later line was written in, before it
    with ws_connect(live, _logs_path(container, tail="all", until=until), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws, timeout=15)
    assert [line["text"] for line in lines] == ["before"]
    assert end == {"type": "end", "reason": "end of the log (not following)"}


def test_bad_query_is_an_error_frame(live, make_container, viewer_cookie):
    container = make_container(command="sleep 60")
    with ws_connect(live, _logs_path(container, tail="lots"), cookie=viewer_cookie) as ws:
        _, frame = read_log_frames(ws)
    assert frame == {"type": "error", "message": "tail must be a number of lines or “all”."}


def test_parse_since_accepts_relative_unix_and_iso_times():
    assert parse_since("10m", now=1000.0) == f"{400.0:.9f}"
    assert parse_since("1700000000") == "1700000000"
    assert parse_since("2023-11-14T22:13:20Z") == f"{1700000000:.9f}"
    assert ts_to_since("2023-11-14T22:13:20.123456789Z") == "1700000000.123456790"


# --------------------------------------------------------------------------- follow


def test_follow_streams_new_lines_then_ends_when_the_container_stops(live, make_container, viewer_cookie):
    container = make_container(command=["sh", "-c", "for i in 1 2 3 4; do echo tick$i; sleep 0.3; done"])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws, timeout=20)
    assert [line["text"] for line in lines] == ["tick1", "tick2", "tick3", "tick4"]
    assert end["type"] == "end" and "stopped" in end["reason"]


def test_follow_continues_across_a_restart_and_says_so(live, engine, make_container, viewer_cookie):
    container = make_container(command=["sh", "-c", "echo started; sleep 300"])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
        read_log_frames(ws, until_text="started")
        engine.api.restart(container["Id"], timeout=0)
        lines, frame = read_log_frames(ws, until_text="started")
    assert frame is None
    notices = [line["frame"] for line in lines if line["stream"] == "control"]
    assert notices and notices[0]["type"] == "notice" and "restarted" in notices[0]["message"]
    assert [line["text"] for line in lines if line["stream"] == "stdout"] == ["started"]


def test_removed_container_ends_the_stream_with_the_reason(live, engine, make_container, viewer_cookie):
    container = make_container(command=["sh", "-c", "echo here; sleep 300"])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
        read_log_frames(ws, until_text="here")
        engine.api.remove_container(container["Id"], force=True)
        _, end = read_log_frames(ws)
    assert end["type"] == "end" and ("removed" in end["reason"] or "stopped" in end["reason"])


def test_merged_view_tags_and_interleaves_lines_by_time(live, engine, make_container, viewer_cookie):
    a = make_container(command=["sh", "-c", "echo a1; sleep 0.4; echo a2; sleep 0.4; echo a3"])
    b = make_container(command=["sh", "-c", "sleep 0.2; echo b1; sleep 0.4; echo b2"])
    _finished(engine, a), _finished(engine, b)
    path = f"/ws/logs/?containers={a['Id']},{b['Id']}&tail=all&follow=0&timestamps=1"
    with ws_connect(live, path, cookie=viewer_cookie) as ws:
        lines, end = read_log_frames(ws)
    assert end["type"] == "end"
    assert sorted(line["text"] for line in lines) == ["a1", "a2", "a3", "b1", "b2"]
    stamps = [line["ts"] for line in lines]
    assert stamps == sorted(stamps), "lines are interleaved by timestamp"
    assert [line["text"][0] for line in lines] != ["a", "a", "a", "b", "b"]
    names = {line["text"][0]: line["container"] for line in lines}
    assert names == {"a": a["Name"].lstrip("/"), "b": b["Name"].lstrip("/")}


# --------------------------------------------------------------------------- pages and download


def test_logs_page_and_download_for_a_viewer(viewer_client, engine, make_container):
    container = _finished(
        engine, make_container(command=["sh", "-c", "echo alpha; echo beta; echo alphabet"])
    )
    page = viewer_client.get(f"/containers/{container['Id']}/logs/")
    assert page.status_code == 200
    assert f'data-ws="/ws/containers/{container["Id"]}/logs/"' in page.content.decode()
    response = viewer_client.get(f"/containers/{container['Id']}/logs/download/?grep=^alpha")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert async_to_sync(_body)(response) == b"alpha\nalphabet\n"
    assert viewer_client.get("/containers/nope-not-here/logs/").status_code == 404
    assert viewer_client.get(f"/containers/{container['Id']}/logs/download/?grep=(").status_code == 400


def test_download_keeps_one_stream_and_a_case_blind_filter(viewer_client, engine, make_container):
    container = _finished(
        engine,
        make_container(
            command=["sh", "-c", "echo Out-One; echo err-one >&2; echo out-two; echo ERR-two >&2"]
        ),
    )
    url = f"/containers/{container['Id']}/logs/download/"
    stderr = viewer_client.get(url, {"stream": "stderr"})
    assert async_to_sync(_body)(stderr) == b"err-one\nERR-two\n"
    blind = viewer_client.get(url, {"stream": "stdout", "grep": "(?i)out-"})
    assert async_to_sync(_body)(blind) == b"Out-One\nout-two\n"
    assert viewer_client.get(url, {"stream": "both"}).status_code == 400


def test_download_streams_a_big_log_from_the_live_server(live, engine, make_container, viewer_cookie):
    container = _finished(engine, make_container(command=["seq", "1", "100000"]))
    url = f"{live.url}/containers/{container['Id']}/logs/download/?timestamps=1"
    with requests.get(url, cookies={"sessionid": viewer_cookie}, stream=True, timeout=30) as response:
        assert response.status_code == 200
        body = b"".join(response.iter_content(65536)).decode()
    rows = body.splitlines()
    assert len(rows) == 100000 and rows[-1].endswith(" 100000") and rows[0].startswith("20")


def test_merged_logs_page_lists_the_containers(viewer_client, make_container):
    a, b = make_container(command="sleep 60"), make_container(command="sleep 60")
    page = viewer_client.get(f"/logs/?containers={a['Id']},{b['Id']}")
    assert page.status_code == 200
    assert a["Name"].lstrip("/") in page.content.decode() and b["Name"].lstrip("/") in page.content.decode()


# --------------------------------------------------------------------------- security


def test_anonymous_and_cross_origin_log_sockets_are_refused(live, make_container, viewer_cookie):
    container = make_container(command="sleep 60")
    with pytest.raises(InvalidStatus) as anonymous:
        ws_connect(live, _logs_path(container), cookie=None)
    assert anonymous.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as foreign:
        ws_connect(live, _logs_path(container), cookie=viewer_cookie, origin="http://evil.example")
    assert foreign.value.response.status_code == 403


def test_logging_out_elsewhere_closes_the_open_stream(live, make_container):
    cookie = login_cookie(live, "viewer")
    container = make_container(command=["sh", "-c", "echo hello; sleep 300"])
    with ws_connect(live, _logs_path(container, tail="all"), cookie=cookie) as ws:
        read_log_frames(ws, until_text="hello")
        session = requests.Session()
        session.cookies.set("sessionid", cookie)
        page = session.get(f"{live.url}/", timeout=10).text
        token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
        started = time.monotonic()
        logout = session.post(
            f"{live.url}/accounts/logout/",
            headers={"X-CSRFToken": token, "Referer": f"{live.url}/"},
            timeout=10,
        )
        assert logout.status_code in (200, 302)
        _, frame = read_log_frames(ws, timeout=5)
        assert frame["type"] == "error" and "logged out" in frame["message"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- concurrency and hygiene


def test_fifty_followers_keep_pages_fast_and_the_per_user_cap_answers_clearly(live, make_container):
    container = make_container(command=["sh", "-c", "while true; do echo tick; sleep 0.2; done"])
    cookies = {"viewer": login_cookie(live, "viewer"), "operator": login_cookie(live, "operator")}
    sockets = []
    with contextlib.ExitStack() as stack:
        for role in ("viewer", "operator"):
            for _ in range(25):
                ws = stack.enter_context(
                    ws_connect(live, _logs_path(container, tail="5"), cookie=cookies[role])
                )
                sockets.append(ws)
        for ws in sockets:
            read_log_frames(ws, until_text="tick")
        started = time.monotonic()
        for _ in range(5):
            assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
            page = requests.get(
                f"{live.url}/containers/{container['Id']}/logs/",
                cookies={"sessionid": cookies["viewer"]},
                timeout=5,
            )
            assert page.status_code == 200
        assert (time.monotonic() - started) / 10 < 0.5
        with ws_connect(live, _logs_path(container), cookie=cookies["viewer"]) as extra:
            _, frame = read_log_frames(extra, timeout=10)
        assert frame["type"] == "error" and "Too many live streams" in frame["message"]


def test_two_hundred_log_connect_disconnect_cycles_leave_no_threads_or_fds(
    live, make_container, viewer_cookie
):
    container = make_container(command=["sh", "-c", "seq 1 50; sleep 300"])
    path = _logs_path(container, tail="all")

    def one_cycle() -> None:
        with ws_connect(live, path, cookie=viewer_cookie) as ws:
            read_log_frames(ws, until_text="50")

    assert_cycles_leave_nothing(live, one_cycle, join_timeout=120)


def test_engine_going_away_gives_engine_disconnected_and_reconnect_works(
    live, make_container, tmp_path, viewer_cookie
):
    upstream = "/var/run/docker.sock"
    proxy = EngineProxy(upstream, str(tmp_path / "docker.sock"))
    proxy.start()
    container = make_container(command=["sh", "-c", "echo first; sleep 300"])
    try:
        with second_daphne(live, docker_host=proxy.url, workdir=tmp_path) as other:
            with ws_connect(other, _logs_path(container, tail="all"), cookie=viewer_cookie) as ws:
                read_log_frames(ws, until_text="first")
                proxy.stop()
                _, end = read_log_frames(ws, timeout=15)
            assert end["type"] == "error"
            assert end["message"].startswith("engine disconnected")
            proxy.start()

            def reconnected() -> bool:
                with ws_connect(
                    other, _logs_path(container, tail="all", follow="0"), cookie=viewer_cookie
                ) as ws:
                    lines, frame = read_log_frames(ws, timeout=10)
                return frame["type"] == "end" and [line["text"] for line in lines] == ["first"]

            wait_for(reconnected, timeout=20, message="a log stream through the restored engine")
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- browser


def test_log_viewer_renders_ansi_colours_as_classes_and_filters(page, login, live, engine, make_container):
    script = "printf '\\033[31mred alert\\033[0m plain <b>bold?</b>\\n'; echo second line; echo oops >&2"
    container = _finished(engine, make_container(command=["sh", "-c", script]))
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id']}/logs/")
    page.wait_for_selector(".logview .line.stderr")
    red = page.locator(".logview .line span.ansi-fg-1").first
    assert red.text_content() == "red alert"
    assert page.locator(".logview b").count() == 0
    assert (
        "red alert plain <b>bold?</b>" in page.locator(".logview .line", has_text="red alert").text_content()
    )
    page.check("[data-log-toggle=ts]")
    screenshot(page, "logs-viewer")
    page.fill("[data-log-filter]", "second")
    page.wait_for_selector(".logview mark")
    assert page.locator(".logview .line:not(.notice):visible").count() == 1
    page.fill("[data-log-filter]", "matches-nothing")
    page.wait_for_function("() => document.querySelectorAll('.logview .line:not(.notice)').length === 0")
    page.fill("[data-log-filter]", "")
    page.uncheck("[data-log-toggle=stderr]")
    assert page.locator(".logview .line.stderr:visible").count() == 0
    assert page.problems == []


def test_a_burst_of_200k_lines_keeps_the_tab_responsive_and_the_dom_bounded(
    page, login, live, engine, make_container
):
    container = _finished(engine, make_container(command=["seq", "1", "200000"]))
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id']}/logs/")
    page.evaluate(
        """() => { window.__gaps = []; let last = performance.now();
        const tick = (t) => { window.__gaps.push(t - last); last = t;
          if (window.__gaps.length < 100000) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }"""
    )
    page.select_option("[data-log-tail]", "all")
    page.wait_for_function(
        "() => { const l = document.querySelectorAll('.logview .line .text');"
        " return l.length && l[l.length - 1].textContent === '200000'; }",
        timeout=60000,
    )
    longest = page.evaluate("() => Math.max(...window.__gaps)")
    nodes = page.evaluate("() => document.querySelectorAll('*').length")
    lines = page.locator(".logview .line").count()
    print(f"200k burst: longest frame gap {longest:.0f} ms, {nodes} DOM nodes, {lines} lines shown")
    assert lines <= 10000
    assert nodes < 50000
    assert longest < 750
    assert "older lines are not shown" in page.locator(".logview .dropped").text_content()
    assert page.problems == []


def test_scrolling_the_log_view_draws_the_rows_in_sight_and_only_those(
    page, login, live, engine, make_container
):
    container = _finished(engine, make_container(command=["seq", "1", "3000"]))
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id']}/logs/")
    page.select_option("[data-log-tail]", "all")
    page.wait_for_selector('.logview .line .text:text-is("3000")')
    page.eval_on_selector(
        ".logview", "(view) => { view.dispatchEvent(new WheelEvent('wheel')); view.scrollTop = 0; }"
    )
    page.wait_for_selector('.logview .line .text:text-is("1")')
    texts = page.locator(".logview .line:not(.notice) .text").all_text_contents()
    assert texts[:3] == ["1", "2", "3"]
    assert len(texts) < 200
    assert page.locator("[data-log-jump]").is_visible()
    page.click("[data-log-jump]")
    page.wait_for_selector('.logview .line .text:text-is("3000")')
    assert page.problems == []


def test_merged_view_page_tags_each_container_with_its_own_colour(page, login, live, engine, make_container):
    a = _finished(engine, make_container(command=["sh", "-c", "echo from-a; sleep 0.3; echo again-a"]))
    b = _finished(engine, make_container(command=["sh", "-c", "sleep 0.15; echo from-b"]))
    login(page, "viewer")
    page.goto(f"{live.url}/logs/?containers={a['Id']},{b['Id']}")
    page.wait_for_function("() => document.querySelectorAll('.logview .line .ctr').length === 3")
    tags = page.locator(".logview .line .ctr")
    name_a, name_b = a["Name"].lstrip("/"), b["Name"].lstrip("/")
    classes = {tags.nth(i).text_content(): tags.nth(i).get_attribute("class") for i in range(3)}
    assert set(classes) == {name_a, name_b} and classes[name_a] != classes[name_b]
    texts = page.locator(".logview .line .text").all_text_contents()
    assert sorted(texts) == ["again-a", "from-a", "from-b"]
    assert texts.index("from-a") < texts.index("again-a")
    screenshot(page, "logs-merged")
    assert page.problems == []
