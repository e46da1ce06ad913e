"""Benchmark: registry catalog and tag tables against the raw registry reads they need.

The catalog and tag pages read the whole list through the registry's own paging (n=1000, up to
REGISTRY_LIST_MAX names) and then filter, sort and page it here, so the raw cost to compare with is
that whole read (every page), not one page.

1. Catalog page (default: 50 rows sorted by name) with 50 vs 5,000 repositories, vs reading the
   whole catalog at n=1000 in the same run; also a filtered (q) page.
2. Tag page of a repository with 2,000 tags vs one with 10, vs reading the whole tags/list.

It starts its OWN docker-registry (no auth, filesystem storage in a temp dir), seeds it honestly:
one tiny image is written through the Registry API, then its repository directory is copied under
4,999 more names in the registry's storage (the registry then serves them for real); tags are made
by PUTting the same manifest under 2,000 tags through the API. The dashboard pages are rendered by
the real views (Django test client, in-process, on a throwaway SQLite DB), and the raw registry
request is timed in the same run for comparison. Everything is removed at the end.

Run: /work/main/.venv/bin/python bench/bench_registries.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-registries-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="dashboard.settings",
    DATABASE_URL=f"sqlite:///{WORK / 'bench.sqlite3'}",
    DATA_DIR=str(WORK / "data"),
    ALLOWED_HOSTS="testserver,127.0.0.1",
    DEBUG="0",
    STATIC_ROOT=str(WORK),
)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from tests.registries_support import DOCKER_MANIFEST, push_tiny_image, put_manifest, start_plain_registry  # noqa: E402

RUNS = 25


def timed(*calls) -> list[float]:
    """Median seconds of each call over RUNS rounds, interleaved (so machine load hits all alike)."""
    for call in calls:
        call()
        call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(RUNS):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            call()
            samples[index].append(time.perf_counter() - started)
    return [statistics.median(values) for values in samples]


def read_all(url: str, key: str) -> int:
    """What the page reads: every page of a list at n=1000, following the Link header."""
    count, address = 0, f"{url}?n=1000"
    while address:
        response = requests.get(address, timeout=30)
        count += len(response.json()[key] or [])
        link = response.headers.get("Link", "")
        address = urljoin(url, link[link.index("<") + 1 : link.index(">")]) if link else ""
    return count


def seed_repositories(storage: Path, template: str, prefix: str, count: int) -> None:
    """Copy one repository's directory under ``count`` names (links to the same blobs)."""
    repositories = storage / "docker" / "registry" / "v2" / "repositories"
    source = repositories / template
    for index in range(count):
        target = repositories / f"{prefix}{index:05d}"
        if not target.exists():
            shutil.copytree(source, target, symlinks=True)


def main() -> None:
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from core.models import Registry

    admin = get_user_model().objects.create_superuser("bench", password="bench-pw-1")
    client = Client()
    client.force_login(admin)

    small_root, big_root = WORK / "small", WORK / "big"
    small_root.mkdir()
    big_root.mkdir()
    processes = []
    try:
        small_process, small_url = start_plain_registry(small_root)
        processes.append(small_process)
        big_process, big_url = start_plain_registry(big_root)
        processes.append(big_process)

        for url, root, count in ((small_url, small_root, 50), (big_url, big_root, 5000)):
            push_tiny_image(url, "bench/template", "v1", text="bench")
            started = time.perf_counter()
            seed_repositories(root / "data", "bench/template", "bench/repo-", count - 1)
            print(f"seeded {count} repositories at {url} in {time.perf_counter() - started:.1f}s")

        small = Registry.objects.create(name="small", url=small_url, allow_private_addresses=True)
        big = Registry.objects.create(name="big", url=big_url, allow_private_addresses=True)
        check = client.get(f"/registries/{big.pk}/")
        assert check.status_code == 200 and b'data-id="bench/repo-00000"' in check.content, check.status_code
        assert b"of 5000 repositories" in check.content
        total = sum(
            len(requests.get(f"{big_url}/v2/_catalog?n=1000&last={last}", timeout=30).json()["repositories"])
            for last in ["", "bench/repo-00998", "bench/repo-01998", "bench/repo-02998", "bench/repo-03998"]
        )
        print(f"big registry serves {total} repositories (read in pages of 1000)")

        raw_small, raw_big, page_small, page_big, page_big_q = timed(
            lambda: read_all(f"{small_url}/v2/_catalog", "repositories"),
            lambda: read_all(f"{big_url}/v2/_catalog", "repositories"),
            lambda: client.get(f"/registries/{small.pk}/"),
            lambda: client.get(f"/registries/{big.pk}/"),
            lambda: client.get(f"/registries/{big.pk}/?q=repo-04"),
        )
        print("\nCatalog page (50 rows) vs the whole catalog read at n=1000, median of", RUNS, "rounds")
        print(f"  raw registry   50 repos: {raw_small * 1000:7.1f} ms   5000 repos: {raw_big * 1000:7.1f} ms")
        print(
            f"  dashboard page 50 repos: {page_small * 1000:7.1f} ms   5000 repos: {page_big * 1000:7.1f} ms"
        )
        print(
            f"  ratio 5000/50: dashboard {page_big / page_small:.2f}, raw registry {raw_big / raw_small:.2f}"
        )
        print(
            f"  dashboard/raw: 50 repos {page_small / raw_small:.2f}x, 5000 repos {page_big / raw_big:.2f}x"
        )
        print(
            f"  the dashboard's own time (page - raw): 50 repos {(page_small - raw_small) * 1000:.1f} ms, "
            f"5000 repos {(page_big - raw_big) * 1000:.1f} ms"
        )

        print(f"  filtered (q=repo-04, 1000 matches): 5000-repo page {page_big_q * 1000:.1f} ms")

        few = push_tiny_image(small_url, "bench/few", "t0000", text="few")
        many = push_tiny_image(small_url, "bench/many", "t0000", text="many")
        started = time.perf_counter()
        for index in range(1, 10):
            put_manifest(small_url, "bench/few", f"t{index:04d}", few.manifest, DOCKER_MANIFEST, {})
        session = requests.Session()
        for index in range(1, 2000):
            response = session.put(
                f"{small_url}/v2/bench/many/manifests/t{index:04d}",
                data=many.manifest,
                headers={"Content-Type": DOCKER_MANIFEST},
                timeout=30,
            )
            assert response.status_code == 201, response.text
        tags = requests.get(f"{small_url}/v2/bench/many/tags/list", timeout=30).json()["tags"]
        print(f"\nseeded 10 and {len(tags)} tags in {time.perf_counter() - started:.1f}s")
        assert len(tags) == 2000

        raw_few, raw_many, page_few, page_many, page_many_desc, row = timed(
            lambda: read_all(f"{small_url}/v2/bench/few/tags/list", "tags"),
            lambda: read_all(f"{small_url}/v2/bench/many/tags/list", "tags"),
            lambda: client.get(f"/registries/{small.pk}/repositories/bench/few/"),
            lambda: client.get(f"/registries/{small.pk}/repositories/bench/many/"),
            lambda: client.get(f"/registries/{small.pk}/repositories/bench/many/?dir=desc&per_page=200"),
            lambda: client.get(f"/registries/{small.pk}/repositories/bench/many/-/tags/t1234/summary/"),
        )
        print("Tag page (50 rows; details load lazily) vs the whole tags/list read; median of", RUNS)
        print(f"  raw tags/list    10 tags: {raw_few * 1000:7.1f} ms   2000 tags: {raw_many * 1000:7.1f} ms")
        print(
            f"  dashboard page   10 tags: {page_few * 1000:7.1f} ms   2000 tags: {page_many * 1000:7.1f} ms"
        )
        print(f"  ratio 2000/10: dashboard {page_many / page_few:.2f}, raw registry {raw_many / raw_few:.2f}")
        print(
            f"  the dashboard's own time (page - raw): 10 tags {(page_few - raw_few) * 1000:.1f} ms, "
            f"2000 tags {(page_many - raw_many) * 1000:.1f} ms"
        )
        print(
            f"  dashboard/raw: 10 tags {page_few / raw_few:.2f}x, 2000 tags {page_many / raw_many:.2f}x; "
            f"2000 tags, descending, 200 rows: {page_many_desc * 1000:.1f} ms"
        )
        print(f"  one lazy tag row (digest, size, created, platform): {row * 1000:.1f} ms")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
