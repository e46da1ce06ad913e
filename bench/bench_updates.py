"""Benchmark: image update checks and recreate downtime.

1. Update check of 200 containers over 20 distinct references against a local docker-registry: the
   registry requests the dashboard makes (counted at its one registry client; goal: one HEAD per
   distinct reference per TTL, and none within the TTL) and the wall time of ``POST /updates/check/``.
2. Recreate of a running container without pull: downtime (old stopped -> new running) of the
   dashboard's recreate vs ``docker stop`` then ``docker run`` of the same spec with the CLI
   (goal <= 2 s).

It starts its OWN docker-registry (no auth) on 127.0.0.1, imports busybox (no network), pushes it
under 20 references, creates 200 labelled containers (created, not started) and removes everything
at the end. Views run in-process (Django test client) on a throwaway SQLite database.

Run: /work/main/.venv/bin/python bench/bench_updates.py
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-updates-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="dashboard.settings",
    DATABASE_URL=f"sqlite:///{WORK / 'bench.sqlite3'}",
    DATA_DIR=str(WORK / "data"),
    ALLOWED_HOSTS="testserver,127.0.0.1",
    DEBUG="0",
    STATIC_ROOT=str(WORK),
    UPDATE_CHECK_UNLINKED="False",  # only the bench's registry is asked (never the internet)
)

import django  # noqa: E402

django.setup()

import docker  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from core.registry import RegistryClient  # noqa: E402
from tests.registries_support import start_plain_registry  # noqa: E402
from tests.support import busybox_rootfs_tar, free_port  # noqa: E402

RUN = f"bench-upd-{secrets.token_hex(3)}"
LABEL = "org.dockerdashboard.bench"
REFERENCES = 20
CONTAINERS = 200
RECREATES = 5
SERVE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]

requests_made: Counter[tuple[str, str]] = Counter()
_original_request = RegistryClient.request


def counting_request(self, method, path, **kwargs):
    requests_made[
        (method, path.split("/manifests/")[0] + ("/manifests/…" if "/manifests/" in path else ""))
    ] += 1
    return _original_request(self, method, path, **kwargs)


RegistryClient.request = counting_request


def check(client: Client) -> tuple[float, int, Counter]:
    requests_made.clear()
    started = time.perf_counter()
    response = client.post("/updates/check/")
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    methods = Counter(method for (method, _), n in requests_made.items() for _ in range(n))
    return elapsed, sum(requests_made.values()), methods


def bench_check(api, client: Client, registry_host: str, image_id: str) -> None:
    references = [f"{registry_host}/{RUN}/app{i}:v1" for i in range(REFERENCES)]
    for reference in references:
        repository, tag = reference.rsplit(":", 1)
        api.tag(image_id, repository, tag)
        for message in api.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in message, message
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: api.create_container(
                    references[n % REFERENCES], command="true", name=f"{RUN}-{n}", labels={LABEL: RUN}
                ),
                range(CONTAINERS),
            )
        )
    took = time.perf_counter() - started
    print(f"created {CONTAINERS} containers over {REFERENCES} references in {took:.1f}s")

    cold, cold_count, cold_methods = check(client)
    warm, warm_count, _ = check(client)  # "check now" again: it asks again (forced)
    from core import updates

    updates.cache.clear()
    again, again_count, again_methods = check(client)
    from core.endpoints import default_ref
    from core.engine import for_endpoint
    from core.models import Registry

    slug = default_ref().slug
    docker_engine = for_endpoint(default_ref())
    ours = [s for s in updates.container_subjects(docker_engine) if RUN in s.reference]
    requests_made.clear()
    started = time.perf_counter()
    found = updates.statuses(slug, ours, registries=Registry.objects.all())  # not forced: the cache
    cached = time.perf_counter() - started
    cached_count = sum(requests_made.values())
    states = Counter(status.state for status in found.values())
    whys = Counter(status.why for status in found.values() if status.why)
    print(f"\nUpdate check, {len(ours)} containers over {REFERENCES} references (POST /updates/check/)")
    print(f"  first check:  {cold * 1000:7.1f} ms, {cold_count} registry requests {dict(cold_methods)}")
    print(f"  cache cleared:{again * 1000:7.1f} ms, {again_count} registry requests {dict(again_methods)}")
    print(f"  check now again (forced):   {warm * 1000:7.1f} ms, {warm_count} registry requests")
    print(f"  unforced check within TTL: {cached * 1000:7.1f} ms, {cached_count} registry requests")
    goal = cold_methods.get("HEAD", 0) <= REFERENCES and "GET" not in cold_methods
    print(
        f"  HEAD per distinct reference: {cold_methods.get('HEAD', 0) / REFERENCES:.2f} (goal 1, no GET) "
        f"{'OK' if goal else 'MISSED'}"
    )
    print(f"  statuses of our containers: {dict(states)} {dict(whys) if whys else ''}")

    # A new image under every reference: the first check also reads each new image's details (a GET
    # of its manifest by digest and of its config blob); a second one reuses them (same digest).
    result = api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=f"{RUN}-base",
        tag="v2",
        changes=[f'LABEL {LABEL}="{RUN}"', 'LABEL org.opencontainers.image.version="2"', 'CMD ["sh"]'],
    )
    assert result
    v2 = api.inspect_image(f"{RUN}-base:v2")["Id"]
    for reference in references:
        repository, tag = reference.rsplit(":", 1)
        api.tag(v2, repository, tag)
        for message in api.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in message, message
        api.tag(image_id, repository, tag)  # locally the tags still name v1
    outdated, outdated_count, outdated_methods = check(client)
    again, again_count, again_methods = check(client)
    found = updates.statuses(slug, ours, cached_only=True)
    with_details = sum(1 for s in found.values() if s.available and s.details and s.details.created)
    print(f"\nAfter a new push under all {REFERENCES} references")
    print(
        f"  first check:  {outdated * 1000:7.1f} ms, {outdated_count} registry requests "
        f"{dict(outdated_methods)} (details: manifest + config blob GET per reference)"
    )
    print(f"  check again:  {again * 1000:7.1f} ms, {again_count} registry requests {dict(again_methods)}")
    print(f"  containers with an update and its details: {with_details} of {len(found)}")


def bench_downtime(api, image: str) -> None:
    from core.endpoints import default_ref
    from core.engine import for_endpoint
    from core.engine.recreate import Report

    docker_engine = for_endpoint(default_ref())
    ours, cli = [], []
    name = f"{RUN}-svc"
    port = free_port()
    volume = f"{RUN}-data"
    api.create_container(
        image,
        command=SERVE,
        name=name,
        labels={LABEL: RUN},
        ports=[8080],
        host_config=api.create_host_config(
            binds=[f"{volume}:/data"], port_bindings={8080: ("127.0.0.1", port)}
        ),
    )
    api.start(name)
    for _ in range(RECREATES):
        current = docker_engine.containers.current_spec(ref=name)
        report = Report(name=name)
        for _message in docker_engine.recreate.run(current=current, spec=current.spec, report=report):
            pass
        ours.append(report.downtime)
    cli_name = f"{RUN}-cli"
    run_args = [
        "docker",
        "run",
        "-d",
        "--name",
        cli_name,
        "--label",
        f"{LABEL}={RUN}",
        "-p",
        f"127.0.0.1:{port + 1}:8080",
        "-v",
        f"{volume}-cli:/data",
        image,
        *SERVE,
    ]
    subprocess.run(run_args, check=True, capture_output=True)
    for _ in range(RECREATES):
        subprocess.run(["docker", "stop", cli_name], check=True, capture_output=True)
        stopped = time.perf_counter()
        subprocess.run(["docker", "rm", cli_name], check=True, capture_output=True)
        subprocess.run(run_args, check=True, capture_output=True)
        while not api.inspect_container(cli_name)["State"]["Running"]:
            time.sleep(0.01)
        cli.append(time.perf_counter() - stopped)
    print(f"\nRecreate downtime (old stopped -> new running), median of {RECREATES}, no pull")
    print(
        f"  dashboard recreate:               {statistics.median(ours):.2f} s  (all: "
        f"{', '.join(f'{d:.2f}' for d in ours)})"
    )
    print(
        f"  docker stop; docker rm; docker run: {statistics.median(cli):.2f} s  (all: "
        f"{', '.join(f'{d:.2f}' for d in cli)})"
    )
    verdict = "OK" if statistics.median(ours) <= 2 else "MISSED"
    ratio = statistics.median(ours) / statistics.median(cli)
    print(f"  goal <= 2 s: {verdict}; ratio dashboard/CLI {ratio:.2f}")


def main() -> None:
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from core.models import Registry

    admin = get_user_model().objects.create_superuser("bench", password="bench-pw-1")
    client = Client()
    client.force_login(admin)
    api = docker.APIClient(
        base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), version="auto"
    )
    root = WORK / "registry"
    root.mkdir()
    process = None
    image = f"{RUN}-base:latest"
    try:
        process, url = start_plain_registry(root)
        Registry.objects.create(name="bench", url=url, allow_private_addresses=True)
        result = api.import_image_from_data(
            busybox_rootfs_tar(),
            repository=f"{RUN}-base",
            tag="latest",
            changes=[f'LABEL {LABEL}="{RUN}"', 'CMD ["sh"]', "ENV PATH=/bin"],
        )
        assert result
        image_id = api.inspect_image(image)["Id"]
        bench_check(api, client, url.removeprefix("http://"), image_id)
        bench_downtime(api, image)
    finally:
        for container in api.containers(all=True, filters={"label": f"{LABEL}={RUN}"}):
            api.remove_container(container["Id"], force=True, v=True)
        for volume in (f"{RUN}-data", f"{RUN}-data-cli"):
            try:
                api.remove_volume(volume, force=True)
            except docker.errors.APIError:
                pass
        for image_row in api.images(filters={"label": f"{LABEL}={RUN}"}):
            try:
                api.remove_image(image_row["Id"], force=True)
            except docker.errors.APIError:
                pass
        if process is not None:
            process.terminate()
            process.wait(10)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
