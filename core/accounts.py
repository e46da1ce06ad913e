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


def require_password_change(user, required: bool = True) -> None:
    Account.objects.update_or_create(user=user, defaults={"must_change_password": required})


def theme_of(user) -> str:
    """The user's theme (``system`` for anyone without an account row)."""
    if user is None or not user.is_authenticated:
        return Account.Theme.SYSTEM
    value = Account.objects.filter(user_id=user.pk).values_list("theme", flat=True).first()
    return value or Account.Theme.SYSTEM


def must_change_password(user) -> bool:
    """True when the authenticated ``user`` still has a one-time password."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return Account.objects.filter(user_id=user.pk, must_change_password=True).exists()


class LoginForm(AuthenticationForm):
    """Django's login form; a username with control characters is refused before any lookup."""

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username", "")
        if has_control_characters(username):
            raise forms.ValidationError("A username has no control characters.", code="control_characters")
        return username
