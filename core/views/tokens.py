"""API tokens of the signed-in person: make one (shown once), list, revoke. Admins see everyone's."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core import audit, tokens
from core.models import ApiToken
from core.roles import ROLE_GROUPS, Role, require_role, role_of
from core.signals import revoke_websockets

NEVER = "never"


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “CI deploy of web”.")
    role = forms.ChoiceField(help_text="At most your own role; your current role caps it at every request.")
    expires_days = forms.CharField(
        max_length=8,
        initial=str(tokens.DEFAULT_EXPIRES_DAYS),
        help_text=f"Days until it stops working (1 to {tokens.MAX_EXPIRES_DAYS}); admins may write “never”.",
    )

    def __init__(self, *args, owner_role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_role = owner_role
        self.fields["role"].choices = [(r.label, r.label) for r in Role if r <= owner_role]
        self.fields["role"].initial = Role.VIEWER.label

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError("A token name may not contain control characters.")
        return name

    def clean_role(self) -> Role:
        role = ROLE_GROUPS[self.cleaned_data["role"]]
        if role > self.owner_role:
            raise forms.ValidationError("A token cannot have more than your own role.")
        return role

    def clean_expires_days(self) -> int | None:
        value = self.cleaned_data["expires_days"].strip().lower()
        if value == NEVER:
            if self.owner_role < Role.ADMIN:
                raise forms.ValidationError("Only admins may make tokens that never expire.")
            return None
        if not value.isdigit() or not 1 <= int(value) <= tokens.MAX_EXPIRES_DAYS:
            raise forms.ValidationError(f"Write a number of days from 1 to {tokens.MAX_EXPIRES_DAYS}.")
        return int(value)


@require_role(Role.VIEWER, action="token.create")
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The person's tokens, and the form to make one; a new secret is shown once."""
    owner_role = role_of(request.user)
    form = TokenForm(request.POST or None, owner_role=owner_role)
    created = None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            created = tokens.create(
                request.user, name=data["name"], role=data["role"], expires_days=data["expires_days"]
            )
            audit.record(
                request,
                "token.create",
                target=f"{created.token.name} ({created.token.prefix})",
                parameters={"role": data["role"].label, "expires_days": data["expires_days"]},
            )
            form = TokenForm(owner_role=owner_role)
        else:
            audit.refused_form(request, "token.create", form)
    status = 400 if form.is_bound and form.errors else 200
    context = {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(user=request.user).select_related("user"),
        "is_admin": owner_role >= Role.ADMIN,
    }
    response = render(request, "account/tokens.html", context, status=status)
    if created is not None:
        response["Cache-Control"] = "no-store"
    return response


@require_role(Role.VIEWER, action="token.revoke")
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a token: one's own, or anyone's for an admin."""
    token = get_object_or_404(ApiToken, pk=pk)
    if token.user_id != request.user.pk and role_of(request.user) < Role.ADMIN:
        audit.record(request, "token.revoke", target=str(pk), outcome=audit.DENIED, message="not the owner")
        messages.error(request, "You may only revoke your own tokens.")
        return redirect("token_list")
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        revoke_websockets(user_id=token.user_id, token_id=token.pk, reason="token revoked")
    audit.record(
        request,
        "token.revoke",
        target=f"{token.name} ({token.prefix})",
        parameters={"owner": token.user.get_username()},
    )
    messages.success(request, f"Revoked token “{token.name}”.")
    return redirect("team" if request.POST.get("next") == "team" else "token_list")


urlpatterns = [
    path("account/tokens/", token_list, name="token_list"),
    path("account/tokens/<int:pk>/revoke/", token_revoke, name="token_revoke"),
]
