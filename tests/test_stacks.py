"""Compose stacks on the real engine with the compose CLI of the test stack (docker-compose v1 here).

Every project is named with the run's prefix and taken down with ``down -v`` at teardown (and its
labelled leftovers removed); nothing else on the engine is touched.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import docker
import pytest

from core.engine import jobs
from core.engine.compose import PROJECT_LABEL, cli
from core.models import AuditEvent, Stack
from tests.images_support import wait_job
from tests.live_support import login_cookie, read_log_frames, ws_connect
from tests.support import unique, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # jobs write their rows from their own thread


def _compose(base_image: str, command: str, *, extra: str = "") -> str:
    return (
        "services:\n"
        "  web:\n"
        f"    image: {base_image}\n"
        f"    command: sh -c 'echo {command} ${{GREETING}}; sleep 300'\n"
        "    volumes:\n"
        "      - data:/data\n"
        f"{extra}"
        "  worker:\n"
        f"    image: {base_image}\n"
        "    command: sleep 301\n"
        "volumes:\n"
        "  data: {}\n"
    )


def _cli_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
    }


def _compose_cli(directory: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    # the file named relative to the project dir, as people do (v1 labels it that way)
    argv = [*cli().argv, "--ansi", "never", "-p", name, "-f", "docker-compose.yml", *args]
    return subprocess.run(argv, cwd=directory, env=_cli_env(), capture_output=True, timeout=300, check=False)


@pytest.fixture
def projects(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory):
    """``projects.add(name)``: taken down at teardown with ``down -v``, then by label (leftovers)."""
    names: list[str] = []
    yield names
    for name in names:
        directory = tmp_path_factory.mktemp("down")
        (directory / "docker-compose.yml").write_text("services: {}\n")
        _compose_cli(directory, name, "down", "-v", "--remove-orphans")
        label = {"label": f"{PROJECT_LABEL}={name}"}
        for container in engine.api.containers(all=True, filters=label):
            engine.api.remove_container(container["Id"], force=True, v=True)
        for network in engine.api.networks(filters=label):
            engine.api.remove_network(network["Id"])
        for volume in engine.api.volumes(filters=label).get("Volumes") or []:
            engine.api.remove_volume(volume["Name"], force=True)


def _containers(engine: docker.DockerClient, name: str, service: str | None = None) -> list[dict]:
    filters = [f"{PROJECT_LABEL}={name}"]
    if service:
        filters.append(f"com.docker.compose.service={service}")
    return engine.api.containers(all=True, filters={"label": filters})


def _job(response) -> jobs.Job:
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = wait_job(response["Location"].rstrip("/").rsplit("/", 1)[-1], timeout=240)
    return job


def _logs(engine: docker.DockerClient, container_id: str, needle: str) -> str:
    return wait_for(
        lambda: needle in (text := engine.api.logs(container_id).decode()) and text,
        timeout=30,
        message=f"{needle!r} in the logs",
    )


def _deploy(client, name: str, compose: str, env: str = "GREETING=bonjour\n") -> jobs.Job:
    return _job(client.post("/stacks/new/", {"name": name, "compose": compose, "env": env}))


# --------------------------------------------------------------------------- the whole life of a stack


def test_deploy_edit_rollback_and_down_a_two_service_stack(role_client, engine, base_image, projects, live):
    operator, admin = role_client("operator"), role_client("admin")
    name = unique("stack")
    projects.append(name)

    job = _deploy(operator, name, _compose(base_image, "hello"))
    assert job.status == jobs.SUCCESS, job.message
    assert any("Creating" in line for line in job.lines)
    running = [c for c in _containers(engine, name) if c["State"] == "running"]
    assert len(running) == 2
    (web,) = _containers(engine, name, "web")
    assert "hello bonjour" in _logs(engine, web["Id"], "hello bonjour")
    assert engine.api.inspect_volume(f"{name}_data")["Labels"][PROJECT_LABEL] == name

    listing = operator.get("/stacks/?q=" + name).content.decode()
    assert f'data-id="{name}"' in listing
    assert ">running<" in listing
    assert "2 / 2" in listing

    detail = operator.get(f"/stacks/{name}/").content.decode()
    assert "web" in detail
    assert "worker" in detail
    assert "GREETING=bonjour" in detail
    logs_link = f"/logs/?containers={','.join(c['Id'] for c in _containers(engine, name))}"
    assert set(logs_link.split("=")[1].split(",")) <= set(
        detail.split("containers=")[1].split('"')[0].split(",")
    )
    merged = operator.get(logs_link)
    assert merged.status_code == 200
    with ws_connect(
        live, f"/ws/logs/?containers={web['Id']}&tail=all&follow=0", cookie=login_cookie(live, "viewer")
    ) as ws:
        lines, _ = read_log_frames(ws, until_text="hello bonjour")
    assert any("hello bonjour" in line["text"] for line in lines)

    edited = _compose(base_image, "changed")
    preview = operator.post(f"/stacks/{name}/edit/", {"compose": edited, "env": "GREETING=bonjour\n"})
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "echo hello" in body.split('data-testid="stack-diff"')[1].split("</section>")[0]
    assert "+    command: sh -c &#x27;echo changed" in body
    assert "-    command: sh -c &#x27;echo hello" in body
    (worker_before,) = _containers(engine, name, "worker")
    job = _job(
        operator.post(
            f"/stacks/{name}/edit/", {"compose": edited, "env": "GREETING=bonjour\n", "confirm": "1"}
        )
    )
    assert job.status == jobs.SUCCESS, job.message
    (web2,) = _containers(engine, name, "web")
    assert web2["Id"] != web["Id"]
    assert "changed bonjour" in _logs(engine, web2["Id"], "changed bonjour")
    (worker_after,) = _containers(engine, name, "worker")
    assert worker_after["Id"] == worker_before["Id"]
    stack = Stack.objects.get(name=name)
    assert stack.running_version.number == 2

    job = _job(operator.post(f"/stacks/{name}/rollback/1/"))
    assert job.status == jobs.SUCCESS, job.message
    (web3,) = _containers(engine, name, "web")
    assert "hello bonjour" in _logs(engine, web3["Id"], "hello bonjour")
    version = stack.running_version
    assert (version.number, version.origin, version.rolled_back_from) == (3, "rollback", 1)
    assert version.env == "GREETING=bonjour\n"
    assert "bonjour" not in version.env_encrypted

    assert operator.post(f"/stacks/{name}/down/", {"volumes": "on"}).status_code == 403
    job = _job(admin.post(f"/stacks/{name}/down/", {"volumes": "on"}))
    assert job.status == jobs.SUCCESS, job.message
    assert _containers(engine, name) == []
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(f"{name}_data")
    actions = list(
        AuditEvent.objects.filter(target=name, outcome="ok").order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["stack.deploy", "stack.edit", "stack.rollback", "stack.down"]


# --------------------------------------------------------------------------- adopted stacks


def test_adopted_project_is_listed_and_stops_and_starts_from_the_page(
    role_client, engine, base_image, projects, tmp_path
):
    operator = role_client("operator")
    name = unique("adopted")
    projects.append(name)
    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  app:\n    image: {base_image}\n    command: sleep 300\n"
    )
    started = _compose_cli(tmp_path, name, "up", "-d")
    assert started.returncode == 0, started.stdout.decode() + started.stderr.decode()

    listing = operator.get(f"/stacks/?q={name}").content.decode()
    assert f'data-id="{name}"' in listing
    assert str(tmp_path / "docker-compose.yml") in listing

    job = _job(operator.post(f"/stacks/{name}/stop/"))
    assert job.status == jobs.SUCCESS, job.message
    assert [c["State"] for c in _containers(engine, name)] == ["exited"]
    job = _job(operator.post(f"/stacks/{name}/start/"))
    assert job.status == jobs.SUCCESS, job.message
    assert [c["State"] for c in _containers(engine, name)] == ["running"]

    (tmp_path / "docker-compose.yml").unlink()  # now only its labels are left to go by
    detail = operator.get(f"/stacks/{name}/").content.decode()
    assert "not readable here" in detail
    job = _job(operator.post(f"/stacks/{name}/stop/"))
    assert job.status == jobs.SUCCESS, job.message
    assert "by label" in " ".join(job.lines)
    assert [c["State"] for c in _containers(engine, name)] == ["exited"]
    job = _job(operator.post(f"/stacks/{name}/start/"))
    assert job.status == jobs.SUCCESS, job.message
    assert [c["State"] for c in _containers(engine, name)] == ["running"]


# --------------------------------------------------------------------------- the policy and bad input


def test_an_operators_stack_with_a_host_bind_mount_is_refused_naming_the_service(
    role_client, engine, base_image, projects
):
    operator = role_client("operator")
    name = unique("snoop")
    projects.append(name)
    compose = f"services:\n  snooper:\n    image: {base_image}\n    volumes:\n      - /etc:/hostetc:ro\n"
    response = operator.post("/stacks/new/", {"name": name, "compose": compose, "env": ""})
    assert response.status_code == 400
    errors = response.content.decode().split('data-testid="errors-compose"')[1].split("</ul>")[0]
    assert "snooper" in errors
    assert "/etc" in errors
    assert "volumes" in errors
    assert _containers(engine, name) == []
    assert not Stack.objects.filter(name=name).exists()
    event = AuditEvent.objects.filter(action="stack.deploy", target=name).latest("pk")
    assert event.outcome == "denied"


def test_invalid_yaml_is_shown_with_its_line_and_the_input_is_kept(role_client, projects):
    operator = role_client("operator")
    name = unique("badyaml")
    projects.append(name)
    compose = "services:\n  a:\n    image: x\n   bad: 1\n"
    response = operator.post("/stacks/new/", {"name": name, "compose": compose, "env": ""})
    body = response.content.decode()
    assert response.status_code == 400
    assert "line 4" in body
    assert "   bad: 1" in body  # the textarea keeps what was typed


def test_an_unknown_key_is_named_by_compose_config(role_client, base_image, projects):
    operator = role_client("operator")
    name = unique("unknown")
    projects.append(name)
    compose = f"services:\n  a:\n    image: {base_image}\n    frobnicate: 1\n"
    response = operator.post("/stacks/new/", {"name": name, "compose": compose, "env": ""})
    assert response.status_code == 400
    assert "frobnicate" in response.content.decode()
    assert not Stack.objects.filter(name=name).exists()


def test_a_stack_name_that_exists_is_refused(role_client, base_image, projects):
    operator = role_client("operator")
    name = unique("twice")
    projects.append(name)
    assert _deploy(operator, name, _compose(base_image, "one")).status == jobs.SUCCESS
    again = operator.post("/stacks/new/", {"name": name, "compose": _compose(base_image, "two"), "env": ""})
    assert again.status_code == 400
    assert "exists" in again.content.decode()
    assert Stack.objects.get(name=name).versions.count() == 1


def test_an_edit_that_fails_halfway_leaves_the_previous_version_running(
    role_client, engine, base_image, projects
):
    operator = role_client("operator")
    name = unique("halfway")
    projects.append(name)
    assert _deploy(operator, name, _compose(base_image, "first")).status == jobs.SUCCESS
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = f"    ports:\n      - '127.0.0.1:{port}:80'\n"
        edited = _compose(base_image, "second", extra=ports)
        job = _job(
            operator.post(f"/stacks/{name}/edit/", {"compose": edited, "env": "GREETING=x\n", "confirm": "1"})
        )
    assert job.status == jobs.ERROR
    assert "Version 1 was deployed again" in job.message
    (web,) = _containers(engine, name, "web")
    assert web["State"] == "running"
    assert "first" in _logs(engine, web["Id"], "first")
    stack = Stack.objects.get(name=name)
    assert stack.running_version.number == 1
    assert stack.versions.get(number=2).status == "failed"
    assert "failed" in stack.versions.get(number=2).message


def test_a_viewer_sees_secret_looking_env_values_masked(role_client, base_image, projects):
    operator, viewer = role_client("operator"), role_client("viewer")
    name = unique("masked")
    projects.append(name)
    env = "GREETING=hi\nDB_PASSWORD=hunter2-secret\n"
    assert _deploy(operator, name, _compose(base_image, "m"), env=env).status == jobs.SUCCESS
    seen = viewer.get(f"/stacks/{name}/").content.decode()
    assert "hunter2-secret" not in seen
    assert "DB_PASSWORD=***" in seen
    assert "GREETING=hi" in seen
    assert viewer.post(f"/stacks/{name}/stop/").status_code == 403


def test_a_compose_file_cannot_read_the_dashboards_environment(role_client, engine, base_image, projects):
    operator = role_client("operator")
    name = unique("leak")
    projects.append(name)
    compose = (
        f"services:\n  web:\n    image: {base_image}\n"
        "    command: sh -c 'echo key=${SECRET_KEY:-absent} run=${PYTEST_CURRENT_TEST:-absent}; sleep 300'\n"
    )
    assert _deploy(operator, name, compose, env="").status == jobs.SUCCESS
    (web,) = _containers(engine, name, "web")
    assert "key=absent run=absent" in _logs(engine, web["Id"], "key=")


def test_a_managed_stack_that_was_brought_down_can_be_deployed_again_under_its_name(
    role_client, engine, base_image, projects
):
    operator, admin = role_client("operator"), role_client("admin")
    name = unique("again")
    projects.append(name)
    assert _deploy(operator, name, _compose(base_image, "one")).status == jobs.SUCCESS
    assert _job(admin.post(f"/stacks/{name}/down/", {})).status == jobs.SUCCESS
    assert _containers(engine, name) == []

    job = _deploy(operator, name, _compose(base_image, "two"))
    assert job.status == jobs.SUCCESS, job.message
    (web,) = _containers(engine, name, "web")
    assert "two bonjour" in _logs(engine, web["Id"], "two bonjour")
    stack = Stack.objects.get(name=name)
    assert [(v.number, v.origin) for v in stack.versions.order_by("number")] == [(1, "new"), (2, "new")]
    assert stack.running_version.number == 2
