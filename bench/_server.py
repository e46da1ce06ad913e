"""A real daphne serving the dashboard for benchmarks, on its own SQLite file (loopback only)."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, url: str, pid: int, env: dict[str, str]):
        self.url, self.pid, self.env = url, pid, env
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def login(self, username: str, password: str) -> None:
        page = self.opener.open(f"{self.url}/accounts/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        self.opener.open(
            urllib.request.Request(  # noqa: S310 - the loopback bench server
                f"{self.url}/accounts/login/",
                data=body,
                headers={"Referer": self.url},
            ),
            timeout=30,
        ).read()

    def get(self, path: str) -> tuple[int, float, bytes]:
        started = time.perf_counter()
        with self.opener.open(f"{self.url}{path}", timeout=120) as response:
            body = response.read()
            return response.status, time.perf_counter() - started, body

    @property
    def session_cookie(self) -> str:
        return next(c.value for c in self.jar if c.name == "sessionid")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


@contextmanager
def dashboard(**env_overrides: str):
    """Yield a logged-in admin :class:`Server` on a fresh database (see tests.support)."""
    from tests.support import daphne_process, dashboard_env, manage

    workdir = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    env = dashboard_env(
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", LOG_LEVEL="WARNING", **env_overrides
    )
    manage(env, "migrate", "--no-input", "-v", "0")
    password = secrets.token_urlsafe(12)
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser('bench', '', {password!r})",
    )
    try:
        with daphne_process(env, workdir / "daphne.log") as (url, pid):
            server = Server(url, pid, env)
            server.login("bench", password)
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
