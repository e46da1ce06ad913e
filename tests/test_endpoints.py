"""Many Docker hosts: endpoints, the `/e/<slug>/` routes, per-endpoint role limits, bounded health."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from core.endpoints import HEALTH_TIMEOUT, health_of_all
from core.engine import EndpointRef, Engine, forget_client
from core.engine.streams import _plain_address
from core.errors import NotFound
from core.models import AuditEvent, Endpoint, EndpointAccess
from tests.engines_support import add_tls_endpoint, import_busybox, tls_client, write_client_files
from tests.support import UnixSocketProxy, finished_job, unique


@pytest.fixture
def proxied_endpoint(db, engine, tmp_path_factory):
    """A second endpoint reaching the real engine through a unix-socket proxy the test can stop."""
    proxy = UnixSocketProxy("/var/run/docker.sock", str(tmp_path_factory.mktemp("ep") / "docker.sock"))
    proxy.start()
    endpoint = Endpoint.objects.create(name="Staging", slug="staging", url=proxy.url)
    yield endpoint, proxy
    proxy.stop()
    from core.engine import forget_client

    forget_client(proxy.url)


@pytest.fixture
def hung_tcp_server():
    """A TCP port that accepts connections and never answers (a hung Docker host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


def test_the_local_engine_is_the_default_endpoint_created_automatically(viewer_client, engine):
    response = viewer_client.get("/endpoints/")
    assert response.status_code == 200
    default = Endpoint.objects.get(is_default=True)
    assert default.slug == "local"
    body = response.content.decode()
    assert 'data-endpoint="local"' in body and 'data-engine-status="up"' in body
    assert engine.version()["Version"] in body


def test_prefixed_routes_address_another_endpoint_and_links_keep_the_prefix(admin_client, proxied_endpoint):
    _, proxy = proxied_endpoint
    response = admin_client.get("/e/staging/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/e/staging/containers/"' in body and 'href="/e/staging/images/"' in body
    assert proxy.url in body  # the footer names the engine this page talks to
    proxy.stop()
    down = admin_client.get("/e/staging/")
    assert down.status_code == 503 and proxy.url in down.content.decode()
    assert admin_client.get("/").status_code == 200  # the default endpoint is unaffected
    proxy.start()
    assert admin_client.get("/e/staging/").status_code == 200


def test_unknown_endpoint_slug_is_a_404_page(viewer_client):
    response = viewer_client.get("/e/no-such-endpoint/")
    assert response.status_code == 404
    assert b"no endpoint named" in response.content


def test_the_default_endpoint_under_a_prefix_redirects_to_the_plain_route(viewer_client, engine):
    Endpoint.objects.default()
    response = viewer_client.get("/e/local/endpoints/")
    assert response.status_code == 302 and response["Location"] == "/endpoints/"


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("get", "/e/local/%2F%2Fevil.example/", "/evil.example/"),
        ("get", "/e/local//evil.example/", "/evil.example/"),
        ("get", "/e/local/%5Cevil.example/", "/evil.example/"),
        ("post", "/e/local//evil.example/x", "/evil.example/x"),
    ],
)
def test_the_default_endpoints_redirect_stays_on_this_site(db, client, method, path, location):
    """Before any login: "//host/" in a Location is another site to a browser (a review found it)."""
    Endpoint.objects.default()
    response = getattr(client, method)(path)
    assert response.status_code in (302, 308)
    assert response["Location"] == location


def test_a_post_under_the_default_endpoints_prefix_is_sent_on_as_a_post(operator_client, engine):
    """A 302 turned the form's POST into a GET of the plain route: nothing was made (an audit)."""
    Endpoint.objects.default()
    name = unique("moved")
    response = operator_client.post("/e/local/volumes/new/", {"name": name, "driver": "local"})
    assert response.status_code == 308 and response["Location"] == "/volumes/new/"
    try:
        response = operator_client.post(response["Location"], {"name": name, "driver": "local"})
        assert response.status_code == 302
        assert engine.api.inspect_volume(name)["Name"] == name
    finally:
        for volume in engine.api.volumes(filters={"name": name})["Volumes"] or []:
            engine.api.remove_volume(volume["Name"])


def test_a_role_limit_caps_the_role_on_that_endpoint_only(admin_client, proxied_endpoint):
    endpoint, _ = proxied_endpoint
    response = admin_client.post(
        "/endpoints/staging/access/", {"username": admin_client.user.username, "role": "viewer"}
    )
    assert response.status_code == 302
    assert EndpointAccess.objects.get(user=admin_client.user, endpoint=endpoint).role == "viewer"
    assert admin_client.get("/endpoints/new/").status_code == 200
    refused = admin_client.post("/e/staging/endpoints/new/", {"name": "x", "slug": "x", "url": "unix:///x"})
    assert refused.status_code == 403
    assert not Endpoint.objects.filter(slug="x").exists()
    denied = AuditEvent.objects.filter(outcome="denied").first()
    assert denied is not None and denied.username == admin_client.user.username
    assert admin_client.get("/e/staging/").status_code == 200  # still a viewer there


def test_endpoint_form_refuses_open_tcp_and_unknown_schemes(admin_client, db):
    open_tcp = admin_client.post(
        "/endpoints/new/", {"name": "prod", "slug": "prod", "url": "tcp://127.0.0.1:2375"}
    )
    assert open_tcp.status_code == 400
    assert "needs TLS with a client certificate" in open_tcp.content.decode()
    http = admin_client.post("/endpoints/new/", {"name": "web", "slug": "web", "url": "http://127.0.0.1"})
    assert http.status_code == 400
    assert not Endpoint.objects.filter(slug__in=["prod", "web"]).exists()
    assert AuditEvent.objects.filter(action="endpoint.create", outcome="failed").count() == 2


def test_admin_adds_and_removes_an_endpoint_in_two_steps(admin_client, db, tmp_path):
    created = admin_client.post(
        "/endpoints/new/", {"name": "Spare", "slug": "spare", "url": f"unix://{tmp_path}/docker.sock"}
    )
    assert created.status_code == 302
    assert admin_client.get("/endpoints/spare/delete/").status_code == 200
    assert Endpoint.objects.filter(slug="spare").exists()  # GET only asks
    assert admin_client.post("/endpoints/spare/delete/").status_code == 302
    assert not Endpoint.objects.filter(slug="spare").exists()
    actions = list(AuditEvent.objects.filter(target="spare").values_list("action", "outcome"))
    assert ("endpoint.create", "ok") in actions and ("endpoint.delete", "ok") in actions


def test_operators_cannot_manage_endpoints(operator_client, db):
    response = operator_client.post("/endpoints/new/", {"name": "x", "slug": "x", "url": "unix:///x"})
    assert response.status_code == 403
    assert not Endpoint.objects.filter(slug="x").exists()


def test_health_of_all_is_concurrent_and_bounded_by_the_timeout(db, engine, hung_tcp_server, tmp_path):
    default = Endpoint.objects.default()
    hung = Endpoint(name="hung", slug="hung", url=hung_tcp_server)
    dead = Endpoint(name="dead", slug="dead", url=f"unix://{tmp_path}/gone.sock")
    started = time.monotonic()
    results = dict((endpoint.slug, health) for endpoint, health in health_of_all([default, hung, dead]))
    elapsed = time.monotonic() - started
    assert results["local"].reachable and results["local"].version == engine.version()["Version"]
    assert not results["hung"].reachable and not results["dead"].reachable
    assert "not answering" in results["dead"].error
    assert elapsed < HEALTH_TIMEOUT + 1.5, elapsed  # one timeout, not the sum


def test_overview_shows_every_endpoint_side_by_side(viewer_client, proxied_endpoint, tmp_path):
    Endpoint.objects.create(name="Gone", slug="gone", url=f"unix://{tmp_path}/gone.sock")
    body = viewer_client.get("/").content.decode()
    cards = body.split('data-testid="endpoint-cards"', 1)[1]
    for slug in ("local", "staging", "gone"):
        assert f'data-endpoint="{slug}"' in cards
    assert cards.count('data-engine-status="up"') == 2 and cards.count('data-engine-status="down"') == 1


def test_websockets_under_an_endpoint_prefix_talk_to_that_endpoint(live, tmp_path):
    import json

    import websockets.sync.client

    from tests.support import live_post, unique

    slug = unique("ws").replace("_", "-")[-40:]
    status, _ = live_post(
        live,
        "admin",
        "/endpoints/new/",
        {"name": slug, "slug": slug, "url": f"unix://{tmp_path}/nothing.sock"},
    )
    assert status == 200  # redirected to the list
    cookie = live.session_cookie("viewer")
    headers = {"Cookie": f"sessionid={cookie}", "Origin": live.url}
    with websockets.sync.client.connect(
        f"{live.ws_url}/e/{slug}/ws/overview/", additional_headers=headers, open_timeout=10
    ) as ws:
        frame = json.loads(ws.recv(timeout=15))
    assert frame["type"] == "status" and frame["engine"] == "down"
    assert f"unix://{tmp_path}/nothing.sock" in frame["message"]
    with websockets.sync.client.connect(
        f"{live.ws_url}/ws/overview/", additional_headers=headers, open_timeout=10
    ) as ws:
        assert json.loads(ws.recv(timeout=15))["engine"] == "up"


def test_a_tls_endpoint_is_reached_with_its_client_certificate(admin_client, db, tls_daemon):
    tls = tls_daemon
    assert add_tls_endpoint(admin_client, tls) == 302
    endpoint = Endpoint.objects.get(slug="secure")
    assert endpoint.tls_key.strip() == tls.key_pem.strip()
    assert "PRIVATE KEY" not in endpoint.tls_key_encrypted  # encrypted at rest
    page = admin_client.get("/e/secure/")
    assert page.status_code == 200
    assert tls.url in page.content.decode()
    listing = admin_client.get("/endpoints/").content.decode()
    row = listing.split('data-endpoint="secure"', 1)[1].split("</tr>", 1)[0]
    assert 'data-engine-status="up"' in row


def test_overview_loads_with_a_tls_endpoint_leave_no_key_files_behind(
    admin_client, db, tls_daemon, tmp_path, monkeypatch
):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # only this test's TLS dirs are counted
    from core.engine import forget_client

    forget_client(tls_daemon.url)
    assert add_tls_endpoint(admin_client, tls_daemon) == 302
    for _ in range(50):
        page = admin_client.get("/")
        assert page.status_code == 200
    cards = page.content.decode().split('data-endpoint="secure"', 1)[1].split("</article>", 1)[0]
    assert 'data-engine-status="up"' in cards, "the probe reached it through the cached client"
    assert len(list(tmp_path.glob("dashboard-tls-*"))) == 1, "one cached client, one directory"
    assert admin_client.post("/endpoints/secure/delete/").status_code == 302
    assert list(tmp_path.glob("dashboard-tls-*")) == [], "deleting the endpoint removes its key files"


@pytest.fixture(scope="module")
def second_engine():
    """A real second dockerd (own socket and data-root) with the busybox image and one container."""
    from tests.engines_support import EngineStartError, extra_engine, import_busybox
    from tests.support import RUN_ID, TEST_LABEL, unique

    try:
        context = extra_engine()
        extra = context.__enter__()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        client = extra.client()
        image = import_busybox(client)
        name = unique("on-second")
        container = client.api.create_container(
            image,
            command=["sh", "-c", "echo hello-from-the-second-engine; sleep 300"],
            name=name,
            labels={TEST_LABEL: RUN_ID},
            host_config=client.api.create_host_config(network_mode="none"),
        )
        client.api.start(container["Id"])
        yield extra, client, name, container["Id"]
    finally:
        from core.engine import forget_client

        forget_client(extra.url)
        context.__exit__(None, None, None)


@pytest.mark.django_db(transaction=True)  # a stop is a job: rows written from its thread
def test_pages_and_actions_under_a_prefix_act_on_that_engine(admin_client, engine, second_engine):
    extra, client, name, container_id = second_engine
    Endpoint.objects.create(name="Second", slug="second", url=extra.url)
    listing = admin_client.get("/e/second/containers/").content.decode()
    assert name in listing and f'href="/e/second/containers/{container_id[:12]}/"' in listing
    assert name not in admin_client.get("/containers/").content.decode()  # not on the main engine
    assert admin_client.get(f"/e/second/containers/{container_id[:12]}/").status_code == 200
    assert admin_client.get(f"/containers/{container_id[:12]}/").status_code == 404
    stopped = admin_client.post(f"/e/second/containers/{container_id[:12]}/stop/", {"timeout": "1"})
    assert stopped.status_code == 302 and stopped["Location"].startswith("/e/second/jobs/")
    assert finished_job(stopped).status == "success"
    assert client.api.inspect_container(container_id)["State"]["Running"] is False
    client.api.start(container_id)


def test_a_log_stream_under_a_prefix_reads_that_engine(live, second_engine):
    import json

    import websockets.sync.client

    from tests.support import live_post

    extra, _, _, container_id = second_engine
    slug = f"second-{container_id[:6]}"
    status, _ = live_post(live, "admin", "/endpoints/new/", {"name": slug, "slug": slug, "url": extra.url})
    assert status == 200
    headers = {"Cookie": f"sessionid={live.session_cookie('viewer')}", "Origin": live.url}
    path = f"/e/{slug}/ws/containers/{container_id}/logs/?follow=0&tail=all"
    texts = []
    with websockets.sync.client.connect(
        f"{live.ws_url}{path}", additional_headers=headers, open_timeout=10
    ) as ws:
        while True:
            frame = json.loads(ws.recv(timeout=20))
            if frame["type"] == "lines":
                texts += [line["text"] for line in frame["lines"]]
            elif frame["type"] in ("end", "error"):
                break
    assert "hello-from-the-second-engine" in texts, (frame, texts)


# --------------------------------------------------------------------------- audit under /e/<slug>/


def test_a_page_action_under_a_prefix_is_audited_with_that_endpoint(admin_client, second_engine):
    extra, client, _, container_id = second_engine
    Endpoint.objects.create(name="Second", slug="second", url=extra.url)
    paused = admin_client.post(f"/e/second/containers/{container_id[:12]}/pause/")
    client.api.unpause(container_id)
    assert paused.status_code == 302
    event = AuditEvent.objects.get(action="container.pause")
    assert event.endpoint == "second"


@pytest.mark.django_db(transaction=True)  # bulk actions are jobs: rows written from their thread
def test_a_bulk_action_under_a_prefix_is_audited_with_that_endpoint(admin_client, second_engine):
    extra, _, _, container_id = second_engine
    Endpoint.objects.create(name="Second", slug="second", url=extra.url)
    response = admin_client.post("/e/second/containers/bulk/", {"action": "start", "ids": [container_id]})
    assert response["Location"].startswith("/e/second/jobs/")
    finished_job(response)
    event = AuditEvent.objects.get(action="container.start", parameters__bulk=True)
    assert event.endpoint == "second"


@pytest.mark.django_db(transaction=True)
def test_a_websocket_session_under_a_prefix_is_audited_with_that_endpoint(user_factory, second_engine):
    from asgiref.sync import async_to_sync
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from core.endpoints import EndpointWebsocketMiddleware
    from core.routing import websocket_urlpatterns

    extra, _, _, container_id = second_engine
    Endpoint.objects.create(name="Second", slug="second", url=extra.url)
    operator = user_factory("operator")
    app = EndpointWebsocketMiddleware(URLRouter(websocket_urlpatterns))

    async def session() -> list[str]:
        path = f"/e/second/ws/containers/{container_id}/exec/?cmd=true"
        communicator = WebsocketCommunicator(app, path)
        communicator.scope.update({"user": operator, "session": None, "client": ("127.0.0.1", 1)})
        connected, _ = await communicator.connect(timeout=20)
        kinds = []
        if connected:
            while "exit" not in kinds and "error" not in kinds:
                output = await communicator.receive_output(timeout=20)
                if output.get("type") == "websocket.close":
                    break
                if output.get("text"):
                    import json

                    kinds.append(json.loads(output["text"]).get("type", ""))
            await communicator.disconnect()
        return kinds

    async_to_sync(session)()
    event = AuditEvent.objects.filter(action="container.exec", outcome=AuditEvent.Outcome.OK).get()
    assert event.endpoint == "second"


# --------------------------------------------------------------------------- log reading per transport

# Pauses between the writes: stdout and stderr are logged by the engine in their arrival order.
LOG_SCRIPT = (
    "echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; "
    "printf 'part'; sleep 0.2; echo ial; printf 'no newline'"
)


def _log_lines(ref, container_id: str) -> tuple[list[tuple[str, str]], str]:
    log = Engine(ref).streams.open_logs(container_id, tail="all", follow=False)
    try:
        lines = [(line["stream"], line["text"]) for batch in log.batches() for line in batch]
    finally:
        log.close()
    return lines, log.last_ts


def _wait_exited(api, container_id: str) -> None:
    deadline = time.monotonic() + 30
    while api.inspect_container(container_id)["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def tcp_to_the_engine():
    """``tcp://127.0.0.1:<port>`` forwarding every connection to the real engine's unix socket."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    open_sockets: list[socket.socket] = [server]

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def accept() -> None:
        while True:
            try:
                client = server.accept()[0]
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect("/var/run/docker.sock")
            open_sockets.extend([client, upstream])
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    yield url
    forget_client(url)
    for sock in open_sockets:
        sock.close()


def test_a_log_reads_the_same_over_plain_tcp_as_over_the_unix_socket(
    engine, make_container, tcp_to_the_engine
):

    container = make_container(command=["sh", "-c", LOG_SCRIPT])
    _wait_exited(engine.api, container["Id"])
    over_unix = EndpointRef(slug="unix", name="unix", url="unix:///var/run/docker.sock")
    over_tcp = EndpointRef(slug="tcp", name="tcp", url=tcp_to_the_engine)
    lines, last_ts = _log_lines(over_tcp, container["Id"])
    assert lines == [
        ("stdout", "out-1"),
        ("stderr", "err-1"),
        ("stdout", "partial"),
        ("stdout", "no newline"),
    ]
    assert (lines, last_ts) == _log_lines(over_unix, container["Id"])
    assert _plain_address(Engine(over_tcp).api)[0] == "tcp", "read with the raw HTTP/1.0 request"
    with pytest.raises(NotFound):
        _log_lines(over_tcp, "no-such-container-at-all")


def test_a_log_over_a_tls_endpoint_is_read_through_docker_py(tls_daemon, tmp_path):

    tls = tls_daemon
    client = tls_client(tls.url, write_client_files(tmp_path / "client", tls))
    try:
        image = import_busybox(client)
        container = client.api.create_container(image, command=["sh", "-c", LOG_SCRIPT])
        client.api.start(container["Id"])
        _wait_exited(client.api, container["Id"])
        ref = EndpointRef(
            slug="secure",
            name="secure",
            url=tls.url,
            tls_ca=tls.ca_pem,
            tls_cert=tls.cert_pem,
            tls_key=tls.key_pem,
        )
        lines, last_ts = _log_lines(ref, container["Id"])
        assert lines == [
            ("stdout", "out-1"),
            ("stderr", "err-1"),
            ("stdout", "partial"),
            ("stdout", "no newline"),
        ]
        assert last_ts
        assert _plain_address(Engine(ref).api) is None, "TLS stays on docker-py's connection"
        with pytest.raises(NotFound):
            _log_lines(ref, "no-such-container-at-all")
        client.api.remove_container(container["Id"], force=True)
    finally:
        client.close()
