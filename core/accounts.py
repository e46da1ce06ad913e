"""Accounts: one-time passwords to change, the theme, and the login form that refuses control characters."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from core.models import Account


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character or another Unicode control/format character."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def set_one_time_password(user, password: str) -> None:
    """Set ``password`` and require the user to replace it at their next login."""
    user.set_password(password)
    user.save(update_fields=["password"])
    Account.objects.update_or_create(user=user, defaults={"must_change_password": True})
    forget_account(user)


def require_password_change(user, required: bool = True) -> None:
    Account.objects.update_or_create(user=user, defaults={"must_change_password": required})
    forget_account(user)


# Every page reads both fields of the user's Account row (the password-change middleware, then the
# theme in the page chrome): one query per user OBJECT, kept on it. A request's user object lives for
# that request only, and the websocket re-checks (core/consumers/base.py) load a fresh user each time,
# so nothing is remembered across requests; a change through the helpers here forgets it at once.
_ACCOUNT_MEMO = "_dashboard_account"


def _account(user) -> tuple[bool, str]:
    """``(must_change_password, theme)`` of an authenticated user (no row: ``(False, "system")``)."""
    memo = user.__dict__.get(_ACCOUNT_MEMO)
    if memo is None:
        row = Account.objects.filter(user_id=user.pk).values_list("must_change_password", "theme").first()
        memo = (bool(row[0]), row[1] or Account.Theme.SYSTEM) if row else (False, Account.Theme.SYSTEM)
        user.__dict__[_ACCOUNT_MEMO] = memo
    return memo


def forget_account(user) -> None:
    """Drop what :func:`_account` remembered on ``user`` (after writing its Account row)."""
    user.__dict__.pop(_ACCOUNT_MEMO, None)


def theme_of(user) -> str:
    """The user's theme (``system`` for anyone without an account row)."""
    if user is None or not user.is_authenticated:
        return Account.Theme.SYSTEM
    return _account(user)[1]


def must_change_password(user) -> bool:
    """True when the authenticated ``user`` still has a one-time password."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return _account(user)[0]


class LoginForm(AuthenticationForm):
    """Django's login form; a username with control characters is refused before any lookup."""

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username", "")
        if has_control_characters(username):
            raise forms.ValidationError("A username has no control characters.", code="control_characters")
        return username
