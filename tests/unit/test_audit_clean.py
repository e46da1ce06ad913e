"""Audit parameters as stored: secrets masked, long values cut, files named, odd types as text."""

from __future__ import annotations

import io

import pytest

from core.audit import _clean


@pytest.mark.parametrize("name", ["password", "registry_password", "secret", "token", "api_key", "auth"])
def test_secret_looking_names_are_masked(name):
    assert _clean({name: "hunter2"}) == {name: "***"}


def test_an_empty_secret_stays_empty():
    assert _clean({"password": ""}) == {"password": ""}


def test_ordinary_values_are_kept():
    assert _clean({"timeout": 10, "force": True, "tags": ["a"]}) == {
        "timeout": 10,
        "force": True,
        "tags": ["a"],
    }


def test_a_tuple_of_names_is_a_list_of_strings():
    assert _clean({"aliases": ("web17", "db")}) == {"aliases": ["web17", "db"]}
    assert _clean({"aliases": ()}) == {"aliases": []}


def test_long_strings_are_cut_at_2000_characters():
    assert len(_clean({"dockerfile": "x" * 5000})["dockerfile"]) == 2001


def test_a_cut_string_ends_with_an_ellipsis():
    assert _clean({"dockerfile": "x" * 5000})["dockerfile"].endswith("…")


def test_files_are_named_not_copied():
    upload = io.BytesIO(b"tar bytes")
    upload.name, upload.size = "context.tar", 9
    assert _clean({"context": upload}) == {"context": "<file context.tar 9 bytes>"}


def test_other_types_become_text():
    assert _clean({"when": object}) == {"when": "<class 'object'>"}


def test_no_parameters_is_an_empty_dict():
    assert _clean(None) == {}
