"""The paging/sorting/filtering helper and its template tags: pure, no engine."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory

from core import tables

SORTS = {"name": lambda r: r["name"], "created": lambda r: r["created"]}


def _read(query: str) -> tables.Params:
    return tables.read(QueryDict(query), sorts=SORTS, default_sort="created", descending=("created",))


def _rows(n: int) -> list[dict]:
    return [{"name": f"c{i:04d}", "created": i} for i in range(n)]


def test_defaults_when_nothing_is_given():
    assert _read("") == tables.Params(
        q="", sort="created", dir="desc", page=1, per_page=50, descending_sorts=frozenset({"created"})
    )


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        ("sort=nope", "sort", "created"),
        ("sort=__class__", "sort", "created"),
        ("dir=sideways", "dir", "desc"),
        ("page=abc", "page", 1),
        ("page=-3", "page", 1),
        ("page=0", "page", 1),
        ("page=1e9", "page", 1),
        ("per_page=7", "per_page", 50),
        ("per_page=1000000", "per_page", 50),
        ("per_page=", "per_page", 50),
        ("per_page=200", "per_page", 200),
        ("per_page=25", "per_page", 25),
    ],
)
def test_unknown_values_fall_back_to_defaults(query, field, expected):
    assert getattr(_read(query), field) == expected


def test_natural_direction_is_ascending_for_names():
    assert _read("sort=name").dir == "asc"


def test_explicit_direction_wins():
    assert _read("sort=created&dir=asc").dir == "asc"


def test_query_is_bounded():
    assert len(_read("q=" + "x" * 5000).q) == tables.MAX_QUERY


def test_needle_is_stripped_and_lowercased():
    assert _read("q=%20Web%20").needle == "web"


def test_page_of_slices_only_the_page():
    page = tables.page_of(_rows(120), _read("page=2&per_page=25"))
    assert [r["created"] for r in page.rows] == list(range(25, 50))


def test_page_past_the_end_is_the_last_page():
    page = tables.page_of(_rows(120), _read("page=99&per_page=50"))
    assert page.number == 3


def test_last_page_holds_the_remainder():
    page = tables.page_of(_rows(120), _read("page=99&per_page=50"))
    assert len(page.rows) == 20


def test_empty_list_is_page_one_of_one():
    page = tables.page_of([], _read("page=5"))
    assert (page.number, page.num_pages, page.start_index, page.end_index) == (1, 1, 0, 0)


def test_page_counts_for_the_pager():
    page = tables.page_of(_rows(120), _read("page=2&per_page=50"))
    assert (page.total, page.num_pages, page.start_index, page.end_index) == (120, 3, 51, 100)


def test_previous_and_next():
    page = tables.page_of(_rows(120), _read("page=2&per_page=50"))
    assert (page.has_previous, page.has_next, page.previous_number, page.next_number) == (True, True, 1, 3)


def test_sorted_rows_follows_sort_and_direction():
    rows = tables.sorted_rows(_rows(5), SORTS, _read("sort=name&dir=desc"))
    assert [r["name"] for r in rows] == ["c0004", "c0003", "c0002", "c0001", "c0000"]


def _render(text: str, url: str, **context) -> str:
    request = RequestFactory().get(url)
    return Template("{% load tables %}" + text).render(Context({"request": request, **context}))


def test_query_replace_keeps_the_other_parameters():
    html = _render("{% query_replace page=3 %}", "/containers/?q=web&sort=name&dir=asc&per_page=25")
    assert QueryDict(html.lstrip("?").replace("&amp;", "&")) == QueryDict(
        "q=web&sort=name&dir=asc&per_page=25&page=3"
    )


def test_query_replace_drops_page_one_and_the_fragment_marker():
    html = _render("{% query_replace sort='name' page=1 %}", "/images/?q=x&page=4&partial=rows")
    assert QueryDict(html.lstrip("?").replace("&amp;", "&")) == QueryDict("q=x&sort=name")


def test_query_replace_escapes_what_the_url_carried():
    html = _render("{% query_replace page=2 %}", '/containers/?q="><script>')
    assert "<script>" not in html


def test_sort_header_toggles_the_current_column_and_keeps_the_filter():
    params = _read("q=web&sort=name&dir=asc&page=3")
    html = _render("{% sort_header 'name' 'Name' %}", "/c/?q=web&sort=name&dir=asc&page=3", params=params)
    assert 'href="?q=web&amp;sort=name&amp;dir=desc"' in html


def test_sort_header_first_click_on_a_date_sorts_newest_first():
    params = _read("sort=name")
    html = _render("{% sort_header 'created' 'Created' %}", "/c/?sort=name", params=params)
    assert "dir=desc" in html


def test_sort_header_escapes_the_label():
    params = _read("")
    html = _render("{% sort_header 'name' label %}", "/c/", params=params, label="<b>x</b>")
    assert "<b>" not in html


def test_pager_links_keep_the_filter():
    page = tables.page_of(_rows(120), _read("q=c&page=2"))
    html = _render("{% pager page 'container' %}", "/c/?q=c&page=2", page=page)
    assert 'href="?q=c&amp;page=3"' in html


def test_pager_says_where_we_are():
    page = tables.page_of(_rows(120), _read("page=2"))
    html = _render("{% pager page 'container' %}", "/c/?page=2", page=page)
    assert "51\u2013100 of 120 containers" in html


def test_pager_takes_an_irregular_plural():
    page = tables.page_of(_rows(120), _read("page=2"))
    html = _render("{% pager page 'repository' 'repositories' %}", "/c/?page=2", page=page)
    assert "51\u2013100 of 120 repositories" in html


def test_pager_says_one_noun_for_one_row():
    page = tables.page_of(_rows(1), _read(""))
    html = _render("{% pager page 'repository' 'repositories' %}", "/c/", page=page)
    assert "1 repository<" in html


def _natural(names: list[str]) -> list[str]:
    return sorted(names, key=tables.natural_key)


def test_natural_key_compares_numbers_as_numbers():
    assert _natural(["v10", "v9", "v1.10", "v1.9"]) == ["v1.9", "v1.10", "v9", "v10"]


def test_natural_key_puts_a_pre_release_before_its_release_and_a_variant_after():
    names = ["1.0.0-alpine", "1.0.0", "1.0.0-rc.2", "1.0.1", "1.0.0-rc.1", "2.0-beta3", "2.0"]
    assert _natural(names) == [
        "1.0.0-rc.1",
        "1.0.0-rc.2",
        "1.0.0",
        "1.0.0-alpine",
        "1.0.1",
        "2.0-beta3",
        "2.0",
    ]


def test_natural_key_puts_numbers_before_words_and_ignores_case_first():
    assert _natural(["latest", "Edge", "1.0", "alpha", "Alpha"]) == [
        "1.0",
        "Alpha",
        "alpha",
        "Edge",
        "latest",
    ]


def test_natural_key_keeps_a_total_order_for_leading_zeros():
    assert _natural(["1", "01", "001"]) == ["001", "01", "1"]


def test_natural_key_orders_repository_paths():
    assert _natural(["team/app10", "team/app2", "team-b/app", "team/app"]) == [
        "team-b/app",
        "team/app",
        "team/app2",
        "team/app10",
    ]
