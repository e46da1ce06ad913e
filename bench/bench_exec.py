"""Exec benchmark: keystroke -> echo round trip through the dashboard's websocket vs the raw exec socket.

`cat` runs in a TTY; one byte is written and the time until its echo comes back is measured, 300
times each way. Prints median and p95 of both and the ratio (target: websocket median <= 1 ms).
Runs its own daphne and removes the labelled container and image it created.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
from pathlib import Path

import docker
import websockets.sync.client
from _live import base_image, daphne, percentile, run_container

ROUNDS = 300


def websocket_round_trips(url: str, cookie: str, container_id: str) -> list[float]:
    ws_url = url.replace("http://", "ws://") + f"/ws/containers/{container_id}/exec/?cmd=cat"
    timings = []
    with websockets.sync.client.connect(
        ws_url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": url}
    ) as ws:
        ws.send(b"ready\n")
        seen = b""
        while b"ready\r\nready" not in seen:
            message = ws.recv(timeout=10)
            seen += message if isinstance(message, bytes) else b""
        for index in range(ROUNDS):
            key = bytes([97 + index % 26])
            started = time.perf_counter()
            ws.send(key)
            while True:
                message = ws.recv(timeout=10)
                if isinstance(message, bytes) and key in message:
                    break
            timings.append(time.perf_counter() - started)
    return timings


def raw_round_trips(api: docker.APIClient, container_id: str) -> list[float]:
    exec_id = api.exec_create(container_id, ["cat"], stdin=True, tty=True)["Id"]
    sock = api.exec_start(exec_id, tty=True, socket=True)._sock
    sock.settimeout(10)
    timings = []
    try:
        for index in range(ROUNDS):
            key = bytes([97 + index % 26])
            started = time.perf_counter()
            sock.sendall(key)
            while key not in sock.recv(4096):
                pass
            timings.append(time.perf_counter() - started)
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    return timings


def main() -> None:
    api = docker.APIClient(version="auto", timeout=60)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        container_id = run_container(api, image, ["sleep", "600"])
        with daphne(Path(tmp)) as (url, cookie):
            websocket_round_trips(url, cookie, container_id)  # warm-up
            ws = websocket_round_trips(url, cookie, container_id)
            raw = raw_round_trips(api, container_id)
    ws_median, raw_median = statistics.median(ws) * 1000, statistics.median(raw) * 1000
    ws_p95, raw_p95 = percentile(ws, 0.95) * 1000, percentile(raw, 0.95) * 1000
    print(f"websocket exec echo: median {ws_median:.2f} ms, p95 {ws_p95:.2f} ms ({ROUNDS} keystrokes)")
    print(f"raw exec socket:     median {raw_median:.2f} ms, p95 {raw_p95:.2f} ms ({ROUNDS} keystrokes)")
    print(f"ratio websocket/raw median: {ws_median / raw_median:.2f}x (target: websocket median <= 1 ms)")


if __name__ == "__main__":
    main()
