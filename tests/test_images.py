"""Images: list, detail, tag/untag, delete, pull/push through the real registry, save/load, import,
build, prune, and the faults (bad input, unknown ids, images in use or gone, engine down)."""

from __future__ import annotations

import re

import docker
import pytest
import requests

from core.engine import jobs
from core.models import AuditEvent, Registry
from tests.images_support import has_image, make_image, tiny_rootfs, wait_job
from tests.support import RUN_ID, TEST_LABEL, unique

__all__ = ["make_image"]  # the fixture, imported for pytest


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _tags(engine, image_id: str) -> list[str]:
    return engine.api.inspect_image(image_id).get("RepoTags") or []


def _messages(response) -> str:
    return " ".join(m.message for m in response.context["messages"]) if response.context else ""


def _page(response) -> str:
    """The page's HTML: refusals and form errors are shown on the page (once), not as messages."""
    return response.content.decode()


# --------------------------------------------------------------------------- list and detail


def test_list_shows_one_row_per_tag_and_untagged_as_none(viewer_client, make_image):
    image = make_image(tags=("one", "two"))
    dangling = make_image(dangling=True)
    response = viewer_client.get("/images/", {"q": RUN_ID})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(f'data-id="{image["id"]}"') == 2
    assert ">one</td>" in html and ">two</td>" in html
    all_rows = viewer_client.get("/images/", {"show": "dangling"}).content.decode()
    assert f'data-id="{dangling["id"]}"' in all_rows
    assert f'data-id="{image["id"]}"' not in all_rows


def test_list_filter_and_sort_for_htmx_return_only_the_rows(viewer_client, make_image, make_container):
    used = make_image()
    unused = make_image()
    make_container(image=used["ref"], command="true", start=False)
    response = viewer_client.get(
        "/images/",
        {"q": RUN_ID, "show": "in-use", "sort": "size"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "<html" not in html and "<tr" in html
    assert f'data-id="{used["id"]}"' in html
    assert f'data-id="{unused["id"]}"' not in html


@pytest.mark.parametrize(
    "query", ["sort=__class__", "dir=sideways", "page=abc", "page=-1", "per_page=7", "per_page=99999"]
)
def test_list_bad_paging_values_fall_back_to_defaults(viewer_client, make_image, query):
    image = make_image()
    response = viewer_client.get(f"/images/?q={RUN_ID}&{query}")
    assert response.status_code == 200
    assert f'data-id="{image["id"]}"' in response.content.decode()


def test_list_page_past_the_end_shows_the_last_page(viewer_client, make_image):
    image = make_image()
    html = viewer_client.get("/images/", {"q": image["id"][7:19], "page": 999}).content.decode()
    assert f'data-id="{image["id"]}"' in html


def test_detail_by_unique_prefix_shows_summary_history_and_inspect(viewer_client, make_image):
    image = make_image(labels={"purpose": "detail"})
    response = viewer_client.get(f"/images/{image['id'][7:17]}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert image["ref"] in html
    assert "purpose=detail" in html
    assert 'data-testid="history"' in html and 'id="inspect-json"' in html
    assert image["id"] in html
    assert "registry drift: filled by the registries feature" not in html  # a template comment


def test_unknown_id_is_a_404(viewer_client, engine):
    assert viewer_client.get("/images/0000000000000000dead/").status_code == 404


def test_prefix_matching_several_images_is_a_400_naming_it(viewer_client, engine, make_image):
    for _ in range(17):  # 17 ids over 16 hex digits: two share a first digit
        make_image()
    ids = [i.removeprefix("sha256:") for i in engine.api.images(all=True, quiet=True)]
    prefix = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    response = viewer_client.get(f"/images/{prefix}/")
    assert response.status_code == 400
    assert b"matches" in response.content


def test_labels_with_html_are_rendered_as_text(viewer_client, make_image):
    image = make_image(labels={"evil": "<script>alert(1)</script><img src=x onerror=alert(2)>"})
    html = viewer_client.get(f"/images/{_short(image['id'])}/").content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- tag and untag


def test_tag_adds_the_tag_and_is_audited(operator_client, engine, make_image):
    image = make_image()
    repository = f"{RUN_ID}-tagged/app"
    response = operator_client.post(
        f"/images/{_short(image['id'])}/tag/", {"repository": repository, "tag": "v1.2"}
    )
    assert response.status_code == 302
    assert f"{repository}:v1.2" in _tags(engine, image["id"])
    event = AuditEvent.objects.get(action="image.tag", target=image["id"])
    assert event.outcome == "ok" and event.parameters["tag"] == "v1.2"


@pytest.mark.parametrize(
    ("repository", "tag", "reason"),
    [
        ("UpperCase/app", "latest", "not a valid repository path"),
        ("app", "-bad", "not a valid tag"),
        ("app", "x" * 129, "not a valid tag"),
        ("bad host:5000/app", "latest", "not a valid registry host"),
        ("a//b", "latest", "not a valid repository path"),
        ("<script>x</script>", "latest", "not a valid repository path"),
    ],
)
def test_invalid_tag_input_returns_the_form_with_the_reason_and_changes_nothing(
    operator_client, engine, make_image, repository, tag, reason
):
    image = make_image()
    before = _tags(engine, image["id"])
    response = operator_client.post(
        f"/images/{_short(image['id'])}/tag/", {"repository": repository, "tag": tag}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert reason in html
    assert "<script>x</script>" not in html
    assert _tags(engine, image["id"]) == before


def test_viewer_cannot_tag_and_the_refusal_is_audited(viewer_client, engine, make_image):
    image = make_image()
    response = viewer_client.post(f"/images/{_short(image['id'])}/tag/", {"repository": "x", "tag": "y"})
    assert response.status_code == 403
    assert _tags(engine, image["id"]) == [image["ref"]]
    assert AuditEvent.objects.filter(action="image.tag", outcome="denied").exists()


def test_untag_removes_only_that_tag(operator_client, engine, make_image):
    image = make_image(tags=("keep", "drop"))
    response = operator_client.post("/images/untag/", {"reference": f"{image['repository']}:drop"})
    assert response.status_code == 302
    assert _tags(engine, image["id"]) == [f"{image['repository']}:keep"]


def test_untag_of_unknown_tag_is_a_404_message(operator_client, engine):
    response = operator_client.post("/images/untag/", {"reference": f"{RUN_ID}-none:nope"})
    assert response.status_code == 404
    assert "No image" in _page(response)
    assert AuditEvent.objects.filter(action="image.untag", outcome="failed").exists()


def test_untag_never_deletes_by_id(operator_client, engine, make_image):
    image = make_image()
    response = operator_client.post("/images/untag/", {"reference": image["id"]})
    assert response.status_code == 400
    assert has_image(engine, image["id"])


# --------------------------------------------------------------------------- delete


def test_delete_asks_first_then_deletes(admin_client, engine, make_image):
    image = make_image(tags=("a", "b"))
    confirm = admin_client.get(f"/images/{_short(image['id'])}/delete/")
    assert confirm.status_code == 200 and b'data-testid="confirm-delete"' in confirm.content
    assert has_image(engine, image["id"])  # the GET changed nothing
    response = admin_client.post(f"/images/{_short(image['id'])}/delete/")
    assert response.status_code == 302
    assert not has_image(engine, image["id"])
    assert AuditEvent.objects.filter(action="image.delete", target=image["id"], outcome="ok").exists()


def test_operator_cannot_delete(operator_client, engine, make_image):
    image = make_image()
    assert operator_client.post(f"/images/{_short(image['id'])}/delete/").status_code == 403
    assert has_image(engine, image["id"])


def test_delete_of_an_image_in_use_names_the_containers(admin_client, engine, make_image, make_container):
    image = make_image()
    container = make_container(image=image["ref"], command="true", start=False)
    response = admin_client.post(f"/images/{_short(image['id'])}/delete/")
    html = response.content.decode()
    assert response.status_code == 409
    assert f'href="/containers/{container["Id"][:12]}/"' in html
    assert container["Name"].lstrip("/") in _messages(response)
    assert has_image(engine, image["id"])


def test_force_delete_removes_an_image_only_stopped_containers_use(
    admin_client, engine, make_image, make_container
):
    image = make_image(tags=("a", "b"))
    make_container(image=image["ref"], command="true", start=False)
    confirm = admin_client.get(f"/images/{_short(image['id'])}/delete/").content.decode()
    assert 'name="force"' in confirm and "untags every reference" in confirm
    response = admin_client.post(f"/images/{_short(image['id'])}/delete/", {"force": "1"})
    assert response.status_code == 302
    assert not has_image(engine, image["id"])
    event = AuditEvent.objects.get(action="image.delete", target=image["id"])
    assert event.outcome == "ok" and event.parameters == {"force": True}


def test_delete_of_an_image_removed_a_moment_earlier_is_a_404(admin_client, engine, make_image):
    image = make_image()
    engine.api.remove_image(image["id"], force=True)
    response = admin_client.post(f"/images/{_short(image['id'])}/delete/")
    assert response.status_code == 404
    assert "no longer exists" in _page(response)


# --------------------------------------------------------------------------- registry: push and pull


@pytest.fixture
def linked_registry(registry_server, transactional_db) -> Registry:
    registry = Registry(
        name=unique("reg"),
        url=registry_server.url,
        username=registry_server.username,
        verify_tls=False,
        allow_private_addresses=True,  # the test registry listens on 127.0.0.1
    )
    registry.secret = registry_server.password
    registry.save()
    return registry


def _job_id(response) -> str:
    assert response.status_code == 302, response.content[:500]
    return re.search(r"/jobs/([0-9a-f]{32})/", response["Location"]).group(1)


@pytest.mark.django_db(transaction=True)
def test_push_to_the_registry_and_pull_back(
    role_client, engine, make_image, linked_registry, registry_server
):
    admin = role_client("admin")
    image = make_image()
    path = f"{RUN_ID}-pushed"
    job = wait_job(
        _job_id(
            admin.post(
                f"/images/{_short(image['id'])}/push/",
                {"reference": f"{path}:v1", "registry": linked_registry.pk},
            )
        )
    )
    assert job.status == jobs.SUCCESS, job.message
    tags = requests.get(
        f"{registry_server.url}/v2/{path}/tags/list",
        auth=(registry_server.username, registry_server.password),
        timeout=10,
    ).json()
    assert tags["tags"] == ["v1"]
    remote = f"{registry_server.host}/{path}:v1"
    engine.api.remove_image(image["id"], force=True)
    assert not has_image(engine, remote)
    pulled = wait_job(
        _job_id(
            role_client("operator").post(
                "/images/pull/", {"reference": f"{path}:v1", "registry": linked_registry.pk}
            )
        )
    )
    assert pulled.status == jobs.SUCCESS, pulled.message
    assert engine.api.inspect_image(remote)["Id"] == image["id"]
    assert any(layer["status"] == "Pull complete" for layer in pulled.layers.values())
    assert AuditEvent.objects.filter(action="image.pull", target=remote, outcome="ok").exists()
    assert AuditEvent.objects.filter(action="image.push", target=remote, outcome="ok").exists()


@pytest.mark.django_db(transaction=True)
def test_pull_of_a_reference_that_does_not_exist_ends_in_a_clear_error(role_client, engine, linked_registry):
    operator = role_client("operator")
    job = wait_job(
        _job_id(
            operator.post(
                "/images/pull/", {"reference": f"{RUN_ID}-missing:nope", "registry": linked_registry.pk}
            )
        )
    )
    assert job.status == jobs.ERROR
    assert "not found" in job.message.lower() or "unknown" in job.message.lower(), job.message
    assert not has_image(engine, f"{linked_registry.host}/{RUN_ID}-missing:nope")
    assert AuditEvent.objects.filter(action="image.pull", outcome="failed").exists()


def test_pull_with_an_invalid_reference_is_refused_before_any_job(operator_client):
    response = operator_client.post("/images/pull/", {"reference": "Not A Reference!"})
    assert response.status_code == 400
    assert "not a valid" in _page(response)


def test_push_credentials_only_go_to_their_own_registry(role_client, make_image, linked_registry):
    image = make_image()
    response = role_client("admin").post(
        f"/images/{_short(image['id'])}/push/",
        {"reference": f"elsewhere.example:5000/{RUN_ID}:v1", "registry": linked_registry.pk},
    )
    assert response.status_code == 400
    assert "only sent to their own registry" in _page(response)


# --------------------------------------------------------------------------- the progress socket


@pytest.mark.django_db(transaction=True)
def test_progress_socket_gives_late_joiners_the_state_then_layers_and_done(
    engine, make_image, linked_registry, registry_server, user_factory
):
    import threading

    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from core.consumers.progress import JobProgressConsumer
    from tests.support import default_endpoint_ref, default_engine

    docker, endpoint = default_engine(), default_endpoint_ref()
    image = make_image(payload=b"x" * 300_000)
    remote = f"{registry_server.host}/{RUN_ID}-progress:v1"
    auth = linked_registry.auth_config()
    list(docker.images.push_stream(image["id"], remote, auth_config=auth))
    engine.api.remove_image(image["id"], force=True)
    go = threading.Event()

    def work(docker, job):
        go.wait(30)
        yield from docker.images.pull_stream(remote, auth_config=auth)

    job = docker.jobs.start("pull", remote, work, required_role="operator")
    viewer = user_factory("operator")  # watching a pull needs the role that may start one

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(JobProgressConsumer.as_asgi(), f"/ws/images/jobs/{job.id}/")
        communicator.scope["user"] = viewer
        communicator.scope["endpoint"] = endpoint
        communicator.scope["url_route"] = {"kwargs": {"job_id": job.id}}
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        frames = [await communicator.receive_json_from(timeout=5)]
        go.set()
        while frames[-1]["type"] != "done":
            frames.append(await communicator.receive_json_from(timeout=60))
        await communicator.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert frames[0]["type"] == "state" and frames[0]["status"] == "running"
    assert frames[-1] == {
        "type": "done",
        "status": "success",
        "message": f"pull of {remote} finished.",
        "result": "",
    }
    layers = [layer for f in frames if f["type"] == "progress" for layer in f["layers"]]
    assert any(layer["status"] == "Pull complete" for layer in layers)
    assert engine.api.inspect_image(remote)["Id"] == image["id"]

    async def late() -> dict:
        communicator = WebsocketCommunicator(JobProgressConsumer.as_asgi(), f"/ws/images/jobs/{job.id}/")
        communicator.scope["user"] = viewer
        communicator.scope["endpoint"] = endpoint
        communicator.scope["url_route"] = {"kwargs": {"job_id": job.id}}
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        frame = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return frame

    state = async_to_sync(late)()
    assert state["type"] == "state" and state["status"] == "success"
    assert any(layer["status"] == "Pull complete" for layer in state["layers"])


@pytest.mark.django_db(transaction=True)
def test_progress_socket_refuses_a_user_without_a_role(user_factory):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from core.consumers.progress import JobProgressConsumer
    from tests.support import default_endpoint_ref, default_engine

    endpoint = default_endpoint_ref()
    job = default_engine().jobs.start(
        "pull", "nothing", lambda docker, job: iter(()), required_role="operator"
    )
    nobody = user_factory(None)

    async def scenario():
        communicator = WebsocketCommunicator(JobProgressConsumer.as_asgi(), f"/ws/images/jobs/{job.id}/")
        communicator.scope["user"] = nobody
        communicator.scope["endpoint"] = endpoint
        communicator.scope["url_route"] = {"kwargs": {"job_id": job.id}}
        connected, code = await communicator.connect(timeout=10)
        return connected, code

    assert async_to_sync(scenario)() == (False, 4403)


# --------------------------------------------------------------------------- save, load, import


def test_save_streams_a_tar_that_loads_back(live, engine, make_image, role_client, db):
    image = make_image(payload=b"saved" * 1000)
    session = requests.Session()
    session.cookies.set("sessionid", live.session_cookie("operator"))
    response = session.get(f"{live.url}/images/{_short(image['id'])}/save/", stream=True, timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-tar"
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", image["ref"])
    assert response.headers["Content-Disposition"] == f'attachment; filename="{safe_name}.tar"'
    archive = b"".join(response.iter_content(1 << 20))
    engine.api.remove_image(image["id"], force=True)
    operator = role_client("operator")
    from django.core.files.uploadedfile import SimpleUploadedFile

    loaded = operator.post("/images/load/", {"archive": SimpleUploadedFile("saved.tar", archive)})
    assert loaded.status_code == 200
    assert image["ref"] in loaded.content.decode()
    assert engine.api.inspect_image(image["ref"])["Id"] == image["id"]


def test_save_to_a_slow_client_keeps_server_memory_flat(live, engine, make_image):
    import os
    import time

    image = make_image(payload=os.urandom(48 * 1024 * 1024))
    session = requests.Session()
    session.cookies.set("sessionid", live.session_cookie("operator"))
    # A small save first: what the first save of a process costs once (imports, threads, allocator
    # arenas) is not what a slow reader makes daphne hold.
    warm = make_image(payload=b"warm-up")
    with session.get(f"{live.url}/images/{_short(warm['id'])}/save/", timeout=60) as response:
        assert response.status_code == 200 and len(response.content) > 1024
    before = peak = live.rss_bytes()
    received = 0
    with session.get(f"{live.url}/images/{_short(image['id'])}/save/", stream=True, timeout=60) as response:
        chunks = response.iter_content(1024 * 1024)
        received += len(next(chunks))
        # The client stops reading for a while: a server without back-pressure would now read the
        # whole 48 MB from the engine into its own memory; a bounded one holds what its buffers hold.
        for _ in range(30):
            time.sleep(0.05)
            peak = max(peak, live.rss_bytes())
        for chunk in chunks:
            received += len(chunk)
            peak = max(peak, live.rss_bytes())
            time.sleep(0.01)
    assert received > 48 * 1024 * 1024
    # Read-ahead (2 MiB) + what daphne may hold unsent (4 MiB), with the copies on the way and the
    # allocator's slack: 20-21 MB measured. With the back-pressure switched off: 64-66 MB.
    assert peak - before < 40 * 1024 * 1024, f"RSS grew {(peak - before) / 1e6:.1f} MB"


def test_load_of_a_file_that_is_not_a_tar_is_refused(operator_client, engine):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = set(engine.api.images(all=True, quiet=True))
    response = operator_client.post(
        "/images/load/", {"archive": SimpleUploadedFile("x.tar", b"this is not a tar archive" * 100)}
    )
    assert response.status_code == 400
    assert "not a tar" in _page(response)
    assert not set(engine.api.images(all=True, quiet=True)) - before


def test_import_of_a_rootfs_makes_the_tagged_image_with_its_message(operator_client, engine):
    from django.core.files.uploadedfile import SimpleUploadedFile

    repository = f"{RUN_ID}-imported"
    response = operator_client.post(
        "/images/import/",
        {
            "archive": SimpleUploadedFile("rootfs.tar", tiny_rootfs()),
            "repository": repository,
            "tag": "v3",
            "message": "imported by the test",
        },
    )
    assert response.status_code == 302
    history = engine.api.history(f"{repository}:v3")
    assert history[0]["Comment"] == "imported by the test"


def test_import_accepts_a_gzipped_rootfs(operator_client, engine):
    import gzip

    from django.core.files.uploadedfile import SimpleUploadedFile

    repository = f"{RUN_ID}-gz"
    response = operator_client.post(
        "/images/import/",
        {
            "archive": SimpleUploadedFile("rootfs.tar.gz", gzip.compress(tiny_rootfs())),
            "repository": repository,
        },
    )
    assert response.status_code == 302
    assert has_image(engine, f"{repository}:latest")


def test_import_of_an_empty_file_is_refused(operator_client, engine):
    from django.core.files.uploadedfile import SimpleUploadedFile

    repository = f"{RUN_ID}-empty"
    response = operator_client.post(
        "/images/import/",
        {"archive": SimpleUploadedFile("empty.tar", b""), "repository": repository, "tag": "x"},
    )
    assert response.status_code == 400
    assert "empty" in _page(response)
    assert not has_image(engine, f"{repository}:x")


# --------------------------------------------------------------------------- build


@pytest.mark.django_db(transaction=True)
def test_build_from_a_pasted_dockerfile_streams_the_log_and_tags_the_result(role_client, engine, base_image):
    tag = f"{RUN_ID}-built:v1"
    dockerfile = f'FROM {base_image}\nLABEL {TEST_LABEL}="{RUN_ID}"\nRUN echo built-by-test > /built\n'
    job = wait_job(
        _job_id(role_client("operator").post("/images/build/", {"dockerfile": dockerfile, "tag": tag}))
    )
    assert job.status == jobs.SUCCESS, job.message
    assert any("built-by-test" in line for line in job.lines)
    assert engine.api.inspect_image(tag)["Id"] == job.result


@pytest.mark.django_db(transaction=True)
def test_build_from_an_uploaded_gzipped_context_uses_its_files(role_client, engine, base_image):
    import gzip
    import io
    import tarfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    files = {
        "Dockerfile": f'FROM {base_image}\nLABEL {TEST_LABEL}="{RUN_ID}"\nCOPY hello.txt /hello.txt\n',
        "hello.txt": "hello from the context\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    context = SimpleUploadedFile("context.tar.gz", gzip.compress(buffer.getvalue()))
    tag = f"{RUN_ID}-ctx:v1"
    job = wait_job(_job_id(role_client("operator").post("/images/build/", {"context": context, "tag": tag})))
    assert job.status == jobs.SUCCESS, job.message
    history = " ".join(row["CreatedBy"] for row in engine.api.history(tag))
    assert "COPY file:" in history


@pytest.mark.django_db(transaction=True)
def test_build_error_ends_the_job_with_the_engine_message(role_client, engine, base_image):
    dockerfile = f"FROM {base_image}\nRUN exit 3\n"
    job = wait_job(_job_id(role_client("operator").post("/images/build/", {"dockerfile": dockerfile})))
    assert job.status == jobs.ERROR
    assert "returned a non-zero code: 3" in job.message


# --------------------------------------------------------------------------- prune


@pytest.mark.django_db(transaction=True)  # the prune is a job: rows written from its thread
def test_prune_previews_first_and_a_post_without_confirm_prunes_nothing(admin_client, engine, make_image):
    dangling = make_image(dangling=True)
    label = f"{TEST_LABEL}={RUN_ID}"
    preview = admin_client.get("/images/prune/", {"label": label})
    assert preview.status_code == 200 and _short(dangling["id"]) in preview.content.decode()
    assert "“Up to”: the sum of each image's size" in preview.content.decode()
    assert admin_client.post("/images/prune/", {"label": label}).status_code == 200
    assert has_image(engine, dangling["id"])
    started = admin_client.post("/images/prune/", {"label": label, "confirm": "1"})
    job = wait_job(_job_id(started))
    assert job.status == jobs.SUCCESS, job.message
    assert "the engine reports" in job.message
    rows = {row["id"]: row for row in job.snapshot()["layers"]}
    assert rows[_short(dangling["id"])]["status"] == "deleted"
    page = admin_client.get(started["Location"]).content.decode()
    assert "the bytes of the layers it actually deleted" in page
    assert 'href="/images/"' in page and "Back to the images" in page
    assert not has_image(engine, dangling["id"])
    assert AuditEvent.objects.filter(action="image.prune", target=label, outcome="ok").exists()


# --------------------------------------------------------------------------- the engine goes away


def test_engine_down_during_an_action_is_a_503_and_changes_nothing(
    operator_client, engine, make_image, engine_proxy
):
    image = make_image()
    assert operator_client.get("/images/").status_code == 200
    engine_proxy.stop()
    response = operator_client.post(f"/images/{_short(image['id'])}/tag/", {"repository": "x", "tag": "y"})
    assert response.status_code == 503
    assert operator_client.get("/images/").status_code == 503
    engine_proxy.start()
    assert _tags(engine, image["id"]) == [image["ref"]]
    assert operator_client.get("/images/").status_code == 200


@pytest.mark.django_db(transaction=True)  # the job thread writes its row on its own connection
def test_engine_down_during_a_pull_ends_the_job_in_error(operator_client, engine, engine_proxy):
    engine_proxy.stop()
    response = operator_client.post("/images/pull/", {"reference": f"127.0.0.1:9/{RUN_ID}-x:y"})
    job = wait_job(_job_id(response))
    assert job.status == jobs.ERROR and "not answering" in job.message
    engine_proxy.start()


def test_engine_module_refuses_a_bad_reference_before_calling_the_engine(engine, make_image):
    from core.errors import InvalidReference
    from tests.support import default_engine

    image = make_image()
    with pytest.raises(InvalidReference):
        default_engine().images.tag_image(image["id"], repository="App", tag="x")


def test_engine_module_leaves_the_image_untouched_on_a_bad_tag(engine, make_image):
    from core.errors import InvalidReference
    from tests.support import default_engine

    image = make_image()
    with pytest.raises(InvalidReference):
        default_engine().images.tag_image(image["id"], repository=f"{RUN_ID}-x", tag="-bad")
    assert _tags(engine, image["id"]) == [image["ref"]]


_ = docker
