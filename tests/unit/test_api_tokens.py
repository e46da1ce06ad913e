"""API tokens and the API's pure pieces: secrets, role caps, refusals, throttle, problem details."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from core import tokens
from core.api.auth import Throttled, throttle
from core.api.problems import validation_detail
from core.engine._client import translate
from core.errors import EngineRefused, InvalidInput
from core.models import ApiToken
from core.roles import Role, role_on, set_role


def _user(role: Role | None, name: str = "u"):
    user = get_user_model().objects.create_user(username=name, password="x")
    set_role(user, role)
    return user


def _request(user, token=None):
    from core.endpoints import default_ref

    return SimpleNamespace(user=user, endpoint=default_ref(), api_token=token)


def test_a_secret_has_the_prefix_and_only_its_hash_is_stored(db):
    created = tokens.create(_user(Role.OPERATOR), name="ci", role=Role.VIEWER, expires_days=7)
    assert tokens.looks_like_token(created.secret)
    assert created.secret.startswith("dkd_")
    stored = ApiToken.objects.get(pk=created.token.pk)
    assert created.secret not in (stored.digest, stored.prefix, stored.name)
    assert stored.digest == tokens.digest(created.secret)


def test_find_knows_the_secret_and_nothing_like_it(db):
    created = tokens.create(_user(Role.VIEWER), name="x", role=Role.VIEWER, expires_days=1)
    assert tokens.find(created.secret).pk == created.token.pk
    assert tokens.find(created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")) is None
    assert tokens.find("not-a-token") is None


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("Bearer dkd_x", "dkd_x"),
        ("bearer  dkd_x ", "dkd_x"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
    ],
)
def test_bearer_secret_reads_only_the_bearer_scheme(header, secret):
    assert tokens.bearer_secret(header) == secret


def test_the_token_caps_the_owners_role(db):
    owner = _user(Role.ADMIN)
    created = tokens.create(owner, name="x", role=Role.VIEWER, expires_days=1)
    assert role_on(_request(owner, created.token)) == Role.VIEWER
    assert role_on(_request(owner)) == Role.ADMIN


def test_the_owners_current_role_caps_the_token(db):
    owner = _user(Role.ADMIN)
    created = tokens.create(owner, name="x", role=Role.ADMIN, expires_days=1)
    set_role(owner, Role.VIEWER)
    assert role_on(_request(owner, created.token)) == Role.VIEWER


def test_refusal_names_revoked_expired_and_deactivated(db):
    owner = _user(Role.VIEWER)
    token = tokens.create(owner, name="t", role=Role.VIEWER, expires_days=1).token
    assert tokens.refusal(token) is None
    token.expires_at = timezone.now() - timedelta(seconds=1)
    assert "expired" in tokens.refusal(token)
    token.revoked_at = timezone.now()
    assert "revoked" in tokens.refusal(token)


def test_deactivating_the_owner_revokes_the_tokens(db):
    owner = _user(Role.VIEWER)
    token = tokens.create(owner, name="t", role=Role.VIEWER, expires_days=1).token
    owner.is_active = False
    owner.save()
    assert tokens.refusal(tokens.reload(token)).endswith("was revoked.")


def test_throttle_counts_per_token_and_says_when_to_retry(db, settings):
    settings.API_RATE_LIMIT = 2
    settings.API_RATE_WINDOW = 60
    first = tokens.create(_user(Role.VIEWER, "a"), name="a", role=Role.VIEWER, expires_days=1).token
    second = tokens.create(_user(Role.VIEWER, "b"), name="b", role=Role.VIEWER, expires_days=1).token
    throttle(first)
    throttle(first)
    with pytest.raises(Throttled) as refused:
        throttle(first)
    assert 1 <= refused.value.retry_after <= 61
    throttle(second)  # another token has its own count


def test_validation_detail_names_unknown_fields_first():
    errors = [
        {
            "loc": ("body", "payload", "bogus"),
            "type": "extra_forbidden",
            "msg": "Extra inputs are not permitted",
        },
        {
            "loc": ("body", "payload", "timeout"),
            "type": "int_parsing",
            "msg": "Input should be a valid integer",
        },
    ]
    detail, items = validation_detail(errors)
    assert detail == "Unknown field(s) refused: bogus. Also: timeout: Input should be a valid integer"
    assert [item["field"] for item in items] == ["bogus", "timeout"]


def _engine_exception(status: int, explanation: str) -> Exception:
    """An exception shaped like docker-py's APIError (the unit tier does not call the SDK)."""
    return type("APIError", (Exception,), {"status_code": status, "explanation": explanation})()


def test_an_ambiguous_id_prefix_is_a_refusal_not_a_gateway_error():
    exc = _engine_exception(500, "Multiple IDs found with provided prefix: 0")
    mapped = translate(exc, host="")
    assert isinstance(mapped, InvalidInput)
    assert mapped.status == 400


def test_other_engine_500s_stay_gateway_errors():
    exc = _engine_exception(500, "boom")
    mapped = translate(exc, host="")
    assert type(mapped) is EngineRefused
