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


def _facts_sql() -> str:
    """One statement for what every page reads about its user (built once from the models' tables)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from core.models import Endpoint, EndpointAccess

    q = connection.ops.quote_name
    user_model = get_user_model()
    through = user_model.groups.through._meta
    group = user_model.groups.field.related_model._meta
    user_col = q(through.get_field(user_model._meta.model_name).column)
    group_col = q(through.get_field(group.model_name).column)
    access, endpoint, account = EndpointAccess._meta, Endpoint._meta, Account._meta
    # Every name is a model's table or column (quoted); the values are the execute() parameters.
    return (
        f"SELECT 'g', g.{q('name')} FROM {q(group.db_table)} g"  # noqa: S608
        f" INNER JOIN {q(through.db_table)} ug"
        f" ON ug.{group_col} = g.{q(group.pk.column)} WHERE ug.{user_col} = %s"
        f" UNION ALL SELECT 'c', a.{q('role')} FROM {q(access.db_table)} a"
        f" INNER JOIN {q(endpoint.db_table)} e"
        f" ON e.{q(endpoint.pk.column)} = a.{q(access.get_field('endpoint').column)}"
        f" WHERE a.{q(access.get_field('user').column)} = %s AND e.{q('slug')} = %s"
        f" UNION ALL SELECT CASE WHEN r.{q('must_change_password')} THEN 'p1' ELSE 'p0' END, r.{q('theme')}"
        f" FROM {q(account.db_table)} r WHERE r.{q(account.pk.column)} = %s"
    )


_FACTS_SQL: str | None = None


def prime_user(user, slug: str) -> None:
    """Read, in ONE query, what this request's pages will ask about ``user`` on the endpoint ``slug``:
    the Account row (one-time password, theme), the role groups and the endpoint's cap, and keep them
    on the user object where :func:`must_change_password`, :func:`theme_of` and ``core.roles`` look
    first. Three ORM queries were ~1 ms of every page, mostly compiling them (bench/profile_page.py);
    a written statement is not compiled. The memos live on the request's user object, so for one
    request only (tests/unit/test_page_cost.py)."""
    global _FACTS_SQL
    from django.db import connection

    from core.roles import ROLE_GROUPS

    if _FACTS_SQL is None:
        _FACTS_SQL = _facts_sql()
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL, [user.pk, user.pk, slug, user.pk])
        rows = cursor.fetchall()
    roles = [ROLE_GROUPS[value] for kind, value in rows if kind == "g" and value in ROLE_GROUPS]
    caps = [ROLE_GROUPS[value] for kind, value in rows if kind == "c" and value in ROLE_GROUPS]
    account = [(kind == "p1", value) for kind, value in rows if kind in ("p0", "p1")]
    user.__dict__["_dashboard_role"] = max(roles) if roles else None
    user.__dict__.setdefault("_dashboard_limits", {})[slug] = caps[0] if caps else None
    must_change, theme = account[0] if account else (False, Account.Theme.SYSTEM)
    user.__dict__[_ACCOUNT_MEMO] = (must_change, theme or Account.Theme.SYSTEM)


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
