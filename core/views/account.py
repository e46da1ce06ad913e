"""The signed-in person's own preferences (the colour theme); password and tokens have their own modules."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core import audit
from core.accounts import forget_account
from core.models import Account
from core.roles import Role, require_role


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(choices=Account.Theme.choices)


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "overview"


@require_role(Role.VIEWER, action="user.theme")
@require_POST
def theme(request: HttpRequest) -> HttpResponse:
    """Keep the colour theme (system, light or dark) on the user's account; 204 to scripts."""
    form = ThemeForm(request.POST)
    if not form.is_valid():
        audit.refused_form(request, "user.theme", form, target=request.user.get_username())
        return HttpResponse(
            "Pick system, light or dark.", status=400, content_type="text/plain; charset=utf-8"
        )
    with audit.action(
        request, "user.theme", target=request.user.get_username(), parameters=form.cleaned_data
    ):
        Account.objects.update_or_create(user=request.user, defaults={"theme": form.cleaned_data["theme"]})
        forget_account(request.user)
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)
    return redirect(_back(request))


urlpatterns = [
    path("account/theme/", theme, name="account-theme"),
]
