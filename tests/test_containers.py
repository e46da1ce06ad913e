"""Containers on the real engine: list, create/run and policy, lifecycle, detail, commit, export, delete."""

from __future__ import annotations

import io
import tarfile

import docker
import pytest

from core.models import AuditEvent
from tests.support import RUN_ID, TEST_LABEL, finished_job, unique, wait_for


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


def _form(base_image: str, name: str, **fields) -> dict:
    data = {
        "image": base_image,
        "name": name,
        "command": "sleep 300",
        "restart": "no",
        "labels": f"{TEST_LABEL}={RUN_ID}",
        "start": "on",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def _state(engine, ref: str) -> dict:
    return engine.api.inspect_container(ref)["State"]


# --------------------------------------------------------------------------- list


def test_list_shows_created_containers_with_image_link_and_filters(viewer_client, make_container):
    running = make_container(labels={"tier": "web"})
    stopped = make_container(command="true", start=False)
    page = viewer_client.get("/containers/").content.decode()
    assert running["Name"].lstrip("/") in page and stopped["Name"].lstrip("/") in page
    assert f"/images/{running['Image'].removeprefix('sha256:')}/" in page
    only_running = viewer_client.get("/containers/?state=running").content.decode()
    assert running["Name"].lstrip("/") in only_running and stopped["Name"].lstrip("/") not in only_running
    exited = viewer_client.get("/containers/?state=exited").content.decode()
    assert stopped["Name"].lstrip("/") in exited and running["Name"].lstrip("/") not in exited


def test_live_filter_by_label_returns_only_the_table_fragment(viewer_client, make_container):
    marker = unique("tier")
    wanted = make_container(labels={"tier": marker})
    other = make_container()
    response = viewer_client.get(f"/containers/?q=tier={marker}", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and 'id="container-table"' in body
    assert wanted["Name"].lstrip("/") in body and other["Name"].lstrip("/") not in body


def test_history_restore_gets_the_whole_page(viewer_client, engine):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    body = viewer_client.get("/containers/?q=x", headers=headers).content.decode()
    assert "<html" in body and 'id="container-filters"' in body


def test_list_sorts_by_name_both_ways(viewer_client, make_container):
    prefix = unique("sort")
    make_container(name=f"{prefix}-b")
    make_container(name=f"{prefix}-a")
    asc = viewer_client.get(f"/containers/?q={prefix}&sort=name&dir=asc").content.decode()
    desc = viewer_client.get(f"/containers/?q={prefix}&sort=name&dir=desc").content.decode()
    assert asc.index(f"{prefix}-a") < asc.index(f"{prefix}-b")
    assert desc.index(f"{prefix}-b") < desc.index(f"{prefix}-a")


def test_list_shows_published_port_as_link(viewer_client, make_container, engine):
    container = make_container(ports=[80], port_bindings={80: ("127.0.0.1", None)})
    host_port = engine.api.inspect_container(container["Id"])["NetworkSettings"]["Ports"]["80/tcp"][0][
        "HostPort"
    ]
    page = viewer_client.get(f"/containers/?q={container['Name'].lstrip('/')}").content.decode()
    assert f'href="http://127.0.0.1:{host_port}/"' in page


# --------------------------------------------------------------------------- create / run


def test_operator_runs_a_container_from_the_form(operator_client, base_image, engine, cleanup):
    name = unique("run")
    cleanup.append(name)
    response = operator_client.post(
        "/containers/new/",
        _form(
            base_image,
            name,
            env="GREETING=hello world\nEMPTY=",
            ports="127.0.0.1::8080\n127.0.0.1::53/udp",
            volumes=f"{name}-data:/data",
            restart="on-failure:3",
            workdir="/tmp",
            user="nobody",
            tty="on",
        ),
    )
    assert response.status_code == 302 and response["Location"] == f"/containers/{name}/"
    raw = engine.api.inspect_container(name)
    assert raw["State"]["Running"] is True
    assert "GREETING=hello world" in raw["Config"]["Env"] and "EMPTY=" in raw["Config"]["Env"]
    assert raw["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (
        raw["Config"]["WorkingDir"] == "/tmp" and raw["Config"]["User"] == "nobody" and raw["Config"]["Tty"]
    )
    assert raw["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert "53/udp" in raw["HostConfig"]["PortBindings"]
    assert any(m["Name"] == f"{name}-data" and m["Destination"] == "/data" for m in raw["Mounts"])
    event = AuditEvent.objects.filter(action="container.create").latest("id")
    assert event.outcome == "ok" and event.target == f"{name} ({raw['Id'][:12]})"
    assert "hello world" not in str(event.parameters)  # env values stay out of the audit trail
    engine.api.remove_container(name, force=True, v=True)
    engine.api.remove_volume(f"{name}-data")


def test_resource_limits_healthcheck_and_log_options_reach_the_engine(
    operator_client, base_image, engine, cleanup
):
    name = unique("limits")
    cleanup.append(name)
    response = operator_client.post(
        "/containers/new/",
        _form(
            base_image,
            name,
            memory="64m",
            memory_reservation="32m",
            cpus="0.5",
            cpu_shares="512",
            pids_limit="50",
            health_cmd="true",
            health_interval="2s",
            health_retries="2",
            log_driver="json-file",
            log_max_size="1m",
            log_max_file="2",
        ),
    )
    assert response.status_code == 302, response.content[-2000:]
    raw = engine.api.inspect_container(name)
    host = raw["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"]) == (64 << 20, 32 << 20)
    assert (host["NanoCpus"], host["CpuShares"], host["PidsLimit"]) == (500_000_000, 512, 50)
    assert raw["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert raw["Config"]["Healthcheck"]["Interval"] == 2 * 10**9
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}


def test_a_log_option_the_engine_refuses_is_a_form_error_and_nothing_is_left(
    operator_client, base_image, engine
):
    name = unique("badlog")
    response = operator_client.post("/containers/new/", _form(base_image, name, log_driver="no-such-driver"))
    assert response.status_code == 400
    assert 'value="no-such-driver"' in response.content.decode()
    assert not engine.api.containers(all=True, filters={"name": name})


def test_create_without_start_leaves_it_created(operator_client, base_image, engine, cleanup):
    name = unique("create")
    cleanup.append(name)
    response = operator_client.post("/containers/new/", _form(base_image, name, start=None))
    assert response.status_code == 302
    assert _state(engine, name)["Status"] == "created"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("ports", "80:abc", "not a port"),
        ("ports", "1:2:3:4", "not a port mapping"),
        ("restart", "sometimes", "not a restart policy"),
        ("env", "JUSTAKEY", "KEY=VALUE"),
        ("volumes", "relative-path", "SOURCE:TARGET"),
        ("labels", "nolabel", "KEY=VALUE"),
        ("name", "bad name!", "A name is"),
    ],
)
def test_bad_input_is_shown_inline_and_creates_nothing(
    operator_client, base_image, engine, field, value, expected
):
    name = value if field == "name" else unique("bad")
    data = {**_form(base_image, name), field: value}
    response = operator_client.post("/containers/new/", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert expected in body and f'data-field="{field}"' in body
    assert not engine.api.containers(all=True, filters={"name": name})


def test_unknown_image_is_a_field_error_and_nothing_is_created(operator_client, engine):
    name = unique("noimg")
    response = operator_client.post("/containers/new/", _form(f"{RUN_ID}-missing:latest", name))
    assert response.status_code == 400 and b"does not pull" in response.content
    assert not engine.api.containers(all=True, filters={"name": name})


def test_unknown_network_is_a_field_error(operator_client, base_image, engine):
    name = unique("nonet")
    response = operator_client.post("/containers/new/", _form(base_image, name, network=f"{RUN_ID}-nonet"))
    body = response.content.decode()
    assert response.status_code == 400 and 'data-field="network"' in body and "not found" in body
    assert not engine.api.containers(all=True, filters={"name": name})


def test_bare_container_port_is_exposed_not_published(operator_client, base_image, engine, cleanup):
    name = unique("expose")
    cleanup.append(name)
    assert (
        operator_client.post(
            "/containers/new/", _form(base_image, name, ports="9000", start=None)
        ).status_code
        == 302
    )
    raw = engine.api.inspect_container(name)
    assert "9000/tcp" in raw["Config"]["ExposedPorts"] and not raw["HostConfig"]["PortBindings"]


def test_duplicate_name_is_a_field_error(operator_client, make_container, base_image, engine):
    existing = make_container()
    name = existing["Name"].lstrip("/")
    response = operator_client.post("/containers/new/", _form(base_image, name))
    assert response.status_code == 400 and b"already in use" in response.content
    assert len(engine.api.containers(all=True, filters={"name": f"^/{name}$"})) == 1


def test_failed_start_on_run_removes_the_container(operator_client, base_image, engine):
    name = unique("nostart")
    response = operator_client.post("/containers/new/", _form(base_image, name, command="/no/such/binary"))
    assert response.status_code == 400
    assert b"no/such/binary" in response.content
    assert not engine.api.containers(all=True, filters={"name": name})
    assert AuditEvent.objects.filter(action="container.create", outcome="failed").exists()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"privileged": "on"}, "privileged"),
        ({"volumes": "/etc:/host-etc:ro"}, "volumes"),
        ({"cap_add": "NET_ADMIN"}, "cap_add"),
        ({"pid": "host"}, "pid"),
        ({"network": "host"}, "network"),
    ],
)
def test_policy_refuses_privileged_settings_for_an_operator(
    operator_client, base_image, engine, fields, named
):
    name = unique("policy")
    response = operator_client.post("/containers/new/", _form(base_image, name, **fields))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Only an admin" in body and f'data-field="{named}"' in body
    assert not engine.api.containers(all=True, filters={"name": name})


def test_admin_may_use_advanced_settings(admin_client, base_image, engine, cleanup):
    name = unique("adm")
    cleanup.append(name)
    response = admin_client.post(
        "/containers/new/",
        _form(base_image, name, cap_add="NET_ADMIN", pid="host", volumes="/etc:/host-etc:ro"),
    )
    assert response.status_code == 302
    raw = engine.api.inspect_container(name)
    assert raw["HostConfig"]["CapAdd"] == ["NET_ADMIN"] and raw["HostConfig"]["PidMode"] == "host"
    assert raw["HostConfig"]["Binds"] == ["/etc:/host-etc:ro"]


def test_viewer_cannot_create(viewer_client, base_image, engine):
    name = unique("viewer")
    assert viewer_client.post("/containers/new/", _form(base_image, name)).status_code == 403
    assert not engine.api.containers(all=True, filters={"name": name})


# --------------------------------------------------------------------------- detail


def test_detail_shows_summary_processes_diff_and_masked_env(viewer_client, make_container, engine):
    container = make_container(
        command=["sh", "-c", "touch /tmp/new-file; rm /etc/group; sleep 300"],
        environment=["SECRET_ISH=s3cr3t"],
    )
    wait_for(
        lambda: any(
            c["Path"] == "/etc/group" and c["Kind"] == 2 for c in engine.api.diff(container["Id"]) or []
        ),
        message="the rm of /etc/group",
    )
    response = viewer_client.get(f"/containers/{container['Name'].lstrip('/')}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert container["Id"] in body
    assert "SECRET_ISH" in body and "s3cr3t" not in body  # masked for viewers, also in the JSON
    assert 'data-testid="processes"' in body and "sleep 300" in body
    assert "/tmp/new-file" in body and "deleted" in body
    assert f"/containers/{container['Id'][:12]}/logs/" in body
    assert f"/containers/{container['Id'][:12]}/terminal/" not in body  # viewers cannot open a terminal
    assert "&quot;Id&quot;" in body  # the inspect JSON, escaped


def test_detail_by_id_prefix_and_unknown_id_is_404(viewer_client, make_container):
    container = make_container(start=False)
    assert viewer_client.get(f"/containers/{container['Id'][:10]}/").status_code == 200
    assert viewer_client.get(f"/containers/{RUN_ID}-nope/").status_code == 404


def test_html_in_names_labels_and_env_is_shown_as_text(viewer_client, make_container):
    payload = "<script>alert(1)</script>"
    container = make_container(labels={"note": payload}, environment=[f"X={payload}"], start=False)
    for url in ("/containers/", f"/containers/{container['Id']}/"):
        body = viewer_client.get(url).content.decode()
        assert payload not in body
    detail = viewer_client.get(f"/containers/{container['Id']}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.django_db(transaction=True)  # stop and restart are jobs: rows written from their thread
def test_lifecycle_actions_change_the_engine_state(operator_client, make_container, engine):
    container = make_container(start=False)
    ref = container["Id"]
    assert operator_client.post(f"/containers/{ref}/start/").status_code == 302
    assert _state(engine, ref)["Running"]
    assert operator_client.post(f"/containers/{ref}/pause/").status_code == 302
    assert _state(engine, ref)["Paused"]
    assert operator_client.post(f"/containers/{ref}/unpause/").status_code == 302
    assert not _state(engine, ref)["Paused"]
    started = _state(engine, ref)["StartedAt"]
    restarted = finished_job(operator_client.post(f"/containers/{ref}/restart/", {"timeout": "0"}))
    assert restarted.status == "success"
    assert _state(engine, ref)["StartedAt"] != started and _state(engine, ref)["Running"]
    stopped = finished_job(operator_client.post(f"/containers/{ref}/stop/", {"timeout": "0"}))
    assert stopped.message == f"Stopped {container['Name'].lstrip('/')}."
    assert not _state(engine, ref)["Running"]
    operator_client.post(f"/containers/{ref}/start/")
    assert operator_client.post(f"/containers/{ref}/kill/", {"signal": "9"}).status_code == 302
    wait_for(lambda: not _state(engine, ref)["Running"], message="signal 9 to end sleep")
    assert _state(engine, ref)["ExitCode"] == 137
    target = f"{container['Name'].lstrip('/')} ({ref[:12]})"  # the name next to the id
    actions = set(AuditEvent.objects.filter(target=target).values_list("action", flat=True))
    expected = {"container.start", "container.pause", "container.stop", "container.restart", "container.kill"}
    assert expected <= actions


def test_rename_goes_to_the_new_name(operator_client, make_container, engine, cleanup):
    container = make_container(start=False)
    new = unique("renamed")
    cleanup.append(new)
    response = operator_client.post(f"/containers/{container['Id']}/rename/", {"name": new})
    assert response.status_code == 302 and response["Location"] == f"/containers/{new}/"
    assert engine.api.inspect_container(container["Id"])["Name"] == f"/{new}"


def test_viewer_cannot_stop_and_is_audited_denied(viewer_client, make_container, engine):
    container = make_container()
    assert viewer_client.post(f"/containers/{container['Id']}/stop/").status_code == 403
    assert _state(engine, container["Id"])["Running"]
    assert AuditEvent.objects.filter(outcome="denied", target=container["Id"]).exists()


def test_lifecycle_is_post_only(operator_client, make_container, engine):
    container = make_container()
    assert operator_client.get(f"/containers/{container['Id']}/stop/").status_code == 405
    assert _state(engine, container["Id"])["Running"]


def test_acting_on_a_container_removed_a_moment_ago_is_404(operator_client, make_container, engine):
    container = make_container()
    engine.api.remove_container(container["Id"], force=True)
    response = operator_client.post(f"/containers/{container['Id']}/stop/")
    assert response.status_code == 404 and b"removed a moment ago" in response.content


def test_pause_of_a_stopped_container_is_409_and_changes_nothing(operator_client, make_container, engine):
    container = make_container(start=False)
    response = operator_client.post(f"/containers/{container['Id']}/pause/")
    assert response.status_code == 409 and b"is not running" in response.content
    assert _state(engine, container["Id"])["Status"] == "created"


def test_start_of_a_failing_command_shows_exit_code_and_logs_link(operator_client, make_container, engine):
    container = make_container(command=["sh", "-c", "echo boom; exit 3"], start=False)
    ref = container["Id"]
    response = operator_client.post(f"/containers/{ref}/start/", follow=True)
    body = response.content.decode()
    assert response.status_code == 200 and "exited at once with code 3" in body
    assert 'data-testid="exit-code-value">3' in body and f"/containers/{ref[:12]}/logs/" in body
    assert _state(engine, ref)["ExitCode"] == 3


def test_bad_kill_signal_and_timeout_are_400(operator_client, make_container, engine):
    container = make_container()
    assert (
        operator_client.post(f"/containers/{container['Id']}/kill/", {"signal": "NOT A SIGNAL"}).status_code
        == 400
    )
    assert (
        operator_client.post(f"/containers/{container['Id']}/stop/", {"timeout": "soon"}).status_code == 400
    )
    assert _state(engine, container["Id"])["Running"]


def test_engine_down_mid_action_is_a_503_page_and_nothing_changes(
    operator_client, make_container, engine_proxy, engine
):
    container = make_container()
    assert operator_client.get(f"/containers/{container['Id']}/").status_code == 200
    engine_proxy.stop()
    response = operator_client.post(f"/containers/{container['Id']}/stop/", {"timeout": "0"})
    assert response.status_code == 503 and engine_proxy.url.encode() in response.content
    engine_proxy.start()
    assert _state(engine, container["Id"])["Running"]
    assert AuditEvent.objects.filter(action="container.stop", outcome="failed").exists()


# --------------------------------------------------------------------------- delete, bulk


@pytest.mark.django_db(transaction=True)  # delete with volumes is a job
def test_delete_is_two_steps_and_refuses_a_running_one_without_force(admin_client, make_container, engine):
    container = make_container()
    ref = container["Id"]
    confirm = admin_client.get(f"/containers/{ref}/delete/")
    assert confirm.status_code == 200 and b"confirm-delete" in confirm.content
    assert engine.api.inspect_container(ref)
    refused = admin_client.post(f"/containers/{ref}/delete/")
    assert refused.status_code == 409 and b"Stop it first, or delete with force" in refused.content
    assert _state(engine, ref)["Running"]
    deleted = finished_job(admin_client.post(f"/containers/{ref}/delete/", {"force": "on", "volumes": "on"}))
    assert deleted.message == f"Deleted {container['Name'].lstrip('/')} and its anonymous volumes."
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_container(ref)


def test_operator_cannot_delete(operator_client, make_container, engine):
    container = make_container(start=False)
    assert operator_client.post(f"/containers/{container['Id']}/delete/", {"force": "on"}).status_code == 403
    assert engine.api.inspect_container(container["Id"])


@pytest.mark.django_db(transaction=True)  # bulk actions are jobs: rows written from their thread
def test_bulk_stop_start_and_delete(admin_client, make_container, engine):
    first, second = make_container(), make_container()
    ids = [first["Id"], second["Id"]]
    stopped = finished_job(admin_client.post("/containers/bulk/", {"action": "stop", "ids": ids}))
    assert stopped.status == "success"
    assert not any(_state(engine, i)["Running"] for i in ids)
    finished_job(admin_client.post("/containers/bulk/", {"action": "start", "ids": ids}))
    assert all(_state(engine, i)["Running"] for i in ids)
    confirm = admin_client.post("/containers/bulk/", {"action": "delete", "ids": ids})
    assert confirm.status_code == 200 and b'name="confirm" value="yes"' in confirm.content
    assert all(_state(engine, i)["Running"] for i in ids)
    finished_job(
        admin_client.post(
            "/containers/bulk/", {"action": "delete", "ids": ids, "confirm": "yes", "force": "on"}
        )
    )
    assert not engine.api.containers(all=True, filters={"id": ids[0]})
    assert not engine.api.containers(all=True, filters={"id": ids[1]})


@pytest.mark.django_db(transaction=True)
def test_bulk_job_names_each_container_with_its_outcome(operator_client, make_container, engine):
    running, created = make_container(), make_container(start=False)
    names = [c["Name"].lstrip("/") for c in (running, created)]
    engine.api.remove_container(created["Id"], force=True)  # gone before its turn: a failed row
    job = finished_job(
        operator_client.post("/containers/bulk/", {"action": "stop", "ids": [running["Id"], created["Id"]]})
    )
    rows = {row["id"]: row for row in job.snapshot()["layers"]}
    assert rows[names[0]]["outcome"] == "ok"
    assert rows[names[0]]["status"] == "stopped"
    assert rows[created["Id"][:12]]["outcome"] == "failed"
    assert job.status == "error"
    assert job.message.startswith("Stopped 1 of 2; not ")
    page = operator_client.get(f"/jobs/{job.id}/?back=/containers/%3Fq%3Dx").content.decode()
    assert 'href="/containers/?q=x"' in page
    assert "Back to the containers" in page
    assert not _state(engine, running["Id"])["Running"]


def test_job_page_offers_no_foreign_back_link(operator_client):
    from core.models import Job

    row = Job.objects.create(
        id="f" * 32, kind="containers", target="stop 1 container", required_role="operator"
    )
    page = operator_client.get(f"/images/jobs/{row.id}/?back=//evil.example/").content.decode()
    assert "evil.example" not in page


@pytest.mark.django_db(transaction=True)  # the stop is a job: rows written from its thread
def test_a_stop_through_htmx_hands_the_page_its_job_and_audits_once_by_name(
    operator_client, viewer_client, make_container, engine
):
    import json

    from core.engine import jobs

    container = make_container()
    name = container["Name"].lstrip("/")
    response = operator_client.post(
        f"/containers/{container['Id'][:12]}/stop/", {"timeout": "0"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    detail = json.loads(response["HX-Trigger"])["dashboard:job"]
    job_id = detail["url"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    assert detail["url"].startswith(f"/jobs/{job_id}/?back=")
    assert detail["ws"] == f"/ws/jobs/{job_id}/"
    assert detail["doing"] == f"Stopping {name}…"
    wait_for(lambda: jobs.get(job_id) is not None and jobs.get(job_id).finished, message="the stop job")
    assert jobs.get(job_id).message == f"Stopped {name}."
    assert not _state(engine, container["Id"])["Running"]
    events = AuditEvent.objects.filter(action="container.stop")
    assert [(e.target, e.parameters, e.outcome) for e in events] == [
        (f"{name} ({container['Id'][:12]})", {"timeout": 0}, "ok")
    ]
    new_page = operator_client.get(f"/jobs/{job_id}/?back=/containers/{container['Id'][:12]}/")
    assert new_page.status_code == 200 and "Back to the container" in new_page.content.decode()
    assert operator_client.get(f"/images/jobs/{job_id}/").status_code == 200  # the old address
    assert viewer_client.get(f"/jobs/{job_id}/").status_code == 403  # may not stop, may not watch


def test_delete_with_volumes_of_a_running_one_without_force_is_refused_at_once(
    admin_client, make_container, engine
):
    container = make_container()
    response = admin_client.post(f"/containers/{container['Id']}/delete/", {"volumes": "on"})
    assert response.status_code == 409
    assert b"Stop it first, or delete with force" in response.content
    assert _state(engine, container["Id"])["Running"]
    event = AuditEvent.objects.get(action="container.delete")
    assert event.outcome == "failed"
    assert event.parameters == {"force": False, "volumes": True}


def test_bulk_delete_needs_admin(operator_client, make_container, engine):
    container = make_container(start=False)
    response = operator_client.post(
        "/containers/bulk/", {"action": "delete", "ids": [container["Id"]], "confirm": "yes"}
    )
    assert response.status_code == 403 and engine.api.inspect_container(container["Id"])


# --------------------------------------------------------------------------- commit, export


def test_commit_produces_an_image_that_runs(admin_client, make_container, engine):
    container = make_container(command=["sh", "-c", "echo committed > /marker; sleep 300"])
    wait_for(
        lambda: any(c["Path"] == "/marker" for c in engine.api.diff(container["Id"]) or []),
        message="the marker",
    )
    repository = f"{RUN_ID}-commit"
    response = admin_client.post(
        f"/containers/{container['Id']}/commit/",
        {
            "repository": repository,
            "tag": "v1",
            "message": "snapshot",
            "author": "tests",
            "pause": "on",
            "changes": f'CMD ["cat", "/marker"]\nLABEL {TEST_LABEL}={RUN_ID}',
        },
    )
    assert response.status_code == 200
    image = engine.api.inspect_image(f"{repository}:v1")
    assert f"/images/{image['Id'].removeprefix('sha256:')}/" in response.content.decode()
    assert image["Config"]["Cmd"] == ["cat", "/marker"] and image["Comment"] == "snapshot"
    output = engine.containers.run(f"{repository}:v1", remove=True, labels={TEST_LABEL: RUN_ID})
    assert output == b"committed\n"


def test_commit_refuses_bad_repository_and_instruction(admin_client, make_container):
    container = make_container(start=False)
    bad = admin_client.post(f"/containers/{container['Id']}/commit/", {"repository": "Bad Repo"})
    assert bad.status_code == 400 and b"not a repository name" in bad.content
    bad = admin_client.post(f"/containers/{container['Id']}/commit/", {"changes": "RUN rm -rf /"})
    assert bad.status_code == 400 and b"cannot be applied by commit" in bad.content


def test_operator_cannot_commit(operator_client, make_container):
    container = make_container(start=False)
    assert (
        operator_client.post(f"/containers/{container['Id']}/commit/", {"repository": "x"}).status_code == 403
    )


def test_export_streams_a_tar_that_imports_back_and_runs(operator_client, make_container, engine):
    container = make_container(command=["sh", "-c", "echo exported > /proof; sleep 300"])
    wait_for(
        lambda: any(c["Path"] == "/proof" for c in engine.api.diff(container["Id"]) or []), message="proof"
    )
    response = operator_client.get(f"/containers/{container['Id']}/export/")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/x-tar"
    data = b"".join(response)  # the ASGI path streams; the test client collects
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "proof" in tar.getnames() and "bin/busybox" in tar.getnames()
    repository = f"{RUN_ID}-exported"
    engine.api.import_image_from_data(
        data, repository=repository, tag="latest", changes=[f"LABEL {TEST_LABEL}={RUN_ID}", "ENV PATH=/bin"]
    )
    output = engine.containers.run(
        f"{repository}:latest", ["cat", "/proof"], remove=True, labels={TEST_LABEL: RUN_ID}
    )
    assert output == b"exported\n"


def test_export_of_unknown_container_is_404(operator_client):
    assert operator_client.get(f"/containers/{RUN_ID}-gone/export/").status_code == 404


def test_stats_sample_computes_cpu_and_memory_like_the_cli():
    from core.engine.containers import stats_sample

    raw = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 2_000_000_000},
            "system_cpu_usage": 20_000_000_000,
            "online_cpus": 4,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000}, "system_cpu_usage": 10_000_000_000},
        "memory_stats": {"usage": 300, "limit": 1000, "stats": {"inactive_file": 100}},
        "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
        "blkio_stats": {
            "io_service_bytes_recursive": [{"op": "read", "value": 5}, {"op": "Write", "value": 7}]
        },
        "pids_stats": {"current": 3},
    }
    sample = stats_sample(raw)
    assert sample.cpu_percent == 40.0  # (1e9 / 1e10) x 4 CPUs x 100
    assert sample.cpus == 4  # the chart's CPU scale: 400 %
    assert (sample.memory_usage, sample.memory_limit, sample.memory_percent) == (200, 1000, 20.0)
    assert (sample.net_rx, sample.net_tx, sample.block_read, sample.block_write, sample.pids) == (
        11,
        22,
        5,
        7,
        3,
    )


# --------------------------------------------------------------------------- nothing half-made


def _volume_exists(engine, name: str) -> bool:
    try:
        engine.api.inspect_volume(name)
    except docker.errors.NotFound:
        return False
    return True


@pytest.mark.parametrize("start", ["on", None])
@pytest.mark.parametrize("field", ["network", "networks"])
def test_a_missing_network_creates_nothing(operator_client, base_image, engine, cleanup, field, start):
    name, volume, missing = unique("nonet"), unique("vol"), f"{RUN_ID}-nonet"
    cleanup.append(name)
    data = _form(base_image, name, start=start, volumes=f"{volume}:/data", **{field: missing})
    response = operator_client.post("/containers/new/", data)
    body = response.content.decode()
    assert response.status_code == 400
    field_html = body[body.index(f'data-field="{field}"') + 1 :]
    field_html = field_html[: field_html.index("data-field=")]  # up to the next field
    assert f"Network “{missing}” not found on this engine" in field_html
    assert not engine.api.containers(all=True, filters={"name": name})
    assert not _volume_exists(engine, volume)
    assert AuditEvent.objects.filter(action="container.create", outcome="failed").exists()


def test_every_missing_network_is_named(operator_client, base_image, engine, network_for_create):
    name = unique("nonet")
    present = network_for_create()
    lines = f"{present} alias1\n{RUN_ID}-gone1\n{RUN_ID}-gone2 web"
    response = operator_client.post("/containers/new/", _form(base_image, name, networks=lines))
    body = response.content.decode()
    assert response.status_code == 400
    assert f"Networks “{RUN_ID}-gone1”, “{RUN_ID}-gone2” not found on this engine" in body
    assert not engine.api.containers(all=True, filters={"name": name})


def test_a_failed_start_removes_the_volumes_the_form_made_and_keeps_the_others(
    operator_client, base_image, engine
):
    name, new, existing = unique("nostart"), unique("vol"), unique("vol")
    engine.api.create_volume(existing, labels={TEST_LABEL: RUN_ID})
    volumes = f"{new}:/data\n{existing}:/keep\n/anon"
    response = operator_client.post(
        "/containers/new/", _form(base_image, name, command="/no/such/binary", volumes=volumes)
    )
    assert response.status_code == 400
    assert not engine.api.containers(all=True, filters={"name": name})
    assert not _volume_exists(engine, new)
    assert _volume_exists(engine, existing)
    engine.api.remove_volume(existing)


@pytest.fixture
def network_for_create(engine):
    made: list[str] = []

    def make() -> str:
        name = unique("net")
        engine.api.create_network(name, labels={TEST_LABEL: RUN_ID})
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            engine.api.remove_network(name)
        except docker.errors.APIError:
            pass
