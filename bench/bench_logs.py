"""Logs benchmark: a 200k-line log read over the dashboard's websocket vs the `docker logs` CLI.

Prints lines/second of both (best of 5 interleaved rounds), the ratio (target: websocket >= 0.9x
the CLI) and each round's ratio; then the same with timestamps on both sides (``timestamps=1`` vs
``docker logs -t``: what the browser's log view asks for). Runs its own daphne and removes the
labelled container and image it created.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import websockets.sync.client
from _live import base_image, daphne, run_container, wait_exit

LINES = 200_000
ROUNDS = 5


def read_ws(url: str, cookie: str, container_id: str, stamps: bool = False) -> tuple[int, float]:
    query = "tail=all&follow=0" + ("&timestamps=1" if stamps else "")
    ws_url = url.replace("http://", "ws://") + f"/ws/containers/{container_id}/logs/?{query}"
    started = time.perf_counter()
    count = 0
    with websockets.sync.client.connect(
        ws_url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": url}, max_size=None
    ) as ws:
        while True:
            frame = json.loads(ws.recv(timeout=120))
            if frame["type"] == "lines":
                count += len(frame["lines"])
                if frame["lines"] and frame["lines"][-1]["text"] == str(LINES):
                    break
            else:
                raise SystemExit(f"unexpected frame before the last line: {frame}")
    return count, time.perf_counter() - started


def read_cli(container_id: str, stamps: bool = False) -> tuple[int, float]:
    started = time.perf_counter()
    command = ["docker", "logs", *(["-t"] if stamps else []), container_id]
    out = subprocess.run(command, capture_output=True, check=True).stdout
    return out.count(b"\n"), time.perf_counter() - started


def main() -> None:
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        container_id = run_container(api, image, ["seq", "1", str(LINES)])
        wait_exit(api, container_id)
        with daphne(Path(tmp)) as (url, cookie):
            read_ws(url, cookie, container_id)  # warm-up
            read_cli(container_id)
            for stamps in (False, True):
                compare(url, cookie, container_id, stamps)


def compare(url: str, cookie: str, container_id: str, stamps: bool) -> None:
    # Interleaved (websocket, CLI, websocket ...): on a shared machine the load drifts, and a
    # block of one then a block of the other compared two different moments.
    ws_runs, cli_runs = [], []
    for _ in range(ROUNDS):
        ws_runs.append(read_ws(url, cookie, container_id, stamps))
        cli_runs.append(read_cli(container_id, stamps))
    assert all(n == LINES for n, _ in ws_runs + cli_runs), (ws_runs, cli_runs)
    ws_time = min(t for _, t in ws_runs)
    cli_time = min(t for _, t in cli_runs)
    ws_rate, cli_rate = LINES / ws_time, LINES / cli_time
    pairs = sorted(c / w for (_, w), (_, c) in zip(ws_runs, cli_runs, strict=True))
    best = f"(best of {ROUNDS})"
    if stamps:
        print("with timestamps (timestamps=1 vs docker logs -t, as the browser's view asks):")
    print(f"websocket tail=all: {LINES} lines in {ws_time:.2f}s = {ws_rate:,.0f} lines/s {best}")
    print(f"docker logs CLI:    {LINES} lines in {cli_time:.2f}s = {cli_rate:,.0f} lines/s {best}")
    print(f"  each round's ratio: {', '.join(f'{r:.2f}' for r in pairs)}; load {os.getloadavg()[0]:.1f}")
    label = "with timestamps" if stamps else "websocket/CLI"
    print(f"ratio {label}: {ws_rate / cli_rate:.2f}x (target >= 0.9x)")


if __name__ == "__main__":
    main()
