"""The real-engine test stack: engine, base image, registry, users per role, live daphne, chromium.

Nothing is mocked. Everything a test creates carries RUN_ID (names) and the TEST_LABEL label and is
removed at teardown, even on failure; nothing else on the engine is touched. A missing engine,
registry binary or browser FAILS the run with a message saying how to get it (never a skip).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.support import (
    ARTIFACTS,
    RUN_ID,
    TEST_LABEL,
    LiveServer,
    RegistryServer,
    UnixSocketProxy,
    busybox_rootfs_tar,
    dashboard_server,
    free_port,
    unique,
    wait_for_http,
)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROLES = ("viewer", "operator", "admin")

# Playwright's sync API runs an event loop; the test process's own ORM use stays synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# --------------------------------------------------------------------------- /tmp hygiene

# Temporary files of this run (this process and the daphne/manage.py processes it starts, which
# inherit TMPDIR) go to one private directory; at the end the run FAILS if anything named like the
# dashboard's temp entries (dash-*, dashboard-*) is left in it, and the directory is removed. A private
# directory, not a before/after listing of /tmp, because other runs on the same machine write there.
# pytest's own tmp_path directories stay in the system temp dir (kept for debugging, pruned by pytest).
LEAK_PREFIXES = ("dash-", "dashboard-")
RUN_TMP = Path(tempfile.gettempdir()) / RUN_ID
RUN_TMP.mkdir()
RUN_TMP.chmod(0o711)  # traversable (not listable): the postgres user of the PostgreSQL re-run reaches its dir
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
os.environ["TMPDIR"] = str(RUN_TMP)
tempfile.tempdir = str(RUN_TMP)


def leftover_temp_entries(directory: Path) -> list[str]:
    """Names in ``directory`` that look like the dashboard's or the tests' temporary entries."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(LEAK_PREFIXES))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = leftover_temp_entries(RUN_TMP) if RUN_TMP.exists() else []
    shutil.rmtree(RUN_TMP, ignore_errors=True)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"/tmp hygiene: the run left {len(left)} temporary entr{'y' if len(left) == 1 else 'ies'} "
            f"behind (created under TMPDIR={RUN_TMP}): {', '.join(left[:20])}"
        )
        if reporter is not None:
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --------------------------------------------------------------------------- the engine


def _engine_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """A docker client on the real engine, for setting up and checking effects (tests only)."""
    url = _engine_url()
    try:
        client = docker.DockerClient(base_url=url, timeout=60, version="auto")
        client.ping()
    except Exception as exc:  # noqa: BLE001 - turned into a clear failure
        pytest.fail(
            f"No Docker engine answers at {url} ({exc}).\n"
            "Run the suite with `make test` (it installs and starts dockerd as root on Debian), or start "
            "one yourself: apt-get install docker.io && dockerd &  — or point DOCKER_HOST at an engine.",
            pytrace=False,
        )
    from core.engine.volumes import HELPER_IMAGE

    helper_image_there = bool(client.api.images(name=HELPER_IMAGE))
    yield client
    _cleanup_engine(client)
    if not helper_image_there:  # the dashboard made its volume helper image during this run
        try:
            client.api.remove_image(HELPER_IMAGE)
        except docker.errors.APIError:
            pass
    client.close()


def _ours(labels: dict | None, name: str) -> bool:
    return (labels or {}).get(TEST_LABEL) == RUN_ID or RUN_ID in name


def _cleanup_engine(client: docker.DockerClient) -> None:
    """Remove every container, image, volume and network this run created (and nothing else)."""
    api = client.api
    for container in api.containers(all=True):
        names = ",".join(container.get("Names") or [])
        if _ours(container.get("Labels"), names):
            try:
                api.remove_container(container["Id"], force=True, v=True)
            except docker.errors.APIError:
                pass
    for _ in range(3):  # derived images first, then their parents
        for image in api.images(all=False):
            tags = image.get("RepoTags") or []
            if _ours(image.get("Labels"), ",".join(tags)):
                try:
                    api.remove_image(image["Id"], force=True)
                except docker.errors.APIError:
                    pass
    for volume in api.volumes().get("Volumes") or []:
        if _ours(volume.get("Labels"), volume.get("Name", "")):
            try:
                api.remove_volume(volume["Name"], force=True)
            except docker.errors.APIError:
                pass
    for network in api.networks():
        if _ours(network.get("Labels"), network.get("Name", "")):
            try:
                api.remove_network(network["Id"])
            except docker.errors.APIError:
                pass


@pytest.fixture(scope="session")
def base_image(engine: docker.DockerClient) -> str:
    """``<run id>-base:latest``: busybox-static imported with ``docker import`` (no network)."""
    repository = f"{RUN_ID}-base"
    engine.api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=repository,
        tag="latest",
        changes=[f'LABEL {TEST_LABEL}="{RUN_ID}"', 'CMD ["sh"]', "ENV PATH=/bin"],
    )
    engine.images.get(f"{repository}:latest")
    return f"{repository}:latest"


@pytest.fixture(scope="module")
def tls_daemon() -> Iterator:
    """A real dockerd on tcp://127.0.0.1 that only accepts TLS clients with its CA's certificate
    (tests/engines_support.py: its own data-root, removed with everything in it at the end)."""
    from tests.engines_support import EngineStartError, tls_engine

    try:
        context = tls_engine()
        tls = context.__enter__()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield tls
    finally:
        from core.engine import forget_client

        forget_client(tls.url)
        context.__exit__(None, None, None)


@pytest.fixture
def make_container(engine: docker.DockerClient, base_image: str) -> Iterator[Callable[..., dict]]:
    """Create labelled containers from the base image; all removed at teardown.

    ``make_container(command="sleep 300", start=True, **create_kwargs)`` returns the inspect dict.
    """
    created: list[str] = []

    def make(
        *,
        command: str | list[str] = "sleep 300",
        start: bool = True,
        name: str | None = None,
        labels: dict | None = None,
        image: str | None = None,
        **kwargs,
    ) -> dict:
        all_labels = {TEST_LABEL: RUN_ID, **(labels or {})}
        host_config = kwargs.pop("host_config", None)
        if kwargs.get("ports") and host_config is None:
            host_config = engine.api.create_host_config(port_bindings=kwargs.pop("port_bindings", {}))
        container = engine.api.create_container(
            image or base_image,
            command=command,
            name=name or unique("ctr"),
            labels=all_labels,
            host_config=host_config,
            **kwargs,
        )
        created.append(container["Id"])
        if start:
            engine.api.start(container["Id"])
        return engine.api.inspect_container(container["Id"])

    yield make
    for container_id in created:
        try:
            engine.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def engine_proxy(tmp_path: Path, settings) -> Iterator[UnixSocketProxy]:
    """Point the dashboard at a proxy of the real engine socket, which the test can stop and start."""
    from core.engine import forget_client

    upstream = _engine_url().removeprefix("unix://")
    proxy = UnixSocketProxy.in_temp_dir(upstream)
    proxy.start()
    settings.DOCKER_HOST = proxy.url
    yield proxy
    proxy.close()
    forget_client(proxy.url)


# --------------------------------------------------------------------------- the registry


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real ``docker-registry`` on a free 127.0.0.1 port: htpasswd (bcrypt) auth, delete enabled."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail(
            "docker-registry is missing: apt-get install docker-registry (make test does it).", pytrace=False
        )
    import bcrypt

    root = tmp_path_factory.mktemp("registry")
    username, password = "tester", secrets.token_urlsafe(12)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (root / "htpasswd").write_text(f"{username}:{hashed}\n")
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        f"auth:\n  htpasswd:\n    realm: dashboard-test\n    path: {root / 'htpasswd'}\n"
    )
    log_path = root / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
    server = RegistryServer(
        port=port, username=username, password=password, root=root, process=process, log_path=log_path
    )
    try:
        wait_for_http(f"{server.url}/v2/", timeout=20)
    except AssertionError:
        process.kill()
        pytest.fail(f"docker-registry did not start: {log_path.read_text()[-2000:]}", pytrace=False)
    yield server
    process.terminate()
    process.wait(10)


# --------------------------------------------------------------------------- users and clients


def make_user(role: str | None, username: str | None = None, password: str = "pw-" + RUN_ID):
    from core.roles import ROLE_GROUPS, set_role

    user = get_user_model().objects.create_user(
        username=username or unique(role or "norole"), password=password
    )
    set_role(user, ROLE_GROUPS[role] if role else None)
    return user


@pytest.fixture
def user_factory(db) -> Callable[..., object]:
    return make_user


def _client(role: str | None) -> Client:
    client = Client()
    client.user = make_user(role)
    client.force_login(client.user)
    return client


@pytest.fixture
def viewer_client(db) -> Client:
    return _client("viewer")


@pytest.fixture
def operator_client(db) -> Client:
    return _client("operator")


@pytest.fixture
def admin_client(db) -> Client:
    return _client("admin")


@pytest.fixture
def norole_client(db) -> Client:
    return _client(None)


@pytest.fixture
def role_client(db) -> Callable[[str | None], Client]:
    return _client


# --------------------------------------------------------------------------- live server


@pytest.fixture(scope="session")
def live_server_process(
    engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real daphne process serving the dashboard, on its own migrated SQLite file.

    It has one user per role (``live.users[role] == (username, password)``).
    """
    try:
        with dashboard_server(tmp_path_factory.mktemp("live"), DOCKER_HOST=_engine_url()) as server:
            yield server
    except AssertionError as exc:  # daphne did not start: say why, once, for every test using it
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def live(live_server_process: LiveServer) -> LiveServer:
    """The live daphne server (session-wide); fails the test if the process has died."""
    assert Path(f"/proc/{live_server_process.pid}").exists(), (
        f"the live daphne died: {live_server_process.log_path.read_text()[-2000:]}"
    )
    return live_server_process


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install chromium (make test does it).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context and page; page errors and dialogs are collected on ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"pageerror: {error}"))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
    context.close()


@pytest.fixture
def login(live: LiveServer) -> Callable[[object, str], None]:
    """``login(page, role)``: log in through the real form as the live server's user of ``role``."""

    def do_login(page, role: str) -> None:
        username, password = live.users[role]
        page.goto(f"{live.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return do_login


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ds-report-backend",
        action="store_true",
        help="print the database backend the suite runs on (used by the PostgreSQL run)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("--ds-report-backend", default=False):
        from django.conf import settings

        return f"database backend: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
    return None
