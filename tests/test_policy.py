"""The workload policy, secrets for viewers and the audit trail, on the real engine (issue 13).

Each bypass is refused for an operator and allowed for an admin; env values are masked for viewers
in the inspect JSON and the image config, and revealing them is an audited operator POST; export and
save are operator actions; refusals are audited under the action's one name with the fields named.
"""

from __future__ import annotations

import docker
import pytest

from core.models import AuditEvent
from tests.support import RUN_ID, TEST_LABEL, finished_job, screenshot, unique

SECRET = "s3cr3t-" + RUN_ID


@pytest.fixture
def cleanup(engine):
    """Names of containers a test creates through the dashboard; removed at teardown."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            engine.api.remove_container(name, force=True, v=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def make_volume(engine):
    """``make_volume(**driver_opts)``: a labelled named volume, removed at teardown."""
    names: list[str] = []

    def make(**driver_opts: str) -> str:
        name = unique("vol")
        engine.api.create_volume(name, driver_opts=driver_opts or None, labels={TEST_LABEL: RUN_ID})
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            engine.api.remove_volume(name, force=True)
        except docker.errors.APIError:
            pass


def _form(base_image: str, name: str, **fields: str) -> dict:
    return {
        "image": base_image,
        "name": name,
        "command": "sleep 300",
        "restart": "no",
        "labels": f"{TEST_LABEL}={RUN_ID}",
        "start": "on",
        **fields,
    }


def _exists(engine, name: str) -> bool:
    return bool(engine.api.containers(all=True, filters={"name": f"^/{name}$"}))


def _host_network_id(engine) -> str:
    return next(n["Id"] for n in engine.api.networks() if n["Driver"] == "host")


# --------------------------------------------------------------------------- bypasses: operator refused


@pytest.fixture
def host_network_container(make_container, engine) -> dict:
    return make_container(host_config=engine.api.create_host_config(network_mode="host"))


@pytest.mark.parametrize(
    "network",
    ["host", "HOST", "container:{host_ctr}", "Container:{host_ctr}", "{host_net_id}", "{host_net_prefix}"],
)
def test_operator_cannot_reach_the_host_network(
    network, operator_client, base_image, engine, host_network_container
):
    value = network.format(
        host_ctr=host_network_container["Name"].lstrip("/"),
        host_net_id=_host_network_id(engine),
        host_net_prefix=_host_network_id(engine)[:12],
    )
    name = unique("hostnet")
    response = operator_client.post("/containers/new/", _form(base_image, name, network=value))
    assert response.status_code == 400
    assert 'data-field="network"' in response.content.decode()
    assert not _exists(engine, name)


@pytest.mark.parametrize("pid", ["host", "Host", "container:{host_ctr}"])
def test_operator_cannot_share_the_host_or_another_containers_pid_namespace(
    pid, operator_client, base_image, engine, host_network_container
):
    name = unique("pid")
    value = pid.format(host_ctr=host_network_container["Name"].lstrip("/"))
    response = operator_client.post("/containers/new/", _form(base_image, name, pid=value))
    assert response.status_code == 400
    assert not _exists(engine, name)


def test_operator_cannot_mount_a_volume_made_with_bind_options(
    operator_client, base_image, engine, make_volume
):
    volume = make_volume(type="none", o="bind", device="/etc")
    name = unique("bindvol")
    response = operator_client.post("/containers/new/", _form(base_image, name, volumes=f"{volume}:/x:ro"))
    assert response.status_code == 400
    assert "device=/etc" in response.content.decode()
    assert not _exists(engine, name)


def test_operator_cannot_mount_another_applications_volume_read_write(
    operator_client, base_image, engine, make_volume, make_container
):
    volume = make_volume()
    owner = make_container(host_config=engine.api.create_host_config(binds=[f"{volume}:/data"]))
    name = unique("steal")
    response = operator_client.post("/containers/new/", _form(base_image, name, volumes=f"{volume}:/data"))
    assert response.status_code == 400
    assert owner["Name"].lstrip("/") in response.content.decode()
    assert not _exists(engine, name)


def test_operator_may_mount_another_applications_volume_read_only(
    operator_client, base_image, engine, make_volume, make_container, cleanup
):
    volume = make_volume()
    make_container(host_config=engine.api.create_host_config(binds=[f"{volume}:/data"]))
    name = unique("reader")
    cleanup.append(name)
    response = operator_client.post("/containers/new/", _form(base_image, name, volumes=f"{volume}:/data:ro"))
    assert response.status_code == 302
    assert engine.api.inspect_container(name)["Mounts"][0]["RW"] is False


@pytest.mark.parametrize("field", ["devices", "security_opt", "ipc", "uts", "sysctls", "privileged_mode"])
@pytest.mark.parametrize("role", ["operator", "admin"])
def test_fields_the_form_does_not_know_are_refused_not_ignored(field, role, role_client, base_image, engine):
    name = unique("unknown")
    response = role_client(role).post("/containers/new/", _form(base_image, name, **{field: "host"}))
    assert response.status_code == 400
    assert field in response.content.decode()
    assert not _exists(engine, name)


# --------------------------------------------------------------------------- the same, allowed for an admin


@pytest.mark.parametrize("network", ["host", "container:{host_ctr}", "{host_net_id}"])
def test_admin_may_use_the_host_network(
    network, admin_client, base_image, engine, host_network_container, cleanup
):
    value = network.format(
        host_ctr=host_network_container["Name"].lstrip("/"), host_net_id=_host_network_id(engine)
    )
    name = unique("admnet")
    cleanup.append(name)
    response = admin_client.post("/containers/new/", _form(base_image, name, network=value, start=""))
    assert response.status_code == 302
    assert _exists(engine, name)


def test_admin_may_mount_a_volume_made_with_bind_options(
    admin_client, base_image, engine, make_volume, cleanup
):
    volume = make_volume(type="none", o="bind", device="/etc")
    name = unique("admvol")
    cleanup.append(name)
    response = admin_client.post("/containers/new/", _form(base_image, name, volumes=f"{volume}:/x:ro"))
    assert response.status_code == 302
    assert _exists(engine, name)


def test_admin_may_mount_another_applications_volume_read_write(
    admin_client, base_image, engine, make_volume, make_container, cleanup
):
    volume = make_volume()
    make_container(host_config=engine.api.create_host_config(binds=[f"{volume}:/data"]))
    name = unique("admrw")
    cleanup.append(name)
    response = admin_client.post("/containers/new/", _form(base_image, name, volumes=f"{volume}:/data"))
    assert response.status_code == 302
    assert engine.api.inspect_container(name)["Mounts"][0]["RW"] is True


# --------------------------------------------------------------------------- refusals are audited


def test_an_operators_privileged_attempt_is_audited_with_the_refused_fields(
    operator_client, base_image, engine
):
    name = unique("trace")
    operator_client.post("/containers/new/", _form(base_image, name, privileged="on", volumes="/etc:/x:ro"))
    event = AuditEvent.objects.filter(action="container.create", target=name).get()
    assert event.outcome == "denied"
    assert event.parameters["refused_fields"] == ["privileged", "volumes"]


def test_an_admins_refused_create_is_audited_too(admin_client, base_image):
    name = unique("admtrace")
    admin_client.post("/containers/new/", _form(base_image, name, security_opt="seccomp=unconfined"))
    event = AuditEvent.objects.filter(action="container.create", target=name).get()
    assert event.parameters["refused_fields"] == ["__all__"]


@pytest.mark.django_db(transaction=True)  # a stop is a job: its audit row is written from its thread
def test_a_refused_and_a_done_stop_share_one_action_name(viewer_client, operator_client, make_container):
    container = make_container()
    assert (
        viewer_client.post(f"/containers/{container['Id'][:12]}/stop/", {"timeout": "0"}).status_code == 403
    )
    finished_job(operator_client.post(f"/containers/{container['Id'][:12]}/stop/", {"timeout": "0"}))
    events = AuditEvent.objects.filter(action="container.stop").order_by("pk")
    assert [e.outcome for e in events] == ["denied", "ok"]


def test_the_target_names_the_container_next_to_its_id(operator_client, make_container):
    container = make_container()
    operator_client.post(f"/containers/{container['Id'][:12]}/pause/")
    event = AuditEvent.objects.filter(action="container.pause").get()
    assert event.target == f"{container['Name'].lstrip('/')} ({container['Id'][:12]})"


@pytest.mark.django_db(transaction=True)  # bulk actions are jobs: rows written from their thread
def test_bulk_delete_records_each_target_with_force(admin_client, make_container, engine):
    containers = [make_container() for _ in range(2)]
    ids = [c["Id"] for c in containers]
    finished_job(
        admin_client.post(
            "/containers/bulk/", {"action": "delete", "ids": ids, "confirm": "yes", "force": "on"}
        )
    )
    events = AuditEvent.objects.filter(action="container.delete").order_by("target")
    expected = sorted(f"{c['Name'].lstrip('/')} ({c['Id'][:12]})" for c in containers)
    assert [e.target for e in events] == expected
    assert [e.parameters for e in events] == [{"bulk": True, "force": True, "volumes": False}] * 2


def test_an_operators_bulk_delete_is_denied_per_target(operator_client, make_container):
    container = make_container()
    response = operator_client.post(
        "/containers/bulk/", {"action": "delete", "ids": [container["Id"]], "confirm": "yes"}
    )
    assert response.status_code == 403
    event = AuditEvent.objects.filter(action="container.delete").get()
    assert (event.target, event.outcome) == (container["Id"], "denied")


# --------------------------------------------------------------------------- secrets for viewers


@pytest.fixture
def secret_container(make_container) -> dict:
    return make_container(environment=[f"API_TOKEN={SECRET}", "PLAIN=1"])


def test_viewer_sees_masked_env_in_the_inspect_json(viewer_client, secret_container):
    page = viewer_client.get(f"/containers/{secret_container['Id'][:12]}/").content.decode()
    assert SECRET not in page
    assert "API_TOKEN=***" in page


def test_viewer_cannot_reveal(viewer_client, secret_container):
    response = viewer_client.post(f"/containers/{secret_container['Id'][:12]}/reveal/")
    assert response.status_code == 403
    assert SECRET not in response.content.decode()


def test_operator_reveal_shows_the_values_and_is_audited(operator_client, secret_container):
    response = operator_client.post(f"/containers/{secret_container['Id'][:12]}/reveal/")
    assert SECRET in response.content.decode()
    event = AuditEvent.objects.filter(action="container.reveal").get()
    assert event.outcome == "ok"


def test_operator_page_is_masked_until_revealed(operator_client, secret_container):
    page = operator_client.get(f"/containers/{secret_container['Id'][:12]}/").content.decode()
    assert SECRET not in page


@pytest.fixture
def committed_image(engine, secret_container) -> str:
    repository = unique("commit")
    image = engine.api.commit(secret_container["Id"], repository=repository, tag="v1")
    yield image["Id"]
    engine.api.remove_image(image["Id"], force=True)


def test_viewer_sees_masked_env_in_a_committed_images_config(viewer_client, committed_image):
    page = viewer_client.get(f"/images/{committed_image.removeprefix('sha256:')}/").content.decode()
    assert SECRET not in page
    assert "API_TOKEN=***" in page


def test_operator_reveals_an_images_env_audited(operator_client, committed_image):
    response = operator_client.post(f"/images/{committed_image.removeprefix('sha256:')[:12]}/reveal/")
    assert SECRET in response.content.decode()
    assert AuditEvent.objects.filter(action="image.reveal", outcome="ok").count() == 1


def test_viewer_cannot_export_a_container(viewer_client, secret_container):
    response = viewer_client.get(f"/containers/{secret_container['Id'][:12]}/export/")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="container.export", outcome="denied").count() == 1


def test_viewer_cannot_save_an_image(viewer_client, committed_image):
    response = viewer_client.get(f"/images/{committed_image.removeprefix('sha256:')[:12]}/save/")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="image.save", outcome="denied").count() == 1


def test_operator_save_is_audited_with_the_tag(operator_client, committed_image):
    response = operator_client.get(f"/images/{committed_image.removeprefix('sha256:')[:12]}/save/")
    b"".join(response)
    event = AuditEvent.objects.filter(action="image.save").get()
    assert event.target.endswith(f"({committed_image.removeprefix('sha256:')[:12]})")


def test_viewer_pages_offer_no_export_save_or_reveal(viewer_client, secret_container, committed_image):
    container_page = viewer_client.get(f"/containers/{secret_container['Id'][:12]}/").content.decode()
    image_page = viewer_client.get(f"/images/{committed_image.removeprefix('sha256:')}/").content.decode()
    assert "/export/" not in container_page
    assert "/reveal/" not in container_page
    assert "/save/" not in image_page


# --------------------------------------------------------------------------- in the browser


@pytest.mark.parametrize("width", [1280, 390])
def test_browser_operator_reveals_env_values_the_viewer_never_gets(live, page, login, make_container, width):
    container = make_container(environment=[f"API_TOKEN={SECRET}"])
    page.set_viewport_size({"width": width, "height": 860})
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/")
    assert SECRET not in page.content()
    screenshot(page, f"policy-env-masked-viewer-{width}")
    page.context.clear_cookies()
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/")
    page.click("[data-action=reveal]")
    page.wait_for_selector("[data-testid=env-value]")
    assert page.inner_text("[data-testid=env-value]") == SECRET
    screenshot(page, f"policy-env-revealed-operator-{width}")
    assert page.problems == []
