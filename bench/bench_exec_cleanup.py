"""Exec cleanup benchmark: 300 sessions closed abruptly, each having started a background `sleep`.

Each session runs `sh`, starts `sleep 1000 &`, waits for its echo, and goes away: half with a
websocket close, half with a TCP reset (SO_LINGER 0, no close frame). Then: how many `sleep 1000`
are left in the container (target 0), and the daphne's threads, fds and RSS against the baseline
taken after a warm-up (target: back to baseline). Runs its own daphne; removes what it created.
"""

from __future__ import annotations

import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

import docker
import websockets.sync.client
from _live import base_image, run_container

SESSIONS = 300
WORKERS = 6


def one_session(url: str, cookie: str, container_id: str, number: int) -> None:
    ws_url = url.replace("http://", "ws://") + f"/ws/containers/{container_id}/exec/?cmd=sh"
    ws = websockets.sync.client.connect(  # not `with`: half of them end with a TCP reset
        ws_url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": url}
    )
    try:
        marker = f"started-{number}".encode()
        ws.send(b"sleep 1000 & echo started-" + str(number).encode() + b"\n")
        seen = b""
        while marker + b"\r\n" not in seen.replace(b"echo " + marker, b""):
            message = ws.recv(timeout=20)
            seen += message if isinstance(message, bytes) else b""
    finally:
        if number % 2:
            ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.socket.close()
        else:
            ws.close()


def sleeps_left(api: docker.APIClient, container_id: str) -> int:
    exec_id = api.exec_create(container_id, ["ps", "-o", "args"])["Id"]
    return api.exec_start(exec_id).decode().count("sleep 1000")


def counts(pid: int) -> tuple[int, int, int]:
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return threads, fds, rss


def settled(pid: int, timeout: float = 60) -> tuple[int, int, int]:
    deadline = time.monotonic() + timeout
    last = counts(pid)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = counts(pid)
        if now[:2] == last[:2]:
            return now
        last = now
    return last


def run_sessions(url: str, cookie: str, container_id: str, start: int, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    numbers = iter(range(start, start + count))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            try:
                one_session(url, cookie, container_id, number)
            except BaseException as exc:  # noqa: BLE001 - counted and reported
                errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return errors


def main() -> None:
    from tests.support import dashboard_server

    api = docker.APIClient(version="auto", timeout=60)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        container_id = run_container(api, image, ["sleep", "3600"])
        with dashboard_server(Path(tmp), roles=("operator",), DATA_DIR=tmp) as server:
            cookie = server.session_cookie("operator")
            run_sessions(server.url, cookie, container_id, 0, 30)  # warm-up: pools reach their size
            deadline = time.monotonic() + 30
            while sleeps_left(api, container_id) and time.monotonic() < deadline:
                time.sleep(0.5)
            base = settled(server.pid)
            started = time.monotonic()
            errors = run_sessions(server.url, cookie, container_id, 1000, SESSIONS)
            took = time.monotonic() - started
            deadline = time.monotonic() + 60
            while (left := sleeps_left(api, container_id)) and time.monotonic() < deadline:
                time.sleep(0.5)
            swept_after = time.monotonic() - started - took
            after = settled(server.pid)
    print(
        f"{SESSIONS} exec sessions ({WORKERS} at a time, half closed, half TCP reset) "
        f"in {took:.1f} s, {len(errors)} errors"
    )
    print(
        f"background sleeps left in the container: {left} (target 0; "
        f"all gone {swept_after:.1f} s after the last close)"
    )
    print(
        f"daphne threads {base[0]} -> {after[0]}, fds {base[1]} -> {after[1]}, "
        f"RSS {base[2] / 1024:.1f} -> {after[2] / 1024:.1f} MB"
    )
    if errors:
        print(f"first error: {errors[0]!r}")


if __name__ == "__main__":
    main()
