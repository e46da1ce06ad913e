"""Swarm pages and actions against a real swarm: an extra dockerd put in Swarm mode by the test.

The main engine is never put into Swarm mode; it serves as the "not a swarm manager" engine. The TLS
engine fixture is checked here too (client certificate accepted, no certificate refused), for the
TLS endpoints of the scale-out issue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
from django.urls import reverse

from core.models import AuditEvent
from tests.engines_support import (
    EngineStartError,
    ExtraEngine,
    SwarmInfo,
    extra_engine,
    import_busybox,
    swarm_mode,
    swarm_worker,
    tls_client,
    tls_engine,
    write_client_files,
)
from tests.support import (
    RUN_ID,
    TEST_LABEL,
    LiveServer,
    dashboard_server,
    screenshot,
    unique,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
# PID 1 ignores SIGTERM unless it traps it: this one stops at once when a task is shut down.
STOPPABLE_SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]


@dataclass
class Swarm:
    engine: ExtraEngine
    client: docker.DockerClient
    image: str
    image_v2: str
    info: SwarmInfo
    worker: ExtraEngine
    worker_node_id: str

    @property
    def url(self) -> str:
        return self.engine.url


@pytest.fixture(scope="module")
def swarm_engine() -> Iterator[Swarm]:
    """Two extra dockerd in one swarm (a manager and a worker), busybox imported as v1 and v2 on both."""
    try:
        with extra_engine() as engine, extra_engine() as worker:
            client = engine.client()
            try:
                for each in (client, worker.client()):
                    image = import_busybox(each)
                    repository = image.rsplit(":", 1)[0]
                    each.api.tag(image, repository, "v2")
                    if each is not client:
                        each.close()
                with swarm_mode(engine) as info, swarm_worker(engine, info, worker) as worker_id:
                    yield Swarm(engine, client, image, f"{repository}:v2", info, worker, worker_id)
            finally:
                client.close()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def on_swarm(swarm_engine: Swarm, settings) -> Iterator[Swarm]:
    """Point the dashboard at the swarm engine for one test."""
    from core.engine import forget_client

    settings.DOCKER_HOST = swarm_engine.url
    yield swarm_engine
    forget_client(swarm_engine.url)


@pytest.fixture(scope="module")
def live_swarm(swarm_engine: Swarm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A daphne process of the dashboard whose DOCKER_HOST is the swarm engine (for the browser)."""
    with dashboard_server(tmp_path_factory.mktemp("live-swarm"), DOCKER_HOST=swarm_engine.url) as server:
        yield server


def _running(client: docker.DockerClient, service_id: str) -> list[dict]:
    return [
        t
        for t in client.api.tasks(filters={"service": service_id, "desired-state": "running"})
        if t["Status"]["State"] == "running"
    ]


@pytest.fixture
def make_service(swarm_engine: Swarm) -> Iterator:
    """``make_service(replicas=2, command=[...])``: a labelled, running swarm service; removed after."""
    client = swarm_engine.client
    created: list[str] = []

    def make(
        *, replicas: int = 2, command: list[str] | None = None, wait: bool = True, **container_spec
    ) -> dict:
        service = client.api.create_service(
            docker.types.TaskTemplate(
                container_spec=docker.types.ContainerSpec(
                    swarm_engine.image,
                    command=command or STOPPABLE_SLEEP,
                    stop_grace_period=1_000_000_000,
                    **container_spec,
                )
            ),
            name=unique("svc"),
            labels={TEST_LABEL: RUN_ID},
            mode=docker.types.ServiceMode("replicated", replicas=replicas),
            # One task at a time, 1 s apart, watched 0.5 s each (the default watch is 5 s).
            update_config=docker.types.UpdateConfig(parallelism=1, delay=1_000_000_000, monitor=500_000_000),
        )
        created.append(service["ID"])
        if wait:
            wait_for(
                lambda: len(_running(client, service["ID"])) == replicas,
                timeout=60,
                message=f"{replicas} running tasks",
            )
        return client.api.inspect_service(service["ID"])

    yield make
    for service_id in created:
        try:
            client.api.remove_service(service_id)
        except docker.errors.NotFound:
            pass


def _messages(response) -> str:
    return " ".join(re.findall(r'class="msg msg-\w+"[^>]*>([^<]*)<', response.content.decode()))


# --------------------------------------------------------------------------- the test engines


def test_extra_engines_are_separate_from_the_main_engine(swarm_engine, engine):
    extra_info = swarm_engine.client.info()
    assert extra_info["DockerRootDir"].startswith(str(swarm_engine.engine.root))
    assert extra_info["Swarm"]["LocalNodeState"] == "active"
    assert engine.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert {n["Name"] for n in swarm_engine.client.api.networks()} >= {"ingress", "docker_gwbridge"}
    bridge = next(n for n in swarm_engine.client.api.networks() if n["Name"] == "bridge")
    assert bridge["Options"]["com.docker.network.bridge.name"].startswith("ddb")  # its own, not docker0
    assert Path("/sys/class/net/docker0").exists()  # the main engine's bridge survived the extra daemons
    assert not engine.api.images(name=swarm_engine.image.rsplit(":", 1)[0])


def test_tls_engine_takes_the_client_certificate_and_refuses_a_client_without_one(tmp_path):
    try:
        context = tls_engine()
        tls = context.__enter__()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        assert tls.url.startswith("tcp://127.0.0.1:")
        assert "BEGIN CERTIFICATE" in tls.ca_pem and "PRIVATE KEY" in tls.key_pem
        config = write_client_files(tmp_path / "good", tls)
        good = tls_client(tls.url, config)
        assert good.version()["ApiVersion"]
        assert good.info()["Swarm"]["LocalNodeState"] == "inactive"
        good.close()
        ca_only = docker.tls.TLSConfig(ca_cert=str(tmp_path / "good" / "ca.pem"), verify=True)
        anonymous = tls_client(tls.url, ca_only, timeout=5)
        with pytest.raises(requests.exceptions.SSLError, match=r"(?i)bad certificate"):
            anonymous.version()
        plain = docker.APIClient(base_url=tls.url.replace("tcp://", "http://"), version="1.41", timeout=5)
        with pytest.raises(docker.errors.APIError, match="HTTPS server"):
            plain.version()
    finally:
        context.__exit__(None, None, None)


# --------------------------------------------------------------------------- pages


def test_swarm_page_lists_the_node_and_the_services(on_swarm, make_service, viewer_client):
    service = make_service(replicas=2)
    response = viewer_client.get(reverse("swarm"))
    assert response.status_code == 200
    html = response.content.decode()
    node = on_swarm.client.api.inspect_node(on_swarm.info.node_id)
    manager_row = re.search(rf'data-node-id="{node["ID"]}".*?</tr>', html, re.DOTALL).group(0)
    assert node["Description"]["Hostname"] in manager_row
    assert "leader" in manager_row and ">manager" in manager_row and "this engine" in manager_row
    assert node["Description"]["Engine"]["EngineVersion"] in manager_row
    worker_row = re.search(rf'data-node-id="{on_swarm.worker_node_id}".*?</tr>', html, re.DOTALL).group(0)
    assert ">worker<" in worker_row and ">ready<" in worker_row and ">active<" in worker_row
    row = re.search(rf'data-service-id="{service["ID"]}".*?</tr>', html, re.DOTALL).group(0)
    assert service["Spec"]["Name"] in row
    assert ">2/2<" in row
    assert on_swarm.image in row
    assert reverse("swarm-service", kwargs={"service_id": service["ID"]}) in row
    # A viewer sees no action forms.
    assert reverse("swarm-service-create") not in html
    assert "swarm-node-availability" not in html and "/availability/" not in html


def test_engine_that_is_not_a_swarm_manager_gets_a_page_saying_how_to_init(viewer_client, engine):
    response = viewer_client.get(reverse("swarm"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "not a Swarm manager" in html
    assert "docker swarm init" in html
    assert 'data-testid="swarm-local-state">inactive<' in html
    detail = viewer_client.get(reverse("swarm-service", kwargs={"service_id": "abc"}))
    assert detail.status_code == 200 and "docker swarm init" in detail.content.decode()


def test_service_page_shows_tasks_with_their_node_and_state(on_swarm, make_service, viewer_client):
    service = make_service(replicas=2)
    response = viewer_client.get(reverse("swarm-service", kwargs={"service_id": service["ID"]}))
    assert response.status_code == 200
    html = response.content.decode()
    hostname = on_swarm.client.api.inspect_node(on_swarm.info.node_id)["Description"]["Hostname"]
    tasks = on_swarm.client.api.tasks(filters={"service": service["ID"]})
    assert len(tasks) == 2
    for task in tasks:
        row = re.search(rf'data-task-id="{task["ID"]}".*?</tr>', html, re.DOTALL).group(0)
        assert hostname in row and ">running<" in row
    assert 'data-testid="service-replicas">2/2<' in html
    assert "Not updated since it was created." in html
    assert "every 2s" not in html  # nothing to poll


def test_swarm_services_filter_keeps_to_its_matches(on_swarm, make_service, viewer_client):
    wanted, other = make_service(replicas=1), make_service(replicas=1)
    query = {"q": wanted["Spec"]["Name"], "sort": "bogus", "dir": "up", "page": "9", "per_page": "3"}
    html = viewer_client.get(reverse("swarm"), query).content.decode()
    assert f'data-service-id="{wanted["ID"]}"' in html
    assert f'data-service-id="{other["ID"]}"' not in html


def test_swarm_service_sort_links_keep_the_filter(on_swarm, make_service, viewer_client):
    service = make_service(replicas=1)
    html = viewer_client.get(reverse("swarm"), {"q": service["Spec"]["Name"]}).content.decode()
    link = re.search(r'<a href="([^"]*)"[^>]*data-sort="image"', html).group(1)
    assert f"q={service['Spec']['Name']}" in link


def test_service_tasks_filter_and_bad_paging_values(on_swarm, make_service, viewer_client):
    service = make_service(replicas=2)
    url = reverse("swarm-service", kwargs={"service_id": service["ID"]})
    html = viewer_client.get(
        url, {"q": "running", "sort": "?", "page": "x", "per_page": "0"}
    ).content.decode()
    assert len(re.findall(r"data-task-id=", html)) == 2


def test_unknown_service_is_a_404(on_swarm, viewer_client):
    assert (
        viewer_client.get(reverse("swarm-service", kwargs={"service_id": "nosuchservice"})).status_code == 404
    )


def test_service_logs_show_the_last_lines_of_each_task(on_swarm, make_service, viewer_client):
    marker = unique("log")
    service = make_service(
        replicas=2, command=["sh", "-c", f"echo {marker}-$(hostname); echo '<b>x</b>'; sleep 300"]
    )
    url = reverse("swarm-service-logs", kwargs={"service_id": service["ID"]})

    def both_tasks_logged() -> str:
        html = viewer_client.get(url).content.decode()
        return html if html.count(marker) == 2 else ""

    html = wait_for(both_tasks_logged, timeout=30, message="a log line from each task")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert re.search(r'<td class="mono small">[12]</td>', html)  # lines name their task slot


# --------------------------------------------------------------------------- roles


def test_viewer_cannot_change_anything(on_swarm, make_service, viewer_client):
    service = make_service(replicas=1)
    node_id = on_swarm.info.node_id
    sid = {"service_id": service["ID"]}
    attempts = [
        (reverse("swarm-service-scale", kwargs=sid), {"replicas": "3"}),
        (reverse("swarm-service-update", kwargs=sid), {"image": on_swarm.image_v2}),
        (reverse("swarm-service-delete", kwargs=sid), {}),
        (reverse("swarm-service-create"), {"name": unique("svc"), "image": on_swarm.image}),
        (reverse("swarm-node-availability", kwargs={"node_id": node_id}), {"availability": "drain"}),
    ]
    for url, data in attempts:
        assert viewer_client.post(url, data).status_code == 403, url
    after = on_swarm.client.api.inspect_service(service["ID"])
    assert after["Version"] == service["Version"]
    assert on_swarm.client.api.inspect_node(node_id)["Spec"]["Availability"] == "active"
    denied = AuditEvent.objects.filter(username=viewer_client.user.username, outcome="denied")
    assert denied.count() == len(attempts)


def test_operator_cannot_remove_services_create_them_or_drain_nodes(on_swarm, make_service, operator_client):
    service = make_service(replicas=1, wait=False)
    assert (
        operator_client.post(
            reverse("swarm-service-delete", kwargs={"service_id": service["ID"]})
        ).status_code
        == 403
    )
    assert (
        operator_client.get(
            reverse("swarm-service-delete-confirm", kwargs={"service_id": service["ID"]})
        ).status_code
        == 403
    )
    assert (
        operator_client.post(
            reverse("swarm-node-availability", kwargs={"node_id": on_swarm.info.node_id}),
            {"availability": "drain"},
        ).status_code
        == 403
    )
    assert on_swarm.client.api.inspect_service(service["ID"])["ID"] == service["ID"]


def test_actions_refuse_get(on_swarm, make_service, admin_client):
    service = make_service(replicas=1, wait=False)
    sid = {"service_id": service["ID"]}
    for name in ("swarm-service-scale", "swarm-service-update", "swarm-service-delete"):
        assert admin_client.get(reverse(name, kwargs=sid)).status_code == 405
    assert admin_client.get(reverse("swarm-service-create")).status_code == 405
    node = {"node_id": on_swarm.info.node_id}
    assert admin_client.get(reverse("swarm-node-availability", kwargs=node)).status_code == 405


# --------------------------------------------------------------------------- actions


def test_admin_creates_a_service_with_ports_env_and_constraints(on_swarm, admin_client):
    name = unique("svc")
    response = admin_client.post(
        reverse("swarm-service-create"),
        {
            "name": name,
            "image": on_swarm.image,
            "replicas": "2",
            "command": "sh -c 'echo started; sleep 300'",
            "ports": "0:80, 5353:53/udp",
            "env": "GREETING=hello world\nMODE=test",
            "constraints": "node.role==manager",
        },
    )
    try:
        assert response.status_code == 302, _messages(response)
        service = on_swarm.client.api.inspect_service(name)
        assert response["Location"] == reverse("swarm-service", kwargs={"service_id": service["ID"]})
        spec = service["Spec"]
        container = spec["TaskTemplate"]["ContainerSpec"]
        assert spec["Mode"]["Replicated"]["Replicas"] == 2
        assert container["Image"].startswith(on_swarm.image)
        assert container["Command"] == ["sh", "-c", "echo started; sleep 300"]
        assert container["Env"] == ["GREETING=hello world", "MODE=test"]
        assert spec["TaskTemplate"]["Placement"]["Constraints"] == ["node.role==manager"]
        ports = {(p["TargetPort"], p["Protocol"]): p for p in spec["EndpointSpec"]["Ports"]}
        assert ports[(53, "udp")]["PublishedPort"] == 5353
        assert "PublishedPort" not in ports[(80, "tcp")]  # the swarm picks one
        wait_for(lambda: len(_running(on_swarm.client, service["ID"])) == 2, timeout=60, message="2 tasks")
        event = AuditEvent.objects.get(action="swarm.service.create", target=name)
        assert event.outcome == "ok" and event.parameters["image"] == on_swarm.image
        page = admin_client.get(response["Location"]).content.decode()
        assert "GREETING=***" in page and "hello world" not in page  # masked until revealed
        assert "5353:53/udp" in page
    finally:
        try:
            on_swarm.client.api.remove_service(name)
        except docker.errors.NotFound:
            pass


def test_create_with_a_bad_port_keeps_the_form_and_says_why(on_swarm, admin_client):
    name = unique("svc")
    response = admin_client.post(
        reverse("swarm-service-create"), {"name": name, "image": on_swarm.image, "ports": "80:http"}
    )
    assert response.status_code == 400
    assert "is not a port mapping" in response.content.decode()
    assert f'value="{name}"' in response.content.decode()
    assert not on_swarm.client.api.services(filters={"name": name})
    assert AuditEvent.objects.get(action="swarm.service.create", target=name).outcome == "failed"


def test_create_with_a_taken_name_shows_the_engine_message(on_swarm, make_service, admin_client):
    service = make_service(replicas=1, wait=False)
    response = admin_client.post(
        reverse("swarm-service-create"), {"name": service["Spec"]["Name"], "image": on_swarm.image}
    )
    assert response.status_code == 400
    assert "already exists" in _messages(response) or "name conflicts" in _messages(response)


def test_operator_scales_a_service(on_swarm, make_service, operator_client):
    service = make_service(replicas=1)
    url = reverse("swarm-service-scale", kwargs={"service_id": service["ID"]})
    response = operator_client.post(url, {"replicas": "3"})
    assert response.status_code == 302
    assert on_swarm.client.api.inspect_service(service["ID"])["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    wait_for(lambda: len(_running(on_swarm.client, service["ID"])) == 3, timeout=60, message="3 tasks")
    page = operator_client.get(reverse("swarm")).content.decode()
    assert re.search(rf'data-service-id="{service["ID"]}".*?>3/3<', page, re.DOTALL)
    event = AuditEvent.objects.get(action="swarm.service.scale", target=service["ID"])
    assert event.outcome == "ok" and event.parameters == {"replicas": "3"}

    bad = operator_client.post(url, {"replicas": "-1"}, follow=True)
    assert "Replicas go from 0" in _messages(bad)
    assert on_swarm.client.api.inspect_service(service["ID"])["Spec"]["Mode"]["Replicated"]["Replicas"] == 3


def test_global_service_shows_one_task_per_node_and_refuses_scaling(on_swarm, operator_client):
    client = on_swarm.client
    service = client.api.create_service(
        docker.types.TaskTemplate(
            container_spec=docker.types.ContainerSpec(on_swarm.image, command=STOPPABLE_SLEEP)
        ),
        name=unique("svc"),
        labels={TEST_LABEL: RUN_ID},
        mode=docker.types.ServiceMode("global"),
    )
    try:
        wait_for(lambda: len(_running(client, service["ID"])) == 2, timeout=60, message="a task on each node")
        page = operator_client.get(reverse("swarm")).content.decode()
        row = re.search(rf'data-service-id="{service["ID"]}".*?</tr>', page, re.DOTALL).group(0)
        assert "<td>global</td>" in row and 'data-testid="replicas">2/2<' in row
        url = reverse("swarm-service-scale", kwargs={"service_id": service["ID"]})
        response = operator_client.post(url, {"replicas": "5"}, follow=True)
        assert "Only replicated services can be scaled" in _messages(response)
        assert "Global" in client.api.inspect_service(service["ID"])["Spec"]["Mode"]
        assert AuditEvent.objects.get(action="swarm.service.scale", target=service["ID"]).outcome == "failed"
    finally:
        client.api.remove_service(service["ID"])


def test_operator_updates_the_image_with_a_rolling_update_and_sees_progress(
    on_swarm, make_service, operator_client
):
    service = make_service(replicas=2)
    sid = {"service_id": service["ID"]}
    response = operator_client.post(reverse("swarm-service-update", kwargs=sid), {"image": on_swarm.image_v2})
    assert response.status_code == 302
    spec = on_swarm.client.api.inspect_service(service["ID"])["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"].startswith(on_swarm.image_v2)

    progress_url = reverse("swarm-service-progress", kwargs=sid)
    first = operator_client.get(progress_url).content.decode()
    # One task at a time with a 1 s delay: the update is still running right after the POST.
    assert 'data-update-state="updating"' in first
    assert 'hx-trigger="every 2s"' in first and f'hx-get="{progress_url}"' in first

    def finished() -> str:
        html = operator_client.get(progress_url).content.decode()
        return html if 'data-update-state="completed"' in html else ""

    html = wait_for(finished, timeout=90, interval=0.5, message="the rolling update to complete")
    assert "hx-trigger" not in html  # polling stops
    assert 'data-testid="update-counts">2/2<' in html
    running = _running(on_swarm.client, service["ID"])
    assert len(running) == 2
    assert all(t["Spec"]["ContainerSpec"]["Image"].startswith(on_swarm.image_v2) for t in running)
    page = operator_client.get(reverse("swarm-service", kwargs=sid)).content.decode()
    assert f'data-testid="service-image">{on_swarm.image_v2}<' in page
    assert on_swarm.image in page  # previous image named
    assert AuditEvent.objects.get(action="swarm.service.update", target=service["ID"]).outcome == "ok"


# --------------------------------------------------------------------------- the workload policy, secrets


@pytest.mark.parametrize(
    "spec",
    [
        {"mounts": [docker.types.Mount("/host-etc", "/etc", type="bind", read_only=True)]},
        {"cap_add": ["NET_ADMIN"]},
    ],
    ids=["bind-mount", "cap-add"],
)
@pytest.mark.parametrize("url_name", ["swarm-service-update", "swarm-service-scale"])
def test_operator_cannot_change_an_admins_privileged_service(
    on_swarm, make_service, operator_client, spec, url_name
):
    service = make_service(replicas=1, wait=False, **spec)
    data = {"image": on_swarm.image_v2, "replicas": "2"}
    response = operator_client.post(reverse(url_name, kwargs={"service_id": service["ID"]}), data)
    assert "Only an admin may change this service" in _messages(operator_client.get(response["Location"]))
    assert on_swarm.client.api.inspect_service(service["ID"])["Version"] == service["Version"]
    event = AuditEvent.objects.get(target=service["ID"])
    assert (event.action, event.outcome) == (url_name.replace("-", "."), "denied")


def test_admin_may_update_a_privileged_service(on_swarm, make_service, admin_client):
    mount = docker.types.Mount("/host-etc", "/etc", type="bind", read_only=True)
    service = make_service(replicas=1, wait=False, mounts=[mount])
    sid = {"service_id": service["ID"]}
    admin_client.post(reverse("swarm-service-update", kwargs=sid), {"image": on_swarm.image_v2})
    spec = on_swarm.client.api.inspect_service(service["ID"])["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"].startswith(on_swarm.image_v2)


def test_service_create_refuses_fields_the_form_does_not_know(on_swarm, admin_client):
    name = unique("svc")
    fields = {"name": name, "image": on_swarm.image, "mounts": "/etc:/host-etc", "cap_add": "ALL"}
    response = admin_client.post(reverse("swarm-service-create"), fields)
    assert response.status_code == 400
    assert not on_swarm.client.api.services(filters={"name": name})
    event = AuditEvent.objects.get(action="swarm.service.create", target=name)
    assert event.parameters["refused_fields"] == ["cap_add", "mounts"]


SERVICE_SECRET = "svc-s3cr3t-" + RUN_ID


def test_viewer_sees_the_service_env_masked(on_swarm, make_service, viewer_client):
    service = make_service(replicas=1, wait=False, env=[f"DB_PASSWORD={SERVICE_SECRET}"])
    page = viewer_client.get(reverse("swarm-service", kwargs={"service_id": service["ID"]})).content.decode()
    assert SERVICE_SECRET not in page
    assert "DB_PASSWORD=***" in page


def test_operator_reveals_the_service_env_audited(on_swarm, make_service, operator_client):
    service = make_service(replicas=1, wait=False, env=[f"DB_PASSWORD={SERVICE_SECRET}"])
    url = reverse("swarm-service-reveal", kwargs={"service_id": service["ID"]})
    assert SERVICE_SECRET in operator_client.post(url).content.decode()
    assert AuditEvent.objects.get(action="swarm.service.reveal").outcome == "ok"


def test_admin_removes_a_service_after_confirming(on_swarm, make_service, admin_client):
    service = make_service(replicas=1)
    sid = {"service_id": service["ID"]}
    confirm = admin_client.get(
        reverse("swarm-service-delete-confirm", kwargs=sid), headers={"HX-Request": "true"}
    )
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'data-testid="confirm-delete"' in html and "<html" not in html
    assert reverse("swarm-service-delete", kwargs=sid) in html
    assert on_swarm.client.api.inspect_service(service["ID"])  # the confirm step changed nothing

    response = admin_client.post(reverse("swarm-service-delete", kwargs=sid))
    assert response.status_code == 302 and response["Location"] == reverse("swarm")
    with pytest.raises(docker.errors.NotFound):
        on_swarm.client.api.inspect_service(service["ID"])
    assert AuditEvent.objects.get(action="swarm.service.remove", target=service["ID"]).outcome == "ok"


def _nodes_running(client: docker.DockerClient, service_id: str) -> list[str]:
    return sorted(t["NodeID"] for t in _running(client, service_id))


def test_admin_drains_a_worker_so_its_tasks_move_then_activates_it(on_swarm, make_service, admin_client):
    service = make_service(replicas=4)
    manager, worker = on_swarm.info.node_id, on_swarm.worker_node_id
    assert worker in _nodes_running(on_swarm.client, service["ID"])  # spread over both nodes
    url = reverse("swarm-node-availability", kwargs={"node_id": worker})
    try:
        assert admin_client.post(url, {"availability": "drain"}).status_code == 302
        assert on_swarm.client.api.inspect_node(worker)["Spec"]["Availability"] == "drain"
        wait_for(
            lambda: _nodes_running(on_swarm.client, service["ID"]) == [manager] * 4,
            timeout=60,
            message="the worker's tasks to move to the manager",
        )
        page = admin_client.get(reverse("swarm")).content.decode()
        worker_row = re.search(rf'data-node-id="{worker}".*?</tr>', page, re.DOTALL).group(0)
        assert 'data-testid="availability">drain<' in worker_row and ">worker<" in worker_row
        assert ">Activate<" in worker_row

        bad = admin_client.post(url, {"availability": "sleep"}, follow=True)
        assert "Availability is one of" in _messages(bad)

        assert admin_client.post(url, {"availability": "active"}).status_code == 302
        assert on_swarm.client.api.inspect_node(worker)["Spec"]["Availability"] == "active"
    finally:
        node = on_swarm.client.api.inspect_node(worker)
        if node["Spec"]["Availability"] != "active":
            on_swarm.client.api.update_node(
                worker, node["Version"]["Index"], {**node["Spec"], "Availability": "active"}
            )
    outcomes = list(
        AuditEvent.objects.filter(action="swarm.node.availability", target=worker)
        .order_by("id")
        .values_list("parameters", "outcome")
    )
    assert outcomes == [
        ({"availability": "drain"}, "ok"),
        ({"availability": "sleep"}, "failed"),
        ({"availability": "active"}, "ok"),
    ]


def test_worker_engine_gets_a_page_saying_it_is_not_a_manager(swarm_engine, viewer_client, settings):
    from core.engine import forget_client

    settings.DOCKER_HOST = swarm_engine.worker.url
    try:
        html = viewer_client.get(reverse("swarm")).content.decode()
    finally:
        forget_client(swarm_engine.worker.url)
    assert "This engine is a Swarm worker, not a manager" in html


def test_links_are_reversed_so_they_keep_the_endpoint_prefix():
    source = Path(__file__).resolve().parent.parent / "templates" / "swarm"
    for template in source.glob("*.html"):
        text = template.read_text()
        assert not re.search(r'(href|action|hx-get|hx-post)="/swarm', text), template.name


def test_swarm_under_an_endpoint_prefix_keeps_the_prefix_and_acts_on_that_engine(
    swarm_engine, make_service, operator_client
):
    from core.engine import forget_client
    from core.models import Endpoint

    slug = unique("sw").replace(RUN_ID + "-", "")
    Endpoint.objects.create(name=f"Swarm {slug}", slug=slug, url=swarm_engine.url)
    service = make_service(replicas=1)
    prefix, sid = f"/e/{slug}", service["ID"]
    try:
        page = operator_client.get(f"{prefix}/swarm/").content.decode()
        assert service["Spec"]["Name"] in page
        assert f'href="{prefix}/swarm/services/{sid}/"' in page
        detail = operator_client.get(f"{prefix}/swarm/services/{sid}/").content.decode()
        assert f'action="{prefix}/swarm/services/{sid}/scale/"' in detail
        assert f'href="{prefix}/swarm/services/{sid}/logs/"' in detail
        response = operator_client.post(f"{prefix}/swarm/services/{sid}/scale/", {"replicas": "2"})
        assert response.status_code == 302 and response["Location"] == f"{prefix}/swarm/services/{sid}/"
        assert swarm_engine.client.api.inspect_service(sid)["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
        assert AuditEvent.objects.get(action="swarm.service.scale", target=sid).endpoint == slug
        # The plain routes still mean the default engine, which is not a swarm manager.
        assert "not a Swarm manager" in operator_client.get("/swarm/").content.decode()
    finally:
        forget_client(swarm_engine.url)


# --------------------------------------------------------------------------- browser


def _browser_login(page, live: LiveServer, role: str) -> None:
    username, password = live.users[role]
    page.goto(f"{live.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_browser_rolling_update_shows_live_progress_then_the_new_tasks(live_swarm, make_service, page):
    service = make_service(replicas=2)
    _browser_login(page, live_swarm, "admin")
    page.goto(f"{live_swarm.url}{reverse('swarm')}")
    page.wait_for_selector(f'[data-service-id="{service["ID"]}"]')
    screenshot(page, "swarm-overview")

    page.goto(f"{live_swarm.url}{reverse('swarm-service', kwargs={'service_id': service['ID']})}")
    image_v2 = (
        service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0].rsplit(":", 1)[0] + ":v2"
    )
    page.fill("#update-image", image_v2)
    page.click("form.swarm-inline-form button.primary")
    page.wait_for_selector('#update-progress[data-update-state="updating"]')
    screenshot(page, "swarm-service-updating")
    # The fragment polls itself; when the update completes the page reloads with the new tasks.
    page.wait_for_selector('#update-progress[data-update-state="completed"]', timeout=90_000)
    page.wait_for_function(
        """image => {
          const rows = [...document.querySelectorAll('[data-testid=service-tasks] tbody tr:not(.dim)')];
          return rows.length === 2 && rows.every(row => row.textContent.includes(image));
        }""",
        arg=image_v2,
        timeout=30_000,
    )
    screenshot(page, "swarm-service-updated")

    page.click("text=Remove…")
    page.wait_for_selector("[data-testid=confirm-delete]")
    screenshot(page, "swarm-service-confirm-remove")
    page.click("[data-testid=confirm-delete] button.danger")
    page.wait_for_url(f"{live_swarm.url}{reverse('swarm')}")
    assert "Service removed." in page.inner_text("#messages")
    assert page.problems == []


def test_service_logs_follow_live_in_the_log_viewer(live_swarm, make_service):
    import json
    import time

    import websockets.sync.client

    marker = unique("live")
    service = make_service(
        replicas=1, command=["sh", "-c", f"echo {marker}-first; sleep 2; echo {marker}-later; sleep 300"]
    )
    cookie = live_swarm.session_cookie("viewer")
    page = requests.get(
        f"{live_swarm.url}/swarm/services/{service['ID']}/logs/live/",
        cookies={"sessionid": cookie},
        timeout=20,
    )
    assert page.status_code == 200
    assert f'data-ws="/ws/swarm/services/{service["ID"]}/logs/"' in page.text
    headers = {"Cookie": f"sessionid={cookie}", "Origin": live_swarm.url}
    texts: list[str] = []
    deadline = time.monotonic() + 40
    with websockets.sync.client.connect(
        f"{live_swarm.ws_url}/ws/swarm/services/{service['ID']}/logs/?tail=all&follow=1",
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        while not any(f"{marker}-later" in text for text in texts):
            frame = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            assert frame["type"] in ("lines", "notice"), frame
            texts += [line["text"] for line in frame.get("lines", [])]
    assert any(f"{marker}-first" in text for text in texts)  # the backlog, then the live line
