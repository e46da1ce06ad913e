"""Property-based run of schemathesis against /api/openapi.json on a live daphne and the real engine.

Bounded: a few examples per operation, a viewer token (every write is refused with 403 before any
engine call, so random input can never touch a resource this run does not own; reads reach the
engine with random references). Every response must match the schema and none may be a 5xx.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support import dashboard_server, manage

MAX_EXAMPLES = 4


@pytest.fixture(scope="module")
def api_server():
    workdir = Path(tempfile.mkdtemp(prefix="dash-api-"))
    try:
        with dashboard_server(workdir, roles=("viewer",), API_RATE_LIMIT="100000") as live:
            env = live.env if hasattr(live, "env") else None
            secret = manage(
                env or _env_of(live), "create_token", live.users["viewer"][0], "--name", "schemathesis",
                "--role", "viewer", "--expires-days", "1",
            ).stdout.strip()
            yield live.url, secret
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def _env_of(live):
    from tests.support import dashboard_env

    return dashboard_env(DATABASE_URL=f"sqlite:///{live.database}")


def test_every_operation_matches_its_schema_and_never_fails(api_server):
    url, secret = api_server
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", headers=headers)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case) -> None:
            response = case.call(base_url=url, headers=headers, timeout=30)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            case.validate_response(response)

        from hypothesis import given

        try:
            given(strategy)(run)()
            checked += 1
        except Exception as exc:  # collected: one report lists every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:800])
    assert checked > 20, f"only {checked} operations were exercised"
    assert failures == [], "\n".join(failures)
