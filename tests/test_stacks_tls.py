"""Compose stacks on a TLS endpoint: a second real dockerd on tcp://127.0.0.1 that requires a client
certificate (tests/engines_support.py), driven through the ``/e/<slug>/stacks/`` pages with the
compose CLI of the test stack (docker-compose v1 here).

The stack's containers live on that daemon only (its data-root is removed with it at the end); the
main engine is only looked at, to see that nothing landed there.
"""

from __future__ import annotations

import tempfile
import time

import docker
import pytest

from core.engine import for_endpoint, forget_client, jobs
from core.engine._client import EndpointRef
from core.engine.compose import PROJECT_LABEL, SERVICE_LABEL, Project, run
from core.errors import EngineRefused
from core.models import AuditEvent, Stack
from tests.engines_support import (
    TlsEngine,
    add_tls_endpoint,
    import_busybox,
    make_certificates,
    tls_client,
    write_client_files,
)
from tests.images_support import wait_job
from tests.support import unique, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # jobs write their rows from their own thread


@pytest.fixture(scope="module")
def tls_side(tls_daemon, base_image, tmp_path_factory):
    """A TLS client on the TLS daemon, with the test base image imported there under its own name
    (so a compose file naming it would also run on the main engine if the CLI went there)."""
    client = tls_client(tls_daemon.url, write_client_files(tmp_path_factory.mktemp("tlsclient"), tls_daemon))
    repository, tag = base_image.rsplit(":", 1)
    import_busybox(client, repository=repository, tag=tag)
    yield client
    client.close()


def _compose(base_image: str) -> str:
    return (
        "services:\n"
        "  web:\n"
        f"    image: {base_image}\n"
        "    command: sh -c 'echo tls ${GREETING}; sleep 300'\n"
        "  worker:\n"
        f"    image: {base_image}\n"
        "    command: sleep 301\n"
    )


# The variables a stack's .env cannot use to change where or how docker-compose v1 connects.
ENV = "GREETING=over-tls\nDOCKER_CERT_PATH=/nonexistent\nDOCKER_TLS_VERIFY=\nCOMPOSE_TLS_VERSION=TLSv1\n"


def _on(client: docker.DockerClient, name: str) -> dict[str, str]:
    """``{service: state}`` of the project's containers on ``client``'s engine."""
    found = client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={name}"})
    return {c["Labels"][SERVICE_LABEL]: c["State"] for c in found}


def _job(response) -> jobs.Job:
    assert response.status_code == 302, response.content.decode()[-2000:]
    return wait_job(response["Location"].rstrip("/").rsplit("/", 1)[-1], timeout=240)


def test_a_stack_deploys_stops_starts_and_goes_down_on_a_tls_endpoint_leaving_no_key_files(
    admin_client, engine, base_image, tls_daemon, tls_side, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # only this test's temp dirs are counted
    forget_client(tls_daemon.url)
    assert add_tls_endpoint(admin_client, tls_daemon) == 302
    name = unique("tlsstack")
    try:
        job = _job(
            admin_client.post(
                "/e/secure/stacks/new/",
                {"name": name, "compose": _compose(base_image), "env": ENV},
            )
        )
        assert job.status == jobs.SUCCESS, job.message + "\n" + "\n".join(job.lines)
        assert _on(tls_side, name) == {"web": "running", "worker": "running"}
        assert _on(engine, name) == {}, "nothing of the stack on the main engine"
        (web,) = tls_side.api.containers(
            filters={"label": [f"{PROJECT_LABEL}={name}", f"{SERVICE_LABEL}=web"]}
        )
        wait_for(
            lambda: b"tls over-tls" in tls_side.api.logs(web["Id"]), timeout=30, message="the .env value"
        )

        detail = admin_client.get(f"/e/secure/stacks/{name}/").content.decode()
        assert ">running<" in detail
        assert "worker" in detail

        assert _job(admin_client.post(f"/e/secure/stacks/{name}/stop/")).status == jobs.SUCCESS
        assert _on(tls_side, name) == {"web": "exited", "worker": "exited"}
        assert _job(admin_client.post(f"/e/secure/stacks/{name}/start/")).status == jobs.SUCCESS
        assert _on(tls_side, name) == {"web": "running", "worker": "running"}

        job = _job(admin_client.post(f"/e/secure/stacks/{name}/down/", {"volumes": "on"}))
        assert job.status == jobs.SUCCESS, job.message
        assert _on(tls_side, name) == {}
        assert Stack.objects.get(endpoint="secure", name=name).running_version is not None
        actions = list(
            AuditEvent.objects.filter(target=name, outcome="ok")
            .order_by("pk")
            .values_list("action", flat=True)
        )
        assert actions == ["stack.deploy", "stack.stop", "stack.start", "stack.down"]
    finally:
        for container in tls_side.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={name}"}):
            tls_side.api.remove_container(container["Id"], force=True)
    assert list(tmp_path.glob("dashboard-compose-*")) == [], "every CLI run removed its private dir"
    assert admin_client.post("/endpoints/secure/delete/").status_code == 302
    assert list(tmp_path.rglob("*.pem")) == [], "no TLS material left once the endpoint is gone"


def test_a_client_certificate_the_daemon_refuses_gives_a_clear_page_not_a_hang(
    admin_client, base_image, tls_daemon, tls_side
):
    stranger = make_certificates()  # a client certificate from a CA the daemon does not trust
    refused = TlsEngine(tls_daemon.url, tls_daemon.ca_pem, stranger["client_cert"], stranger["client_key"])
    assert add_tls_endpoint(admin_client, refused, slug="refused") == 302
    name = unique("tlsrefused")
    try:
        started = time.monotonic()
        page = admin_client.post(
            "/e/refused/stacks/new/", {"name": name, "compose": _compose(base_image), "env": ""}
        )
        elapsed = time.monotonic() - started
        body = page.content.decode()
        assert page.status_code == 503, body[-2000:]
        assert tls_daemon.url in body
        assert "did not accept the endpoint&#x27;s client certificate" in body
        assert elapsed < 30, elapsed
        assert not Stack.objects.filter(endpoint="refused", name=name).exists()
        assert _on(tls_side, name) == {}
    finally:
        admin_client.post("/endpoints/refused/delete/")
        forget_client(tls_daemon.url)


def test_the_compose_cli_with_a_refused_client_certificate_fails_fast_with_a_clear_message(
    base_image, tls_daemon, tls_side, tmp_path, monkeypatch
):
    # The pages ask the engine before any CLI run; a job that starts while the endpoint still
    # worked and then meets a refused certificate gets this message from the CLI run itself.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stranger = make_certificates()
    ref = EndpointRef(
        slug="refused",
        name="refused",
        url=tls_daemon.url,
        tls_ca=tls_daemon.ca_pem,
        tls_cert=stranger["client_cert"],
        tls_key=stranger["client_key"],
    )
    name = unique("tlscli")
    started = time.monotonic()
    with pytest.raises(EngineRefused) as refused:
        list(run(for_endpoint(ref), project=Project(name=name, compose=_compose(base_image)), command="up"))
    assert time.monotonic() - started < 60
    assert "did not accept the endpoint's client certificate" in refused.value.message
    assert "Traceback" not in refused.value.message
    assert _on(tls_side, name) == {}
    assert list(tmp_path.iterdir()) == [], "the run's private dir and key files are gone"
