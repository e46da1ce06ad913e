"""The JSON API on the real engine: tokens per role, expiry/revocation, refusals, audit, errors."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core import tokens
from core.models import ApiToken, AuditEvent
from core.roles import Role
from tests.conftest import make_user
from tests.support import RUN_ID, TEST_LABEL, unique


def _token(role: str, *, token_role: str | None = None, **kwargs) -> tuple[object, str]:
    user = make_user(role)
    created = tokens.create(
        user,
        name=unique("tok"),
        role=Role[(token_role or role).upper()],
        expires_days=kwargs.pop("expires_days", 90),
    )
    return created.token, created.secret


def _api(secret: str | None = None) -> Client:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return Client(**headers)


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


# --------------------------------------------------------------------------- per role


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads_the_container_list(db, role, make_container):
    container = make_container()
    _, secret = _token(role)
    response = _api(secret).get("/api/containers/", {"q": container["Name"].lstrip("/")})
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == container["Id"]


WRITE_STATUS = {"viewer": 403, "operator": 200, "admin": 200}
ADMIN_READ_STATUS = {"viewer": 403, "operator": 403, "admin": 200}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_roles_token_on_a_write(db, engine, role, make_container):
    container = make_container()
    token, secret = _token(role)
    response = _post(_api(secret), f"/api/containers/{container['Id'][:12]}/pause/")
    try:
        assert response.status_code == WRITE_STATUS[role]
        assert engine.api.inspect_container(container["Id"])["State"]["Paused"] is (role != "viewer")
        event = AuditEvent.objects.filter(action="container.pause", token_id=token.pk).get()
        assert event.outcome == ("denied" if role == "viewer" else "ok")
    finally:
        if role != "viewer":
            engine.api.unpause(container["Id"])


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_roles_token_on_a_read(db, role, make_container):
    container = make_container()
    _, secret = _token(role)
    response = _api(secret).get(f"/api/containers/{container['Id'][:12]}/")
    assert response.status_code == 200
    assert response.json()["id"] == container["Id"]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_roles_token_on_the_admin_read(db, role):
    _, secret = _token(role)
    assert _api(secret).get("/api/audit/").status_code == ADMIN_READ_STATUS[role]


def test_viewer_token_write_is_403_and_audited(db, make_container):
    container = make_container()
    token, secret = _token("viewer")
    response = _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(
        action="container.stop", outcome="denied", token_name=token.name
    ).exists()


def test_operator_token_stops_a_container_and_the_audit_names_the_token(db, engine, make_container):
    container = make_container()
    token, secret = _token("operator")
    response = _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/", {"timeout": 1})
    assert response.status_code == 200
    assert engine.api.inspect_container(container["Id"])["State"]["Running"] is False
    event = AuditEvent.objects.filter(action="container.stop", outcome="ok").latest("created_at")
    assert event.token_name == token.name
    assert event.token_id == token.pk


def test_operator_token_cannot_delete(db, make_container):
    container = make_container()
    _, secret = _token("operator")
    assert _api(secret).delete(f"/api/containers/{container['Id'][:12]}/").status_code == 403


def test_admin_token_deletes(db, engine, make_container):
    container = make_container(start=False)
    _, secret = _token("admin")
    assert _api(secret).delete(f"/api/containers/{container['Id'][:12]}/").status_code == 200
    assert not engine.api.containers(all=True, filters={"id": container["Id"]})


def test_a_token_role_is_capped_by_the_token(db, make_container):
    container = make_container()
    _, secret = _token("admin", token_role="viewer")
    assert _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/").status_code == 403


def test_a_token_is_capped_by_the_owners_current_role(db, make_container):
    from core.roles import set_role

    container = make_container()
    token, secret = _token("operator")
    set_role(token.user, Role.VIEWER)
    assert _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/").status_code == 403


def test_operator_create_goes_through_the_non_admin_policy(db, base_image):
    token, secret = _token("operator")
    body = {
        "image": base_image,
        "name": unique("api"),
        "command": "sleep 30",
        "volumes": ["/etc:/host-etc"],
        "labels": [f"{TEST_LABEL}={RUN_ID}"],
    }
    response = _post(_api(secret), "/api/containers/", body)
    assert response.status_code == 400
    assert "Only an admin" in response.json()["detail"]
    refusal = AuditEvent.objects.get(action="container.create", token_id=token.pk)
    assert refusal.outcome == "denied"


def test_an_operators_macvlan_network_on_a_host_interface_is_refused_by_the_api(db, engine):
    token, secret = _token("operator")
    name = unique("apinet")
    body = {"name": name, "driver": "macvlan", "options": {"parent": "eth0"}}
    response = _post(_api(secret), "/api/networks/", body)
    assert response.status_code == 400
    assert "Only an admin may attach a macvlan network" in response.json()["detail"]
    assert not engine.api.networks(names=[name])
    assert AuditEvent.objects.get(action="network.create", token_id=token.pk).outcome == "denied"


def test_operator_creates_and_starts_a_container(db, engine, base_image):
    _, secret = _token("operator")
    name = unique("api")
    body = {"image": base_image, "name": name, "command": "sleep 30", "labels": [f"{TEST_LABEL}={RUN_ID}"]}
    response = _post(_api(secret), "/api/containers/", body)
    try:
        assert response.status_code == 201
        assert engine.api.inspect_container(name)["State"]["Running"] is True
    finally:
        engine.api.remove_container(name, force=True)


# --------------------------------------------------------------------------- tokens


def test_expired_token_is_401_with_a_clear_message(db):
    token, secret = _token("viewer")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    response = _api(secret).get("/api/overview/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_revoked_token_is_401(db):
    token, secret = _token("viewer")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = _api(secret).get("/api/overview/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_deactivating_the_owner_stops_the_token(db):
    token, secret = _token("viewer")
    token.user.is_active = False
    token.user.save()
    assert _api(secret).get("/api/overview/").status_code == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_a_refused_token_is_audited_with_its_name_and_id(db):
    token, secret = _token("viewer")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    for _ in range(3):
        _api(secret).get("/api/overview/")
    events = AuditEvent.objects.filter(action="api.auth", token_id=token.pk)
    assert events.count() == 1  # at most once a minute per token
    assert events.get().token_name == token.name
    assert events.get().outcome == "denied"


def test_the_audit_api_lists_token_rows(db, make_container):
    container = make_container()
    operator, secret = _token("operator")
    _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/", {"timeout": 1})
    _, admin_secret = _token("admin")
    rows = _api(admin_secret).get("/api/audit/", {"action": "container.stop"}).json()
    assert rows[0]["token_id"] == operator.pk
    assert rows[0]["token_name"] == operator.name


def test_deactivating_on_the_team_page_revokes_the_tokens(admin_client):
    token, secret = _token("operator")
    admin_client.post(f"/team/users/{token.user.pk}/deactivate/", {"confirm": "yes"})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    token.user.is_active = True
    token.user.save()
    assert _api(secret).get("/api/overview/").status_code == 401  # reactivation does not revive it


def test_the_team_page_lists_and_revokes_every_token(admin_client):
    token, _ = _token("viewer")
    page = admin_client.get("/team/").content.decode()
    assert f'data-id="{token.pk}"' in page
    response = admin_client.post(f"/account/tokens/{token.pk}/revoke/", {"next": "team"})
    assert response["Location"] == "/team/"
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_token_in_the_query_string_is_refused(db):
    _, secret = _token("viewer")
    response = Client().get("/api/overview/", {"token": secret})
    assert response.status_code == 401
    assert "Authorization header" in response.json()["detail"]


def test_token_in_a_form_field_is_refused_even_with_a_header(db):
    _, secret = _token("admin")
    response = _api(secret).post("/api/images/prune/", {"access_token": secret})
    assert response.status_code == 401


def test_a_session_cookie_does_not_authenticate_the_api(operator_client):
    assert operator_client.get("/api/overview/").status_code == 401
    assert (
        operator_client.post("/api/images/prune/", content_type="application/json", data="{}").status_code
        == 401
    )


def test_unknown_token_is_401(db):
    assert _api("dkd_" + "x" * 40).get("/api/overview/").status_code == 401


def test_last_use_is_recorded(db):
    token, secret = _token("viewer")
    _api(secret).get("/api/overview/")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.last_used_address == "127.0.0.1"


def test_throttle_answers_429_with_retry_after(db, settings):
    settings.API_RATE_LIMIT = 3
    _, secret = _token("viewer")
    client = _api(secret)
    statuses = [client.get("/api/overview/").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    assert int(client.get("/api/overview/")["Retry-After"]) >= 1


def test_create_token_command_prints_a_working_token(db):
    user = make_user("operator")
    out = io.StringIO()
    call_command(
        "create_token", user.username, "--name", "ci", "--role", "viewer", "--expires-days", "7", stdout=out
    )
    secret = out.getvalue().strip()
    assert secret.startswith("dkd_")
    assert _api(secret).get("/api/overview/").status_code == 200


def test_create_token_command_refuses_more_than_the_owners_role(db):
    from django.core.management.base import CommandError

    user = make_user("viewer")
    with pytest.raises(CommandError):
        call_command("create_token", user.username, "--name", "x", "--role", "admin")


# --------------------------------------------------------------------------- the token pages


def test_token_page_shows_the_secret_once(operator_client):
    response = operator_client.post(
        "/account/tokens/", {"name": "deploy", "role": "operator", "expires_days": "30"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-token="dkd_' in body
    again = operator_client.get("/account/tokens/").content.decode()
    assert 'data-token="dkd_' not in again
    assert "deploy" in again


def test_token_page_refuses_a_role_above_ones_own(operator_client):
    response = operator_client.post("/account/tokens/", {"name": "x", "role": "admin", "expires_days": "30"})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(name="x").exists()


def test_never_expiring_tokens_are_for_admins(operator_client, admin_client):
    assert (
        operator_client.post(
            "/account/tokens/", {"name": "n", "role": "viewer", "expires_days": "never"}
        ).status_code
        == 400
    )
    assert (
        admin_client.post(
            "/account/tokens/", {"name": "n", "role": "viewer", "expires_days": "never"}
        ).status_code
        == 200
    )


def test_revoke_from_the_page(operator_client):
    operator_client.post("/account/tokens/", {"name": "gone", "role": "viewer", "expires_days": "1"})
    token = ApiToken.objects.get(name="gone")
    assert operator_client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_one_cannot_revoke_someone_elses_token(operator_client):
    token, _ = _token("viewer")
    operator_client.post(f"/account/tokens/{token.pk}/revoke/")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


# --------------------------------------------------------------------------- errors and schema


def test_unknown_fields_are_422_naming_them(db, make_container):
    container = make_container()
    _, secret = _token("operator")
    response = _post(
        _api(secret), f"/api/containers/{container['Id'][:12]}/stop/", {"timeout": 1, "bogus": 2}
    )
    assert response.status_code == 422
    assert "bogus" in response.json()["detail"]


def test_wrong_types_are_422(db, make_container):
    container = make_container()
    _, secret = _token("operator")
    response = _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/", {"timeout": "soon"})
    assert response.status_code == 422


def test_refused_input_on_a_write_is_audited(db, make_container):
    container = make_container()
    token, secret = _token("operator")
    _post(_api(secret), f"/api/containers/{container['Id'][:12]}/stop/", {"bogus": 1})
    event = AuditEvent.objects.filter(token_id=token.pk, outcome="failed").get()
    assert event.parameters["refused_fields"] == ["bogus"]


def test_unknown_api_paths_and_methods_are_problems(db):
    _, secret = _token("viewer")
    missing = _api(secret).get("/api/nothing-here/")
    wrong_method = _api(secret).put("/api/overview/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert wrong_method.status_code == 405
    assert wrong_method["Content-Type"] == "application/problem+json"
    # A newline in the path (schemathesis found it) falls through to the API's 404, not the HTML page.
    for path in ("/api/nothing%0Ahere/", "/api/registries/1/repositories/%0A%5C/tags/"):
        odd = _api(secret).get(path)
        assert (odd.status_code, odd["Content-Type"]) == (404, "application/problem+json"), path


async def _body(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


def test_logs_download_is_bounded_ndjson(db, engine, make_container):
    container = make_container(command="sh -c 'seq 1 50'")
    engine.api.wait(container["Id"], timeout=30)
    _, secret = _token("viewer")
    response = _api(secret).get(
        f"/api/containers/{container['Id'][:12]}/logs/", {"tail": 5, "format": "ndjson"}
    )
    assert response["Content-Type"] == "application/x-ndjson"
    body = async_to_sync(_body)(response)
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["text"] for line in lines] == ["46", "47", "48", "49", "50"]


def test_logs_tail_over_the_bound_is_422(db, make_container):
    container = make_container()
    _, secret = _token("viewer")
    response = _api(secret).get(f"/api/containers/{container['Id'][:12]}/logs/", {"tail": 10_001})
    assert response.status_code == 422


def test_missing_container_is_a_problem_404(db):
    _, secret = _token("viewer")
    response = _api(secret).get(f"/api/containers/{RUN_ID}-nope/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"]


def test_openapi_schema_lists_the_operations(viewer_client):
    schema = viewer_client.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/containers/" in schema["paths"]
    assert schema["components"]["securitySchemes"]


def test_openapi_schema_has_one_key_per_name(viewer_client):
    """Swagger UI parses the schema as YAML: a repeated key (e.g. "200" twice) breaks the docs page."""
    repeated = []

    def pairs(items):
        keys = [key for key, _ in items]
        repeated.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(items)

    json.loads(viewer_client.get("/api/openapi.json").content, object_pairs_hook=pairs)
    assert repeated == []


def test_docs_page_uses_the_vendored_swagger_ui(viewer_client):
    body = viewer_client.get("/api/docs").content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in body
    assert "cdn" not in body.lower()


def test_api_under_an_endpoint_prefix(db):
    from core.models import Endpoint

    default = Endpoint.objects.default()
    other = Endpoint.objects.create(name=f"{RUN_ID} api", slug=f"{RUN_ID}-api", url=default.url)
    _, secret = _token("viewer")
    response = _api(secret).get(f"/e/{other.slug}/api/overview/")
    assert response.status_code == 200
    assert response.json()["endpoint"] == other.slug
