"""The unit tier needs no Docker engine: a test that asks for one FAILS, saying so.

Drop ``test_*.py`` files in this package; they may use the database (``db``), Django's ``client``
and ``settings``, but not the real-engine fixtures of ``tests/conftest.py``, and any attempt to talk
to an engine (docker-py's HTTP client) fails the test at once instead of waiting for a timeout.
"""

from __future__ import annotations

import docker
import pytest

from core.engine import streams

# The session fixtures of tests/conftest.py that start or reach real things.
REAL_FIXTURES = frozenset(
    {
        "engine",
        "base_image",
        "make_container",
        "engine_proxy",
        "registry_server",
        "live_server_process",
        "live",
        "browser",
        "page",
        "login",
    }
)
MOVE_IT = "move it to the real-engine tier (a tests/test_*.py file), or test the pure function instead"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture runs (the engine's are session-scoped, so they would come first)."""
    used = sorted(REAL_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if used:
        pytest.fail(f"a unit test may not use {', '.join(used)}: {MOVE_IT}.", pytrace=False)


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, request, *args, **kwargs):
        pytest.fail(
            f"this unit test called the Docker engine ({request.method} {request.url}): {MOVE_IT}.",
            pytrace=True,
        )

    monkeypatch.setattr(docker.APIClient, "send", refuse)

    def refuse_raw(kind, where, timeout):
        pytest.fail(f"this unit test called the Docker engine ({kind} {where}): {MOVE_IT}.", pytrace=True)

    # The log stream's own HTTP/1.0 connection (core.engine.streams._raw_get) bypasses docker-py.
    monkeypatch.setattr(streams, "_connect", refuse_raw)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Unit tests check what is done with passwords, not PBKDF2's cost (seconds on a small machine)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
