"""200 log followers over two daphne processes on Redis vs 100 followers on one process.

Every follower opens ws/containers/<id>/logs/?tail=all&follow=1 on a container that has written
LINES lines and then sleeps, and reads until it has them all. The figure is lines delivered per
second across all followers; two processes should deliver about twice what one does, as far as
the machine's cores allow (the ratio printed is two-process rate / one-process rate).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
import websockets

from bench._live import base_image, run_container
from tests.scale_support import daphne, dashboard_env, manage, redis_server
from tests.support import LiveServer

LINES = 5_000
PER_PROCESS = 100


async def follow(ws_url: str, origin: str, cookie: str, container_id: str) -> int:
    received = 0
    path = f"{ws_url}/ws/containers/{container_id}/logs/?tail=all&follow=1"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
    async with websockets.connect(path, additional_headers=headers, open_timeout=60, max_size=None) as ws:
        while received < LINES:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
            if frame["type"] == "lines":
                received += len(frame["lines"])
            elif frame["type"] in ("end", "error"):
                break
    return received


async def crowd(servers: list[tuple[str, str]], container_id: str) -> tuple[int, float]:
    tasks = []
    for url, cookie in servers:
        ws_url = url.replace("http://", "ws://")
        tasks += [follow(ws_url, url, cookie, container_id) for _ in range(PER_PROCESS)]
    started = time.perf_counter()
    counts = await asyncio.gather(*tasks)
    return sum(counts), time.perf_counter() - started


def main() -> None:
    api = docker.APIClient(timeout=120)
    tmp = Path(tempfile.mkdtemp(prefix="dash-bench-scale-"))
    atexit.register(shutil.rmtree, tmp, True)
    with base_image(api) as image, redis_server() as redis_url:
        container_id = run_container(api, image, ["sh", "-c", f"seq 1 {LINES}; sleep 600"])
        while len(api.logs(container_id, tail=1).strip()) == 0 or int(api.logs(container_id, tail=1)) < LINES:
            time.sleep(0.2)
        env = dashboard_env(
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
            DATA_DIR=str(tmp),
            WHITENOISE_USE_FINDERS="1",
            LIVE_STREAMS_PER_USER="1000",
            LOG_LEVEL="WARNING",
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "get_user_model().objects.create_superuser('bench', '', 'pw-bench-scale-1')",
        )
        users = {"admin": ("bench", "pw-bench-scale-1")}
        with daphne(env, tmp / "a.log") as (url_a, _), daphne(env, tmp / "b.log") as (url_b, _):
            cookie = LiveServer(url=url_a, pid=0, users=users, database=tmp, log_path=tmp).session_cookie(
                "admin"
            )
            one_lines, one_seconds = asyncio.run(crowd([(url_a, cookie)], container_id))
            two_lines, two_seconds = asyncio.run(crowd([(url_a, cookie), (url_b, cookie)], container_id))
    one_rate, two_rate = one_lines / one_seconds, two_lines / two_seconds
    print(
        f"1 process, {PER_PROCESS} followers: {one_lines} lines in {one_seconds:.2f} s"
        f" = {one_rate:,.0f} lines/s"
    )
    print(
        f"2 processes on Redis, {2 * PER_PROCESS} followers: {two_lines} lines in {two_seconds:.2f} s "
        f"= {two_rate:,.0f} lines/s"
    )
    print(f"ratio two processes / one: {two_rate / one_rate:.2f}x (2 cores on this machine)")
    assert one_lines == PER_PROCESS * LINES and two_lines == 2 * PER_PROCESS * LINES, "followers missed lines"


if __name__ == "__main__":
    main()
