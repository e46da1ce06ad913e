"""Helpers for the live log / terminal tests: websocket clients, frame readers, a second daphne."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import websockets.sync.client

from tests.support import LiveServer, UnixSocketProxy, daphne_process, dashboard_env

ROOT = Path(__file__).resolve().parent.parent


def ws_connect(live: LiveServer, path: str, *, cookie: str | None, origin: str | None = "same"):
    headers = {}
    if cookie:
        headers["Cookie"] = f"sessionid={cookie}"
    if origin:
        headers["Origin"] = live.url if origin == "same" else origin
    return websockets.sync.client.connect(
        f"{live.ws_url}{path}", additional_headers=headers, open_timeout=15, origin=None, max_size=None
    )


def read_log_frames(
    ws, *, timeout: float = 30, until_text: str | None = None
) -> tuple[list[dict], dict | None]:
    """Read frames until ``end``/``error`` (returned) or a line with ``until_text`` (then None)."""
    lines: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame["type"] == "lines":
            lines.extend(frame["lines"])
            if until_text is not None and any(until_text in line["text"] for line in frame["lines"]):
                return lines, None
        elif frame["type"] in ("end", "error"):
            return lines, frame
        else:
            lines.append({"stream": "control", "text": json.dumps(frame), "ts": "", "frame": frame})


def read_terminal(ws, needle: bytes, *, timeout: float = 15) -> bytes:
    """Read binary frames until ``needle`` shows up; text frames are collected as JSON bytes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        message = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        seen += message if isinstance(message, bytes) else message.encode()
    return seen


def audit_rows(live: LiveServer, action: str) -> list[tuple]:
    """(id, username, target, outcome, parameters) audit rows of the live server's database."""
    with sqlite3.connect(live.database) as db:
        return db.execute(
            "SELECT id, username, target, outcome, parameters FROM core_auditevent"
            " WHERE action = ? ORDER BY id",
            (action,),
        ).fetchall()


def recording_for(live: LiveServer, audit_id: int) -> tuple | None:
    with sqlite3.connect(live.database) as db:
        return db.execute(
            "SELECT path, ended_at, command FROM core_recording WHERE audit_event_id = ?", (audit_id,)
        ).fetchone()


@contextmanager
def second_daphne(
    live: LiveServer, *, docker_host: str, workdir: Path, **env_overrides: str
) -> Iterator[LiveServer]:
    """Another daphne on the live server's database, talking to ``docker_host`` (e.g. a proxy)."""
    env = dashboard_env(DATABASE_URL=f"sqlite:///{live.database}", DOCKER_HOST=docker_host, **env_overrides)
    log_path = workdir / "daphne-proxy.log"
    with daphne_process(env, log_path) as (url, pid):
        yield LiveServer(url=url, pid=pid, users=live.users, database=live.database, log_path=log_path)


def login_cookie(live: LiveServer, role: str) -> str:
    """Log in through the real form without following the redirect (the overview may be slow)."""
    import re

    import requests

    session = requests.Session()
    page = session.get(f"{live.url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    username, password = live.users[role]
    response = session.post(
        f"{live.url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/healthz"},
        headers={"Referer": f"{live.url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, f"login as {role} failed: {response.status_code}"
    return session.cookies["sessionid"]


def settled_counts(live: LiveServer, *, timeout: float = 60) -> tuple[int, int]:
    """The live server's (threads, fds) once they stopped changing for a second."""
    deadline = time.monotonic() + timeout
    last = (live.thread_count(), live.fd_count())
    while time.monotonic() < deadline:
        time.sleep(1)
        now = (live.thread_count(), live.fd_count())
        if now == last:
            return now
        last = now
    return last


class EngineProxy(UnixSocketProxy):
    """UnixSocketProxy that cannot let a connection accepted during ``stop()`` survive it."""

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            with self._lock:
                if self._server is not server:
                    client.close()
                    upstream.close()
                    return
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()


def assert_cycles_leave_nothing(live: LiveServer, one_cycle, *, join_timeout: float = 300) -> None:
    """Run ``one_cycle()`` 200 times (4 clients x 50) and check the live server's threads and fds
    come back to where they were.

    Warm-up first, wider than the run: the bounded pools (the engine's HTTP connection pool, the
    executor for short engine calls) reach their size, so what is left over after is a leak. A leak
    grows with the 200 cycles; what may legitimately remain is bounded (an idle executor thread or
    pooled engine connection that the warm-up happened not to need on a busy machine).
    """
    import threading

    from tests.support import wait_for

    def in_parallel(count: int, width: int = 4) -> None:
        workers = [threading.Thread(target=lambda: [one_cycle() for _ in range(count)]) for _ in range(width)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(join_timeout)

    in_parallel(3, width=8)
    threads, fds = settled_counts(live)
    in_parallel(50)
    wait_for(
        lambda: live.thread_count() <= threads + 4 and live.fd_count() <= fds + 12,
        timeout=60,
        message=f"threads/fds back to {threads}/{fds} (now {live.thread_count()}/{live.fd_count()})",
    )
