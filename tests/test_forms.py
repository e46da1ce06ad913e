"""Refused forms come back as the same form, input kept, with the reason and a plain title (issue 11).

Each case: bad input -> status 400, the form page with the message, what was typed still in the
form, and nothing changed on the engine (or in the database).
"""

from __future__ import annotations

import html

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import AuditEvent, Registry
from tests.images_support import make_image
from tests.support import RUN_ID, unique

__all__ = ["make_image"]  # the fixture, imported for pytest

LABEL = f"dashtest.form={RUN_ID}"
DOCKERFILE = f"FROM busybox\nLABEL {LABEL}\nRUN echo 'kept <as typed>' && true\nCMD [\"sh\"]\n"


def _page(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def refused_build(operator_client):
    return operator_client.post("/images/build/", {"tag": "Bad Tag!", "dockerfile": DOCKERFILE})


def test_refused_build_is_a_400(refused_build):
    assert refused_build.status_code == 400


def test_refused_build_keeps_the_pasted_dockerfile(refused_build):
    assert DOCKERFILE in _page(refused_build)


def test_refused_build_keeps_the_tag(refused_build):
    assert 'value="Bad Tag!"' in _page(refused_build)


def test_refused_build_says_why(refused_build):
    assert "is not a valid repository path" in _page(refused_build)


def test_refused_build_page_has_a_plain_title(refused_build):
    assert "<title>Build an image · Images" in _page(refused_build)


def test_refused_build_names_no_internal_action(refused_build):
    assert "image.build" not in _page(refused_build)


def test_refused_build_builds_nothing(refused_build, engine):
    assert not engine.api.images(all=True, filters={"label": LABEL})


def test_refused_build_is_audited_as_failed(refused_build):
    assert AuditEvent.objects.get(action="image.build").outcome == "failed"


def test_a_build_with_neither_context_nor_dockerfile_says_what_is_missing(operator_client):
    response = operator_client.post("/images/build/", {"tag": f"{RUN_ID}-b:1"})
    assert "Upload a context tarball or paste a Dockerfile." in _page(response)


def test_the_build_form_page_is_served_on_get(operator_client):
    assert operator_client.get("/images/build/").status_code == 200


@pytest.mark.parametrize("kind", ["pull", "load", "import"])
def test_each_image_form_has_its_own_page(operator_client, kind):
    assert operator_client.get(f"/images/{kind}/").status_code == 200


def test_refused_pull_keeps_the_reference_and_says_why(operator_client):
    response = operator_client.post("/images/pull/", {"reference": "Not A Reference!"})
    assert response.status_code == 400
    assert 'value="Not A Reference!"' in _page(response)


def test_refused_pull_page_has_a_plain_title(operator_client):
    response = operator_client.post("/images/pull/", {"reference": "Not A Reference!"})
    assert "<title>Pull an image · Images" in _page(response)


def test_refused_pull_with_a_foreign_registry_keeps_the_choice(operator_client, registry_server):
    registry = Registry(name=unique("reg"), url=registry_server.url, verify_tls=False)
    registry.save()
    response = operator_client.post(
        "/images/pull/", {"reference": f"elsewhere.example:5000/{RUN_ID}:v1", "registry": registry.pk}
    )
    assert f'<option value="{registry.pk}" selected>' in _page(response)


def test_refused_load_is_a_400_on_the_load_page(operator_client):
    response = operator_client.post(
        "/images/load/", {"archive": SimpleUploadedFile("x.tar", b"not a tar" * 100)}
    )
    assert response.status_code == 400
    assert "<title>Load images from an archive · Images" in _page(response)


def test_refused_load_says_why(operator_client):
    response = operator_client.post(
        "/images/load/", {"archive": SimpleUploadedFile("x.tar", b"not a tar" * 100)}
    )
    assert "not a tar archive" in _page(response)


@pytest.fixture
def refused_import(operator_client):
    return operator_client.post(
        "/images/import/",
        {
            "archive": SimpleUploadedFile("root.tar", b"not a tar" * 100),
            "repository": f"{RUN_ID}-imp",
            "tag": "-bad",
            "message": "kept message",
        },
    )


def test_refused_import_is_a_400(refused_import):
    assert refused_import.status_code == 400


def test_refused_import_keeps_repository_and_message(refused_import):
    page = _page(refused_import)
    assert f'value="{RUN_ID}-imp"' in page
    assert 'value="kept message"' in page


def test_refused_import_says_why(refused_import):
    assert "is not a valid tag" in _page(refused_import)


def test_refused_import_creates_nothing(refused_import, engine):
    assert not engine.api.images(name=f"{RUN_ID}-imp")


@pytest.fixture
def refused_tag(operator_client, make_image):
    image = make_image()
    response = operator_client.post(
        f"/images/{image['id'].removeprefix('sha256:')[:12]}/tag/",
        {"repository": f"{RUN_ID}-Upper", "tag": "v1"},
    )
    return image, response


def test_refused_tag_is_a_400_keeping_the_input(refused_tag):
    _, response = refused_tag
    assert f'value="{RUN_ID}-Upper"' in _page(response)


def test_refused_tag_changes_nothing(refused_tag, engine):
    image, _ = refused_tag
    assert engine.api.inspect_image(image["id"])["RepoTags"] == [image["ref"]]


@pytest.fixture
def refused_push(admin_client, make_image, registry_server):
    registry = Registry(name=unique("reg"), url=registry_server.url, verify_tls=False)
    registry.save()
    image = make_image()
    reference = f"elsewhere.example:5000/{RUN_ID}:v1"
    response = admin_client.post(
        f"/images/{image['id'].removeprefix('sha256:')[:12]}/push/",
        {"reference": reference, "registry": registry.pk},
    )
    return reference, response


def test_refused_push_is_a_400(refused_push):
    _, response = refused_push
    assert response.status_code == 400


def test_refused_push_keeps_the_reference(refused_push):
    reference, response = refused_push
    assert f'value="{reference}"' in _page(response)


def test_refused_push_says_why(refused_push):
    _, response = refused_push
    assert "credentials are only sent to their own registry" in _page(response)


@pytest.mark.parametrize("username", ["two words", "new\nline", "esc\x1b[2J", "tab\tbed", "x" * 151])
def test_refused_user_create_keeps_the_name_and_creates_nobody(admin_client, username):
    response = admin_client.post("/team/users/create/", {"username": username, "role": "operator"})
    assert response.status_code == 400
    assert not get_user_model().objects.filter(username=username.strip()).exists()


def test_refused_user_create_keeps_the_typed_name_and_role(admin_client):
    response = admin_client.post("/team/users/create/", {"username": "a b", "role": "operator"})
    page = _page(response)
    assert 'value="a b"' in page
    assert '<option value="operator" selected>' in page


def test_refused_user_create_says_why(admin_client):
    response = admin_client.post("/team/users/create/", {"username": "a b", "role": "operator"})
    assert "A username is 1-150 letters, digits and @ . + - _ ." in _page(response)
