"""Swarm stacks (``docker stack deploy``) from the stack pages, against a real one-node swarm.

The swarm is an EXTRA dockerd put in Swarm mode by ``tests.engines_support.swarm_mode`` (the same
fixture shape as tests/test_swarm.py): the main engine is never put into Swarm mode. Busybox is
imported into it (no internet); every stack is named with the run's prefix, its services carry the
test label, and whatever a test leaves is removed by label at teardown, before the swarm is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import docker
import pytest

from core.engine import jobs
from core.engine.swarm import STACK_LABEL
from core.models import AuditEvent, Stack
from tests.engines_support import EngineStartError, ExtraEngine, extra_engine, import_busybox, swarm_mode
from tests.images_support import wait_job
from tests.support import RUN_ID, TEST_LABEL, LiveServer, dashboard_server, screenshot, unique, wait_for

# PID 1 ignores SIGTERM unless it traps it: this one stops at once when a task is replaced.
STOPPABLE_SLEEP = 'trap "exit 0" TERM; sleep 300 & wait'
pytestmark = pytest.mark.django_db(transaction=True)  # jobs write their rows from their own thread


@dataclass
class Swarm:
    engine: ExtraEngine
    client: docker.DockerClient
    image: str


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    """One extra dockerd as a one-node swarm (manager), busybox imported."""
    try:
        with extra_engine() as engine:
            client = engine.client()
            try:
                image = import_busybox(client)
                with swarm_mode(engine):
                    yield Swarm(engine, client, image)
            finally:
                client.close()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def on_swarm(swarm: Swarm, settings) -> Iterator[Swarm]:
    """The dashboard's default endpoint is the swarm for one test; its stacks removed after."""
    from core.engine import forget_client

    settings.DOCKER_HOST = swarm.engine.url
    yield swarm
    forget_client(swarm.engine.url)
    api = swarm.client.api
    for service in api.services(filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
        with suppress(docker.errors.NotFound):
            api.remove_service(service["ID"])

    def networks_gone() -> bool:
        for network in api.networks(filters={"label": STACK_LABEL}):
            with suppress(docker.errors.APIError):
                api.remove_network(network["Id"])
        return not api.networks(filters={"label": STACK_LABEL})

    wait_for(networks_gone, timeout=60, message="the stacks' networks removed")


def _compose(image: str, word: str, *, web_image: str | None = None) -> str:
    return (
        "services:\n"
        "  web:\n"
        f"    image: {web_image or image}\n"
        f"    command: sh -c 'echo {word} $${{HOSTNAME}} ${{GREETING}}; {STOPPABLE_SLEEP}'\n"
        "    stop_grace_period: 1s\n"
        "    deploy:\n"
        "      replicas: 2\n"
        f"      labels: {{{TEST_LABEL}: '{RUN_ID}'}}\n"
        "      update_config: {parallelism: 2, delay: 0s, monitor: 1s}\n"
        "      restart_policy: {condition: on-failure, max_attempts: 2}\n"
        "  worker:\n"
        f"    image: {image}\n"
        "    command: sleep 301\n"
        "    stop_grace_period: 1s\n"
        "    deploy:\n"
        f"      labels: {{{TEST_LABEL}: '{RUN_ID}'}}\n"
    )


def _job(response) -> jobs.Job:
    assert response.status_code == 302, response.content.decode()[-3000:]
    return wait_job(response["Location"].rstrip("/").rsplit("/", 1)[-1], timeout=240)


def _service(client: docker.DockerClient, name: str, service: str) -> dict:
    return client.api.inspect_service(f"{name}_{service}")


def _command(client: docker.DockerClient, name: str) -> str:
    args = _service(client, name, "web")["Spec"]["TaskTemplate"]["ContainerSpec"].get("Args") or []
    return " ".join(args)


def _running(client: docker.DockerClient, name: str, service: str) -> int:
    tasks = client.api.tasks(filters={"service": f"{name}_{service}", "desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def test_swarm_stack_deploy_edit_restart_rollback_rm_and_deploy_again(on_swarm, role_client):
    operator, admin = role_client("operator"), role_client("admin")
    client, image = on_swarm.client, on_swarm.image
    name = unique("swst")

    form = operator.get("/stacks/new/").content.decode()
    assert 'value="swarm"' in form

    post = {"name": name, "mode": "swarm", "compose": _compose(image, "hello"), "env": "GREETING=bonjour\n"}
    job = _job(operator.post("/stacks/new/", post))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert _running(client, name, "web") == 2
    assert _running(client, name, "worker") == 1
    assert "echo hello" in _command(client, name)
    assert "bonjour" in _command(client, name)  # the .env variable, interpolated by docker stack
    assert "${HOSTNAME}" in _command(client, name)  # $$ stays a literal $
    stack = Stack.objects.get(name=name)
    assert stack.mode == "swarm"

    listing = operator.get(f"/stacks/?q={name}").content.decode()
    row = listing.split(f'data-id="{name}"')[1].split("</tr>")[0]
    assert "swarm" in row
    assert "3 / 3" in row
    assert ">running<" in row

    detail = operator.get(f"/stacks/{name}/").content.decode()
    services = detail.split('data-testid="stack-swarm-services"')[1].split("</table>")[0]
    assert f"{name}_web" in services
    assert "2 / 2" in services
    assert image in services
    tasks = detail.split('data-testid="stack-tasks"')[1].split("</table>")[0]
    assert tasks.count("state-running") == 3

    edited = _compose(image, "changed")
    preview = operator.post(f"/stacks/{name}/edit/", {"compose": edited, "env": "GREETING=bonjour\n"})
    assert preview.status_code == 200
    diff = preview.content.decode().split('data-testid="stack-diff"')[1].split("</section>")[0]
    assert "echo changed" in diff
    worker_version = _service(client, name, "worker")["Version"]["Index"]
    job = _job(
        operator.post(
            f"/stacks/{name}/edit/", {"compose": edited, "env": "GREETING=bonjour\n", "confirm": "1"}
        )
    )
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert "echo changed" in _command(client, name)
    assert _running(client, name, "web") == 2
    assert "web: 2/2 running" in " ".join(job.lines)
    assert _service(client, name, "worker")["Version"]["Index"] >= worker_version

    before = _service(client, name, "web")["Spec"]["TaskTemplate"].get("ForceUpdate", 0)
    job = _job(operator.post(f"/stacks/{name}/restart/"))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert _service(client, name, "web")["Spec"]["TaskTemplate"]["ForceUpdate"] == before + 1
    assert _running(client, name, "web") == 2

    job = _job(operator.post(f"/stacks/{name}/rollback/1/"))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert "echo hello" in _command(client, name)
    version = Stack.objects.get(name=name).running_version
    assert (version.number, version.origin, version.rolled_back_from) == (3, "rollback", 1)

    assert operator.post(f"/stacks/{name}/stop/").status_code == 302  # not a swarm action: a message
    assert _running(client, name, "web") == 2
    assert AuditEvent.objects.filter(action="stack.stop", target=name).get().outcome == "failed"

    assert operator.post(f"/stacks/{name}/down/").status_code == 403
    job = _job(admin.post(f"/stacks/{name}/down/"))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert client.api.services(filters={"label": f"{STACK_LABEL}={name}"}) == []
    assert client.api.networks(filters={"label": f"{STACK_LABEL}={name}"}) == []
    listing = operator.get(f"/stacks/?q={name}").content.decode()
    assert ">down<" in listing.split(f'data-id="{name}"')[1].split("</tr>")[0]

    # a managed stack that is down can be deployed again under its name: the history continues
    job = _job(operator.post("/stacks/new/", post))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert _running(client, name, "web") == 2
    assert Stack.objects.get(name=name).running_version.number == 4
    again = operator.post("/stacks/new/", post)
    assert again.status_code == 400
    assert "exists" in again.content.decode()

    actions = list(
        AuditEvent.objects.filter(target=name, outcome="ok").order_by("pk").values_list("action", flat=True)
    )
    assert actions == [
        "stack.deploy",
        "stack.edit",
        "stack.restart",
        "stack.rollback",
        "stack.down",
        "stack.deploy",
    ]


def test_a_swarm_edit_whose_image_is_missing_redeploys_the_previous_version(on_swarm, role_client):
    operator = role_client("operator")
    client, image = on_swarm.client, on_swarm.image
    name = unique("swfail")
    post = {"name": name, "mode": "swarm", "compose": _compose(image, "first"), "env": ""}
    assert _job(operator.post("/stacks/new/", post)).status == jobs.SUCCESS

    missing = f"{RUN_ID}-missing:nope"
    edited = _compose(image, "second", web_image=missing)
    job = _job(operator.post(f"/stacks/{name}/edit/", {"compose": edited, "env": "", "confirm": "1"}))
    assert job.status == jobs.ERROR
    assert "did not converge" in job.message
    assert "Version 1 was deployed again" in job.message
    assert "echo first" in _command(client, name)
    wait_for(lambda: _running(client, name, "web") == 2, timeout=60, message="version 1 running again")
    stack = Stack.objects.get(name=name)
    assert stack.running_version.number == 1
    assert stack.versions.get(number=2).status == "failed"


def test_an_operators_swarm_stack_with_a_host_bind_mount_is_refused_naming_the_service(on_swarm, role_client):
    operator = role_client("operator")
    name = unique("swsnoop")
    compose = (
        f"services:\n  snooper:\n    image: {on_swarm.image}\n"
        "    volumes:\n      - /etc:/hostetc:ro\n    userns_mode: host\n"
    )
    response = operator.post("/stacks/new/", {"name": name, "mode": "swarm", "compose": compose, "env": ""})
    assert response.status_code == 400
    errors = response.content.decode().split('data-testid="errors-compose"')[1].split("</ul>")[0]
    assert "snooper" in errors
    assert "/etc" in errors
    assert "userns_mode" in errors
    assert on_swarm.client.api.services(filters={"label": f"{STACK_LABEL}={name}"}) == []
    assert not Stack.objects.filter(name=name).exists()


def test_a_swarm_env_that_sets_docker_host_is_refused(on_swarm, role_client):
    operator = role_client("operator")
    name = unique("swenv")
    compose = f"services:\n  a:\n    image: {on_swarm.image}\n"
    post = {"name": name, "mode": "swarm", "compose": compose, "env": "DOCKER_HOST=tcp://127.0.0.1:1\n"}
    response = operator.post("/stacks/new/", post)
    assert response.status_code == 400
    assert "DOCKER_HOST is read by the docker CLI itself" in response.content.decode()
    assert not Stack.objects.filter(name=name).exists()


def test_without_docker_stack_config_the_compose_cli_normalizes_and_the_policy_still_applies(
    on_swarm, role_client, monkeypatch
):
    """Debian's docker CLI (20.10) has no ``stack config``: the compose CLI's ``config`` normalizes."""
    from core.engine import compose

    real = compose.stack_cli()
    monkeypatch.setattr(compose, "stack_cli", lambda: compose.StackCli(real.argv, real.version, False))
    operator = role_client("operator")
    refused = unique("swv1")
    compose_text = (
        f"services:\n  snooper:\n    image: {on_swarm.image}\n    volumes:\n      - /etc:/hostetc:ro\n"
        "    logging:\n      driver: syslog\n"
    )
    response = operator.post(
        "/stacks/new/", {"name": refused, "mode": "swarm", "compose": compose_text, "env": ""}
    )
    assert response.status_code == 400
    errors = response.content.decode().split('data-testid="errors-compose"')[1].split("</ul>")[0]
    assert "snooper" in errors
    assert "/etc" in errors
    assert "syslog" in errors

    name = unique("swv1ok")
    post = {"name": name, "mode": "swarm", "compose": _compose(on_swarm.image, "v1"), "env": "GREETING=hi\n"}
    job = _job(operator.post("/stacks/new/", post))
    assert job.status == jobs.SUCCESS, job.message + "\n".join(job.lines)
    assert "echo v1" in _command(on_swarm.client, name)
    assert _running(on_swarm.client, name, "web") == 2


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def live_swarm(swarm: Swarm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A daphne process of the dashboard whose DOCKER_HOST is the swarm engine (for the browser)."""
    with dashboard_server(
        tmp_path_factory.mktemp("live-swarm-stacks"), DOCKER_HOST=swarm.engine.url
    ) as server:
        yield server


def test_browser_deploys_a_swarm_stack_and_sees_its_services_and_tasks(live_swarm, swarm, page):
    name = unique("swbr")
    username, password = live_swarm.users["operator"]
    page.goto(f"{live_swarm.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    page.goto(f"{live_swarm.url}/stacks/new/")
    page.fill("#id_name", name)
    page.check("input[name=mode][value=swarm]")
    page.fill("#id_compose", _compose(swarm.image, "browser"))
    page.fill("#id_env", "GREETING=hi\n")
    screenshot(page, "stack-new-swarm")
    page.click("[data-testid=stack-form] button[type=submit]")
    page.wait_for_selector('[data-job-status="success"]', timeout=150_000)
    assert "web: 2/2 running" in page.inner_text("[data-testid=job-log]")

    page.click("[data-testid=stack-link]")
    page.wait_for_selector("[data-testid=stack-swarm-services]")
    assert page.locator("[data-testid=stack-swarm-services] tbody tr").count() == 2
    assert page.locator("[data-testid=stack-tasks] .state-running").count() == 3
    screenshot(page, "stack-swarm-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "stack-swarm-detail-phone")
    assert page.problems == []
