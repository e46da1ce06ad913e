"""Exec and attach terminals over websockets: bytes both ways, resize, exit, no orphans, audit, hygiene."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live_support import (
    assert_cycles_leave_nothing,
    audit_rows,
    login_cookie,
    read_terminal,
    recording_for,
    ws_connect,
)
from tests.support import screenshot, wait_for


@pytest.fixture
def make_container(make_container, engine):
    """Containers without a network: terminals need none."""

    def make(**kwargs):
        kwargs.setdefault("host_config", engine.api.create_host_config(network_mode="none"))
        return make_container(**kwargs)

    return make


@pytest.fixture(scope="module")
def operator_cookie(live_server_process):
    return login_cookie(live_server_process, "operator")


def _exec_path(container: dict, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/ws/containers/{container['Id']}/exec/?{query}"


def _processes(engine, container: dict) -> str:
    exec_id = engine.api.exec_create(container["Id"], ["ps", "-o", "pid,args"])["Id"]
    return engine.api.exec_start(exec_id).decode()


def _read_exit(ws, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        if isinstance(message, str):
            frame = json.loads(message)
            if frame["type"] in ("exit", "error"):
                return frame


def test_exec_relays_bytes_both_ways_and_reports_the_exit_code(live, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    before = len(audit_rows(live, "container.exec"))
    with ws_connect(live, _exec_path(container), cookie=operator_cookie) as ws:
        ws.send(b"echo $((6*7))-$0\n")
        output = read_terminal(ws, b"42-sh")
        ws.send(b"exit 3\n")
        frame = _read_exit(ws)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert b"42-sh" in output  # busybox has no bash: the default shell is sh
    assert frame == {"type": "exit", "code": 3}
    started = audit_rows(live, "container.exec")[before:]
    assert [(row[2], row[3]) for row in started] == [(container["Id"], "ok")]
    ended = wait_for(
        lambda: [row for row in audit_rows(live, "container.exec.end") if row[2] == container["Id"]]
    )
    assert json.loads(ended[-1][4])["exit_code"] == 3
    recording = wait_for(lambda: (r := recording_for(live, started[0][0])) and r[1] and r)
    cast = open(recording[0], encoding="utf-8").read()
    assert '"i", "echo $((6*7))-$0\\n"' in cast and "42-sh" in cast


def test_exec_runs_the_given_command_user_and_workdir(live, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    with ws_connect(
        live,
        _exec_path(container, cmd="sh%20-c%20'id%20-u;%20pwd'", user="nobody", workdir="/tmp"),
        cookie=operator_cookie,
    ) as ws:
        output = read_terminal(ws, b'"exit"')
    assert b"65534" in output and b"/tmp" in output and b'{"type":"exit","code":0}' in output


def test_resize_reaches_the_tty(live, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    with ws_connect(live, _exec_path(container, cols="100", rows="30"), cookie=operator_cookie) as ws:
        ws.send(b"stty size\n")
        read_terminal(ws, b"30 100")
        ws.send(json.dumps({"type": "resize", "cols": 132, "rows": 43}))
        time.sleep(0.3)
        ws.send(b"stty size\n")
        assert b"43 132" in read_terminal(ws, b"43 132")


def test_closing_the_socket_ends_the_exec_process_tree(live, engine, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    with ws_connect(live, _exec_path(container), cookie=operator_cookie) as ws:
        ws.send(b"top -d 1\n")
        read_terminal(ws, b"Mem:")
        assert "top -d 1" in _processes(engine, container)
    wait_for(lambda: "top -d 1" not in _processes(engine, container), timeout=10, message="top to be gone")

    def no_exec_running() -> bool:
        exec_ids = engine.api.inspect_container(container["Id"])["ExecIDs"] or []
        return all(not engine.api.exec_inspect(exec_id)["Running"] for exec_id in exec_ids)

    wait_for(no_exec_running, timeout=10, message="every exec of the container to have ended")


def test_exec_in_a_stopped_container_is_a_clear_error(live, engine, make_container, operator_cookie):
    container = make_container(command="true")
    engine.api.wait(container["Id"], timeout=30)
    with ws_connect(live, _exec_path(container), cookie=operator_cookie) as ws:
        frame = _read_exit(ws)
    assert frame["type"] == "error" and "not running" in frame["message"]


def test_a_viewer_is_refused_exec_and_attach_and_the_refusal_is_audited(live, engine, make_container):
    container = make_container(command="sleep 300")
    cookie = login_cookie(live, "viewer")
    for kind in ("exec", "attach"):
        before = len(audit_rows(live, f"container.{kind}"))
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(live, f"/ws/containers/{container['Id']}/{kind}/", cookie=cookie)
        assert refused.value.response.status_code == 403
        rows = audit_rows(live, f"container.{kind}")[before:]
        assert [(row[1], row[3]) for row in rows] == [(live.users["viewer"][0], "denied")]
        assert container["Id"] in rows[0][2]
    assert not engine.api.inspect_container(container["Id"])["ExecIDs"], "refused before any engine call"


def test_anonymous_and_cross_origin_exec_are_refused(live, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    with pytest.raises(InvalidStatus):
        ws_connect(live, _exec_path(container), cookie=None)
    with pytest.raises(InvalidStatus):
        ws_connect(live, _exec_path(container), cookie=operator_cookie, origin="http://evil.example")


def test_attach_reaches_the_main_process_and_detaching_keeps_it_running(
    live, engine, make_container, operator_cookie
):
    container = make_container(command="sh", tty=True, stdin_open=True)
    with ws_connect(live, f"/ws/containers/{container['Id']}/attach/", cookie=operator_cookie) as ws:
        ws.send(b"echo attached-$((1+1))\n")
        read_terminal(ws, b"attached-2")
    time.sleep(0.5)
    assert engine.api.inspect_container(container["Id"])["State"]["Running"]
    assert [row[3] for row in audit_rows(live, "container.attach") if row[2] == container["Id"]] == ["ok"]
    with ws_connect(live, f"/ws/containers/{container['Id']}/attach/", cookie=operator_cookie) as ws:
        ws.send(b"exit 7\n")
        frame = _read_exit(ws)
    assert frame == {"type": "exit", "code": 7}


def test_two_hundred_exec_cycles_leave_no_threads_fds_or_processes(
    live, engine, make_container, operator_cookie
):
    container = make_container(command="sleep 300")
    path = _exec_path(container, cmd="cat")

    def one_cycle() -> None:
        with ws_connect(live, path, cookie=operator_cookie) as ws:
            ws.send(b"ping\n")
            read_terminal(ws, b"ping\r\nping")

    assert_cycles_leave_nothing(live, one_cycle)
    wait_for(lambda: " cat" not in _processes(engine, container), timeout=10, message="no cat left running")


def test_a_closed_terminal_frees_its_descriptor_at_once(engine, make_container):
    """Not at the next cyclic garbage collection: docker-py's hijacked response keeps a reference
    cycle to the socket's reader, so ``socket.close()`` alone left one descriptor per session."""
    import gc
    import os

    from tests.support import default_engine

    streams = default_engine().streams
    container = make_container(command="sleep 300")
    streams.end_exec(streams.start_exec(container["Id"], cmd=["cat"]))  # the engine pool is warm
    gc.collect()
    gc.disable()
    try:
        terminals = [streams.start_exec(container["Id"], cmd=["cat"]) for _ in range(10)]
        opened = len(os.listdir("/proc/self/fd"))
        for terminal in terminals:
            terminal.close()
        closed = len(os.listdir("/proc/self/fd"))
    finally:
        gc.enable()
        for terminal in terminals:
            streams.end_exec(terminal)
    assert closed <= opened - 10


# --------------------------------------------------------------------------- browser


def test_terminal_page_renders_xterm_runs_commands_and_obeys_the_csp(page, login, live, make_container):
    container = make_container(command="sleep 300")
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id']}/terminal/")
    page.wait_for_selector("[data-term-status=live]")
    page.wait_for_selector(".xterm-screen")
    page.locator(".terminal-box").click()
    page.keyboard.type("echo hello-$((40+2))\n")
    page.wait_for_function(
        "() => { const b = window.dashboardTerminal.buffer.active; for (let i = 0; i < b.length; i++) {"
        " if (b.getLine(i).translateToString().includes('hello-42')) return true; } return false; }"
    )
    cols = page.evaluate("() => window.dashboardTerminal.cols")
    page.set_viewport_size({"width": 900, "height": 700})
    page.wait_for_function(f"() => window.dashboardTerminal.cols < {cols}")
    page.keyboard.type("stty size\n")
    new_cols = page.evaluate("() => window.dashboardTerminal.cols")
    page.wait_for_function(
        "(c) => { const b = window.dashboardTerminal.buffer.active; for (let i = 0; i < b.length; i++) {"
        " if (b.getLine(i).translateToString().trim().endsWith(' ' + c)) return true; } return false; }",
        arg=new_cols,
    )
    screenshot(page, "terminal")
    assert page.problems == []


def test_terminal_page_is_for_operators(viewer_client, operator_client, make_container):
    container = make_container(command="sleep 300")
    assert viewer_client.get(f"/containers/{container['Id']}/terminal/").status_code == 403
    response = operator_client.get(f"/containers/{container['Id']}/terminal/")
    assert response.status_code == 200 and b"data-terminal" in response.content
    assert operator_client.get(f"/containers/{container['Id']}/attach/").status_code == 200


@pytest.mark.parametrize("local_kill", [True, False], ids=["same-host", "helper-exec"])
def test_end_exec_ends_the_whole_tree_on_the_same_host_and_through_a_helper_exec(
    engine, make_container, local_kill
):
    from tests.support import default_engine

    streams = default_engine().streams
    container = make_container(command="sleep 300")
    terminal = streams.start_exec(container["Id"], cmd=["sh", "-c", "top -d 1 & sleep 250"])
    wait_for(
        lambda: "sleep 250" in _processes(engine, container) and "top -d 1" in _processes(engine, container)
    )
    terminal.close()
    time.sleep(0.3)
    assert "sleep 250" in _processes(engine, container), "docker itself leaves the exec running"
    status = streams.end_exec(terminal, local_kill=local_kill)
    assert not status.running
    left = _processes(engine, container)
    assert "sleep 250" not in left and "top -d 1" not in left
