"""Volumes on the real engine: used-by, create and policy, files, download, restore, delete, prune."""

from __future__ import annotations

import io
import tarfile

import docker
import pytest

from core.models import AuditEvent
from tests.support import RUN_ID, TEST_LABEL, finished_job, unique, wait_for
from tests.volumes_support import helpers_left, volume, with_volume

__all__ = ["volume"]  # a fixture


@pytest.fixture
def helper_image(settings, base_image):
    settings.VOLUME_HELPER_IMAGE = base_image
    return base_image


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile():
                out[member.name.lstrip("./")] = tar.extractfile(member).read()
    return out


def _body(response) -> bytes:
    """A streamed (async) download's bytes, collected the way the ASGI server would send them."""
    from tests.unit.aio import run

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return run(collect())


# --------------------------------------------------------------------------- list and detail


def test_list_shows_the_container_using_a_volume(viewer_client, engine, volume, make_container):
    name = volume()
    container = with_volume(engine, make_container, name, "touch /data/.ready")
    page = viewer_client.get(f"/volumes/?q={name}").content.decode()
    row = page[page.index(f'data-id="{name}"') :]
    assert container["Name"].lstrip("/") in row[: row.index("</tr>")]


def test_in_use_filter_separates_used_and_unused(viewer_client, engine, volume, make_container):
    used, unused = volume(), volume()
    with_volume(engine, make_container, used, "touch /data/.ready")
    in_use = viewer_client.get(f"/volumes/?q={RUN_ID}&in_use=1&per_page=200").content.decode()
    not_in_use = viewer_client.get(f"/volumes/?q={RUN_ID}&in_use=0&per_page=200").content.decode()
    assert f'data-id="{used}"' in in_use
    assert f'data-id="{unused}"' not in in_use
    assert f'data-id="{unused}"' in not_in_use


def test_sizes_arrive_in_a_separate_request(viewer_client, engine, volume, make_container):
    name = volume()
    with_volume(engine, make_container, name, "head -c 50000 /dev/zero > /data/blob && touch /data/.ready")
    page = viewer_client.get(f"/volumes/?q={name}").content.decode()
    assert 'data-testid="volume-sizes-loader"' in page
    sizes = viewer_client.get(f"/volumes/sizes/?names={name}").content.decode()
    assert f"[data-size-for='{name}']" in sizes
    assert 'data-size="50000"' in sizes or 'data-size="53248"' in sizes or "49" in sizes


def test_bad_list_parameters_fall_back_to_defaults(viewer_client):
    response = viewer_client.get("/volumes/?sort=nope&dir=sideways&page=-3&per_page=7&in_use=maybe")
    assert response.status_code == 200


def test_detail_of_a_missing_volume_is_404(viewer_client):
    assert viewer_client.get(f"/volumes/{RUN_ID}-no-such-volume/").status_code == 404


# --------------------------------------------------------------------------- create and policy


def test_operator_creates_a_volume_with_labels_and_it_is_audited(operator_client, engine):
    name = unique("vol")
    response = operator_client.post(
        "/volumes/new/", {"name": name, "driver": "local", "labels": f"{TEST_LABEL}={RUN_ID}\ntier=db"}
    )
    try:
        assert response.status_code == 302
        assert engine.api.inspect_volume(name)["Labels"]["tier"] == "db"
        assert AuditEvent.objects.filter(action="volume.create", target=name, outcome="ok").exists()
    finally:
        engine.api.remove_volume(name, force=True)


def test_operator_bind_option_volume_is_refused_and_nothing_is_created(operator_client, engine):
    name = unique("vol")
    response = operator_client.post(
        "/volumes/new/",
        {
            "name": name,
            "driver": "local",
            "driver_opts": "type=none\no=bind\ndevice=/etc",
            "labels": f"{TEST_LABEL}={RUN_ID}",
        },
    )
    assert response.status_code == 400
    assert "Only an admin" in response.content.decode()
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(name)
    assert AuditEvent.objects.filter(action="volume.create", outcome="denied").exists()


def test_admin_may_create_a_bind_option_volume(admin_client, engine, tmp_path):
    name = unique("vol")
    response = admin_client.post(
        "/volumes/new/",
        {
            "name": name,
            "driver_opts": f"type=none\no=bind\ndevice={tmp_path}",
            "labels": f"{TEST_LABEL}={RUN_ID}",
        },
    )
    try:
        assert response.status_code == 302
        assert engine.api.inspect_volume(name)["Options"]["device"] == str(tmp_path)
    finally:
        engine.api.remove_volume(name, force=True)


def test_invalid_name_is_a_form_error_with_the_input_kept(operator_client):
    response = operator_client.post("/volumes/new/", {"name": "../etc", "labels": "a=b"})
    body = response.content.decode()
    assert response.status_code == 400
    assert "is not a volume name" in body
    assert "a=b" in body


def test_an_existing_name_is_refused_not_silently_reused(operator_client, volume):
    name = volume()
    response = operator_client.post("/volumes/new/", {"name": name})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_viewer_cannot_create(viewer_client):
    assert viewer_client.post("/volumes/new/", {"name": unique("vol")}).status_code == 403


# --------------------------------------------------------------------------- files and download


def test_file_browser_lists_what_a_container_wrote(operator_client, engine, volume, make_container):
    name = volume()
    with_volume(
        engine,
        make_container,
        name,
        "mkdir -p /data/sub && echo hello > /data/sub/greeting.txt && touch /data/.ready",
    )
    root = operator_client.get(f"/volumes/{name}/files/").content.decode()
    assert 'data-id="sub"' in root
    sub = operator_client.get(f"/volumes/{name}/files/?path=/sub").content.decode()
    assert 'data-id="greeting.txt"' in sub
    assert helpers_left(engine) == []


@pytest.mark.parametrize("transport", ["raw HTTP/1.0", "docker-py (as over TLS or ssh)"])
def test_download_of_a_file_has_its_bytes(
    operator_client, engine, volume, make_container, monkeypatch, transport
):
    if transport.startswith("docker-py"):
        from core.engine import streams

        monkeypatch.setattr(streams, "_plain_address", lambda api: None)
    name = volume()
    with_volume(engine, make_container, name, "printf 'payload-123' > /data/f.bin && touch /data/.ready")
    response = operator_client.get(f"/volumes/{name}/download/?path=/f.bin")
    assert response.status_code == 200
    assert operator_client.get(f"/volumes/{name}/download/?path=/nothing-here").status_code == 404
    body = _body(response)
    assert _members(body)["f.bin"] == b"payload-123"
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper container to go")
    assert AuditEvent.objects.filter(action="volume.download", target=name).exists()


@pytest.mark.parametrize("path", ["/../etc", "../../", "/a/../../b"])
def test_paths_that_escape_are_refused_before_any_helper(operator_client, engine, volume, helper_image, path):
    name = volume()
    response = operator_client.get(f"/volumes/{name}/files/", {"path": path})
    assert response.status_code == 400
    assert helpers_left(engine) == []


def test_a_missing_folder_is_404(operator_client, volume, helper_image):
    name = volume()
    assert operator_client.get(f"/volumes/{name}/files/?path=/nope").status_code == 404


def test_viewer_cannot_read_files(viewer_client, volume):
    name = volume()
    assert viewer_client.get(f"/volumes/{name}/files/").status_code == 403
    assert viewer_client.get(f"/volumes/{name}/download/").status_code == 403


def test_the_dashboards_own_helper_image_is_made_when_needed(operator_client, engine, settings, volume):
    """No pull (an offline engine has no busybox): an image of one empty folder, made with docker
    import; a configured image that is not there falls back to it."""
    from core.engine.volumes import HELPER_IMAGE

    settings.VOLUME_HELPER_IMAGE = f"{RUN_ID}-no-such-image:latest"
    name = volume()
    if not helpers_left(engine):  # made again from nothing (it is the dashboard's own image)
        try:
            engine.api.remove_image(HELPER_IMAGE)
        except docker.errors.NotFound:
            pass
    response = operator_client.get(f"/volumes/{name}/files/")
    assert response.status_code == 200, response.content.decode()[:500]
    assert "This folder is empty" in response.content.decode()
    made = engine.api.inspect_image(HELPER_IMAGE)
    assert made["Config"]["Labels"] == {"org.dockerdashboard.helper": "image"}
    assert len(made["RootFS"]["Layers"]) == 1
    assert helpers_left(engine) == []


def test_the_helper_never_copies_its_image_into_an_empty_volume(
    operator_client, admin_client, engine, settings, volume, make_container, base_image
):
    """The engine copies an image's folder into an empty volume mounted over it: a helper from an
    image with files at /volume planted them into the volume it was only to read (a review)."""
    planter = make_container(command="true", start=False)
    engine.api.put_archive(planter["Id"], "/", _tar({"volume/planted.txt": b"from the image"}))
    image = engine.api.commit(planter["Id"], repository=f"{RUN_ID}-planted", tag="latest")["Id"]
    try:
        settings.VOLUME_HELPER_IMAGE = image
        name = volume()
        assert operator_client.get(f"/volumes/{name}/files/").status_code == 200
        response = operator_client.get(f"/volumes/{name}/download/")
        assert _members(_body(response)) == {}
        archive = io.BytesIO(_tar({"restored.txt": b"mine"}))
        archive.name = "backup.tar"
        assert admin_client.post(f"/volumes/{name}/restore/", {"archive": archive}).status_code == 302
        settings.VOLUME_HELPER_IMAGE = ""
        response = operator_client.get(f"/volumes/{name}/download/")
        assert _members(_body(response)) == {"restored.txt": b"mine"}
        wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")
    finally:
        engine.api.remove_image(image, force=True)


def _volume_with_links(engine, make_container, volume) -> str:
    name = volume()
    with_volume(
        engine,
        make_container,
        name,
        "mkdir -p /data/real && echo inside > /data/real/in.txt && ln -s / /data/link-root"
        " && ln -s ../../../../../etc /data/link-rel && ln -s real /data/link-in"
        " && printf 'payload' > /data/f.bin && touch /data/.ready",
    )
    return name


def test_a_link_loop_and_a_file_taken_for_a_folder_are_clear_messages_without_host_paths(
    operator_client, engine, volume, make_container
):
    name = _volume_with_links(engine, make_container, volume)
    engine.api.exec_start(engine.api.exec_create(_writer(engine, name), ["ln", "-s", "loop", "/data/loop"]))
    for url in (
        f"/volumes/{name}/download/?path=/loop",
        f"/volumes/{name}/download/?path=/f.bin/x",
        f"/volumes/{name}/files/?path=/f.bin/x",
        f"/volumes/{name}/files/?path=/loop/x",
    ):
        response = operator_client.get(url)
        page = response.content.decode()
        assert response.status_code in (400, 404), url
        assert "/var/lib/docker" not in page and "http+docker" not in page, url
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")


def _writer(engine, name: str) -> str:
    (writer,) = engine.api.containers(filters={"volume": name, "status": "running"})
    return writer["Id"]


def test_links_out_of_the_volume_are_not_followed(operator_client, engine, volume, make_container):
    """The engine follows a link in a path (within the helper's filesystem: an image's); an audit
    listed and downloaded the image's /etc/passwd through one."""
    name = _volume_with_links(engine, make_container, volume)
    for url in (
        f"/volumes/{name}/files/?path=/link-root",
        f"/volumes/{name}/files/?path=/link-root/etc",
        f"/volumes/{name}/download/?path=/link-root/etc/passwd",
        f"/volumes/{name}/download/?path=/link-rel/passwd",
    ):
        response = operator_client.get(url)
        assert response.status_code == 400, url
        assert "points outside the volume" in response.content.decode(), url
    # The link itself downloads as a link.
    response = operator_client.get(f"/volumes/{name}/download/?path=/link-root")
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(_body(response))) as tar:
        (member,) = tar.getmembers()
    assert member.issym() and member.linkname == "/"
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")


def test_names_a_page_cannot_ask_for_are_listed_without_links(
    operator_client, engine, volume, make_container
):
    """A name that is not UTF-8 made the files page a 500 (a review); one with a newline cannot be
    asked for (paths with control characters are refused)."""
    name = volume()
    with_volume(
        engine,
        make_container,
        name,
        "mkdir /data/$(printf 'bad\\377dir') && touch /data/$(printf 'bad\\376file') "
        "/data/\"$(printf 'new\\nline')\" /data/fine && touch /data/.ready",
    )
    response = operator_client.get(f"/volumes/{name}/files/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-id="bad\ufffddir"' in page and 'data-id="bad\ufffdfile"' in page
    assert page.count("in the folder's download") == 3
    assert f"/volumes/{name}/download/?path=/fine" in page
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")


def test_a_link_to_a_folder_of_the_same_volume_leads_there(operator_client, engine, volume, make_container):
    name = _volume_with_links(engine, make_container, volume)
    response = operator_client.get(f"/volumes/{name}/files/?path=/link-in")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/volumes/{name}/files/?path=%2Freal")
    page = operator_client.get(response["Location"]).content.decode()
    assert 'data-id="in.txt"' in page and "is a link to “/real” in this volume: that is what is shown" in page
    # Deeper, and a download through it (followed: it stays in the volume; what comes after is checked).
    response = operator_client.get(f"/volumes/{name}/files/?path=/link-in/deeper")
    assert response["Location"].endswith(f"/volumes/{name}/files/?path=%2Freal%2Fdeeper")
    response = operator_client.get(f"/volumes/{name}/download/?path=/link-in/in.txt")
    assert response.status_code == 200 and _members(_body(response)) == {"in.txt": b"inside\n"}
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")


def test_a_file_on_the_files_page_is_shown_as_a_file_with_its_download(
    operator_client, engine, volume, make_container
):
    """The engine's own answer named the host's overlay path (a 409 "not a directory")."""
    name = _volume_with_links(engine, make_container, volume)
    response = operator_client.get(f"/volumes/{name}/files/?path=/f.bin")
    page = response.content.decode()
    assert response.status_code == 200
    assert "This is a file (7\xa0bytes)" in page or "This is a file (7 bytes)" in page
    assert f"/volumes/{name}/download/?path=/f.bin" in page
    assert "/var/lib/docker" not in page
    wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper containers to go")


def test_a_helper_leaves_no_volume_behind_and_keeps_the_one_it_read(
    operator_client, engine, settings, volume, make_container, base_image
):
    """A helper made from an image with VOLUME lines gets anonymous volumes of its own: they go with
    it; the volume it mounts by name stays, even one the engine named (anonymous itself)."""
    declared = make_container(command="true", start=False)
    image = engine.api.commit(
        declared["Id"], repository=f"{RUN_ID}-declares", tag="latest", changes=["VOLUME /declared"]
    )["Id"]
    try:
        name = volume()
        user = make_container(
            command="true",
            start=False,
            image=image,
            host_config=engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}}),
        )
        settings.VOLUME_HELPER_IMAGE = image  # a helper from an image with VOLUME lines
        before = {v["Name"] for v in engine.api.volumes()["Volumes"] or []}
        assert operator_client.get(f"/volumes/{name}/files/").status_code == 200
        wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper container to go")
        after = {v["Name"] for v in engine.api.volumes()["Volumes"] or []}
        assert after == before
        # An anonymous volume (a 64-hex name) that nobody uses any more, read and kept.
        settings.VOLUME_HELPER_IMAGE = ""
        anonymous = make_container(command="true", start=False, volumes=["/anonymous"])
        engine.api.remove_container(anonymous["Id"])
        (orphan,) = {v["Name"] for v in engine.api.volumes()["Volumes"] or []} - after
        try:
            assert operator_client.get(f"/volumes/{orphan}/files/").status_code == 200
            wait_for(lambda: helpers_left(engine) == [], timeout=10, message="the helper container to go")
            assert engine.api.inspect_volume(orphan)["Name"] == orphan
        finally:
            engine.api.remove_volume(orphan)
        engine.api.remove_container(user["Id"], v=True)
    finally:
        engine.api.remove_image(image, force=True)


# --------------------------------------------------------------------------- restore


def test_restore_into_a_fresh_volume_is_read_by_a_container(
    admin_client, engine, volume, make_container, helper_image
):
    name = volume()
    archive = io.BytesIO(_tar({"restored/hello.txt": b"from the archive"}))
    archive.name = "backup.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": archive})
    assert response.status_code == 302
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "ro"}})
    reader = make_container(command=["cat", "/data/restored/hello.txt"], host_config=host_config)
    wait_for(lambda: engine.api.inspect_container(reader["Id"])["State"]["Status"] == "exited", timeout=20)
    assert engine.api.logs(reader["Id"]) == b"from the archive"


def test_restore_of_a_non_tar_changes_nothing(admin_client, engine, volume, helper_image):
    name = volume()
    junk = io.BytesIO(b"this is not a tar archive at all" * 100)
    junk.name = "junk.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": junk})
    assert response.status_code == 400
    assert "not a tar archive" in response.content.decode()
    assert helpers_left(engine) == []


def test_restore_refuses_absolute_and_dotdot_members(admin_client, volume, helper_image):
    name = volume()
    archive = io.BytesIO(_tar({"../escape.txt": b"x"}))
    archive.name = "evil.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": archive})
    assert response.status_code == 400
    assert "outside the volume" in response.content.decode()


def test_restore_refusing_a_name_that_is_not_utf8_is_a_form_error_and_audited(admin_client, volume):
    """The raw name in the refusal made the audit record fail: a 500 with nothing audited."""
    name = volume()
    bad = tarfile.TarInfo(b"bad\xff/../x".decode("utf-8", "surrogateescape"))
    block = bad.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    archive = io.BytesIO(block + b"\0" * 1024)
    archive.name = "odd.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": archive})
    assert response.status_code == 400
    assert "outside the volume" in response.content.decode()
    assert AuditEvent.objects.filter(action="volume.restore", target=name).exists()


def test_restore_refuses_a_volume_a_running_container_uses(admin_client, engine, volume, make_container):
    name = volume()
    with_volume(engine, make_container, name, "touch /data/.ready")
    archive = io.BytesIO(_tar({"x.txt": b"x"}))
    archive.name = "x.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": archive})
    assert response.status_code == 400
    assert "Running containers use this volume" in response.content.decode()


def test_operator_cannot_restore(operator_client, volume):
    name = volume()
    archive = io.BytesIO(_tar({"x.txt": b"x"}))
    archive.name = "x.tar"
    assert operator_client.post(f"/volumes/{name}/restore/", {"archive": archive}).status_code == 403


# --------------------------------------------------------------------------- delete and prune


def test_delete_in_use_volume_names_the_containers(admin_client, engine, volume, make_container):
    name = volume()
    container = with_volume(engine, make_container, name, "touch /data/.ready")
    response = admin_client.post(f"/volumes/{name}/delete/", {"force": "on"})
    assert response.status_code == 409
    assert container["Name"].lstrip("/") in response.content.decode()
    assert engine.api.inspect_volume(name)["Name"] == name


def test_delete_unused_volume(admin_client, engine, volume):
    name = volume()
    assert admin_client.post(f"/volumes/{name}/delete/").status_code == 302
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(name)
    assert AuditEvent.objects.filter(action="volume.delete", target=name, outcome="ok").exists()


def test_operator_cannot_delete(operator_client, volume):
    assert operator_client.post(f"/volumes/{volume()}/delete/").status_code == 403


@pytest.mark.django_db(transaction=True)  # the prune is a job: rows written from its thread
def test_prune_removes_only_confirmed_unused_volumes(admin_client, engine, volume, make_container):
    unused, used = volume(), volume()
    with_volume(engine, make_container, used, "touch /data/.ready")
    preview = admin_client.get("/volumes/prune/").content.decode()
    assert f'data-id="{unused}"' in preview
    assert f'data-id="{used}"' not in preview
    # Only our own volumes are confirmed: nothing else on the engine is touched.
    job = finished_job(admin_client.post("/volumes/prune/", {"names": f"{unused} {used}"}))
    rows = {row["id"]: row for row in job.snapshot()["layers"]}
    assert rows[unused]["outcome"] == "ok"
    assert rows[used]["outcome"] == "skipped"
    assert job.message == "Removed 1 unused volume. Kept 1 that is in use now or gone."
    assert AuditEvent.objects.filter(action="volume.prune", target=unused, outcome="ok").exists()
    assert not AuditEvent.objects.filter(action="volume.prune", target=used).exists()
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(unused)
    assert engine.api.inspect_volume(used)["Name"] == used


def test_pages_work_under_an_endpoint_prefix(admin_client, volume):
    from core.models import Endpoint

    default = Endpoint.objects.default()
    other = Endpoint.objects.create(name=f"{RUN_ID} alias", slug=f"{RUN_ID}-alias", url=default.url)
    name = volume()
    response = admin_client.get(f"/e/{other.slug}/volumes/?q={name}")
    assert response.status_code == 200
    assert f"/e/{other.slug}/volumes/{name}/" in response.content.decode()


# --------------------------------------------------------------------------- in use everywhere


@pytest.fixture
def dashboard_containers(engine):
    """Names of containers a test creates through the create form; removed with their anonymous volumes."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            engine.api.remove_container(name, force=True, v=True)
        except docker.errors.NotFound:
            pass


def _run_form(base_image: str, name: str, **fields) -> dict:
    return {
        "image": base_image,
        "name": name,
        "command": "sleep 300",
        "restart": "no",
        "labels": f"{TEST_LABEL}={RUN_ID}",
        "start": "on",
        **fields,
    }


def test_detail_names_the_containers_using_it(viewer_client, engine, volume, make_container):
    name = volume()
    container = with_volume(engine, make_container, name, "touch /data/.ready")
    page = viewer_client.get(f"/volumes/{name}/").content.decode()
    used_by = page[page.index('data-testid="used-by"') :]
    assert f'href="/containers/{container["Id"][:12]}/"' in used_by
    assert container["Name"].lstrip("/") in used_by


def test_container_page_links_its_volume_mount(viewer_client, engine, volume, make_container):
    name = volume()
    container = with_volume(engine, make_container, name, "touch /data/.ready")
    page = viewer_client.get(f"/containers/{container['Id'][:12]}/").content.decode()
    assert f'href="/volumes/{name}/" data-testid="volume-link"' in page


def test_create_form_offers_existing_volumes_and_images(operator_client, volume, base_image):
    name = volume()
    page = operator_client.get("/containers/new/").content.decode()
    volumes = page[page.index('<datalist id="volume-choices">') :]
    assert f'<option value="{name}"' in volumes[: volumes.index("</datalist>")]
    images = page[page.index('<datalist id="image-choices">') :]
    assert f'<option value="{base_image}"' in images[: images.index("</datalist>")]
    assert 'list="image-choices"' in page


def test_operator_runs_a_container_with_an_anonymous_volume(
    operator_client, engine, base_image, dashboard_containers
):
    name = unique("anon")
    dashboard_containers.append(name)
    response = operator_client.post("/containers/new/", _run_form(base_image, name, volumes="/data"))
    assert response.status_code == 302
    (mount,) = engine.api.inspect_container(name)["Mounts"]
    assert mount["Type"] == "volume"
    assert mount["Destination"] == "/data"
    assert len(mount["Name"]) == 64  # named by the engine
    listed = operator_client.get(f"/volumes/?q={name}").content.decode()
    assert f'data-id="{mount["Name"]}"' in listed  # "used by" finds it by the container's name


def test_operator_may_not_take_another_apps_volume_read_write_from_the_form(
    operator_client, engine, volume, make_container, base_image
):
    taken = volume()
    with_volume(engine, make_container, taken, "touch /data/.ready")
    name = unique("grab")
    response = operator_client.post(
        "/containers/new/", _run_form(base_image, name, volumes=f"/scratch\n{taken}:/data")
    )
    assert response.status_code == 400
    assert "read-only" in response.content.decode()
    assert not engine.api.containers(all=True, filters={"name": name})


# --------------------------------------------------------------------------- a volume that vanished


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "files/"), ("get", "download/"), ("get", "delete/"), ("post", "delete/")],
)
def test_a_vanished_volume_is_a_clear_404(admin_client, engine, volume, method, suffix):
    name = volume()
    engine.api.remove_volume(name)
    response = getattr(admin_client, method)(f"/volumes/{name}/{suffix}")
    assert response.status_code == 404
    assert name in response.content.decode()
    assert helpers_left(engine) == []
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(name)  # nothing re-created it


def test_restore_into_a_vanished_volume_is_a_404_and_creates_nothing(admin_client, engine, volume):
    name = volume()
    engine.api.remove_volume(name)
    archive = io.BytesIO(_tar({"x.txt": b"x"}))
    archive.name = "x.tar"
    response = admin_client.post(f"/volumes/{name}/restore/", {"archive": archive})
    assert response.status_code == 404
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_volume(name)


def test_a_prune_post_that_confirms_nothing_is_the_preview_again(admin_client, engine, volume):
    unused = volume()
    response = admin_client.post("/volumes/prune/", {"names": ""})
    assert response.status_code == 200
    assert "Nothing was confirmed" in response.content.decode()
    assert engine.api.inspect_volume(unused)["Name"] == unused


@pytest.mark.parametrize("path", ["/volumes/", "/networks/", "/containers/new/", "/volumes/prune/"])
def test_engine_never_reachable_is_a_503_naming_it(admin_client, settings, tmp_path, path):
    settings.DOCKER_HOST = f"unix://{tmp_path}/nothing-here.sock"
    response = admin_client.get(path)
    assert response.status_code == 503
    assert f"unix://{tmp_path}/nothing-here.sock" in response.content.decode()
