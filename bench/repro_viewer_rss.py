"""Repro (issue 12, stalled-viewer RSS): does daphne's RSS come back after a log viewer leaves?

bench_live.py measures one stalled viewer and its RSS 10 s later; this one opens viewers of a
`yes` flood one after the other on the same daphne (first three that READ for 15 s, then three
that stall for 15 s) and prints RSS before, at the peak and 10 s after each. Allocator retention
would plateau (later viewers reuse the freed memory); growth by about the same amount per viewer is
memory kept per viewer. Runs its own daphne; removes the labelled container and image it created.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import docker
from _live import base_image, run_container
from bench_live import connect, dashboard_server, rss_mb, threads

SECONDS = 15
ROUNDS = 3


def viewer(server, cookie: str, container_id: str, *, read: bool) -> str:
    base = peak = rss_mb(server.pid)
    frames = 0
    rcvbuf = None if read else 16 * 1024
    with connect(server, f"/ws/containers/{container_id}/logs/?tail=0", cookie, rcvbuf=rcvbuf) as ws:
        ws.recv(timeout=30)
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            if read:
                ws.recv(timeout=10)
                frames += 1
                if frames % 50:
                    continue
            else:
                time.sleep(1)
            peak = max(peak, rss_mb(server.pid))
    time.sleep(10)
    kind = f"reading ({frames} frames)" if read else "stalled"
    after = rss_mb(server.pid)
    return f"{kind} viewer {SECONDS}s: RSS {base:.0f} -> peak {peak:.0f} -> {after:.0f} MB 10 s after"


def main() -> None:
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        with dashboard_server(Path(tmp), roles=("viewer",), DATA_DIR=tmp) as server:
            cookie = server.session_cookie("viewer")
            flood = run_container(api, image, ["sh", "-c", "yes flood"])
            time.sleep(3)
            for read in (True, False):
                for _ in range(ROUNDS):
                    print(viewer(server, cookie, flood, read=read), flush=True)
            print(f"daphne threads at the end: {threads(server.pid)}")


if __name__ == "__main__":
    main()
