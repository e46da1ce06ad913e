"""Images benchmarks against a real daphne serving the dashboard, with ratios measured in this run.

1. ``GET /images/`` with 2,000 extra images vs the raw engine call ``GET /images/json`` (target <= 2x).
2. ``GET /images/<id>/save/`` of a >= 300 MB image vs ``docker save > /dev/null`` (target >= 0.85x
   the rate) and the daphne process's RSS growth during the download (target <= 64 MB).

Every image it makes carries the label ``org.dockerdashboard.bench=<run id>`` and is removed at the
end, even on failure. Run: /work/main/.venv/bin/python bench/bench_images.py [--images 2000] [--mb 300]
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN = f"dashbench-{os.getpid()}-{secrets.token_hex(3)}"
LABEL = "org.dockerdashboard.bench"
ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def tiny_tar(index: int) -> bytes:
    data = f"{RUN} image {index} {secrets.token_hex(8)}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("id.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_images(api: docker.APIClient, count: int) -> None:
    def one(index: int) -> None:
        api.import_image_from_data(
            tiny_tar(index), repository=f"{RUN}-{index}", tag="latest", changes=[f"LABEL {LABEL}={RUN}"]
        )

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    print(f"created {count} images in {time.monotonic() - started:.1f}s")


def remove_images(api: docker.APIClient) -> None:
    ours = api.images(filters={"label": f"{LABEL}={RUN}"}, quiet=True)

    def one(image_id: str) -> None:
        try:
            api.remove_image(image_id, force=True)
        except docker.errors.APIError:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, ours))
    print(f"removed {len(ours)} bench images")


class Daphne:
    """The dashboard in its own daphne process, on a throwaway SQLite database, with an admin."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-images-"))
        atexit.register(shutil.rmtree, self.dir, True)
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
        self.env.update(
            DATABASE_URL=f"sqlite:///{self.dir / 'db.sqlite3'}",
            DJANGO_SETTINGS_MODULE="dashboard.settings",
            DEBUG="0",
            DOCKER_HOST=ENGINE,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            WHITENOISE_USE_FINDERS="1",
        )
        self.password = secrets.token_urlsafe(12)

    def start(self) -> None:
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True)
        script = (
            "from django.contrib.auth import get_user_model\n"
            f"get_user_model().objects.create_superuser('bench', 'b@example.com', {self.password!r})\n"
        )
        subprocess.run([py, "manage.py", "shell", "-c", script], cwd=ROOT, env=self.env, check=True)
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = open(self.dir / "daphne.log", "wb")
        self.process = subprocess.Popen(
            [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "dashboard.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        self.session = requests.Session()
        page = self.session.get(f"{self.url}/accounts/login/", timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        self.session.post(
            f"{self.url}/accounts/login/",
            data={"username": "bench", "password": self.password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.url}/accounts/login/"},
            timeout=10,
        )
        assert "sessionid" in self.session.cookies, "could not log in to the bench daphne"

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def timed(func, runs: int) -> float:
    func()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_list(api: docker.APIClient, daphne: Daphne, runs: int) -> float:
    def raw() -> None:
        response = api._get(api._url("/images/json"))
        response.raise_for_status()
        json.loads(response.content)

    def dashboard() -> None:
        response = daphne.session.get(f"{daphne.url}/images/", timeout=60)
        assert response.status_code == 200, response.status_code

    total = len(api.images())
    raw_s = timed(raw, runs)
    dash_s = timed(dashboard, runs)
    ratio = dash_s / raw_s
    print(
        f"list: {total} images; raw /images/json {raw_s * 1000:.0f} ms, dashboard /images/ "
        f"{dash_s * 1000:.0f} ms -> ratio {ratio:.2f}x (target <= 2x)"
    )
    return ratio


def make_big_image(api: docker.APIClient, megabytes: int) -> str:
    """A >= ``megabytes`` MB image (random, incompressible content) made with docker import."""
    with tempfile.NamedTemporaryFile(suffix=".tar", dir="/var/tmp") as rootfs:
        with tarfile.open(fileobj=rootfs, mode="w") as tar:
            chunk = 16 * 1024 * 1024
            for part in range(max(1, megabytes // 16)):
                info = tarfile.TarInfo(f"blob{part}.bin")
                info.size = chunk
                tar.addfile(info, io.BytesIO(os.urandom(chunk)))
        rootfs.flush()
        rootfs.seek(0)
        repository = f"{RUN}-big"
        response = api._post(
            api._url("/images/create"),
            data=rootfs,
            params={"fromSrc": "-", "repo": repository, "tag": "latest", "changes": [f"LABEL {LABEL}={RUN}"]},
            headers={"Content-Type": "application/tar"},
            timeout=None,
        )
        response.raise_for_status()
    return f"{repository}:latest"


def bench_save(api: docker.APIClient, daphne: Daphne, reference: str) -> tuple[float, int]:
    size = api.inspect_image(reference)["Size"]
    image_id = api.inspect_image(reference)["Id"][7:19]

    def raw() -> float:
        started = time.perf_counter()
        subprocess.run(f"docker save {reference} > /dev/null", shell=True, check=True)  # noqa: S602
        return time.perf_counter() - started

    peak = {"rss": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], daphne.rss())
            time.sleep(0.02)

    def dashboard() -> tuple[float, int]:
        # curl, like `docker save`, is a native client: the measure is the server's rate.
        cookie = f"sessionid={daphne.session.cookies['sessionid']}"
        url = f"{daphne.url}/images/{urllib.parse.quote(image_id)}/save/"
        started = time.perf_counter()
        curl = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}"]
        result = subprocess.run(
            [*curl, "-H", f"Cookie: {cookie}", url],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started, int(result.stdout)

    raw()  # warm the page cache for both
    dashboard()
    raw_times, dash_times = [], []
    before = daphne.rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(3):
        raw_times.append(raw())
        seconds, received = dashboard()
        dash_times.append(seconds)
    stop.set()
    sampler.join()
    raw_s, dash_s = statistics.median(raw_times), statistics.median(dash_times)
    growth = max(0, peak["rss"] - before)
    ratio = raw_s / dash_s
    mb = received / 1e6
    print(
        f"save: {size / 1e6:.0f} MB image, {mb:.0f} MB tar; docker save {mb / raw_s:.0f} MB/s, dashboard "
        f"{mb / dash_s:.0f} MB/s -> rate ratio {ratio:.2f}x (target >= 0.85x); "
        f"daphne RSS growth {growth / 1e6:.1f} MB (target <= 64 MB)"
    )
    return ratio, growth


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=320)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--save-ref", help="tuning: only the save bench, on this existing image")
    args = parser.parse_args()
    if args.save_ref:
        daphne = Daphne()
        daphne.start()
        try:
            bench_save(docker.APIClient(base_url=ENGINE, timeout=300, version="auto"), daphne, args.save_ref)
        finally:
            daphne.stop()
        return 0
    api = docker.APIClient(base_url=ENGINE, timeout=300, version="auto")
    daphne = Daphne()
    results = {}
    try:
        daphne.start()
        make_images(api, args.images)
        results["list_ratio"] = bench_list(api, daphne, args.runs)
        remove_images(api)
        big = make_big_image(api, args.mb)
        results["save_ratio"], results["save_rss_growth"] = bench_save(api, daphne, big)
    finally:
        remove_images(api)
        daphne.stop()
    ok = results["list_ratio"] <= 2 and results["save_ratio"] >= 0.85 and results["save_rss_growth"] <= 64e6
    print("RESULT", json.dumps(results), "PASS" if ok else "MISS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
