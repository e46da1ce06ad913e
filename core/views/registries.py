"""Registries: link private registries, browse catalog → repository → tag → manifest, delete tags, drift."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.validators import URLValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from core import audit, engine, references, tables
from core.errors import (
    Refused,
    RegistryAuthFailed,
    RegistryNotFound,
    RegistryRefused,
    RegistryUnavailable,
)
from core.middleware import error_response
from core.models import Registry
from core.registry import (
    Listing,
    RegistryAddressRefused,
    RegistryClient,
    RegistryStatus,
    client_for,
    forget_auth,
    validate_reference,
    validate_repository,
)
from core.roles import Role, has_role, require_role

CATALOG_SEARCH_LIMIT = 20_000  # names read per registry by the catalog search box
# A registry that said no or did not answer, shown as one row's state (a status cell, a drift row).
ROW_ERRORS = (RegistryRefused, RegistryUnavailable)
UNAVAILABLE = (
    "Unavailable: the registry could not be reached or did not answer as a registry (an admin sees why)."
)


class RegistryForm(forms.ModelForm):
    """Link or edit a registry; the secret is write-only (blank on edit keeps the stored one)."""

    url = forms.URLField(
        label="Base URL",
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="http(s)://host[:port], without /v2",
    )
    secret = forms.CharField(
        label="Password or token",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave blank to keep the stored one.",
    )
    clear_secret = forms.BooleanField(label="Forget the stored password", required=False)
    save_anyway = forms.BooleanField(
        label="Save even if the check fails",
        required=False,
        help_text="Saving first checks GET /v2/ with these credentials (token flow included). Tick this "
        "to link a registry that is offline or refuses them now; the address policy still applies.",
    )

    class Meta:
        model = Registry
        fields = [
            "name",
            "url",
            "username",
            "verify_tls",
            "ca_bundle",
            "allowed_token_hosts",
            "allow_private_addresses",
        ]
        help_texts = {
            "allowed_token_hosts": "Other token service origins (host, host:port or https://host:port, comma "
            "separated) trusted with the credentials; they are never sent to a token service elsewhere.",
        }

    #: What the check on save found (None when it could not run); the view reports it.
    check: RegistryStatus | None = None

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError("Only http:// and https:// registry URLs are allowed.")
        if parts.username or parts.password:
            raise forms.ValidationError("Put credentials in the username and password fields, not the URL.")
        if parts.query or parts.fragment or parts.path not in ("", "/"):
            raise forms.ValidationError("Give the registry's base URL only (scheme, host and port).")
        return f"{parts.scheme}://{parts.netloc}"

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors:
            self._check(cleaned)
        return cleaned

    def _check(self, cleaned: dict) -> None:
        """Try the settings before saving: GET /v2/ with these credentials, on a fresh auth state."""
        secret = cleaned.get("secret") or ""
        if not secret and self.instance.pk and not cleaned.get("clear_secret"):
            secret = self.instance.secret
        try:
            client = RegistryClient(
                url=cleaned["url"],
                username=cleaned.get("username", ""),
                password=secret,
                verify_tls=cleaned.get("verify_tls", False),
                ca_bundle=cleaned.get("ca_bundle", ""),
                allowed_token_hosts=cleaned.get("allowed_token_hosts", ""),
                allow_private_addresses=cleaned.get("allow_private_addresses", False),
                cached_auth=False,
            )
            with client:
                self.check = client.ping()
        except RegistryAddressRefused as exc:
            self.add_error("url", exc.message)
            return
        except ROW_ERRORS as exc:  # the check's result, not a failure of this page
            self.check = RegistryStatus(False, False, "", "", exc.message)
        if self.check.auth_ok or cleaned.get("save_anyway"):
            return
        if self.check.auth_refused:
            raise forms.ValidationError(
                "The registry refused these credentials. Its answer: %(detail)s",
                params={"detail": self.check.message},
            )
        raise forms.ValidationError(
            'Could not check the registry: %(detail)s Tick "Save even if the check fails" to link it anyway.',
            params={"detail": self.check.message},
        )

    def save(self, commit: bool = True) -> Registry:
        registry = super().save(commit=False)
        if self.cleaned_data.get("clear_secret"):
            registry.secret = ""
        elif self.cleaned_data.get("secret"):
            registry.secret = self.cleaned_data["secret"]
        if commit:
            registry.save()
        return registry


def registry_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A registry refusal escaping a page view: the refusal page with a way back. An unavailable
    registry is the middleware's 503 for admins; non-admins get the one generic refusal for both
    (so "port closed" and "port open but not a registry" look alike, see :func:`_shown`)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ROW_ERRORS as exc:
            shown = _shown(request, exc)
            if shown is UNAVAILABLE:
                exc = RegistryRefused(UNAVAILABLE)
            elif isinstance(exc, RegistryUnavailable):
                raise  # an admin: the middleware's 503 page naming the address it tried
            registry = Registry.objects.filter(pk=kwargs.get("pk")).first()
            back = (
                (reverse("registry-catalog", args=[registry.pk]), f"Back to {registry.name}")
                if registry is not None
                else (reverse("registry-list"), "Back to the registries")
            )
            return error_response(request, exc, title="The registry refused", back=back)

    return wrapper


def _shown(request: HttpRequest, exc: RegistryRefused | RegistryUnavailable) -> str:
    """The message a person may see: admins the detail; others the generic one, except for refused
    credentials and a missing repository/tag (so "port closed" and "not a registry" look alike)."""
    if has_role(request, Role.ADMIN) or isinstance(exc, RegistryAuthFailed | RegistryNotFound):
        return exc.message
    return UNAVAILABLE


@require_role(Role.VIEWER)
def registry_list(request: HttpRequest) -> HttpResponse:
    """Linked registries; each one's status loads lazily."""
    return render(request, "registries/list.html", {"registries": Registry.objects.all()})


@require_role(Role.VIEWER)
def registry_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Fragment: reachable, auth ok / unauthorized, API version (``GET /v2/``)."""
    registry = get_object_or_404(Registry, pk=pk)
    try:
        with client_for(registry) as client:
            status = client.ping()
    except ROW_ERRORS as exc:  # one row's state
        status = RegistryStatus(False, False, "", "", exc.message)
    if not status.auth_ok and not status.auth_refused and not has_role(request, Role.ADMIN):
        # "Port closed" and "port open but not a registry" look the same to non-admins.
        status = RegistryStatus(False, False, "", "", UNAVAILABLE)
    return render(request, "registries/list.html#status", {"status": status})


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN, action="registry.create")
def registry_new(request: HttpRequest) -> HttpResponse:
    """Link a registry."""
    form = RegistryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with audit.action(
            request, "registry.create", target=form.cleaned_data["name"], parameters=_params(form)
        ):
            registry = form.save()
        messages.success(request, f"Linked registry {registry.name}. {_checked(form)}")
        return redirect("registry-catalog", pk=registry.pk)
    if form.is_bound:
        audit.refused_form(request, "registry.create", form, target=request.POST.get("name", ""))
    return render(request, "registries/form.html", {"form": form}, status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN, action="registry.update")
def registry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a linked registry (the stored secret stays unless a new one is given)."""
    registry = get_object_or_404(Registry, pk=pk)
    form = RegistryForm(request.POST if request.method == "POST" else None, instance=registry)
    if request.method == "POST" and form.is_valid():
        with audit.action(request, "registry.update", target=registry.name, parameters=_params(form)):
            form.save()
        forget_auth()
        messages.success(request, f"Saved registry {registry.name}. {_checked(form)}")
        return redirect("registry-catalog", pk=registry.pk)
    if form.is_bound:
        audit.refused_form(request, "registry.update", form, target=registry.name)
    status = 400 if form.is_bound else 200
    return render(request, "registries/form.html", {"form": form, "registry": registry}, status=status)


def _checked(form: RegistryForm) -> str:
    """What the check on save found, for the success message."""
    if form.check is not None and form.check.auth_ok:
        return "GET /v2/ works with these credentials."
    found = form.check.message if form.check is not None else ""
    return f"Saved without a working check: {found}"


def _params(form: RegistryForm) -> dict:
    keys = ("name", "url", "username", "verify_tls", "allow_private_addresses", "save_anyway")
    data = {key: form.cleaned_data.get(key) for key in keys}
    data["secret"] = bool(form.cleaned_data.get("secret"))
    data["allowed_token_hosts"] = form.cleaned_data.get("allowed_token_hosts", "")
    return data


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN, action="registry.delete")
def registry_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Unlink a registry: a confirm page on GET, the deletion on POST (the registry itself is untouched)."""
    registry = get_object_or_404(Registry, pk=pk)
    if request.method == "GET":
        return render(request, "registries/delete.html", {"registry": registry})
    with audit.action(request, "registry.delete", target=registry.name, parameters={"url": registry.url}):
        registry.delete()
    messages.success(request, f"Unlinked registry {registry.name}.")
    return redirect("registry-list")


# The catalog and tag tables: plain names, sorted as people read versions (core.tables.natural_key).
NAME_SORTS = {"name": tables.natural_key}
# The registry's own paging parameters, from links made before these pages were tables: mapped
# (``prefix`` becomes the filter) or dropped by one redirect to the table's address.
LEGACY_PAGING = ("n", "last", "prefix")


def _legacy_redirect(request: HttpRequest) -> HttpResponse | None:
    """A redirect from a ``?n=&last=&prefix=`` address to the table's own (``q``), else None."""
    if not any(key in request.GET for key in LEGACY_PAGING):
        return None
    query = request.GET.copy()
    prefix = query.pop("prefix", [""])[-1].strip()
    for key in LEGACY_PAGING:
        query.pop(key, None)
    if prefix and not query.get("q"):
        query["q"] = prefix
    return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)


def _name_table(request: HttpRequest, listing: Listing, template: str, context: dict) -> HttpResponse:
    """A table of registry names (``listing``), filtered by ``q``, sorted and paged here; htmx asks
    for just the table."""
    params = tables.read(request.GET, sorts=NAME_SORTS, default_sort="name")
    names = [name for name in listing.names if params.needle in name.lower()]
    context |= {
        "page": tables.page_of(tables.sorted_rows(names, NAME_SORTS, params), params),
        "params": params,
        "complete": listing.complete,
        "bound": len(listing.names),
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, f"{template}#table" if fragment else template, context)


@require_role(Role.VIEWER)
@registry_page
def catalog(request: HttpRequest, pk: int) -> HttpResponse:
    """The catalog, read up to ``REGISTRY_LIST_MAX`` names, as a table (q, sort, dir, page, per_page)."""
    registry = get_object_or_404(Registry, pk=pk)
    if moved := _legacy_redirect(request):
        return moved
    with client_for(registry) as client:
        listing = client.catalog_listing(limit=settings.REGISTRY_LIST_MAX)
    return _name_table(request, listing, "registries/catalog.html", {"registry": registry})


@require_role(Role.VIEWER)
@registry_page
def repository(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """A repository's tags as a table; each row's details load lazily when it scrolls into view."""
    registry = get_object_or_404(Registry, pk=pk)
    name = validate_repository(name)
    if moved := _legacy_redirect(request):
        return moved
    with client_for(registry) as client:
        listing = client.tag_listing(name, limit=settings.REGISTRY_LIST_MAX)
    return _name_table(request, listing, "registries/repository.html", {"registry": registry, "name": name})


@require_role(Role.VIEWER)
def tag_summary(request: HttpRequest, pk: int, name: str, tag: str) -> HttpResponse:
    """Fragment: one tag's digest, size, created and platform(s)."""
    registry = get_object_or_404(Registry, pk=pk)
    name, tag = validate_repository(name), validate_reference(tag)
    context = {"registry": registry, "name": name, "tag": tag}
    try:
        with client_for(registry) as client:
            context["summary"] = client.tag_summary(name, tag)
    except ROW_ERRORS as exc:  # one row's state
        context["error"] = _shown(request, exc)
    return render(request, "registries/repository.html#row", context)


@require_role(Role.VIEWER)
@registry_page
def manifest(request: HttpRequest, pk: int, name: str, tag: str) -> HttpResponse:
    """A tag's manifest (or one platform of its index with ``?digest=``), config and history."""
    registry = get_object_or_404(Registry, pk=pk)
    name, tag = validate_repository(name), validate_reference(tag)
    digest = request.GET.get("digest", "")
    if digest and not references.is_digest(digest):
        raise Http404("not a digest")
    with client_for(registry) as client:
        found = client.manifest(name, digest or tag)
        config = None if found.is_index else client.config(name, found)
    reference = f"{registry.host}/{name}@{digest}" if digest else f"{registry.host}/{name}:{tag}"
    context = {
        "registry": registry,
        "name": name,
        "tag": tag,
        "platform_digest": digest,
        "manifest": found,
        "config": config,
        "reference": reference,
        "can_pull": has_role(request, Role.OPERATOR),
        "can_delete": has_role(request, Role.ADMIN),
    }
    return render(request, "registries/manifest.html", context)


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN, action="registry.tag_delete")
@registry_page
def tag_delete(request: HttpRequest, pk: int, name: str, tag: str) -> HttpResponse:
    """Delete a tag's manifest: GET resolves the digest and lists every tag sharing it; POST deletes."""
    registry = get_object_or_404(Registry, pk=pk)
    name, tag = validate_repository(name), validate_reference(tag)
    with client_for(registry) as client:
        digest = client.manifest_digest(name, tag)
        if digest is None:
            messages.error(request, f"{name}:{tag} is not in the registry any more.")
            return redirect("registry-repository", pk=pk, name=name)
        if request.method == "GET":
            shared = client.tags_sharing(name, digest)
            context = {"registry": registry, "name": name, "tag": tag, "shared": shared}
            return render(request, "registries/tag_delete.html", context)
        confirmed = request.POST.get("digest", "")
        parameters = {"registry": registry.name, "digest": confirmed}
        with audit.action(
            request, "registry.tag_delete", target=f"{registry.host}/{name}:{tag}", parameters=parameters
        ):
            if confirmed != digest:
                raise RegistryRefused(
                    f"{name}:{tag} now points at another digest than the one you confirmed; nothing was "
                    "deleted. Look again before deleting."
                )
            client.delete_manifest(name, digest)
    messages.success(
        request,
        f"Deleted {name}@{digest} and every tag that pointed at it. Space returns after the registry's "
        "garbage collection runs.",
    )
    return redirect("registry-repository", pk=pk, name=name)


PUSH_SORTS = {
    "reference": lambda row: row.reference,
    "created": lambda row: row.created,
    "size": lambda row: row.size,
}


@require_role(Role.ADMIN)
def push_form(request: HttpRequest, pk: int) -> HttpResponse:
    """Local tags, filtered and a page at a time, each with a form that pushes it here (POSTs to
    the images page's push action)."""
    registry = get_object_or_404(Registry, pk=pk)
    repository_name = request.GET.get("repository", "")
    params = tables.read(
        request.GET, sorts=PUSH_SORTS, default_sort="created", descending=("created", "size")
    )
    local = engine.for_request(request).registry_images.local_tags()
    if needle := params.needle:
        local = [row for row in local if needle in row.reference.lower() or needle in row.image_id[7:]]
    page = tables.page_of(tables.sorted_rows(local, PUSH_SORTS, params), params)
    rows = []
    for row in page.rows:
        reference = references.parse(row.reference)
        target = f"{registry.host}/{repository_name or reference.path}:{reference.tag}"
        rows.append({"row": row, "target": target})
    context = {
        "registry": registry,
        "rows": rows,
        "page": page,
        "params": params,
        "repository": repository_name,
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    return render(request, "registries/push.html#table" if fragment else "registries/push.html", context)


@require_role(Role.VIEWER)
def drift(request: HttpRequest) -> HttpResponse:
    """Fragment: for each local tag on a linked registry, is the registry's digest the local one?"""
    image_id = request.GET.get("image", "")
    if not image_id:
        raise Http404("no image given")
    image_refs = engine.for_request(request).registry_images.image_references(image=image_id)
    registries = {registry.host: registry for registry in Registry.objects.all()}
    rows = []
    clients: dict[str, RegistryClient] = {}
    try:
        for reference in image_refs.tags:
            parsed = references.parse(reference)
            repo, name, tag = parsed.repository, parsed.path, parsed.tag
            registry = registries.get(parsed.registry)
            if registry is None:
                continue
            local = {d.partition("@")[2] for d in image_refs.repo_digests if d.partition("@")[0] == repo}
            row = {
                "reference": reference,
                "registry": registry,
                "name": name,
                "tag": tag,
                "local": sorted(local),
            }
            try:
                client = clients.get(parsed.registry) or clients.setdefault(
                    parsed.registry, client_for(registry)
                )
                remote = client.manifest_digest(name, tag)
            except ROW_ERRORS as exc:  # one row's state
                row.update(state="error", message=_shown(request, exc))
            else:
                row["remote"] = remote
                row["state"] = "missing" if remote is None else "in-sync" if remote in local else "differs"
            rows.append(row)
    finally:
        for client in clients.values():
            client.close()
    return render(request, "registries/drift.html", {"rows": rows, "image": image_refs})


@require_role(Role.VIEWER)
def search(request: HttpRequest) -> HttpResponse:
    """The search page: linked registries' catalogs, and the engine's index (Docker Hub) only when
    asked (``hub=1``: it goes to the internet), each loaded lazily."""
    query = request.GET.get("q", "").strip()
    context = {"q": query, "hub": request.GET.get("hub") == "1", "registries": Registry.objects.all()}
    return render(request, "registries/search.html", context)


@require_role(Role.VIEWER)
def search_catalogs(request: HttpRequest) -> HttpResponse:
    """Fragment: repositories whose name contains the query, over every linked registry's catalog."""
    query = request.GET.get("q", "").strip().lower()
    results = []
    for registry in Registry.objects.all() if query else ():
        entry = {"registry": registry, "matches": [], "error": "", "scanned": 0}
        try:
            with client_for(registry) as client:
                for repo_name in client.iter_catalog(limit=CATALOG_SEARCH_LIMIT):
                    entry["scanned"] += 1
                    if query in repo_name and len(entry["matches"]) < 200:
                        entry["matches"].append(repo_name)
        except ROW_ERRORS as exc:  # one row's state
            entry["error"] = _shown(request, exc)
        entry["capped"] = entry["scanned"] >= CATALOG_SEARCH_LIMIT
        results.append(entry)
    return render(request, "registries/search.html#catalogs", {"q": query, "results": results})


@require_role(Role.VIEWER)
def search_index(request: HttpRequest) -> HttpResponse:
    """Fragment: ``docker search`` against the engine's configured index (clear message when offline)."""
    query = request.GET.get("q", "").strip()
    context: dict = {"q": query, "found": []}
    if query:
        try:
            context["found"] = engine.for_request(request).registry_images.search_index(term=query)
        except Refused as exc:  # the engine's index offline; the engine away is the 503 page
            context["error"] = exc.message
    return render(request, "registries/search.html#index", context)


repo = "registries/<int:pk>/repositories/<path:name>"
urlpatterns = [
    path("registries/", registry_list, name="registry-list"),
    path("registries/new/", registry_new, name="registry-new"),
    path("registries/search/", search, name="registry-search"),
    path("registries/search/catalogs/", search_catalogs, name="registry-search-catalogs"),
    path("registries/search/index/", search_index, name="registry-search-index"),
    path("registries/drift/", drift, name="registry-drift"),
    path("registries/<int:pk>/", catalog, name="registry-catalog"),
    path("registries/<int:pk>/status/", registry_status, name="registry-status"),
    path("registries/<int:pk>/edit/", registry_edit, name="registry-edit"),
    path("registries/<int:pk>/delete/", registry_delete, name="registry-delete"),
    path("registries/<int:pk>/push/", push_form, name="registry-push"),
    # The "/-/" separator cannot be a repository path component, so these must come before <path:name>/.
    path(f"{repo}/-/tags/<str:tag>/summary/", tag_summary, name="registry-tag-summary"),
    path(f"{repo}/-/tags/<str:tag>/delete/", tag_delete, name="registry-tag-delete"),
    path(f"{repo}/-/tags/<str:tag>/", manifest, name="registry-manifest"),
    path(f"{repo}/", repository, name="registry-repository"),
]
