"""Where a logged-in page's time goes, in process: DB queries, per-step times, and the ASGI path.

For each page: the SQL queries of one request (``CaptureQueriesContext`` through the sync test client,
same middleware chain as daphne's), the median of N requests through the test client and through
the ASGI application (what daphne calls), and the cumulative time of the chain's steps (cProfile of
the sync path: middlewares, the view, context processors, template rendering).

Run: .venv/bin/python bench/profile_page.py [--repeat 30] [--volumes 0] [--stack-projects 0] [PATH ...]
Uses a throwaway SQLite database; ``--volumes N`` creates N labelled volumes first (removed at the
end) so ``/volumes/`` is measured on a realistic engine; ``--stack-projects N`` creates N compose-labelled
projects of 10 containers (bench/bench_stacks.py's) for ``/stacks/``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="dash-profile-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="dashboard.settings",
    DEBUG="0",
    DATA_DIR=str(WORK),
    DATABASE_URL=f"sqlite:///{WORK / 'db.sqlite3'}",
    ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    WHITENOISE_USE_FINDERS="1",
    LOG_LEVEL="WARNING",
)
BENCH_LABEL = "org.dockerdashboard.bench"
LOOP = asyncio.new_event_loop()  # one loop for every request, as daphne has
RUN = f"dashprofile-{os.getpid()}-{secrets.token_hex(3)}"

# The steps whose cumulative time is printed: (file substring, function name). Functions, not the
# middlewares' __call__ (nested, so cProfile's cumulative counts them over and over).
STEPS = {
    "session load": ("sessions/backends/db.py", "load"),
    "user load (get_user)": ("contrib/auth/__init__.py", "get_user"),
    "CSRF process_view": ("middleware/csrf.py", "process_view"),
    "must_change_password": ("core/accounts.py", "must_change_password"),
    "url resolve": ("urls/resolvers.py", "resolve"),
    "role_on": ("core/roles.py", "role_on"),
    "context processor dashboard": ("core/context_processors.py", "dashboard"),
    "theme_of": ("core/accounts.py", "theme_of"),
    "template render": ("template/backends/django.py", "render"),
    "engine list_volumes": ("core/engine/volumes.py", "list_volumes"),
    "engine list_containers": ("core/engine/containers.py", "list_containers"),
    "engine list_stacks": ("core/engine/compose.py", "list_stacks"),
    "  containers call (docker-py)": ("docker/api/container.py", "containers"),
    "  project_counts": ("core/engine/compose.py", "project_counts"),
    "stack rows (view)": ("core/views/stacks.py", "_rows"),
    "row tags": ("core/templatetags/rows.py", "_row"),
    "SQL (ORM execute_sql)": ("models/sql/compiler.py", "execute_sql"),
}


def setup() -> tuple:
    import django

    django.setup(set_prefix=False)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from core.roles import Role, set_role

    call_command("migrate", "--no-input", verbosity=0)
    user = get_user_model().objects.create_user(username="prof-viewer", password=secrets.token_hex(8))
    set_role(user, Role.VIEWER)
    client = Client()
    client.force_login(user)
    return client, client.cookies["sessionid"].value


def asgi_get(application, path: str, cookie: str) -> tuple[int, int]:
    """One GET through the ASGI application, as daphne calls it: (status, body bytes)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path.partition("?")[0],
        "raw_path": path.partition("?")[0].encode(),
        "query_string": path.partition("?")[2].encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status, size = 0, 0
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    LOOP.run_until_complete(application(scope, receive, send))
    return status, size


def step_times(profile: cProfile.Profile, repeat: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for label, (where, func) in STEPS.items():
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
            if where not in filename or not name.endswith(func):
                continue
            if any(where in c[0] and c[2].endswith(func) for c in callers):
                continue  # only the outermost calls (no double count of recursion)
            total += ct
        rows.append((label, total / repeat * 1000))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--volumes", type=int, default=0)
    parser.add_argument(
        "--stack-projects", type=int, default=0, help="create N compose-labelled projects of 10"
    )
    parser.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    parser.add_argument("paths", nargs="*", default=["/accounts/login/", "/networks/", "/volumes/"])
    args = parser.parse_args()
    client, cookie = setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dashboard.asgi import application

    api = None
    if args.volumes:
        import docker

        api = docker.APIClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
        for n in range(args.volumes):
            api.create_volume(name=f"{RUN}-{n}", labels={BENCH_LABEL: RUN})
    stacks_bench = None
    if args.stack_projects:
        import docker

        from bench import bench_stacks as stacks_bench
        from tests.support import busybox_rootfs_tar

        api = api or docker.APIClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
        run = stacks_bench.RUN
        api.import_image_from_data(
            busybox_rootfs_tar(),
            repository=f"{run}-base",
            tag="latest",
            changes=[f"LABEL {BENCH_LABEL}={run}"],
        )
        stacks_bench.create_projects(api, f"{run}-base:latest", args.stack_projects, 10)
    try:
        for path in args.paths:
            client.get(path)
            asgi_status, _ = asgi_get(application, path, cookie)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            size = len(response.content)
            print(f"{path}  status {response.status_code} (ASGI {asgi_status}), {size} bytes")
            print(f"  SQL queries per request: {len(queries)}")
            for q in queries.captured_queries:
                print(f"    {q['sql'][:150]}")
            sync_times, asgi_times = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                client.get(path)
                sync_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                asgi_get(application, path, cookie)
                asgi_times.append(time.perf_counter() - started)
            print(f"  test client median {statistics.median(sync_times) * 1000:.2f} ms")
            print(f"  ASGI app    median {statistics.median(asgi_times) * 1000:.2f} ms")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.repeat):
                client.get(path)
            profile.disable()
            for label, ms in step_times(profile, args.repeat):
                if ms:
                    print(f"    {label:32} {ms:7.2f} ms (cumulative, under cProfile)")
            if args.top:
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
                print(out.getvalue())
    finally:
        if stacks_bench is not None:
            stacks_bench.cleanup(api)
        if api is not None:
            for v in api.volumes(filters={"label": f"{BENCH_LABEL}={RUN}"}).get("Volumes") or []:
                api.remove_volume(v["Name"], force=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
