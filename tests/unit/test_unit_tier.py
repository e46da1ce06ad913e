"""The unit tier itself: a test that reaches for the engine fails at once, saying where it belongs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASKS_FOR_THE_FIXTURE = """
def test_uses_engine(engine):
    pass
"""
CALLS_THE_ENGINE = """
import docker

def test_calls_engine():
    docker.APIClient(base_url="unix:///nonexistent.sock", version="1.43").ping()
"""

LEAKS_A_TEMP_DIR = """
import tempfile

def test_leaks():
    tempfile.mkdtemp(prefix="dash-")
"""


@pytest.fixture(scope="module")
def outcome() -> str:
    """One pytest run (a subprocess, dead DOCKER_HOST) of two tests that need the engine and one leaking."""
    paths = [ROOT / "tests" / "unit" / f"test_zz_misbehaves_{n}.py" for n in (1, 2, 3)]
    for path, body in zip(paths, (ASKS_FOR_THE_FIXTURE, CALLS_THE_ENGINE, LEAKS_A_TEMP_DIR), strict=True):
        path.write_text(textwrap.dedent(body))
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *map(str, paths)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"},
        ).stdout
    finally:
        for path in paths:
            path.unlink()


def test_a_unit_test_asking_for_the_engine_fixture_fails_clearly(outcome):
    assert "a unit test may not use engine: move it to the real-engine tier" in outcome


def test_a_unit_test_calling_the_engine_fails_clearly(outcome):
    assert "this unit test called the Docker engine (GET http" in outcome


def test_both_are_reported_as_problems(outcome):
    assert "1 failed, 1 passed, 1 error" in outcome


def test_a_temp_dir_left_behind_is_reported(outcome):
    assert "/tmp hygiene: the run left 1 temporary entry behind" in outcome
