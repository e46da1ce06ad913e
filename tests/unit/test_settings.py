"""Settings parsing: booleans accept only documented spellings; every variable is in .env.example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.settings import parse_bool, parse_number

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["1", "true", "True", "TRUE", "yes", "on", " On "])
def test_true_spellings_are_true(value):
    assert parse_bool("HTTPS", value, default=False) is True


@pytest.mark.parametrize("value", ["0", "false", "False", "no", "off", "OFF"])
def test_false_spellings_are_false(value):
    assert parse_bool("HTTPS", value, default=True) is False


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_is_the_default(value):
    assert parse_bool("HTTPS", value, default=True) is True


@pytest.mark.parametrize("value", ["ture", "flase", "2", "y", "enabled", "1.0", "truee"])
def test_any_other_spelling_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="HTTPS"):
        parse_bool("HTTPS", value, default=False)


def test_the_refusal_names_the_accepted_spellings():
    with pytest.raises(ImproperlyConfigured, match="1/true/yes/on or 0/false/no/off"):
        parse_bool("DEBUG", "ture", default=False)


def test_numbers_parse_ints_and_floats():
    assert parse_number("PORT", "8001", 8000, int) == 8001


def test_float_numbers_parse():
    assert parse_number("DOCKER_TIMEOUT", "2.5", 30, float) == 2.5


def test_an_unset_number_is_the_default():
    assert parse_number("PORT", None, 8000, int) == 8000


def test_a_number_that_is_not_one_is_refused():
    with pytest.raises(ImproperlyConfigured, match="SESSION_COOKIE_AGE='12h'"):
        parse_number("SESSION_COOKIE_AGE", "12h", 43200, int)


def _start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("HTTPS", "DEBUG")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_https_ture_stops_the_start_up():
    result = _start(HTTPS="ture")
    assert result.returncode != 0
    assert "ImproperlyConfigured: Unexpected value HTTPS='ture'" in result.stderr


def test_a_documented_spelling_starts():
    assert _start(HTTPS="false").returncode == 0


def _names_read_by_settings() -> set[str]:
    source = (ROOT / "dashboard" / "settings.py").read_text()
    direct = re.findall(r'(?:os\.environ\.get|env_bool|env_int|env_float|env_list)\(\s*"([A-Z_]+)"', source)
    secrets = re.findall(r'read_secret\(\s*"([A-Z_]+)"', source)
    return set(direct) | set(secrets) | {f"{name}_FILE" for name in secrets}


def test_env_example_lists_every_variable_settings_reads():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert sorted(_names_read_by_settings() - listed) == []


def test_only_settings_reads_the_environment():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if re.search(r"os\.environ|getenv\(", path.read_text())
    ]
    assert offenders == []
