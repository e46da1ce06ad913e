"""Property-based run of schemathesis against /api/openapi.json on a live daphne and the real engine.

Bounded: a few examples per operation (MAX_EXAMPLES). Every operation runs with a viewer token:
every write is refused with 403 (or 422 for input that does not fit) before any engine call, so
random input never touches a resource this run does not own, while reads reach the engine with
random references. The reads run again with an admin token (the admin-only reads, e.g. the audit
log and the prune preview, answer with data then). No response may be a 5xx, and every one must
match the schema: its status code, content type and body.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import dashboard_env, dashboard_server, manage

MAX_EXAMPLES = 4


def schema_valid_input_is_not_422(ctx, response, case) -> None:
    """Input generated to fit the schema must not be refused as not fitting it (a schema that
    promises more than the code accepts)."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and response.status_code == 422:
        raise AssertionError(f"schema-valid input refused with 422: {response.text[:300]}")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    schema_valid_input_is_not_422,
]


@pytest.fixture(scope="module")
def api_server(engine):
    workdir = Path(tempfile.mkdtemp(prefix="dash-api-"))
    docker_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        with dashboard_server(
            workdir, roles=("viewer", "admin"), API_RATE_LIMIT="100000", DOCKER_HOST=docker_host
        ) as live:
            env = dashboard_env(DATABASE_URL=f"sqlite:///{live.database}")
            secrets = {
                role: manage(
                    env,
                    "create_token",
                    live.users[role][0],
                    "--name",
                    f"schemathesis-{role}",
                    "--role",
                    role,
                    "--expires-days",
                    "1",
                ).stdout.strip()
                for role in ("viewer", "admin")
            }
            yield live.url, secrets
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(url: str, secret: str, *, methods: tuple[str, ...] | None = None) -> tuple[int, list[str]]:
    """Run every operation (of ``methods``); returns (operations exercised, failures)."""
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", headers=headers, timeout=30)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if methods is not None and operation.method.upper() not in methods:
            continue

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call(base_url=url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collected: one report lists every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:1500])
        checked += 1
    return checked, failures


def test_every_operation_matches_its_schema_and_never_fails(api_server):
    url, secrets = api_server
    checked, failures = _run(url, secrets["viewer"])
    assert checked > 30, f"only {checked} operations were exercised"
    assert failures == [], "\n".join(failures)


def test_every_read_matches_its_schema_for_an_admin(api_server):
    url, secrets = api_server
    checked, failures = _run(url, secrets["admin"], methods=("GET",))
    assert checked > 15, f"only {checked} read operations were exercised"
    assert failures == [], "\n".join(failures)
