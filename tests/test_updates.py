"""Edit, duplicate, recreate (with rollback) and update detection, on the real engine and registry."""

from __future__ import annotations

import re

import docker
import pytest

from core.engine import jobs
from core.models import AuditEvent
from tests.images_support import wait_job
from tests.support import RUN_ID, TEST_LABEL, free_port, unique

# Handles SIGTERM (a bare ``sleep`` as PID 1 ignores it and every stop waits 10 s).
SERVE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]


@pytest.fixture(autouse=True)
def only_linked_registries(settings):
    """Tests talk to 127.0.0.1 only: never ask Docker Hub about the engine's other containers."""
    settings.UPDATE_CHECK_UNLINKED = False


@pytest.fixture
def network(engine):
    name = unique("net")
    engine.api.create_network(name, labels={TEST_LABEL: RUN_ID})
    yield name
    for container in engine.api.inspect_network(name).get("Containers") or {}:
        engine.api.remove_container(container, force=True, v=True)
    engine.api.remove_network(name)


@pytest.fixture
def served(engine, make_container, network):
    """A running container with a named and an anonymous volume, a published port, a network alias."""
    name = unique("svc")
    port = free_port()
    volume = f"{name}-data"
    host_config = engine.api.create_host_config(
        binds=[f"{volume}:/data"], port_bindings={8080: ("127.0.0.1", port)}, network_mode=network
    )
    networking = engine.api.create_networking_config(
        {network: engine.api.create_endpoint_config(aliases=["web-alias"])}
    )
    raw = make_container(
        name=name,
        command=SERVE,
        environment=["SECRET=hunter2", "MODE=a"],
        volumes=["/data", "/anon"],
        ports=[8080],
        host_config=host_config,
        networking_config=networking,
    )
    engine.api.exec_start(
        engine.api.exec_create(raw["Id"], ["sh", "-c", "echo named > /data/f; echo anon > /anon/f"])
    )
    # A recreated container mounts the old anonymous volume by its name (that is how its data is
    # kept), so removing the new container with v=True leaves it: remove it by name too.
    anonymous = [
        m["Name"] for m in raw["Mounts"] if m.get("Type") == "volume" and m["Destination"] == "/anon"
    ]
    assert anonymous, raw["Mounts"]
    yield {"name": name, "id": raw["Id"], "port": port, "volume": volume, "network": network}
    for ref in (name, raw["Id"]):
        try:
            engine.api.remove_container(ref, force=True, v=True)
        except docker.errors.NotFound:
            pass
    for leftover in (volume, *anonymous):
        # Whatever still mounts it was made from this fixture's container (a kept rollback copy).
        for user in engine.api.containers(all=True, filters={"volume": leftover}):
            engine.api.remove_container(user["Id"], force=True, v=True)
        try:
            engine.api.remove_volume(leftover, force=True)
        except docker.errors.NotFound:
            pass


def _job(response):
    assert response.status_code == 302, response.content[-3000:]
    return wait_job(re.search(r"/jobs/([0-9a-f]{32})/", response["Location"]).group(1))


def _read(engine, name: str, path: str) -> str:
    exec_id = engine.api.exec_create(name, ["cat", path])
    return engine.api.exec_start(exec_id).decode().strip()


def _edit_fields(client, ref: str, *, page: str = "edit", **changes) -> dict:
    """The edit (or duplicate) form as the page pre-fills it, with ``changes`` applied."""
    form = client.get(f"/containers/{ref}/{page}/").context["form"]
    data = {}
    for field in form:
        value = form.initial.get(field.name, field.field.initial)
        if isinstance(value, bool):
            if value:
                data[field.name] = "on"
        elif value not in (None, ""):
            data[field.name] = str(value)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- edit and duplicate


@pytest.mark.django_db(transaction=True)
def test_the_edit_form_is_prefilled_from_inspect_with_env_values_masked(operator_client, served):
    response = operator_client.get(f"/containers/{served['name']}/edit/")
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["env"] == "SECRET=***\nMODE=***"
    assert f"127.0.0.1:{served['port']}:8080" in initial["ports"]
    assert f"{served['volume']}:/data" in initial["volumes"]
    assert f"{served['network']} web-alias" == initial["networks"]
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_posting_the_edit_form_shows_the_diff_and_changes_nothing(operator_client, engine, served):
    data = _edit_fields(operator_client, served["name"], memory="64m", env="SECRET=***\nMODE=b")
    response = operator_client.post(f"/containers/{served['name']}/edit/", data)
    assert response.status_code == 200
    diff = {row[0]: row for row in response.context["diff"]}
    assert diff["memory"][1:] == ("", "64m")
    assert diff["env"][2] == "MODE=*** (changed)"
    assert "hunter2" not in response.content.decode()
    assert engine.api.inspect_container(served["name"])["Id"] == served["id"]


@pytest.mark.django_db(transaction=True)
def test_duplicate_creates_a_new_container_with_the_same_settings(operator_client, engine, served):
    copy = unique("copy")
    data = _edit_fields(operator_client, served["name"], page="duplicate", name=copy, ports=None)
    response = operator_client.post(f"/containers/{served['name']}/duplicate/", data)
    assert response.status_code == 302, response.content[-3000:]
    try:
        raw = engine.api.inspect_container(copy)
        assert "SECRET=hunter2" in raw["Config"]["Env"]  # masked values are the source's
        assert raw["State"]["Running"]
        anonymous = [
            m["Name"]
            for m in engine.api.inspect_container(served["id"])["Mounts"]
            if m["Destination"] == "/anon"
        ]
        assert all(m["Name"] not in anonymous for m in raw["Mounts"])  # fresh anonymous volumes
    finally:
        engine.api.remove_container(copy, force=True, v=True)


# --------------------------------------------------------------------------- recreate


@pytest.mark.django_db(transaction=True)
def test_recreate_keeps_name_volumes_ports_and_networks(operator_client, engine, served):
    data = _edit_fields(operator_client, served["name"], memory="64m", env="SECRET=***\nMODE=b")
    job = _job(operator_client.post(f"/containers/{served['name']}/recreate/", data))
    assert job.status == jobs.SUCCESS, job.message
    raw = engine.api.inspect_container(served["name"])
    assert raw["Id"] != served["id"]
    assert raw["State"]["Running"]
    assert raw["HostConfig"]["Memory"] == 64 << 20
    assert "SECRET=hunter2" in raw["Config"]["Env"] and "MODE=b" in raw["Config"]["Env"]
    assert _read(engine, served["name"], "/data/f") == "named"
    assert _read(engine, served["name"], "/anon/f") == "anon"  # the anonymous volume carried over
    assert raw["HostConfig"]["PortBindings"]["8080/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(served["port"])}
    ]
    assert "web-alias" in raw["NetworkSettings"]["Networks"][served["network"]]["Aliases"]
    assert not engine.api.containers(all=True, filters={"name": f"{served['name']}-recreate"})
    event = AuditEvent.objects.filter(action="container.recreate").latest("id")
    assert event.outcome == "ok"
    assert ["memory", "", "64m"] in event.parameters["diff"]
    assert event.parameters["new_image"] == raw["Image"]
    assert "hunter2" not in str(event.parameters)


@pytest.mark.django_db(transaction=True)
def test_a_recreate_whose_new_spec_fails_to_start_rolls_back(operator_client, engine, served):
    data = _edit_fields(operator_client, served["name"], command="/no/such/binary")
    job = _job(operator_client.post(f"/containers/{served['name']}/recreate/", data))
    assert job.status == jobs.ERROR
    assert "start" in job.message and "started again" in job.message, job.message
    raw = engine.api.inspect_container(served["name"])
    assert raw["Id"] == served["id"]
    assert raw["State"]["Running"]
    assert not engine.api.containers(all=True, filters={"name": f"{served['name']}-recreate"})
    assert AuditEvent.objects.filter(action="container.recreate", outcome="failed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_healthcheck_that_never_passes_rolls_back(operator_client, engine, served):
    data = _edit_fields(
        operator_client,
        served["name"],
        health_cmd="false",
        health_interval="1s",
        health_retries="1",
        health_wait="5",
    )
    job = _job(operator_client.post(f"/containers/{served['name']}/recreate/", data))
    assert job.status == jobs.ERROR
    assert "health" in job.message, job.message
    raw = engine.api.inspect_container(served["name"])
    assert raw["Id"] == served["id"] and raw["State"]["Running"]


@pytest.mark.django_db(transaction=True)
def test_an_operator_edit_that_adds_privileged_mode_is_refused(operator_client, engine, served):
    data = _edit_fields(operator_client, served["name"], privileged="on")
    response = operator_client.post(f"/containers/{served['name']}/recreate/", data)
    assert response.status_code == 400
    assert "privileged" in response.context["form"].errors
    assert engine.api.inspect_container(served["name"])["Id"] == served["id"]
    event = AuditEvent.objects.filter(action="container.recreate").latest("id")
    assert event.outcome == "denied"


@pytest.mark.django_db(transaction=True)
def test_recreating_a_container_removed_meanwhile_says_so(operator_client, engine, served):
    data = _edit_fields(operator_client, served["name"])
    engine.api.remove_container(served["id"], force=True)
    response = operator_client.post(f"/containers/{served['name']}/recreate/", data)
    assert response.status_code == 404


# --------------------------------------------------------------------------- update detection + update


@pytest.fixture
def linked_registry(registry_server, transactional_db):
    from core.models import Registry

    registry = Registry(
        name=unique("reg"),
        url=registry_server.url,
        username=registry_server.username,
        verify_tls=False,
        allow_private_addresses=True,  # the test registry listens on 127.0.0.1
    )
    registry.secret = registry_server.password
    registry.save()
    yield registry
    from core import updates

    updates.cache.clear()


def _runnable_image(engine, version: str) -> str:
    """A busybox image with a version label (distinct config, same layer); returns its id."""
    from tests.images_support import _imported_id
    from tests.support import busybox_rootfs_tar

    result = engine.api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=unique("upd"),
        tag=version,
        changes=[
            f'LABEL {TEST_LABEL}="{RUN_ID}"',
            f'LABEL org.opencontainers.image.version="{version}"',
            'CMD ["sh"]',
            "ENV PATH=/bin",
        ],
    )
    return _imported_id(result)


def _push(engine, registry_server, image_id: str, repository: str, tag: str) -> None:
    engine.api.tag(image_id, repository, tag)
    for message in engine.api.push(
        repository, tag=tag, stream=True, decode=True, auth_config=registry_server.auth_config
    ):
        assert "error" not in message, message


@pytest.mark.django_db(transaction=True)
def test_a_new_push_under_the_same_tag_shows_an_update_and_update_recreates_on_it(
    operator_client, viewer_client, engine, registry_server, linked_registry, make_container, network
):
    repository = f"{registry_server.host}/{RUN_ID}-app"
    reference = f"{repository}:stable"
    v1 = _runnable_image(engine, "1")
    _push(engine, registry_server, v1, repository, "stable")
    name = unique("upd")
    port = free_port()
    host_config = engine.api.create_host_config(
        binds=[f"{name}-data:/data"], port_bindings={8080: ("127.0.0.1", port)}, network_mode=network
    )
    networking = engine.api.create_networking_config(
        {network: engine.api.create_endpoint_config(aliases=["app-alias"])}
    )
    make_container(
        name=name,
        image=reference,
        command=SERVE,
        ports=[8080],
        host_config=host_config,
        networking_config=networking,
    )
    engine.api.exec_start(engine.api.exec_create(name, ["sh", "-c", "echo before > /data/f"]))
    try:
        assert operator_client.post("/updates/check/").status_code == 302
        page = viewer_client.get(f"/containers/{name}/").content.decode()
        assert 'data-update="current"' in page

        v2 = _runnable_image(engine, "2")
        _push(engine, registry_server, v2, repository, "stable")
        engine.api.tag(v1, repository, "stable")  # locally the tag still names v1, as on any other host
        engine.api.remove_image(v2, force=True)
        operator_client.post("/updates/check/")
        listing = viewer_client.get("/containers/?updates=1").content.decode()
        assert name in listing
        assert "update available" in listing
        assert 'data-update="available"' in viewer_client.get(f"/containers/{name}/").content.decode()
        assert AuditEvent.objects.filter(action="updates.check", outcome="ok").count() == 2

        job = _job(operator_client.post(f"/containers/{name}/recreate/", {"pull": "on"}))
        assert job.status == jobs.SUCCESS, job.message
        raw = engine.api.inspect_container(name)
        assert raw["Image"] == engine.api.inspect_image(reference)["Id"] != v1
        assert raw["Config"]["Labels"]["org.opencontainers.image.version"] == "2"
        assert raw["State"]["Running"]
        assert _read(engine, name, "/data/f") == "before"
        assert raw["HostConfig"]["PortBindings"]["8080/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(port)}
        ]
        assert "app-alias" in raw["NetworkSettings"]["Networks"][network]["Aliases"]
        event = AuditEvent.objects.filter(action="container.update").latest("id")
        assert event.outcome == "ok"
        assert event.parameters["old_image"] == v1
        assert event.parameters["new_digests"]
        operator_client.post("/updates/check/")
        assert 'data-update="current"' in viewer_client.get(f"/containers/{name}/").content.decode()
    finally:
        engine.api.remove_container(name, force=True, v=True)
        engine.api.remove_volume(f"{name}-data", force=True)
        engine.api.remove_image(reference, force=True)


@pytest.mark.django_db(transaction=True)
def test_a_locally_built_image_is_unknown_never_up_to_date(operator_client, viewer_client, make_container):
    raw = make_container(command=SERVE)
    operator_client.post("/updates/check/")
    page = viewer_client.get(f"/containers/{raw['Id'][:12]}/").content.decode()
    assert 'data-update="unknown"' in page
    assert "locally" in page


def test_checking_updates_needs_the_operator_role(viewer_client):
    assert viewer_client.post("/updates/check/").status_code == 403


def _basic(registry_server) -> dict[str, str]:
    import base64

    token = base64.b64encode(f"{registry_server.username}:{registry_server.password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.django_db(transaction=True)
def test_a_multi_platform_image_compares_by_its_index_digest(
    operator_client, viewer_client, engine, registry_server, linked_registry, make_container
):
    from tests.registries_support import push_index, push_tiny_image

    headers = _basic(registry_server)
    path = f"{RUN_ID}-multi"
    amd = push_tiny_image(registry_server.url, path, "amd", headers=headers, text="amd64 v1")
    arm = push_tiny_image(
        registry_server.url, path, "arm", headers=headers, text="arm v1", architecture="arm64"
    )
    index = push_index(registry_server.url, path, "multi", [(amd, "amd64"), (arm, "arm64")], headers=headers)
    reference = f"{registry_server.host}/{path}:multi"
    for message in engine.api.pull(
        reference, stream=True, decode=True, auth_config=registry_server.auth_config
    ):
        assert "error" not in message, message
    try:
        assert f"{registry_server.host}/{path}@{index}" in engine.api.inspect_image(reference)["RepoDigests"]
        raw = make_container(image=reference, command="/x", start=False)
        operator_client.post("/updates/check/")
        page = viewer_client.get(f"/containers/{raw['Id'][:12]}/").content.decode()
        assert 'data-update="current"' in page  # the index digest, not a platform digest

        arm2 = push_tiny_image(
            registry_server.url, path, "arm2", headers=headers, text="arm v2", architecture="arm64"
        )
        push_index(registry_server.url, path, "multi", [(amd, "amd64"), (arm2, "arm64")], headers=headers)
        operator_client.post("/updates/check/")
        page = viewer_client.get(f"/containers/{raw['Id'][:12]}/").content.decode()
        assert 'data-update="available"' in page  # the index moved

        job = _job(operator_client.post(f"/containers/{raw['Id'][:12]}/recreate/", {"pull": "on"}))
        assert job.status == jobs.SUCCESS, job.message
        assert engine.api.inspect_container(raw["Id"])["Id"] == raw["Id"]  # same platform image: kept
        assert any("nothing to recreate" in line for line in job.lines)
    finally:
        engine.api.remove_image(reference, force=True)


@pytest.mark.django_db(transaction=True)
def test_update_all_is_one_job_with_an_outcome_per_container(
    operator_client, engine, registry_server, linked_registry, make_container
):
    repository = f"{registry_server.host}/{RUN_ID}-bulk"
    reference = f"{repository}:stable"
    v1 = _runnable_image(engine, "1")
    _push(engine, registry_server, v1, repository, "stable")
    names = [unique("bulk"), unique("bulk")]
    for name in names:
        make_container(name=name, image=reference, command=SERVE)
    v2 = _runnable_image(engine, "2")
    _push(engine, registry_server, v2, repository, "stable")
    engine.api.tag(v1, repository, "stable")
    engine.api.remove_image(v2, force=True)
    try:
        operator_client.post("/updates/check/")
        job = _job(operator_client.post("/updates/apply/"))
        assert job.status == jobs.SUCCESS, job.message
        for name in names:
            raw = engine.api.inspect_container(name)
            assert raw["Config"]["Labels"]["org.opencontainers.image.version"] == "2"
            assert raw["State"]["Running"]
            assert f"{name}: updated" in job.message
        assert AuditEvent.objects.filter(action="container.update", outcome="ok").count() == 2
    finally:
        for name in names:
            engine.api.remove_container(name, force=True, v=True)
        engine.api.remove_image(reference, force=True)


@pytest.mark.parametrize("width", [1400, 390])
def test_browser_edit_shows_what_changes_before_confirming(page, login, live, engine, served, width):
    from tests.support import screenshot

    page.set_viewport_size({"width": width, "height": 900})
    login(page, "operator")
    page.goto(f"{live.url}/containers/{served['name']}/edit/")
    page.click("[data-testid=runtime-fields] summary")
    page.fill("#id_memory", "64m")
    page.click("[data-testid=edit-submit]")
    page.wait_for_selector("[data-testid=diff]")
    assert page.inner_text('[data-diff-field="memory"]').split() == ["memory", "64m"]
    screenshot(page, f"container-edit-diff-{width}")
    assert "hunter2" not in page.content()
    assert engine.api.inspect_container(served["name"])["Id"] == served["id"]
    assert page.problems == []


# --------------------------------------------------------------------------- re-check, details, tags


def _image_row(page: str, reference: str) -> str:
    repository, _, tag = reference.rpartition(":")
    match = re.search(
        rf">{re.escape(repository)}</a></td><td>{re.escape(tag)}(.*?)</td>",
        page,
        re.S,
    )
    assert match, f"no row for {reference}"
    return match.group(1)


@pytest.mark.django_db(transaction=True)
def test_a_pull_through_the_dashboard_rechecks_so_badges_follow_without_check_now(
    operator_client, viewer_client, engine, registry_server, linked_registry, make_container
):
    repository = f"{registry_server.host}/{RUN_ID}-follow"
    reference = f"{repository}:stable"
    v1 = _runnable_image(engine, "1")
    _push(engine, registry_server, v1, repository, "stable")
    name = unique("follow")
    make_container(name=name, image=reference, command=SERVE)
    try:
        v2 = _runnable_image(engine, "2")
        _push(engine, registry_server, v2, repository, "stable")
        v2_digest = engine.api.inspect_image(v2)["RepoDigests"][0].split("@")[1]
        engine.api.tag(v1, repository, "stable")
        engine.api.remove_image(v2, force=True)
        assert operator_client.post("/updates/check/").status_code == 302

        # The container page: the new digest, when it was pushed, and its OCI version old -> new.
        page = viewer_client.get(f"/containers/{name}/").content.decode()
        assert 'data-update="available"' in page
        assert v2_digest in page
        assert 'data-testid="update-pushed"' in page
        assert re.search(r'data-label="version">version <code>1</code> → <code>2</code>', page), page
        # The images page: the local tag says it too, from the same answers.
        assert 'data-update="available"' in _image_row(
            viewer_client.get(f"/images/?q={RUN_ID}-follow").content.decode(), reference
        )

        # The registry moves on again; the dashboard pulls: the pull re-checks that reference.
        v3 = _runnable_image(engine, "3")
        _push(engine, registry_server, v3, repository, "stable")
        engine.api.tag(v1, repository, "stable")
        engine.api.remove_image(v3, force=True)
        checks = AuditEvent.objects.filter(action="updates.check").count()
        job = _job(
            operator_client.post("/images/pull/", {"reference": reference, "registry": linked_registry.pk})
        )
        assert job.status == jobs.SUCCESS, job.message
        assert 'data-update="current"' in _image_row(
            viewer_client.get(f"/images/?q={RUN_ID}-follow").content.decode(), reference
        )
        assert (
            'data-update="available"' in viewer_client.get(f"/containers/{name}/").content.decode()
        )  # still v1

        job = _job(operator_client.post(f"/containers/{name}/recreate/", {"pull": "on"}))
        assert job.status == jobs.SUCCESS, job.message
        assert 'data-update="current"' in viewer_client.get(f"/containers/{name}/").content.decode()
        assert AuditEvent.objects.filter(action="updates.check").count() == checks  # no "check now"
    finally:
        engine.api.remove_container(name, force=True, v=True)
        engine.api.remove_image(reference, force=True)


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_head_per_reference_through_redis(
    engine, registry_server, linked_registry, monkeypatch
):
    from django.core.cache.backends.redis import RedisCache

    from core import updates
    from core.registry import RegistryClient
    from tests.scale_support import redis_server

    repository = f"{registry_server.host}/{RUN_ID}-shared"
    v1 = _runnable_image(engine, "1")
    _push(engine, registry_server, v1, repository, "v1")
    digests = tuple(engine.api.inspect_image(v1)["RepoDigests"])
    heads = []
    original = RegistryClient.head_manifest

    def counting(self, name, reference):
        heads.append(reference)
        return original(self, name, reference)

    monkeypatch.setattr(RegistryClient, "head_manifest", counting)
    subjects = [updates.Subject(f"c{n}", f"{repository}:v1", digests) for n in range(3)]
    try:
        with redis_server() as url, monkeypatch.context() as patch:
            process_a = updates._Cache(RedisCache(url, {"KEY_PREFIX": RUN_ID}))
            process_b = updates._Cache(RedisCache(url, {"KEY_PREFIX": RUN_ID}))
            patch.setattr(updates, "cache", process_a)
            found_a = updates.statuses("ep", subjects, registries=[linked_registry])
            assert heads == ["v1"]
            patch.setattr(updates, "cache", process_b)
            found_b = updates.statuses("ep", subjects, registries=[linked_registry])
            assert heads == ["v1"]  # process b used process a's answer
            assert found_b["c0"].state == found_a["c0"].state == updates.CURRENT
            with pytest.raises(RuntimeError):
                process_b.clear()  # never FLUSHDB a Redis the channel layer shares
    finally:
        engine.api.remove_image(f"{repository}:v1", force=True)


# --------------------------------------------------------------------------- log options through an edit


@pytest.mark.django_db(transaction=True)
def test_an_edit_keeps_every_log_option_not_only_max_size_and_max_file(admin_client, engine, make_container):
    name = unique("logs")
    options = {"syslog-address": f"udp://127.0.0.1:{free_port()}", "tag": "x", "labels": "a"}
    make_container(
        name=name,
        command=SERVE,
        labels={"a": "1"},
        host_config=engine.api.create_host_config(log_config={"Type": "syslog", "Config": options}),
    )
    try:
        data = _edit_fields(admin_client, name, memory="64m")
        assert data["log_opts"].splitlines() == [
            "labels=a",
            f"syslog-address={options['syslog-address']}",
            "tag=x",
        ]
        job = _job(admin_client.post(f"/containers/{name}/recreate/", data))
        assert job.status == jobs.SUCCESS, job.message
        raw = engine.api.inspect_container(name)
        assert raw["HostConfig"]["Memory"] == 64 << 20
        assert raw["HostConfig"]["LogConfig"] == {"Type": "syslog", "Config": options}
    finally:
        engine.api.remove_container(name, force=True, v=True)


@pytest.mark.django_db(transaction=True)
def test_an_operator_edit_keeps_log_options_but_may_not_send_logs_elsewhere(
    operator_client, engine, make_container
):
    name = unique("logs")
    options = {"max-size": "1m", "labels": "a", "env": "MODE"}
    raw = make_container(
        name=name,
        command=SERVE,
        labels={"a": "1"},
        environment=["MODE=x"],
        host_config=engine.api.create_host_config(log_config={"Type": "json-file", "Config": options}),
    )
    try:
        data = _edit_fields(operator_client, name, log_opts="labels=a\nsyslog-address=udp://127.0.0.1:9")
        response = operator_client.post(f"/containers/{name}/recreate/", data)
        assert response.status_code == 400
        assert "syslog-address" in str(response.context["form"].errors["log_opts"])
        assert engine.api.inspect_container(name)["Id"] == raw["Id"]
        assert AuditEvent.objects.filter(action="container.recreate").latest("id").outcome == "denied"

        data = _edit_fields(operator_client, name, cpu_shares="512")
        job = _job(operator_client.post(f"/containers/{name}/recreate/", data))
        assert job.status == jobs.SUCCESS, job.message
        after = engine.api.inspect_container(name)
        assert after["Id"] != raw["Id"]
        assert after["HostConfig"]["CpuShares"] == 512
        assert after["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": options}
    finally:
        engine.api.remove_container(name, force=True, v=True)
