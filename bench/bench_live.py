"""Live-core benchmark (issue 12): a stalled viewer on a flood, 100 viewers of one noisy container,
a 10 MiB line. Prints each figure next to its goal; the logs rate vs `docker logs` is bench_logs.py.
``bench_live.py [stalled] [viewers] [line]`` runs only those parts (all three by default).

Engine log streams opened are counted at the engine socket itself: the dashboard talks to the
engine through a unix-socket proxy that notes every ``GET /containers/<id>/logs?...follow=1``.
"""

from __future__ import annotations

import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import docker
import requests
import websockets.sync.client
from _live import ROOT, base_image, run_container

sys.path.insert(0, str(ROOT))

from tests.support import UnixSocketProxy, dashboard_server

STALL_SECONDS = 60
VIEWERS = 100


class CountingProxy(UnixSocketProxy):
    """Forwards to the engine and counts followed log requests."""

    def __init__(self, upstream: str, path: str):
        super().__init__(upstream, path)
        self.followed = 0

    def _pipe(self, source, sink) -> None:  # type: ignore[override]
        try:
            while data := source.recv(65536):
                if b"/logs?" in data[:400] and re.search(rb"follow=1|follow=True", data[:400]):
                    self.followed += 1
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def connect(server, path: str, cookie: str, *, rcvbuf: int | None = None):
    sock = None
    if rcvbuf:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        host, port = server.host.split(":")
        sock.connect((host, int(port)))
    return websockets.sync.client.connect(
        f"{server.ws_url}{path}",
        sock=sock,
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": server.url},
        max_size=None,
        max_queue=4 if rcvbuf else 16,
        open_timeout=30,
    )


def stalled_viewer(server, cookie: str, container_id: str) -> None:
    time.sleep(3)
    baseline = rss_mb(server.pid)
    ws = connect(server, f"/ws/containers/{container_id}/logs/?tail=0", cookie, rcvbuf=16 * 1024)
    ws.recv(timeout=30)
    peak = baseline
    for _ in range(STALL_SECONDS):
        time.sleep(1)
        peak = max(peak, rss_mb(server.pid))
    ws.close()
    time.sleep(10)
    after = rss_mb(server.pid)
    print(
        f"stalled viewer {STALL_SECONDS}s on `yes`: daphne RSS {baseline:.0f} MB -> peak {peak:.0f} MB "
        f"(+{peak - baseline:.0f} MB, goal <= 32) -> {after:.0f} MB 10 s after it left"
    )


def hundred_viewers(server, cookie: str, container_id: str, proxy: CountingProxy) -> None:
    time.sleep(2)
    base_threads = threads(server.pid)
    before = proxy.followed
    sockets, stop = [], threading.Event()
    for _ in range(VIEWERS):
        sockets.append(connect(server, f"/ws/containers/{container_id}/logs/?tail=10", cookie))

    def drain(ws) -> None:
        while not stop.is_set():
            try:
                ws.recv(timeout=1)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - closed
                return

    readers = [threading.Thread(target=drain, args=(ws,), daemon=True) for ws in sockets]
    for reader in readers:
        reader.start()
    time.sleep(3)
    timings = []
    for _ in range(100):
        started = time.perf_counter()
        requests.get(f"{server.url}/healthz", timeout=10)
        timings.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    opened = proxy.followed - before
    streaming_threads = threads(server.pid)
    stop.set()
    for ws in sockets:
        ws.close()
    time.sleep(8)
    after_threads = threads(server.pid)
    p95 = statistics.quantiles(timings, n=20)[18]
    print(f"{VIEWERS} viewers of one noisy container: engine log streams opened (follow) = {opened} (goal 1)")
    print(
        f"  /healthz while they stream: median {statistics.median(timings):.0f} ms, "
        f"p95 {p95:.0f} ms (goal <= 100)"
    )
    print(f"  daphne threads: {base_threads} before, {streaming_threads} streaming, {after_threads} after")


def long_line(server, cookie: str, api, image: str) -> None:
    script = "sleep 3; head -c 10485760 /dev/zero | tr '\\0' x; echo; echo after; sleep 30"
    container_id = run_container(api, image, ["sh", "-c", script])
    with connect(server, f"/ws/containers/{container_id}/logs/?tail=all&timestamps=1", cookie) as ws:
        cut_at = after_at = None
        written = ""
        deadline = time.monotonic() + 60
        while after_at is None and time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=60))
            for line in frame.get("lines", []):
                if line.get("truncated"):
                    cut_at, written = time.time(), line["ts"]
                elif line["text"] == "after":
                    after_at = time.time()
    started = datetime.fromisoformat(written[:26].rstrip("Z") + "+00:00").timestamp()
    print(
        f"10 MiB line: truncation marker {cut_at - started:.2f} s after the line began (goal <= 1 s); "
        f"next line {after_at - cut_at:.3f} s later"
    )


def main() -> None:
    parts = set(sys.argv[1:]) or {"stalled", "viewers", "line"}
    unknown = parts - {"stalled", "viewers", "line"}
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(sorted(unknown))}; choose from stalled, viewers, line")
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        proxy = CountingProxy("/var/run/docker.sock", f"{tmp}/engine.sock")
        proxy.start()
        try:
            with dashboard_server(
                Path(tmp), roles=("viewer",), DATA_DIR=tmp, DOCKER_HOST=proxy.url, LIVE_STREAMS_PER_USER="200"
            ) as server:
                cookie = server.session_cookie("viewer")
                if "stalled" in parts:
                    flood = run_container(api, image, ["sh", "-c", "yes flood"])
                    stalled_viewer(server, cookie, flood)
                    api.remove_container(flood, force=True)
                if "viewers" in parts:
                    noisy = run_container(
                        api, image, ["sh", "-c", "while true; do echo noisy line; usleep 2000; done"]
                    )
                    hundred_viewers(server, cookie, noisy, proxy)
                    api.remove_container(noisy, force=True)
                if "line" in parts:
                    long_line(server, cookie, api, image)
            print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        finally:
            proxy.stop()


if __name__ == "__main__":
    main()
