"""Team console (users and roles), the audit log with its CSV export, and session recordings."""

from __future__ import annotations

import csv
import functools
import json
import operator
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.sessions.models import Session
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET, require_POST

from core import audit, tables
from core.accounts import must_change_password, require_password_change, set_one_time_password
from core.models import ApiToken, AuditEvent, Recording
from core.recordings import recordings_dir
from core.roles import ROLE_GROUPS, Role, require_role, role_of, set_role
from core.signals import revoke_websockets

User = get_user_model()
CSV_COLUMNS = (
    "time",
    "user",
    "role",
    "address",
    "action",
    "target",
    "outcome",
    "message",
    "parameters",
    "endpoint",
)
USERNAME_RULE = "A username is 1-150 letters, digits and @ . + - _ ."
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+-_")


# --------------------------------------------------------------------------- users and roles


def _active_admins() -> QuerySet:
    return (
        User.objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(groups__name="admin")).distinct()
    )


def _would_leave_no_admin(user) -> bool:
    """True when ``user`` is the last active admin (so demoting or deactivating them locks everyone out)."""
    return role_of(user) == Role.ADMIN and not _active_admins().exclude(pk=user.pk).exists()


def end_sessions(user, *, reason: str) -> int:
    """Delete every session of ``user`` and close their open websockets; returns the sessions ended."""
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
    revoke_websockets(user_id=user.pk, reason=reason)
    return len(ended)


TEAM_TOKENS = 500  # newest API tokens listed on the team page


def _team_page(
    request: HttpRequest, *, created: dict | None = None, form: forms.Form | None = None, status: int = 200
) -> HttpResponse:
    users = User.objects.order_by("username").prefetch_related("groups")
    rows = [{"user": user, "role": role_of(user) if user.is_active else _stored_role(user)} for user in users]
    return render(
        request,
        "team/team.html",
        {
            "rows": rows,
            "roles": [role.label for role in Role],
            "created": created,
            "tokens": ApiToken.objects.select_related("user")[:TEAM_TOKENS],
            "form": form or UserCreateForm(),
        },
        status=status,
    )


def _stored_role(user) -> Role | None:
    if user.is_superuser:
        return Role.ADMIN
    names = [g.name for g in user.groups.all() if g.name in ROLE_GROUPS]
    return max((ROLE_GROUPS[n] for n in names), default=None)


@require_GET
@require_role(Role.ADMIN)
def team(request: HttpRequest) -> HttpResponse:
    """Users with their role, last login and state; the forms to add and change them."""
    return _team_page(request)


class UserCreateForm(forms.Form):
    """A new user and their role; element ids ``id_new_<field>`` as the team page uses."""

    username = forms.CharField(max_length=150, error_messages={"max_length": USERNAME_RULE})
    role = forms.ChoiceField(choices=[(role.label, role.label) for role in Role])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_new_%s")
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if not set(username) <= USERNAME_CHARS:  # no spaces, no control characters (log lines)
            raise forms.ValidationError(USERNAME_RULE)
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(f"A user named {username} exists already.")
        return username

    def clean_role(self) -> Role:
        return ROLE_GROUPS[self.cleaned_data["role"]]


@require_POST
@require_role(Role.ADMIN, action="user.create")
def user_create(request: HttpRequest) -> HttpResponse:
    """Create a user with a role; the generated password is shown once, in this response only."""
    form = UserCreateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(" ".join(v) for v in form.errors.values())
        target = request.POST.get("username", "")[:150]
        audit.record(request, "user.create", target=target, outcome=audit.FAILED, message=errors)
        return _team_page(request, form=form, status=400)
    username, role = form.cleaned_data["username"], form.cleaned_data["role"]
    password = secrets.token_urlsafe(15)
    with audit.action(request, "user.create", target=username, parameters={"role": role.label}):
        user = User.objects.create_user(username=username)
        set_one_time_password(user, password)
        set_role(user, role)
    return _team_page(request, created={"username": username, "password": password, "role": role.label})


@require_POST
@require_role(Role.ADMIN, action="user.role")
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    """Change a user's role; a downgrade ends their sessions and websockets."""
    user = get_object_or_404(User, pk=user_id)
    new = ROLE_GROUPS.get(request.POST.get("role", ""))
    old = role_of(user)
    params = {"from": old.label if old else "", "to": new.label if new else ""}
    if new is None:
        messages.error(request, "Choose a role: viewer, operator or admin.")
    elif new < Role.ADMIN and _would_leave_no_admin(user):
        message = f"{user.username} is the last active admin; make someone else admin first."
        audit.record(
            request,
            "user.role",
            target=user.username,
            parameters=params,
            outcome=audit.FAILED,
            message=message,
        )
        messages.error(request, message)
    elif new != old:
        with audit.action(request, "user.role", target=user.username, parameters=params) as details:
            if new < Role.ADMIN and user.is_superuser:
                user.is_superuser = user.is_staff = False
                user.save(update_fields=["is_superuser", "is_staff"])
            set_role(user, new)
            if old is not None and new < old:
                details["message"] = f"{end_sessions(user, reason='role changed')} session(s) ended"
        messages.success(request, f"{user.username} is now {new.label}.")
    return redirect("team")


@require_role(Role.ADMIN, action="user.deactivate")
def user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    """GET: the confirm step. POST with confirm=yes: deactivate, end sessions, close websockets."""
    user = get_object_or_404(User, pk=user_id)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        return render(request, "team/confirm_deactivate.html", {"target": user})
    if _would_leave_no_admin(user):
        message = f"{user.username} is the last active admin and cannot be deactivated."
        audit.record(request, "user.deactivate", target=user.username, outcome=audit.FAILED, message=message)
        messages.error(request, message)
        return redirect("team")
    with audit.action(request, "user.deactivate", target=user.username) as details:
        user.is_active = False
        user.save(update_fields=["is_active"])
        details["message"] = f"{end_sessions(user, reason='account deactivated')} session(s) ended"
    messages.success(request, f"{user.username} is deactivated; their sessions were ended.")
    if user.pk == request.user.pk:
        return redirect("login")
    return redirect("team")


@require_POST
@require_role(Role.ADMIN, action="user.activate")
def user_activate(request: HttpRequest, user_id: int) -> HttpResponse:
    """Re-activate a deactivated user (their role is kept)."""
    user = get_object_or_404(User, pk=user_id)
    with audit.action(request, "user.activate", target=user.username):
        user.is_active = True
        user.save(update_fields=["is_active"])
    messages.success(request, f"{user.username} is active again.")
    return redirect("team")


@require_role(Role.VIEWER, action="user.password")
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password (e.g. the one-time password an admin handed out)."""
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not form.is_valid():
            audit.record(
                request,
                "user.password",
                target=request.user.username,
                outcome=audit.FAILED,
                message="; ".join(e for errors in form.errors.values() for e in errors),
            )
        else:
            with audit.action(request, "user.password", target=request.user.username):
                form.save()
                require_password_change(form.user, required=False)
                update_session_auth_hash(request, form.user)
            messages.success(request, "Your password was changed.")
            return redirect("overview")
    one_time = must_change_password(request.user)
    return render(request, "team/password.html", {"form": form, "one_time": one_time})


# --------------------------------------------------------------------------- audit log


def _when(value: str, *, end: bool) -> datetime | None:
    parsed = parse_datetime(value) if "T" in value or " " in value else None
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime.combine(day, datetime.max.time() if end else datetime.min.time())
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def filtered_events(params) -> tuple[QuerySet, dict[str, str]]:
    """Audit events matching the query's filters (q, user, endpoint, action, target, outcome, since,
    until)."""
    names = ("q", "user", "endpoint", "action", "target", "outcome", "since", "until")
    filters = {k: params.get(k, "").strip() for k in names}
    events = AuditEvent.objects.all()
    if filters["q"]:
        q = filters["q"][: tables.MAX_QUERY]
        fields = ("target", "action", "username", "message")
        events = events.filter(functools.reduce(operator.or_, (Q(**{f"{f}__icontains": q}) for f in fields)))
    if filters["user"]:
        events = events.filter(username__iexact=filters["user"])
    if filters["endpoint"]:
        events = events.filter(endpoint=filters["endpoint"])
    if filters["action"]:
        events = events.filter(action__startswith=filters["action"])
    if filters["target"]:
        events = events.filter(target__icontains=filters["target"])
    if filters["outcome"] in AuditEvent.Outcome.values:
        events = events.filter(outcome=filters["outcome"])
    if filters["since"] and (since := _when(filters["since"], end=False)):
        events = events.filter(created_at__gte=since)
    if filters["until"] and (until := _when(filters["until"], end=True)):
        events = events.filter(created_at__lte=until)
    return events.select_related("recording"), filters


AUDIT_SORTS = {  # order_by fields; the id breaks ties so pages never overlap
    "time": ("created_at", "id"),
    "user": ("username", "created_at", "id"),
    "action": ("action", "created_at", "id"),
    "outcome": ("outcome", "created_at", "id"),
}


@require_GET
@require_role(Role.ADMIN)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every audited event, newest first, filtered, sortable and paged (q, sort, dir, page, per_page)."""
    events, filters = filtered_events(request.GET)
    params = tables.read(request.GET, sorts=AUDIT_SORTS, default_sort="time", descending=("time",))
    sign = "-" if params.descending else ""
    events = events.order_by(*(f"{sign}{field}" for field in AUDIT_SORTS[params.sort]))
    context = {
        "page": tables.page_of(events, params),
        "params": params,
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "outcomes": AuditEvent.Outcome.values,
        "actions": AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct(),
        "endpoint_slugs": AuditEvent.objects.exclude(endpoint="")
        .order_by("endpoint")
        .values_list("endpoint", flat=True)
        .distinct(),
    }
    template = "audit/audit.html#rows" if request.htmx and not request.htmx.boosted else "audit/audit.html"
    return render(request, template, context)


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(events: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events.iterator(chunk_size=500):
        yield writer.writerow(
            csv_safe(v)
            for v in (
                e.created_at.isoformat(),
                e.username,
                e.role,
                e.client_address,
                e.action,
                e.target,
                e.outcome,
                e.message,
                json.dumps(e.parameters, ensure_ascii=False) if e.parameters else "",
                e.endpoint,
            )
        )


@require_GET
@require_role(Role.ADMIN)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered audit log as CSV, streamed row by row (never built in memory)."""
    events, _ = filtered_events(request.GET)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _csv_rows(events.select_related(None)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


# --------------------------------------------------------------------------- recordings


def _recording_file(recording: Recording) -> Path | None:
    """The recording's file, only if it still exists inside the recordings directory."""
    if not recording.path:
        return None
    file = Path(recording.path).resolve()
    if not file.is_relative_to(recordings_dir().resolve()) or not file.is_file():
        return None
    return file


@require_GET
@require_role(Role.ADMIN)
def recording_replay(request: HttpRequest, pk: int) -> HttpResponse:
    """Replay a recorded terminal session in the browser (xterm.js, with its timing)."""
    recording = get_object_or_404(Recording.objects.select_related("audit_event"), pk=pk)
    available = _recording_file(recording) is not None
    return render(request, "audit/replay.html", {"recording": recording, "available": available})


@require_GET
@require_role(Role.ADMIN)
def recording_download(request: HttpRequest, pk: int) -> FileResponse:
    """The asciicast v2 file itself."""
    recording = get_object_or_404(Recording, pk=pk)
    file = _recording_file(recording)
    if file is None:
        raise Http404("this recording was deleted (retention)")
    return FileResponse(
        file.open("rb"),
        as_attachment=True,
        filename=f"recording-{recording.pk}.cast",
        content_type="application/x-asciicast",
    )


urlpatterns = [
    path("team/", team, name="team"),
    path("team/users/create/", user_create, name="user-create"),
    path("team/users/<int:user_id>/role/", user_role, name="user-role"),
    path("team/users/<int:user_id>/deactivate/", user_deactivate, name="user-deactivate"),
    path("team/users/<int:user_id>/activate/", user_activate, name="user-activate"),
    path("account/password/", password_change, name="password-change"),
    path("audit/", audit_log, name="audit"),
    path("audit/export.csv", audit_export, name="audit-export"),
    path("audit/recordings/<int:pk>/", recording_replay, name="recording-replay"),
    path("audit/recordings/<int:pk>/cast", recording_download, name="recording-download"),
]
