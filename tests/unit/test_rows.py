"""The containers/images row tags: every engine value is text, links by reverse(), data-id kept."""

from __future__ import annotations

from django.template import Context, Template

from core.engine.containers import ContainerSummary, PortBinding
from core.engine.images import ImageRow

EVIL = '<img src=x onerror="alert(1)">'


def _container(**overrides) -> ContainerSummary:
    fields = {
        "id": "ab" * 32,
        "name": EVIL,
        "image": EVIL,
        "image_id": "sha256:" + "cd" * 32,
        "command": "x" * 100,
        "state": "running",
        "status": EVIL,
        "health": "",
        "created": 1_700_000_000,
        "ports": (PortBinding(80, "tcp", "", 8080), PortBinding(53, "udp")),
        "labels": {"com.docker.compose.project": EVIL},
    }
    return ContainerSummary(**{**fields, **overrides})


def _image() -> ImageRow:
    return ImageRow(
        id="sha256:" + "ef" * 32,
        short_id="efefefefefef",
        repository=EVIL,
        tag=EVIL,
        size=2_000_000,
        created=1_700_000_000,
        containers=2,
        labels=(),
        dangling=False,
    )


def _render(text: str, **context) -> str:
    return Template("{% load rows %}" + text).render(Context(context))


def test_container_row_escapes_everything_from_the_engine():
    assert "<img" not in _render("{% container_row c True %}", c=_container())


def test_container_row_keeps_data_id():
    assert f'data-id="{"ab" * 32}"' in _render("{% container_row c True %}", c=_container())


def test_container_row_links_by_reverse():
    assert f'href="/containers/{"ab" * 6}/"' in _render("{% container_row c True %}", c=_container())


def test_container_row_links_a_published_tcp_port():
    html = _render("{% container_row c True %}", c=_container())
    assert 'href="http://127.0.0.1:8080/"' in html


def test_container_row_truncates_the_command_with_the_filter():
    assert "x" * 59 + "\u2026" in _render("{% container_row c True %}", c=_container())


def test_container_row_has_no_checkbox_for_a_viewer():
    assert 'name="ids"' not in _render("{% container_row c False %}", c=_container())


def test_image_row_escapes_and_keeps_data_id():
    html = _render("{% image_row r %}", r=_image())
    assert "<img" not in html
    assert f'data-id="sha256:{"ef" * 32}"' in html


def test_image_row_uses_filesizeformat():
    assert "1.9\xa0MB" in _render("{% image_row r %}", r=_image())


def _volume(used_by: int = 1, name: str = "data"):
    from core.engine.volumes import ContainerUse, Volume

    users = tuple(ContainerUse(id=f"{n:064x}", name=f"{EVIL}{n}", state="running") for n in range(used_by))
    return Volume(
        name=name,
        driver=EVIL,
        scope="local",
        created="2026-01-02T03:04:05Z",
        mountpoint="/var/lib/docker/volumes/data/_data",
        labels={"note": EVIL},
        options={},
        used_by=users,
    )


def test_volume_row_escapes_everything_from_the_engine():
    assert "<img" not in _render("{% volume_row v %}", v=_volume())


def test_volume_row_links_the_volume_and_its_container():
    row = _render("{% volume_row v %}", v=_volume())
    assert 'href="/volumes/data/"' in row
    assert f'href="/containers/{0:012x}/"' in row


def test_volume_row_names_ten_users_and_counts_the_rest():
    row = _render("{% volume_row v %}", v=_volume(used_by=25))
    assert row.count('href="/containers/') == 10
    assert "and 15 more" in row


def test_volume_row_marks_an_anonymous_volume_and_shortens_its_name():
    row = _render("{% volume_row v %}", v=_volume(name="ab" * 32))
    assert 'data-id="' + "ab" * 32 + '"' in row
    assert "anonymous" in row
    assert ">" + "ab" * 32 + "<" not in row
