"""Benchmark of the stack list, against a real daphne serving the app and the raw engine, in one run.

``GET /stacks/`` with 50 compose projects / 500 containers vs the raw ``GET /containers/json?all=1``
call: target <= 1.3x. The projects are 500 containers made with ``docker create`` (never started)
from a busybox image, carrying the compose labels (project, service, config_files, working_dir) the
list is built from: the page does what it does for real projects (one filtered list call, grouping,
the managed-stack rows from the database). Pages after the first are served from the projects read
kept while the engine's event stream reports no container change (core/engine/snapshots.py); the page
right after an outside change is printed too.

Run: /work/main/.venv/bin/python bench/bench_stacks.py [--projects 50] [--per-project 10]
Everything it creates carries the label org.dockerdashboard.bench=<run id> and is removed at the end.
"""

from __future__ import annotations

import argparse
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

from bench.bench_containers import timed  # noqa: E402
from tests.support import busybox_rootfs_tar, dashboard_server  # noqa: E402

BENCH_LABEL = "org.dockerdashboard.bench"
RUN = f"dashbench-{os.getpid()}-{secrets.token_hex(3)}"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
TRIALS = 41


def fetch(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
        body = response.read()
    return len(body)


def create_projects(api, image: str, projects: int, per_project: int) -> None:
    def create(n: int) -> None:
        project, index = f"{RUN}-p{n // per_project}", n % per_project
        service = f"svc{index % 3}"
        api.create_container(
            image,
            command=["sleep", "300"],
            name=f"{project}_{service}_{index}",
            labels={
                BENCH_LABEL: RUN,
                "com.docker.compose.project": project,
                "com.docker.compose.service": service,
                "com.docker.compose.container-number": str(index),
                "com.docker.compose.project.config_files": f"/srv/{project}/docker-compose.yml",
                "com.docker.compose.project.working_dir": f"/srv/{project}",
            },
            host_config=api.create_host_config(network_mode="none"),
        )

    total = projects * per_project
    print(f"creating {total} containers in {projects} projects (docker create) …", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(total)))
    print(f"  created in {time.perf_counter() - started:.1f}s")


def bench_list(api, live, cookie: str, projects: int, image: str) -> None:
    def raw() -> None:
        response = api._get(api._url("/containers/json"), params={"all": 1})
        response.raise_for_status()
        assert response.json()

    def page() -> None:
        fetch(f"{live.url}/stacks/?per_page=50", cookie)

    for _ in range(3):  # warm both (the client's version handshake, the page's templates)
        raw()
        page()
    raw_times: list[float] = []
    page_times: list[float] = []
    # Alternated call by call: the engine's list time drifts (its own GC, the machine's load) over
    # seconds, and blocks of one then blocks of the other compared different moments (0.2x apart
    # between runs); each page is compared with the raw call just before it.
    for _ in range(TRIALS):
        raw_times += timed(raw, 1)
        page_times += timed(page, 1)
    # The same page right after a change made outside the dashboard (a container created and removed
    # with the SDK): the engine's events end the kept projects read, so this page reads the engine.
    cold_raw: list[float] = []
    cold_page: list[float] = []
    for n in range(15):
        poke = api.create_container(
            image, command=["true"], name=f"{RUN}-poke-{n}", labels={BENCH_LABEL: RUN}
        )
        api.remove_container(poke["Id"], force=True)
        cold_page += timed(page, 1)
        cold_raw += timed(raw, 1)
    raw_median, page_median = statistics.median(raw_times), statistics.median(page_times)
    pairs = statistics.median(p / r for p, r in zip(page_times, raw_times, strict=True))
    total = len(api.containers(all=True))
    print(f"list: {total} containers on the engine ({projects} bench projects), first page of 50 stacks")
    print(f"  load {os.getloadavg()[0]:.1f}; {TRIALS} trials each, alternated")
    print(f"  raw /containers/json?all=1 median {raw_median * 1000:.1f} ms")
    print(f"  dashboard /stacks/         median {page_median * 1000:.1f} ms")
    print(f"  median of the {TRIALS} page/raw pairs: {pairs:.2f}x")
    cold = statistics.median(cold_page) / statistics.median(cold_raw)
    print(
        f"  right after an outside change (nothing kept): /stacks/ median "
        f"{statistics.median(cold_page) * 1000:.1f} ms = {cold:.2f}x raw"
    )
    ratio = page_median / raw_median
    print(f"  RATIO dashboard/raw = {ratio:.2f}x (target <= 1.3x) {'OK' if ratio <= 1.3 else 'MISSED'}")


def cleanup(api) -> None:
    ids = [c["Id"] for c in api.containers(all=True, filters={"label": f"{BENCH_LABEL}={RUN}"})]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.remove_container(i, force=True), ids))
    for image in api.images(filters={"label": f"{BENCH_LABEL}={RUN}"}):
        api.remove_image(image["Id"], force=True)
    print(f"removed {len(ids)} containers and the bench image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--per-project", type=int, default=10)
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
        create_projects(api, image, args.projects, args.per_project)
        with dashboard_server(
            workdir, roles=("viewer",), DOCKER_HOST=DOCKER_HOST, DATA_DIR=str(workdir)
        ) as live:
            bench_list(api, live, live.session_cookie("viewer"), args.projects, image)
    finally:
        cleanup(api)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
