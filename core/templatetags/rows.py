"""Table rows of the long lists, built the Django admin way (``admin_list.items_for_result``):
``format_html`` over each value, Django's own filters (truncatechars, date, filesizeformat,
timesince), ``reverse()`` for links. A row is one tag call: the template loop over 50-200 rows costs
~1 ms a row in template nodes, this ~0.1 ms (bench/bench_containers.py, bench/bench_images.py)."""

from __future__ import annotations

import html
from urllib.parse import quote, urlencode

from django import template
from django.template.defaultfilters import date, filesizeformat, timesince, truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()
_BR = SafeString("<br>")  # constant markup only; everything else goes through format_html
_DIM = SafeString(' class="dim"')
_RO = SafeString(' <span class="muted small">(ro)</span>')
_ANONYMOUS = SafeString(' <span class="badge">anonymous</span>')
# Stands in for a resource id in a reversed URL, replaced per row: a hex id, so it passes both the
# <ref:> and the <image_id:> converters (core/converters.py).
_ID = "0" * 12


def _url_pattern(context: template.Context, name: str) -> tuple[str, str]:
    """``reverse(name, args=[_ID])`` once per render (the script prefix carries the endpoint), split
    around the id: the id is the last path parameter, so the last occurrence is the one to replace."""
    cache = context.render_context
    key = f"rows.url.{name}"
    if key not in cache:
        head, _, tail = reverse(name, args=[_ID]).rpartition(_ID)
        cache[key] = (head, tail)
    return cache[key]


def _plain_url(context: template.Context, name: str) -> str:
    """``reverse(name)`` of a URL without parameters, once per render."""
    key = f"rows.url.{name}"
    if key not in context.render_context:
        context.render_context[key] = reverse(name)
    return context.render_context[key]


def _clip(text: str, length: int) -> str:
    """``truncatechars(text, length)``: the first ``length - 1`` characters and "…" (the filter builds
    a Truncator and looks up its translated ellipsis on every call; a row clips two or three values)."""
    return text if len(text) <= length else text[: length - 1] + "…"


def _minute(when) -> str:
    """``date(when, "Y-m-d H:i")`` in the value's own zone, as the filter called from Python gives it,
    without its format machinery (a third of a row's time); "" for no date."""
    return when.strftime("%Y-%m-%d %H:%M") if when else ""


def _link(pattern: tuple[str, str], ref: str) -> str:
    head, tail = pattern
    return head + quote(ref, safe="") + tail


def _ports(ports: tuple) -> SafeString:
    def one(port) -> SafeString:
        if port.published and port.protocol == "tcp":
            href = f"http://{port.link_host}:{port.host_port}/"
            return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', href, port)
        return format_html("<span>{}</span>", port)

    return format_html_join(_BR, "{}", ((one(p),) for p in ports))


@register.simple_tag
def update_badge(status, current: bool = False) -> SafeString | str:
    """``update available`` (with the new digest), or ``update ?`` with why when it is unknown;
    with ``current``, ``up to date`` too (the images page: every tag says its state)."""
    if status is None or status.why == "not checked yet":
        return ""
    if current and status.state == "current":
        return format_html(
            ' <span class="badge update-current" data-update="current" title="the registry serves {}">'
            "up to date</span>",
            status.remote_digest,
        )
    if status.available:
        return format_html(
            ' <span class="badge update-available" data-update="available" title="new digest {}">'
            "update available</span>",
            status.remote_digest,
        )
    if status.state == "unknown":
        return format_html(
            ' <span class="badge update-unknown" data-update="unknown" title="{}">update ?</span>', status.why
        )
    return ""


@register.simple_tag(takes_context=True)
def container_row(context: template.Context, c, can_operate: bool) -> SafeString:
    """One ``<tr data-id>`` of the containers list; every engine value escaped by ``format_html``."""
    check = (
        format_html(
            '<td class="check"><input type="checkbox" name="ids" value="{}" aria-label="Select {}"></td>',
            c.id,
            c.name,
        )
        if can_operate
        else ""
    )
    health = format_html(' <span class="badge health-{}">{}</span>', c.health, c.health) if c.health else ""
    return format_html(
        '<tr data-id="{}" class="state-row-{}">{}'
        '<td><a href="{}" class="cname">{}</a><br><code class="muted small">{}</code></td>'
        '<td><a href="{}">{}</a>{}</td>'
        '<td class="col-wide"><code class="cmd">{}</code></td>'
        '<td><span class="state state-{}">{}</span>{}<br><span class="muted small">{}</span></td>'
        '<td class="ports col-wide">{}</td>'
        '<td class="small col-wide" title="{}">{}</td>'
        '<td class="small col-wide">{}</td></tr>',
        c.id,
        c.state,
        check,
        _link(_url_pattern(context, "container_detail"), c.short_id),
        c.name,
        c.short_id,
        _link(_url_pattern(context, "image-detail"), c.image_id.removeprefix("sha256:")),
        c.image,
        update_badge((context.get("updates") or {}).get(c.id)),
        truncatechars(c.command, 60),
        c.state,
        c.state,
        health,
        c.status,
        _ports(c.ports),
        c.created,
        _minute(c.created_at),
        _project(context, c.compose_project),
    )


def _project(context: template.Context, project: str) -> str:
    """The compose project cell: its name and a link to the merged log view of its containers."""
    if not project:
        return ""
    return format_html(
        '{} <a class="small" href="{}?{}" data-testid="project-logs" '
        'title="the logs of every container of {}">logs</a>',
        project,
        _plain_url(context, "merged-logs"),
        urlencode({"project": project}),
        project,
    )


@register.simple_tag(takes_context=True)
def image_row(context: template.Context, r) -> SafeString:
    """One ``<tr data-id>`` of the images list (one row per tag)."""
    return format_html(
        '<tr data-id="{}"{}><td><a href="{}">{}</a></td><td>{}{}</td><td class="mono">{}</td>'
        '<td class="num" title="{} bytes">{}</td><td title="{}">{} ago</td><td class="num">{}</td></tr>',
        r.id,
        _DIM if r.dangling else "",
        _link(_url_pattern(context, "image-detail"), r.short_id),
        r.repository,
        r.tag,
        update_badge((context.get("updates") or {}).get(r.reference), current=True),
        r.short_id,
        r.size,
        filesizeformat(r.size),
        date(r.created_at, "Y-m-d H:i:s e"),
        timesince(r.created_at),
        r.containers,
    )


USED_BY_SHOWN = 10  # containers named in a volume's row; the rest are counted (the detail page has all)


def _users(context: template.Context, used_by: tuple) -> SafeString:
    if not used_by:
        return SafeString('<span class="muted">unused</span>')
    pattern = _url_pattern(context, "container_detail")
    shown = ", ".join(
        f'<a href="{_h(_link(pattern, u.short_id))}" title="{_h(u.id)}" class="state-{_h(u.state)}">'
        f"{_h(u.name)}</a>{_RO if u.read_only else ''}"
        for u in used_by[:USED_BY_SHOWN]
    )
    more = len(used_by) - USED_BY_SHOWN
    return SafeString(f'{shown} <span class="muted small">and {more} more</span>' if more > 0 else shown)


@register.simple_tag(takes_context=True)
def volume_row(context: template.Context, v) -> SafeString:
    """One ``<tr data-id>`` of the volumes list; the size cell is filled later (``volumes/sizes/``).

    Built as ``stack_row`` is: every engine value through ``_h`` (what ``escape()`` does) in
    f-strings; ``format_html``'s per-argument ``conditional_escape`` was most of the list's render."""
    name = _h(v.name)
    href = _h(_link(_url_pattern(context, "volume_detail"), v.name))
    labels = _BR.join(f"<code>{_h(k)}={_h(_clip(val, 40))}</code>" for k, val in v.labels.items())
    return SafeString(
        f'<tr data-id="{name}"><td class="wrap"><a href="{href}" title="{name}">'
        f"{_h(_clip(v.name, 20))}{_ANONYMOUS if v.anonymous else ''}</a></td>"
        f"<td>{_h(v.driver)}</td><td>{_h(v.scope)}</td><td>{_users(context, v.used_by)}</td>"
        f'<td class="num" data-size-for="{name}"><span class="muted small">…</span></td>'
        f'<td class="small" title="{_h(v.created)}">{_h(_minute(v.created_at))}</td>'
        f'<td class="small wrap">{labels}</td>'
        f'<td class="small" title="{_h(v.mountpoint)}"><code>{_h(_clip_left(v.mountpoint, 36))}</code>'
        "</td></tr>"
    )


def _clip_left(text: str, length: int) -> str:
    """ "…" and the last ``length - 1`` characters: a path's distinctive end."""
    return text if len(text) <= length else "…" + text[-(length - 1) :]


def _h(value: object) -> str:
    """``django.utils.html.escape(value)``: the same characters escaped the same way (``&<>"'``)."""
    return html.escape(str(value))


_SWARM = SafeString(' <span class="badge" data-testid="stack-mode">swarm</span>')
_OUTSIDE = SafeString('<span class="muted">outside the dashboard</span>')


@register.simple_tag(takes_context=True)
def stack_row(context: template.Context, s: dict) -> SafeString:
    """One ``<tr data-id>`` of the stacks list (a row dict of core/views/stacks.py ``_rows``).

    Built with ``_h`` (what ``escape()`` does, without its lazy-string wrapper) in one f-string:
    format_html's per-argument ``conditional_escape`` was most of the list's render time."""
    version = s["version"]
    if version is not None:
        when = _minute(timezone.localtime(version.created_at))
        deployed = f"v{version.number} {_h(version.get_status_display())} · {when} · {_h(version.username)}"
    else:
        deployed = _OUTSIDE
    name, status = _h(s["name"]), _h(s["status"])
    href = _h(_link(_url_pattern(context, "stack_detail"), s["name"]))
    source = "dashboard" if s["managed"] else f"<code>{_h(s['source'])}</code>"
    return SafeString(
        f'<tr data-id="{name}"><td><a href="{href}">{name}</a>{_SWARM if s["mode"] == "swarm" else ""}</td>'
        f'<td><span class="state state-{status}" data-testid="stack-status">{status}</span></td>'
        f'<td class="small wrap">{_h(", ".join(s["services"]))}</td>'
        f'<td class="num">{int(s["running"])} / {int(s["total"])}</td>'
        f'<td class="small wrap col-wide">{source}</td><td class="small col-wide">{deployed}</td></tr>'
    )


__all__ = ["container_row", "image_row", "stack_row", "volume_row"]


@register.simple_tag
def named(name: str, ident: str = "") -> SafeString:
    """A resource by its name, its id on hover (``title``): messages and confirmations use it."""
    if not ident or ident == name:
        return format_html('<span class="named">{}</span>', name)
    return format_html('<span class="named" title="{}">{}</span>', ident, name)
