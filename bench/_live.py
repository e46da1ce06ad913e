"""Shared helpers for the live-stream benchmarks: a labelled busybox image, a daphne of our own."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import busybox_rootfs_tar, free_port, wait_for_http  # noqa: E402

LABEL = "org.dockerdashboard.test"
RUN = f"bench-live-{os.getpid()}-{secrets.token_hex(3)}"


@contextmanager
def base_image(api):
    """``<run>-base:latest`` imported from busybox-static; removed afterwards."""
    repository = f"{RUN}-base"
    api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=repository,
        tag="latest",
        changes=[f'LABEL {LABEL}="{RUN}"', 'CMD ["sh"]', "ENV PATH=/bin"],
    )
    try:
        yield f"{repository}:latest"
    finally:
        for container in api.containers(all=True, filters={"label": f"{LABEL}={RUN}"}):
            api.remove_container(container["Id"], force=True)
        api.remove_image(f"{repository}:latest", force=True)


def run_container(api, image: str, command, **kwargs) -> str:
    host_config = api.create_host_config(network_mode="none")
    container = api.create_container(
        image,
        command=command,
        labels={LABEL: RUN},
        name=f"{RUN}-{secrets.token_hex(3)}",
        host_config=host_config,
        **kwargs,
    )
    api.start(container["Id"])
    return container["Id"]


@contextmanager
def daphne(tmp: Path):
    """A daphne of our own on a fresh SQLite database, with an operator; yields (url, cookie)."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        WHITENOISE_USE_FINDERS="1",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATA_DIR=str(tmp),
    )
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    password = secrets.token_hex(8)
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from core.roles import Role, set_role\n"
        f"u = get_user_model().objects.create_user(username='bench', password='{password}')\n"
        "set_role(u, Role.OPERATOR)\n"
    )
    subprocess.run([python, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True)
    port = free_port()
    with (tmp / "daphne.log").open("wb") as log:
        process = subprocess.Popen(
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", timeout=30)
        yield url, login(url, "bench", password)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def login(url: str, username: str, password: str) -> str:
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/healthz"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback daphne
        f"{url}/accounts/login/", data=body, headers={"Referer": f"{url}/accounts/login/"}
    )
    opener.open(request, timeout=30).read()
    return next(cookie.value for cookie in jar if cookie.name == "sessionid")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def wait_exit(api, container_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.inspect_container(container_id)["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
