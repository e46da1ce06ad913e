"""Endpoints: the Docker hosts this dashboard drives (admin manages; everyone sees their health)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from core import audit
from core.endpoints import health_of_all
from core.engine import forget_client
from core.models import Endpoint, EndpointAccess
from core.roles import Role, require_role

SCHEMES = ("unix", "tcp", "ssh")


class EndpointForm(forms.ModelForm):
    """Labels in plain words; the address name (slug) is derived from the name unless one is typed
    (here for a form sent without scripts, and as you type by static/js/app.js ``data-slug-from``)."""

    tls_key = forms.CharField(
        label="Client key (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )

    class Meta:
        model = Endpoint
        fields = ["name", "slug", "url", "tls_ca", "tls_cert"]
        labels = {
            "name": "Name",
            "slug": "Name in addresses",
            "url": "Engine URL",
            "tls_ca": "CA certificate (PEM)",
            "tls_cert": "Client certificate (PEM)",
        }
        help_texts = {
            "name": "What people see in the endpoint switcher, e.g. Production.",
            "slug": "Pages of this endpoint live under /e/<this name>/. Filled in from the name; "
            "change it if you like (letters, digits, - and _).",
        }
        widgets = {
            "slug": forms.TextInput(attrs={"data-slug-from": "id_name", "autocomplete": "off"}),
            "tls_ca": forms.Textarea(attrs={"rows": 4}),
            "tls_cert": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self) -> str:
        slug = (self.cleaned_data.get("slug") or "").strip() or slugify(self.cleaned_data.get("name", ""))[
            :50
        ]
        if not slug:
            raise forms.ValidationError("Give a name in addresses: letters, digits, - and _.")
        return slug

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise forms.ValidationError("Use unix:///path, tcp://host:port (with TLS) or ssh://user@host.")
        if parts.scheme in ("tcp", "ssh") and not parts.hostname:
            raise forms.ValidationError("The URL needs a host name.")
        return url

    def clean(self) -> dict:
        data = super().clean()
        url = data.get("url", "")
        has_key = bool(data.get("tls_key")) or bool(self.instance.pk and self.instance.tls_key_encrypted)
        if url.startswith("tcp://") and not (data.get("tls_cert") and has_key):
            self.add_error(
                "url",
                "A tcp endpoint needs TLS with a client certificate and key: an open Docker tcp port is root "
                "for anyone who can reach it. Use TLS client certificates or ssh.",
            )
        return data

    def save(self, commit: bool = True) -> Endpoint:
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("tls_key"):
            endpoint.tls_key = self.cleaned_data["tls_key"]
        if commit:
            endpoint.save()
        return endpoint


class AccessForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=[("", "no limit"), *EndpointAccess.ROLE_CHOICES], required=False)

    def clean_username(self) -> object:
        user = get_user_model().objects.filter(username=self.cleaned_data["username"]).first()
        if user is None:
            raise forms.ValidationError("There is no such user.")
        return user


@require_role(Role.VIEWER)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """Every endpoint with its health, probed concurrently with a short timeout."""
    Endpoint.objects.default()
    rows = health_of_all(list(Endpoint.objects.all()))
    return render(request, "endpoints/list.html", {"rows": rows})


@require_role(Role.ADMIN, action="endpoint.create")
def endpoint_new(request: HttpRequest) -> HttpResponse:
    """Add an endpoint (GET shows the form)."""
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        parameters = {"name": request.POST.get("name"), "url": request.POST.get("url")}
        if not form.is_valid():
            audit.record(
                request,
                "endpoint.create",
                target=request.POST.get("slug", ""),
                parameters=parameters,
                outcome=audit.FAILED,
                message=form.errors.as_text(),
            )
            return render(request, "endpoints/form.html", {"form": form}, status=400)
        with audit.action(
            request, "endpoint.create", target=form.cleaned_data["slug"], parameters=parameters
        ):
            endpoint = form.save()
        messages.success(request, f"Endpoint {endpoint.name} added.")
        return redirect("endpoint_list")
    return render(request, "endpoints/form.html", {"form": form})


@require_role(Role.ADMIN, action="endpoint.update")
def endpoint_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit an endpoint and its per-user role limits (the default endpoint: limits only)."""
    endpoint = get_object_or_404(Endpoint, slug=slug)
    form = None if endpoint.is_default else EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form is None:
        messages.error(request, "The default endpoint follows DOCKER_HOST; change it in the environment.")
        return render(
            request,
            "endpoints/form.html",
            {
                "endpoint": endpoint,
                "access_form": AccessForm(),
                "limits": endpoint.access.select_related("user"),
            },
            status=400,
        )
    if request.method == "POST":
        old_url = endpoint.url
        if not form.is_valid():
            audit.record(
                request, "endpoint.update", target=slug, outcome=audit.FAILED, message="invalid form"
            )
            return render(request, "endpoints/form.html", {"form": form, "endpoint": endpoint}, status=400)
        form.save()
        forget_client(old_url)
        audit.record(request, "endpoint.update", target=slug, parameters={"url": endpoint.url})
        messages.success(request, f"Endpoint {endpoint.name} saved.")
        return redirect("endpoint_list")
    context = {
        "form": form,
        "endpoint": endpoint,
        "access_form": AccessForm(),
        "limits": endpoint.access.select_related("user"),
    }
    return render(request, "endpoints/form.html", context)


@require_role(Role.ADMIN, action="endpoint.access")
@require_POST
def endpoint_access(request: HttpRequest, slug: str) -> HttpResponse:
    """Limit (or stop limiting) one user's role on this endpoint."""
    endpoint = get_object_or_404(Endpoint, slug=slug)
    form = AccessForm(request.POST)
    if not form.is_valid():
        audit.record(
            request,
            "endpoint.access",
            target=slug,
            outcome=audit.FAILED,
            parameters=request.POST.dict(),
            message="; ".join(form.errors.get("username", [])),
        )
        messages.error(
            request,
            "Could not set the limit: " + " ".join(str(e) for errors in form.errors.values() for e in errors),
        )
        return redirect("endpoint_edit", slug=slug)
    user, role = form.cleaned_data["username"], form.cleaned_data["role"]
    if role:
        EndpointAccess.objects.update_or_create(user=user, endpoint=endpoint, defaults={"role": role})
    else:
        EndpointAccess.objects.filter(user=user, endpoint=endpoint).delete()
    audit.record(request, "endpoint.access", target=slug, parameters={"user": user.username, "role": role})
    messages.success(
        request, f"{user.username} on {endpoint.name}: " + (f"at most {role}" if role else "no limit")
    )
    return redirect("endpoint_edit", slug=slug)


@require_role(Role.ADMIN, action="endpoint.delete")
def endpoint_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """Two steps: GET shows what will be forgotten, POST removes the endpoint (not the engine)."""
    endpoint = get_object_or_404(Endpoint, slug=slug, is_default=False)
    if request.method != "POST":
        return render(request, "endpoints/confirm_delete.html", {"endpoint": endpoint})
    with audit.action(request, "endpoint.delete", target=slug, parameters={"url": endpoint.url}):
        forget_client(endpoint.url)
        endpoint.delete()
    messages.success(
        request, f"Endpoint {endpoint.name} removed from the dashboard (the engine is untouched)."
    )
    return redirect("endpoint_list")


urlpatterns = [
    path("endpoints/", endpoint_list, name="endpoint_list"),
    path("endpoints/new/", endpoint_new, name="endpoint_new"),
    path("endpoints/<slug:slug>/edit/", endpoint_edit, name="endpoint_edit"),
    path("endpoints/<slug:slug>/access/", endpoint_access, name="endpoint_access"),
    path("endpoints/<slug:slug>/delete/", endpoint_delete, name="endpoint_delete"),
]
