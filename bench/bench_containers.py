"""Benchmarks for containers, against a real daphne serving the app and the raw engine, in one run.

1. ``GET /containers/`` with 1,000 created (not started) labelled containers vs the raw
   ``GET /containers/json?all=1``: target <= 2x.
2. ``GET /containers/<id>/export/`` of a container with a >= 300 MB filesystem vs
   ``docker export <id> > /dev/null``: target >= 0.85x the rate, daphne RSS growth <= 64 MB.

Run: /work/main/.venv/bin/python bench/bench_containers.py [--containers 1000] [--megabytes 320]
Everything it creates carries the label org.dockerdashboard.bench=<run id> and is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402 - after the path set-up

from tests.support import LiveServer, busybox_rootfs_tar, dashboard_server  # noqa: E402

BENCH_LABEL = "org.dockerdashboard.bench"
RUN = f"dashbench-{os.getpid()}-{secrets.token_hex(3)}"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def fetch(url: str, cookie: str, chunk: int = 1 << 20) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    total = 0
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
        while data := response.read(chunk):
            total += len(data)
    return total


def timed(func, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def bench_list(api, live: LiveServer, cookie: str, image: str, count: int) -> None:
    labels = {BENCH_LABEL: RUN, "tier": "bench", "com.docker.compose.project": "benchproj"}
    print(f"creating {count} containers …", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: api.create_container(image, command="true", name=f"{RUN}-{n}", labels=labels),
                range(count),
            )
        )
    print(f"  created in {time.perf_counter() - started:.1f}s")

    def raw() -> None:
        response = api._get(api._url("/containers/json"), params={"all": 1})
        response.raise_for_status()
        assert len(response.content) > 0

    def page() -> None:
        fetch(f"{live.url}/containers/", cookie)

    raw()
    page()  # warm both
    raw_times = timed(raw, 9)
    page_times = timed(page, 9)
    raw_median, page_median = statistics.median(raw_times), statistics.median(page_times)
    total = len(api.containers(all=True))
    print(f"list: {total} containers on the engine ({count} ours)")
    print(f"  raw /containers/json?all=1 median {raw_median * 1000:.1f} ms")
    print(f"  dashboard /containers/      median {page_median * 1000:.1f} ms")
    ratio = page_median / raw_median
    print(f"  RATIO dashboard/raw = {ratio:.2f}x (target <= 2x) {'OK' if ratio <= 2 else 'MISSED'}")


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)
            time.sleep(0.02)


def bench_export(api, live: LiveServer, cookie: str, image: str, megabytes: int) -> None:
    print(f"filling a container with {megabytes} MB …", flush=True)
    container = api.create_container(
        image,
        command=["sh", "-c", f"dd if=/dev/urandom of=/big bs=1048576 count={megabytes} 2>/dev/null"],
        name=f"{RUN}-export",
        labels={BENCH_LABEL: RUN},
        host_config=api.create_host_config(network_mode="none"),
    )
    api.start(container["Id"])
    api.wait(container["Id"], timeout=600)
    ref = container["Id"]

    def cli() -> None:
        with open(os.devnull, "wb") as sink:
            subprocess.run(["docker", "export", ref], stdout=sink, check=True)

    sizes: list[int] = []

    def dashboard() -> None:
        # curl as the client (like the docker CLI, a native reader), body to /dev/null.
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "-f",
                "-o",
                os.devnull,
                "-w",
                "%{size_download}",
                "-H",
                f"Cookie: sessionid={cookie}",
                f"{live.url}/containers/{ref}/export/",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        sizes.append(int(float(result.stdout)))

    cli()
    dashboard()  # warm the page cache for both
    cli_times = timed(cli, 3)
    rss_before = live.rss_bytes()
    sampler = RssSampler(live.pid)
    sampler.start()
    dash_times = timed(dashboard, 3)
    sampler.running = False
    sampler.join()
    size = sizes[-1]
    cli_rate = size / min(cli_times) / 1e6
    dash_rate = size / min(dash_times) / 1e6
    growth = (sampler.peak - rss_before) / 1e6
    print(f"export: {size / 1e6:.0f} MB tar")
    print(f"  docker export > /dev/null  best {min(cli_times):.2f}s = {cli_rate:.0f} MB/s")
    print(f"  dashboard export (daphne)  best {min(dash_times):.2f}s = {dash_rate:.0f} MB/s")
    ratio = dash_rate / cli_rate
    print(
        f"  RATIO dashboard/cli rate = {ratio:.2f}x (target >= 0.85x) {'OK' if ratio >= 0.85 else 'MISSED'}"
    )
    print(
        f"  daphne RSS {rss_before / 1e6:.0f} MB -> peak {sampler.peak / 1e6:.0f} MB: growth {growth:.1f} MB "
        f"(target <= 64 MB) {'OK' if growth <= 64 else 'MISSED'}"
    )


def cleanup(api) -> None:
    ids = [c["Id"] for c in api.containers(all=True, filters={"label": f"{BENCH_LABEL}={RUN}"})]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.remove_container(i, force=True, v=True), ids))
    for image in api.images(filters={"label": f"{BENCH_LABEL}={RUN}"}):
        api.remove_image(image["Id"], force=True)
    print(f"removed {len(ids)} containers and the bench image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--megabytes", type=int, default=320)
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    api = docker.APIClient(base_url=DOCKER_HOST, timeout=600, version="auto")
    image = f"{RUN}-base:latest"
    api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=f"{RUN}-base",
        tag="latest",
        changes=[f"LABEL {BENCH_LABEL}={RUN}", 'CMD ["sh"]', "ENV PATH=/bin"],
    )
    workdir = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    try:
        with dashboard_server(
            workdir, roles=("operator",), DOCKER_HOST=DOCKER_HOST, DATA_DIR=str(workdir)
        ) as live:
            cookie = live.session_cookie("operator")  # export is an operator action
            if not args.skip_list:
                bench_list(api, live, cookie, image, args.containers)
            if not args.skip_export:
                bench_export(api, live, cookie, image, args.megabytes)
    finally:
        cleanup(api)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
