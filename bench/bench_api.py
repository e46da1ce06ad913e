"""Benchmark of the JSON API against a real daphne and the raw engine, in one run.

``GET /api/containers/`` (the default page: 50 rows, and per_page=200) with 1,000 created (not
started) labelled containers vs the raw ``GET /containers/json?all=1`` the API makes, interleaved in
the same run: target <= 1.3x. Authenticated with a bearer token (the token lookup, the throttle
count and the role check are in the figure).

Run: /work/main/.venv/bin/python bench/bench_api.py [--containers 1000] [--repeat 15]
Everything it creates carries the label org.dockerdashboard.bench=<run id> and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402 - after the path set-up

from tests.support import busybox_rootfs_tar, dashboard_env, dashboard_server, manage  # noqa: E402

BENCH_LABEL = "org.dockerdashboard.bench"
RUN = f"dashbench-{os.getpid()}-{secrets.token_hex(3)}"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def fetch_json(url: str, secret: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def measure(api, url: str, secret: str, repeat: int) -> None:
    def raw() -> None:
        response = api._get(api._url("/containers/json"), params={"all": 1})
        response.raise_for_status()
        json.loads(response.content)

    pages = {
        "default page (50 rows)": f"{url}/api/containers/",
        "per_page=200": f"{url}/api/containers/?per_page=200",
    }
    raw()
    for page in pages.values():
        assert fetch_json(page, secret)["count"] >= 1000  # warm, and check it is the real list
    raw_times: list[float] = []
    page_times: dict[str, list[float]] = {name: [] for name in pages}
    calls = [("raw", raw)] + [
        (name, lambda page=page: fetch_json(page, secret)) for name, page in pages.items()
    ]
    for round_number in range(repeat):  # interleaved, the order rotated: a noisy neighbour hits all alike
        shift = round_number % len(calls)
        for name, call in calls[shift:] + calls[:shift]:
            start = time.perf_counter()
            call()
            (raw_times if name == "raw" else page_times[name]).append(time.perf_counter() - start)
    total = len(api.containers(all=True))
    raw_median = median_ms(raw_times)
    print(f"list: {total} containers on the engine")
    print(f"  raw /containers/json?all=1      median {raw_median:.1f} ms")
    for name, times in page_times.items():
        page_median = median_ms(times)
        ratio = page_median / raw_median
        verdict = "OK" if ratio <= 1.3 else "MISSED"
        print(f"  GET /api/containers/ {name:22} median {page_median:.1f} ms")
        extra = page_median - raw_median
        print(
            f"    RATIO api/raw = {ratio:.2f}x (target <= 1.3x) {verdict}; over the raw call {extra:.1f} ms"
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
    parser.add_argument("--repeat", type=int, default=15)
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
        labels = {BENCH_LABEL: RUN, "tier": "bench", "com.docker.compose.project": "benchproj"}
        print(f"creating {args.containers} containers …", flush=True)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda n: api.create_container(image, command="true", name=f"{RUN}-{n}", labels=labels),
                    range(args.containers),
                )
            )
        print(f"  created in {time.perf_counter() - started:.1f}s")
        with dashboard_server(
            workdir,
            roles=("viewer",),
            DOCKER_HOST=DOCKER_HOST,
            DATA_DIR=str(workdir),
            API_RATE_LIMIT="100000",
        ) as live:
            env = dashboard_env(DATABASE_URL=f"sqlite:///{live.database}")
            secret = manage(
                env,
                "create_token",
                live.users["viewer"][0],
                "--name",
                "bench",
                "--role",
                "viewer",
                "--expires-days",
                "1",
            ).stdout.strip()
            measure(api, live.url, secret, args.repeat)
    finally:
        cleanup(api)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
