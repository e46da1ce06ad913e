"""Exec sessions under faults, on the real engine: whatever ends a session, its processes go.

Abrupt closes (normal and TCP reset) after the main process already exited, input floods and
oversized frames, the handler cancelled, the engine away through a socket proxy and back, refused
execs (unknown user, missing command), and pasted text reaching the process without escapes.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live_support import (
    EngineProxy,
    audit_rows,
    login_cookie,
    read_terminal,
    recording_for,
    second_daphne,
    ws_connect,
)
from tests.support import screenshot, wait_for


@pytest.fixture
def make_container(make_container, engine):
    def make(**kwargs):
        kwargs.setdefault("host_config", engine.api.create_host_config(network_mode="none"))
        return make_container(**kwargs)

    return make


@pytest.fixture(scope="module")
def operator_cookie(live_server_process):
    return login_cookie(live_server_process, "operator")


def _exec_path(container: dict, cmd: str = "", **params: str) -> str:
    from urllib.parse import urlencode

    query = urlencode({"cmd": cmd, **params} if cmd else params)
    return f"/ws/containers/{container['Id']}/exec/?{query}"


def _processes(engine, container: dict) -> str:
    exec_id = engine.api.exec_create(container["Id"], ["ps", "-o", "pid,args"])["Id"]
    return engine.api.exec_start(exec_id).decode()


def _file(engine, container: dict, path: str) -> bytes:
    exec_id = engine.api.exec_create(container["Id"], ["cat", path])["Id"]
    return engine.api.exec_start(exec_id)


def _reset(ws) -> None:
    """Close the client's TCP connection with a reset (SO_LINGER 0), no websocket close frame."""
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.socket.close()


def _session_states(database, container_id: str) -> list[str]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT state FROM core_execsession WHERE container_id = ?", (container_id,))
        return [row[0] for row in rows.fetchall()]


def test_background_processes_go_when_the_main_process_exits_by_itself(
    live, engine, make_container, operator_cookie
):
    container = make_container(command="sleep 300")
    with ws_connect(
        live, _exec_path(container, "sh -c 'sleep 1000 & echo started'"), cookie=operator_cookie
    ) as ws:
        output = read_terminal(ws, b'"type":"exit"')
    assert b"started" in output
    wait_for(lambda: "sleep 1000" not in _processes(engine, container), timeout=15, message="sleep gone")
    wait_for(lambda: _session_states(live.database, container["Id"]) == ["ended"], timeout=10)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_session_closed_abruptly_leaves_no_process(live, engine, make_container, operator_cookie, how):
    container = make_container(command="sleep 300")
    with ws_connect(live, _exec_path(container, "sh"), cookie=operator_cookie) as ws:
        ws.send(b"sleep 1000 & echo start$((1+1))\n")
        read_terminal(ws, b"start2")
        assert "sleep 1000" in _processes(engine, container)
        if how == "reset":
            _reset(ws)
    wait_for(lambda: "sleep 1000" not in _processes(engine, container), timeout=15, message="sleep gone")
    wait_for(lambda: _session_states(live.database, container["Id"]) == ["ended"], timeout=10)


def test_an_input_flood_closes_that_session_with_a_policy_code_and_cleans_up(
    live, engine, make_container, operator_cookie
):
    container = make_container(command="sleep 300")
    ws = ws_connect(
        live, _exec_path(container, "sh -c 'sleep 1001 & cat >/dev/null'"), cookie=operator_cookie
    )
    wait_for(lambda: "sleep 1001" in _processes(engine, container), message="the session's sleep")
    with pytest.raises(ConnectionClosed) as closed:
        # 4 KiB frames: the byte limit trips even when a loaded server handles fewer frames per
        # second than the frame limit (the buckets count frames as they are handled).
        for _ in range(10_000):
            ws.send(b"x" * 4096)
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4008  # 1008, in the range daphne lets an application send
    wait_for(lambda: "sleep 1001" not in _processes(engine, container), timeout=15, message="sleep gone")
    ended = wait_for(lambda: [r for r in audit_rows(live, "container.exec.end") if r[2] == container["Id"]])
    assert json.loads(ended[-1][4])["ended_by"] == "input limit"
    started = [r for r in audit_rows(live, "container.exec") if r[2] == container["Id"]]
    assert wait_for(lambda: recording_for(live, started[-1][0])[1], timeout=10)


def test_an_oversized_input_frame_closes_the_session_as_too_big(
    live, engine, make_container, operator_cookie
):
    container = make_container(command="sleep 300")
    with ws_connect(live, _exec_path(container, "cat"), cookie=operator_cookie) as ws:
        ws.send(b"ping\n")
        read_terminal(ws, b"ping\r\nping")
        ws.send(b"y" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4009  # 1009, likewise
    wait_for(lambda: " cat" not in _processes(engine, container), timeout=15, message="cat gone")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"user": "nosuchuser"}, "unable to find user nosuchuser"),
        ({"cmd": "nosuchcommand"}, "executable file not found"),
    ],
    ids=["unknown-user", "missing-command"],
)
def test_a_refused_exec_fails_fast_with_the_engine_message(
    live, make_container, operator_cookie, params, message
):
    container = make_container(command="sleep 300")
    started = time.monotonic()
    with ws_connect(live, _exec_path(container, **params), cookie=operator_cookie) as ws:
        frame = json.loads(ws.recv(timeout=10))
        took = time.monotonic() - started
    assert frame["type"] == "error"
    assert message in frame["message"]
    assert took < 3


def test_a_paste_frame_reaches_the_process_without_escapes(live, engine, make_container, operator_cookie):
    container = make_container(command="sleep 300")
    path = _exec_path(container, "sh -c 'stty raw -echo; echo ready; cat > /tmp/paste.bin'")
    with ws_connect(live, path, cookie=operator_cookie) as ws:
        read_terminal(ws, b"ready")
        ws.send(json.dumps({"type": "paste", "data": "echo harmless\x1b[201~\necho SMUGGLED\n"}))
        wait_for(lambda: b"SMUGGLED" in _file(engine, container, "/tmp/paste.bin"), timeout=10)
    received = _file(engine, container, "/tmp/paste.bin")
    assert b"\x1b" not in received
    assert received == b"echo harmless\recho SMUGGLED\r"


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_handler_still_ends_the_session_processes(engine, make_container, user_factory):
    """daphne cancels a handler that does not stop in time: the cleanup must not need it."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from core.consumers.exec import ExecConsumer
    from core.models import AuditEvent
    from tests.support import default_endpoint_ref

    container = make_container(command="sleep 300")
    operator = user_factory("operator")

    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            ExecConsumer.as_asgi(), f"/ws/containers/{container['Id']}/exec/?cmd=sh"
        )
        communicator.scope["user"] = operator
        communicator.scope["endpoint"] = default_endpoint_ref()
        communicator.scope["url_route"] = {"kwargs": {"container_id": container["Id"]}}
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await communicator.send_to(bytes_data=b"sleep 1002 & echo go-$((1+1))\n")
        seen = b""
        while b"go-2" not in seen:
            seen += await communicator.receive_from(timeout=10)
        communicator.future.cancel()
        try:
            await communicator.future
        except BaseException:  # noqa: BLE001, S110 - the cancellation we caused
            pass

    async_to_sync(scenario)()
    wait_for(lambda: "sleep 1002" not in _processes(engine, container), timeout=15, message="sleep gone")
    wait_for(lambda: AuditEvent.objects.filter(action="container.exec.end", target=container["Id"]).exists())


def test_a_session_cut_by_an_engine_outage_is_swept_when_the_engine_is_back(
    live, engine, make_container, operator_cookie, tmp_path
):
    container = make_container(command="sleep 300")
    proxy = EngineProxy("/var/run/docker.sock", str(tmp_path / "engine.sock"))
    proxy.start()
    try:
        # Sweeping through the engine only (a dashboard that cannot see the engine host's /proc).
        with second_daphne(live, docker_host=proxy.url, workdir=tmp_path, EXEC_SWEEP_LOCAL="False") as other:
            path = _exec_path(container, "sh -c 'sleep 1003 & echo up; sleep 1004'")
            ws = ws_connect(other, path, cookie=operator_cookie)
            read_terminal(ws, b"up")
            proxy.stop()
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=15)
            wait_for(lambda: _session_states(live.database, container["Id"]) == ["pending"], timeout=15)
            time.sleep(3)
            assert "sleep 1003" in _processes(engine, container), (
                "nothing can end them while the engine is away"
            )
            proxy.start()
            wait_for(
                lambda: "sleep 100" not in _processes(engine, container),
                timeout=20,
                message="both sleeps gone",
            )
            wait_for(lambda: _session_states(live.database, container["Id"]) == ["ended"], timeout=10)
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- browser


def test_pasting_into_the_terminal_delivers_no_escape_to_the_process(
    page, login, live, engine, make_container
):
    container = make_container(command="sleep 300")
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id']}/terminal/")
    page.wait_for_selector("[data-term-status=live]")
    page.fill("input[name=cmd]", "sh -c 'stty raw -echo; echo ready; cat > /tmp/paste.bin'")
    page.click("[data-term-connect]")
    page.wait_for_function(
        "() => { const b = window.dashboardTerminal.buffer.active; for (let i = 0; i < b.length; i++) {"
        " if (b.getLine(i).translateToString().includes('ready')) return true; } return false; }"
    )
    page.evaluate(
        """(text) => {
            const data = new DataTransfer();
            data.setData('text/plain', text);
            document.querySelector('.xterm-helper-textarea').dispatchEvent(
                new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        "echo harmless\x1b[201~\necho SMUGGLED\n",
    )
    wait_for(lambda: b"SMUGGLED" in _file(engine, container, "/tmp/paste.bin"), timeout=10)
    received = _file(engine, container, "/tmp/paste.bin")
    screenshot(page, "terminal-paste")
    assert b"\x1b" not in received
    assert received == b"echo harmless\recho SMUGGLED\r"
    assert page.problems == []
