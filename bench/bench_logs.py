"""Logs benchmark: a 200k-line log read over the dashboard's websocket vs the `docker logs` CLI.

Prints lines/second of both and the ratio (target: websocket >= 0.9x the CLI). Runs its own daphne
and removes the labelled container and image it created.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import websockets.sync.client
from _live import base_image, daphne, run_container, wait_exit

LINES = 200_000


def read_ws(url: str, cookie: str, container_id: str) -> tuple[int, float]:
    ws_url = url.replace("http://", "ws://") + f"/ws/containers/{container_id}/logs/?tail=all&follow=0"
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


def read_cli(container_id: str) -> tuple[int, float]:
    started = time.perf_counter()
    out = subprocess.run(["docker", "logs", container_id], capture_output=True, check=True).stdout
    return out.count(b"\n"), time.perf_counter() - started


def main() -> None:
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        container_id = run_container(api, image, ["seq", "1", str(LINES)])
        wait_exit(api, container_id)
        with daphne(Path(tmp)) as (url, cookie):
            read_ws(url, cookie, container_id)  # warm-up
            ws_runs = [read_ws(url, cookie, container_id) for _ in range(3)]
            cli_runs = [read_cli(container_id) for _ in range(3)]
    ws_count, ws_time = min(ws_runs, key=lambda run: run[1])
    cli_count, cli_time = min(cli_runs, key=lambda run: run[1])
    assert ws_count == LINES and cli_count == LINES, (ws_count, cli_count)
    ws_rate, cli_rate = ws_count / ws_time, cli_count / cli_time
    print(f"websocket tail=all: {ws_count} lines in {ws_time:.2f}s = {ws_rate:,.0f} lines/s (best of 3)")
    print(f"docker logs CLI:    {cli_count} lines in {cli_time:.2f}s = {cli_rate:,.0f} lines/s (best of 3)")
    print(f"ratio websocket/CLI: {ws_rate / cli_rate:.2f}x (target >= 0.9x)")


if __name__ == "__main__":
    main()
