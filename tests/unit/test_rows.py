"""The containers/images row tags: every engine value is text, links by reverse(), data-id kept."""

from __future__ import annotations

import html

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

    users = tuple(
        ContainerUse(id=f"{n:064x}", name=f"{EVIL}{n}", state="running", read_only=n == 1)
        for n in range(used_by)
    )
    return Volume(
        name=name,
        driver=EVIL,
        scope="local",
        created="2026-01-02T03:04:05Z",
        mountpoint=f"/var/lib/docker/volumes/{EVIL}/_data",
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


def test_volume_row_is_the_markup_format_html_gave():
    """The row's exact markup as the format_html version built it (the f-string one must not differ:
    same escaping of every engine value, same attributes)."""
    volume = _volume(used_by=2)
    evil = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert _render("{% volume_row v %}", v=volume) == (
        '<tr data-id="data"><td class="wrap"><a href="/volumes/data/" title="data">data</a></td>'
        f"<td>{evil}</td><td>local</td><td>"
        f'<a href="/containers/000000000000/" title="{0:064x}" class="state-running">{evil}0</a>, '
        f'<a href="/containers/000000000000/" title="{1:064x}" class="state-running">{evil}1</a>'
        ' <span class="muted small">(ro)</span></td>'
        '<td class="num" data-size-for="data"><span class="muted small">…</span></td>'
        '<td class="small" title="2026-01-02T03:04:05Z">2026-01-02 03:04</td>'
        f'<td class="small wrap"><code>note={evil}</code></td>'
        f'<td class="small" title="/var/lib/docker/volumes/{evil}/_data">'
        f"<code>{html.escape('…' + volume.mountpoint[-35:])}</code></td></tr>"
    )


def test_volume_row_marks_an_anonymous_volume_and_shortens_its_name():
    row = _render("{% volume_row v %}", v=_volume(name="ab" * 32))
    assert 'data-id="' + "ab" * 32 + '"' in row
    assert "anonymous" in row
    assert ">" + "ab" * 32 + "<" not in row


# The stacks table's row as the template wrote it before the tag: the tag must give the same markup.
_STACK_ROW_TEMPLATE = (
    '<tr data-id="{{ s.name }}">'
    '<td><a href="{% url \'stack_detail\' s.name %}">{{ s.name }}</a>{% if s.mode == "swarm" %} '
    '<span class="badge" data-testid="stack-mode">swarm</span>{% endif %}</td>'
    '<td><span class="state state-{{ s.status }}" data-testid="stack-status">{{ s.status }}</span></td>'
    '<td class="small wrap">{{ s.services|join:", " }}</td>'
    '<td class="num">{{ s.running }} / {{ s.total }}</td>'
    '<td class="small wrap col-wide">{% if s.managed %}dashboard{% else %}<code>{{ s.source }}</code>'
    "{% endif %}</td>"
    '<td class="small col-wide">{% if s.version %}v{{ s.version.number }} '
    "{{ s.version.get_status_display }} · "
    '{{ s.version.created_at|date:"Y-m-d H:i" }} · {{ s.version.username }}'
    '{% else %}<span class="muted">outside the dashboard</span>{% endif %}</td></tr>'
)


def _stack_rows():
    from datetime import UTC, datetime

    from core.models import StackVersion

    version = StackVersion(
        number=7,
        status=StackVersion.Status.FAILED,
        username=EVIL,
        created_at=datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC),
    )
    base = {"name": "shop", "mode": "compose", "status": "partial", "services": ("db", EVIL), "running": 2}
    return [
        {**base, "total": 3, "source": EVIL, "managed": False, "version": None},
        {**base, "total": 3, "source": "dashboard", "managed": True, "version": version},
        {
            **base,
            "name": "web-1_x",
            "mode": "swarm",
            "status": "running",
            "total": 2,
            "source": "docker stack deploy",
            "managed": False,
            "version": None,
        },
    ]


def test_stack_row_gives_the_markup_the_template_gave():
    for row in _stack_rows():
        assert _render("{% stack_row s %}", s=row) == Template(_STACK_ROW_TEMPLATE).render(
            Context({"s": row})
        )


def test_stack_row_escapes_what_came_from_the_engine_and_the_database():
    evil_name = {**_stack_rows()[0], "name": EVIL, "services": (EVIL,)}
    for row in [*_stack_rows(), evil_name]:
        html = _render("{% stack_row s %}", s=row)
        assert "<img" not in html
        # Every attribute value stays closed: no quote from a value survives unescaped.
        assert html.count("<tr") == 1 and html.count('"') % 2 == 0
    html = _render("{% stack_row s %}", s=evil_name)
    assert 'data-id="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"' in html
    assert 'href="/stacks/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E/"' in html


def test_the_fast_escape_is_djangos_escape():
    from django.utils.html import escape

    from core.templatetags.rows import _h

    for value in (EVIL, "a & b", "'quoted'", '"double"', "<>", "plain", 42, "é\u202e\x00", "&amp;"):
        assert _h(value) == escape(value)


def test_volume_row_shows_the_mountpoint_by_its_end():
    from core.engine.volumes import Volume

    volume = _volume()
    long = "/var/lib/docker/volumes/" + "n" * 60 + "/_data"
    row = _render("{% volume_row v %}", v=Volume(**{**volume.__dict__, "mountpoint": long}))
    assert f'title="{long}"' in row
    assert f"<code>…{long[-35:]}</code>" in row
