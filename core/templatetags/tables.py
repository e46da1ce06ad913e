"""Template tags of the one table idiom (core/tables.py): links that change one list parameter and
keep the others, and sortable column headers. HTML only through ``format_html``.

Sort and pager links carry ``hx-get`` (the same address as ``href``): a table that swaps in place
puts ``hx-target``/``hx-swap``/``hx-push-url`` on its wrapper (containers, images, audit); a table
that reloads the page marks its wrapper ``hx-disable`` (swarm) and the links are plain links."""

from __future__ import annotations

from django import template
from django.http import QueryDict
from django.utils.html import format_html

from core.tables import ASC, DESC, PER_PAGE_CHOICES, Params

register = template.Library()


def _query(context: template.Context) -> QueryDict:
    request = context.get("request")
    return request.GET.copy() if request is not None else QueryDict(mutable=True)


@register.simple_tag(takes_context=True)
def query_replace(context: template.Context, **changes: object) -> str:
    """``?`` + the current query with ``changes`` applied (a value of ``None`` or "" drops the key).

    ``{% query_replace sort='name' dir='asc' page=1 %}``: filter, sort and page survive each other.
    ``page=1`` is dropped rather than written, so the first page has one URL.
    """
    query = _query(context)
    query.pop("partial", None)  # a fragment request's marker is not part of the list's address
    for key, value in changes.items():
        if value is None or value == "" or (key == "page" and str(value) == "1"):
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, key: str, label: str) -> str:
    """A column header link: sorts by ``key`` (toggling the direction when already sorted by it),
    back to page 1, keeping the filter; ``hx-get`` is the same address as ``href``."""
    params: Params = context["params"]
    current = params.sort == key
    direction = (ASC if params.descending else DESC) if current else params.natural_dir(key)
    href = query_replace(context, sort=key, dir=direction, page=None)
    css = ("sorted desc" if params.descending else "sorted") if current else ""  # arrows: app.css
    return format_html(
        '<a href="{}" hx-get="{}" data-sort="{}" class="{}">{}</a>', href, href, key, css, label
    )


@register.inclusion_tag("_pager.html", takes_context=True)
def pager(context: template.Context, page, noun: str = "row", plural: str = "") -> dict:
    """The pager under a table: where we are, previous/next, and the page sizes (``plural``
    when the noun's is not ``noun`` + "s": ``{% pager page "repository" "repositories" %}``)."""
    return {
        "request": context.get("request"),
        "page": page,
        "noun": noun,
        "plural": plural or f"{noun}s",
        "per_page_choices": PER_PAGE_CHOICES,
    }


__all__ = ["ASC", "DESC", "pager", "query_replace", "sort_header"]
