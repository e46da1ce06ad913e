"""Accounts: control characters refused in usernames; one-time passwords flagged."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core.accounts import LoginForm, has_control_characters, must_change_password, set_one_time_password


@pytest.mark.parametrize(
    "name", ["eve\nINFO audit", "eve\r", "eve\x1b[2J", "eve\x00", "eve\x85", "eve\u200b"]
)
def test_control_characters_are_found(name):
    assert has_control_characters(name) is True


@pytest.mark.parametrize("name", ["amy", "zoë.müller@example.com", "o'neil+x"])
def test_ordinary_names_have_none(name):
    assert has_control_characters(name) is False


def test_the_login_form_refuses_a_username_with_a_newline(db, rf):
    form = LoginForm(rf.post("/"), data={"username": "eve\nINFO audit admin", "password": "x"})
    assert form.errors["username"] == ["A username has no control characters."]


def test_a_refused_username_is_not_looked_up(db, rf):
    from core.models import AuditEvent

    LoginForm(rf.post("/"), data={"username": "eve\nforged", "password": "x"}).is_valid()
    assert AuditEvent.objects.filter(action="auth.login").count() == 0


def test_a_one_time_password_must_be_changed(db):
    user = get_user_model().objects.create_user(username="amy")
    set_one_time_password(user, "temporary-pass-1")
    assert must_change_password(user) is True


def test_a_user_with_their_own_password_need_not_change_it(db):
    user = get_user_model().objects.create_user(username="bob", password="own-pass-123")
    assert must_change_password(user) is False


def test_the_one_time_password_works(db):
    user = get_user_model().objects.create_user(username="amy")
    set_one_time_password(user, "temporary-pass-1")
    assert user.check_password("temporary-pass-1") is True
