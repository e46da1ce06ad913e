"""Shared helpers for the live-stream benchmarks: a labelled busybox image, a daphne of our own."""

from __future__ import annotations

import os
import secrets
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import busybox_rootfs_tar  # noqa: E402

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
    from tests.support import dashboard_server

    with dashboard_server(tmp, roles=("operator",), DATA_DIR=str(tmp)) as server:
        yield server.url, server.session_cookie("operator")


def browser_login(pw, server, role: str = "viewer", viewport=None):
    """Debian's chromium (headless), logged in to ``server`` as its ``role`` user: ``(browser, page)``."""
    username, password = server.users[role]
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True)
    page = browser.new_context(viewport=viewport or {"width": 1280, "height": 860}).new_page()
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return browser, page


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def wait_exit(api, container_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.inspect_container(container_id)["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
