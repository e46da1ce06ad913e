"""The one way every list pages, sorts and filters (pure: no engine, no database, no HTTP).

A list view reads its parameters once, filters its rows with its own predicate, and hands them here:

    params = tables.read(request.GET, sorts=SORTS, default_sort="created", descending=("created",))
    rows = [c for c in docker.containers.list_containers() if _matches(c, params.needle)]
    page = tables.page_of(tables.sorted_rows(rows, SORTS, params), params)

``q``, ``sort``, ``dir``, ``page`` and ``per_page`` are the URL's interface. Unknown values fall back
to the defaults (never an error), and a page past the end is the last page. Links that change one of
them keep the others through the ``{% query_replace %}`` tag (core/templatetags/tables.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_QUERY = 200  # characters of ``q`` kept; a filter longer than this is no filter anyone typed
ASC, DESC = "asc", "desc"


@dataclass(frozen=True)
class Params:
    """A list's parameters after validation: every field holds a value the list accepts."""

    q: str
    sort: str
    dir: str
    page: int
    per_page: int
    descending_sorts: frozenset[str] = frozenset()  # sort keys whose first click sorts descending

    def natural_dir(self, sort: str) -> str:
        """The direction a first click on ``sort`` asks for (newest/largest first for some keys)."""
        return DESC if sort in self.descending_sorts else ASC

    @property
    def descending(self) -> bool:
        return self.dir == DESC

    @property
    def needle(self) -> str:
        """``q`` as a case-insensitive needle (stripped, lowercased)."""
        return self.q.strip().lower()


@dataclass(frozen=True)
class Page:
    """One page of a filtered, sorted list, and what a pager needs to know about the rest."""

    rows: Sequence[Any]
    total: int
    number: int
    per_page: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_number(self) -> int:
        return max(1, self.number - 1)

    @property
    def next_number(self) -> int:
        return min(self.num_pages, self.number + 1)

    @property
    def start_index(self) -> int:
        """1-based index of the first row shown (0 when there are none)."""
        return 0 if self.total == 0 else (self.number - 1) * self.per_page + 1

    @property
    def end_index(self) -> int:
        return min(self.total, self.number * self.per_page)

    @property
    def is_paged(self) -> bool:
        return self.num_pages > 1


def _choice(value: str | None, allowed: Collection[str], default: str) -> str:
    return value if value in allowed else default


def _positive(value: str | None, default: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        return default
    return number if number >= 1 else default


def read(
    query: Mapping[str, str],
    *,
    sorts: Collection[str],
    default_sort: str,
    descending: Collection[str] = (),
) -> Params:
    """The list parameters of a query (``request.GET``), unknown values replaced by defaults.

    ``descending`` names the sort keys whose natural direction is descending (newest, largest
    first): a missing or unknown ``dir`` means that direction for them and ascending for the rest.
    """
    sort = _choice(query.get("sort"), sorts, default_sort)
    natural = DESC if sort in descending else ASC
    per_page = _positive(query.get("per_page"), DEFAULT_PER_PAGE)
    return Params(
        q=(query.get("q") or "")[:MAX_QUERY],
        sort=sort,
        dir=_choice(query.get("dir"), (ASC, DESC), natural),
        page=_positive(query.get("page"), 1),
        per_page=per_page if per_page in PER_PAGE_CHOICES else DEFAULT_PER_PAGE,
        descending_sorts=frozenset(descending),
    )


_DIGITS = re.compile(r"(\d+)")
# A pre-release marker right after a number ("1.0.0-rc.1", "2.0-beta3"): sorts before the release.
_PRERELEASE = re.compile(r"[-.~]?(?:alpha|beta|rc|pre|preview|dev)[-.]?", re.IGNORECASE)
_END = (1,)  # the end of a name: after a pre-release marker, before any other text or number


def natural_key(name: str) -> tuple:
    """A sort key that orders names as people read versions: ``v1.9`` < ``v1.10``, ``1.0.0-rc.2`` <
    ``1.0.0`` < ``1.0.0-alpine`` < ``1.0.1``, numbers before words (``1.0`` < ``latest``).

    Runs of digits compare as numbers (then as text, so ``01`` and ``1`` keep one order), text
    case-insensitively (then case-sensitively); a name that ends where another goes on sorts first,
    except before a pre-release marker (alpha, beta, rc, pre, preview, dev).
    """
    key: list[tuple] = []
    for index, part in enumerate(_DIGITS.split(name)):
        if index % 2:
            key.append((2, int(part), part))
        elif part:
            rank = 0 if index and _PRERELEASE.fullmatch(part) else 3
            key.append((rank, part.lower(), part))
    key.append(_END)
    return tuple(key)


def sorted_rows(rows: list, keys: Mapping[str, Callable[[Any], Any]], params: Params) -> list:
    """``rows`` sorted in place by ``params.sort``'s key in ``params.dir`` (a stable sort)."""
    rows.sort(key=keys[params.sort], reverse=params.descending)
    return rows


def page_of(rows: Sequence[Any], params: Params, *, total: int | None = None) -> Page:
    """The page ``params.page`` of ``rows`` (a list or a QuerySet: only that page is sliced out).

    A page past the end is the last page; ``total`` saves a second count when the caller has it.
    """
    if total is None:
        count = getattr(rows, "count", None)
        total = count() if callable(count) and not isinstance(rows, (list, tuple)) else len(rows)
    last = max(1, -(-total // params.per_page))
    number = min(params.page, last)
    start = (number - 1) * params.per_page
    shown = list(rows[start : start + params.per_page])
    return Page(rows=shown, total=total, number=number, per_page=params.per_page)
