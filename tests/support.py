"""Helpers for the real-engine test stack (no fixtures here: see conftest.py)."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Every resource a test run creates carries this prefix (names, image repositories) and label.
RUN_ID = f"dashtest-{os.getpid()}-{secrets.token_hex(3)}"
TEST_LABEL = "org.dockerdashboard.test"
BUSYBOX = Path("/bin/busybox")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Applets linked in the base image; busybox-static provides them all.
APPLETS = (
    "sh ash cat echo ls sleep env id ps top printf seq yes head tail wc grep sed awk touch rm mkdir "
    "mv cp true false kill date hostname uname stty tty clear vi less more nc wget tee sort uniq od "
    "dd tr cut find xargs watch which whoami chmod chown ln pwd df du free uptime mount umount"
).split()

_counter = iter(range(1, 1_000_000))


def unique(kind: str) -> str:
    """A fresh lowercase name for a test resource: ``<run id>-<kind>-<n>``."""
    return f"{RUN_ID}-{kind}-{next(_counter)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 20, interval: float = 0.1, message: str = "condition"
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last error: {last_error!r})")


def finished_job(response, timeout: float = 120):
    """The job a POST started (its 302 goes to the job page), once it has ended (in this process)."""
    from core.engine import jobs

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert "/jobs/" in response["Location"], response["Location"]
    job_id = response["Location"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    done = lambda: jobs.get(job_id) is not None and jobs.get(job_id).finished  # noqa: E731 - polled
    wait_for(done, timeout=timeout, message="the job")
    return jobs.get(job_id)


def wait_for_http(url: str, *, timeout: float = 30) -> None:
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback test URL
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    wait_for(answers, timeout=timeout, message=f"{url} to answer")


def busybox_rootfs_tar() -> bytes:
    """A minimal root filesystem: Debian's static busybox and its applets (no network needed)."""
    if not BUSYBOX.exists():
        raise RuntimeError(
            "/bin/busybox is missing: install Debian's busybox-static (apt-get install busybox-static)"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "home"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for name, text in {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class UnixSocketProxy:
    """A unix-socket proxy in front of the real engine socket, to take the engine 'down' for real.

    The dashboard under test talks to ``unix://<path>``; ``stop()`` closes the listening socket and
    every open connection (the engine looks dead), ``start()`` brings it back.
    """

    def __init__(self, upstream: str, path: str):
        self.upstream = upstream
        self.path = path
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._owned_dir: str | None = None

    @classmethod
    def in_temp_dir(cls, upstream: str, prefix: str = "dash-"):
        """A proxy whose socket lives in a fresh private directory that ``close()`` removes."""
        directory = tempfile.mkdtemp(prefix=prefix)
        proxy = cls(upstream, os.path.join(directory, "docker.sock"))
        proxy._owned_dir = directory
        return proxy

    def close(self) -> None:
        """Stop for good, and remove the private directory ``in_temp_dir`` made (if any)."""
        self.stop()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@dataclass
class RegistryServer:
    """A real ``docker-registry`` process on 127.0.0.1 with htpasswd auth and deletion enabled."""

    port: int
    username: str
    password: str
    root: Path
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "serveraddress": self.host}


@dataclass
class LiveServer:
    """A real daphne process serving the dashboard on its own SQLite database."""

    url: str
    pid: int
    users: dict[str, tuple[str, str]]
    database: Path
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def session_cookie(self, role: str) -> str:
        """Log ``role``'s user in through the real login form; return the ``sessionid`` cookie."""
        import http.cookiejar
        import re
        import urllib.parse

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{self.url}/accounts/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        username, password = self.users[role]
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/healthz"}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the loopback live server
            f"{self.url}/accounts/login/", data=body, headers={"Referer": f"{self.url}/accounts/login/"}
        )
        opener.open(request, timeout=30).read()
        for cookie in jar:
            if cookie.name == "sessionid":
                return cookie.value
        raise AssertionError(f"logging in as {role} on the live server gave no session cookie")

    def thread_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ (kept for a person to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


WIDE, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}


def screenshot_both(page, name: str) -> None:
    """Screenshots at desktop (1400 px) and phone (390 px) width; the page is left at desktop width."""
    page.set_viewport_size(WIDE)
    screenshot(page, f"{name}-1400")
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-390")
    page.set_viewport_size(WIDE)


def live_post(live: LiveServer, role: str, path: str, data: dict[str, str]) -> tuple[int, str]:
    """POST a form on the live server as ``role`` like a browser would (CSRF token from the page)."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    cookie = live.session_cookie(role)
    request = urllib.request.Request(f"{live.url}{path}", headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    page = opener.open(request, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    post = urllib.request.Request(  # noqa: S310 - loopback
        f"{live.url}{path}",
        data=urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
        headers={"Cookie": f"sessionid={cookie}; csrftoken={csrf}", "Referer": f"{live.url}{path}"},
    )
    try:
        with opener.open(post, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# --------------------------------------------------------------------------- dashboard processes

ROOT = Path(__file__).resolve().parent.parent
ROLE_NAMES = ("viewer", "operator", "admin")


def dashboard_env(**overrides: str) -> dict[str, str]:
    """The environment of a dashboard subprocess (never the test process's async-unsafe switch)."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DEBUG="0",
        PYTHONUNBUFFERED="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        WHITENOISE_USE_FINDERS="1",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``manage.py <args>`` in a subprocess with ``env``; raises with its output if it fails."""
    import sys

    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )


def create_role_users(
    env: dict[str, str], roles: tuple[str, ...] = ROLE_NAMES, prefix: str = "live"
) -> dict[str, tuple[str, str]]:
    """One user per role in ``env``'s database (one subprocess); returns {role: (username, password)}."""
    users = {role: (f"{prefix}-{role}", f"pw-{secrets.token_hex(6)}") for role in roles}
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from core.roles import ROLE_GROUPS, set_role\n"
        f"for role, (name, pw) in {users!r}.items():\n"
        "    user = get_user_model().objects.create_user(username=name, password=pw)\n"
        "    set_role(user, ROLE_GROUPS[role])\n",
    )
    return users


@contextmanager
def daphne_process(env: dict[str, str], log_path: Path, *, timeout: float = 30) -> Iterator[tuple[str, int]]:
    """A daphne serving the dashboard with ``env`` on a free loopback port; yields (url, pid).

    Stopped with SIGTERM (then SIGKILL) at the end; its output goes to ``log_path``.
    """
    import signal
    import sys

    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "dashboard.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/healthz", timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"daphne did not start: {log_path.read_text()[-3000:]}") from exc
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def dashboard_server(
    workdir: Path, *, roles: tuple[str, ...] = ROLE_NAMES, **env_overrides: str
) -> Iterator[LiveServer]:
    """A migrated SQLite database in ``workdir``, one user per role, and a daphne serving it."""
    database = workdir / "live.sqlite3"
    env = dashboard_env(DATABASE_URL=f"sqlite:///{database}", **env_overrides)
    manage(env, "migrate", "--no-input", "-v", "0")
    users = create_role_users(env, roles)
    log_path = workdir / "daphne.log"
    with daphne_process(env, log_path) as (url, pid):
        yield LiveServer(url=url, pid=pid, users=users, database=database, log_path=log_path)


def default_engine():
    """The dashboard's engine object for the default endpoint (what a view on a plain route gets)."""
    from core import engine
    from core.endpoints import default_ref

    return engine.for_endpoint(default_ref())


def default_endpoint_ref():
    """The default endpoint as a websocket scope carries it (``scope["endpoint"]``)."""
    from core.endpoints import default_ref

    return default_ref()
