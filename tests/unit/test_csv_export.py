"""CSV export cells a spreadsheet will not run as formulas."""

from __future__ import annotations

import pytest

from core.views.team import csv_safe


@pytest.mark.parametrize("value", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_starts_are_quoted(value):
    assert csv_safe(value) == "'" + value


def test_plain_text_is_kept():
    assert csv_safe("container.stop") == "container.stop"


def test_none_is_an_empty_cell():
    assert csv_safe(None) == ""


def test_numbers_become_text():
    assert csv_safe(42) == "42"


def test_a_formula_later_in_the_text_is_harmless_and_kept():
    assert csv_safe("a=1") == "a=1"
