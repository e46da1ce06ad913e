"""Team console, audit log (filters, CSV), recordings (replay, download, retention), login throttle."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core import audit
from core.models import AuditEvent, Recording
from core.recordings import SessionRecorder
from core.roles import Role, role_of
from tests.support import RUN_ID, unique

User = get_user_model()


def _sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if str(s.get_decoded().get("_auth_user_id")) == str(user.pk))


# --------------------------------------------------------------------------- team


def test_team_page_lists_users_with_role_last_login_and_state(admin_client, user_factory):
    viewer = user_factory("viewer")
    gone = user_factory("operator")
    gone.is_active = False
    gone.save()
    page = admin_client.get("/team/").content.decode()
    row = re.search(rf'<tr data-user="{viewer.username}">(.*?)</tr>', page, re.S).group(1)
    assert "role-viewer" in row and "never" in row and "active" in row
    gone_row = re.search(rf'<tr data-user="{gone.username}" class="dim">(.*?)</tr>', page, re.S).group(1)
    assert "deactivated" in gone_row and "role-operator" in gone_row


def test_creating_a_user_shows_the_one_time_password_once_and_it_logs_in(admin_client, db):
    name = unique("newbie")
    response = admin_client.post("/team/users/create/", {"username": name, "role": "operator"})
    assert response.status_code == 200
    password = re.search(r'data-testid="one-time-password">([^<]+)<', response.content.decode()).group(1)
    user = User.objects.get(username=name)
    assert role_of(user) == Role.OPERATOR and not user.is_superuser
    assert password not in admin_client.get("/team/").content.decode()
    assert password not in json.dumps(list(AuditEvent.objects.values_list("parameters", "message")))
    fresh = Client()
    assert fresh.post("/accounts/login/", {"username": name, "password": password}).status_code == 302
    event = AuditEvent.objects.get(action="user.create", target=name)
    assert event.outcome == "ok" and event.parameters == {"role": "operator"}
    assert event.username == admin_client.user.username


def test_creating_a_duplicate_or_bad_user_fails_and_is_audited(admin_client, user_factory):
    existing = user_factory("viewer")
    response = admin_client.post("/team/users/create/", {"username": existing.username, "role": "viewer"})
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    bad = admin_client.post("/team/users/create/", {"username": "a b<c>", "role": "viewer"})
    assert bad.status_code == 400
    outcomes = AuditEvent.objects.filter(action="user.create").values_list("outcome", flat=True)
    assert list(outcomes) == ["failed", "failed"]


def test_non_admin_cannot_create_a_user_and_the_attempt_is_audited(operator_client, db):
    name = unique("sneaky")
    response = operator_client.post("/team/users/create/", {"username": name, "role": "admin"})
    assert response.status_code == 403
    assert not User.objects.filter(username=name).exists()
    event = AuditEvent.objects.get(action="user.create")
    assert event.outcome == "denied" and event.username == operator_client.user.username


def test_downgrading_a_user_changes_the_role_and_ends_their_sessions(admin_client, role_client):
    victim = role_client("operator")
    assert victim.get("/").status_code in (200, 503)
    assert _sessions_of(victim.user) == 1
    response = admin_client.post(f"/team/users/{victim.user.pk}/role/", {"role": "viewer"})
    assert response.status_code == 302
    victim.user.refresh_from_db()
    assert role_of(User.objects.get(pk=victim.user.pk)) == Role.VIEWER
    assert _sessions_of(victim.user) == 0
    assert victim.get("/").status_code == 302  # back to the login page
    event = AuditEvent.objects.get(action="user.role", target=victim.user.username)
    assert event.parameters == {"from": "operator", "to": "viewer"} and "1 session(s) ended" in event.message


def test_deactivating_is_two_steps_and_ends_sessions(admin_client, role_client):
    victim = role_client("viewer")
    victim.get("/")
    confirm = admin_client.get(f"/team/users/{victim.user.pk}/deactivate/")
    assert confirm.status_code == 200 and b'name="confirm" value="yes"' in confirm.content
    assert User.objects.get(pk=victim.user.pk).is_active
    admin_client.post(f"/team/users/{victim.user.pk}/deactivate/")  # no confirm: still the confirm page
    assert User.objects.get(pk=victim.user.pk).is_active
    response = admin_client.post(f"/team/users/{victim.user.pk}/deactivate/", {"confirm": "yes"})
    assert response.status_code == 302
    assert not User.objects.get(pk=victim.user.pk).is_active
    assert _sessions_of(victim.user) == 0
    assert victim.get("/").status_code == 302
    assert AuditEvent.objects.get(action="user.deactivate").outcome == "ok"
    admin_client.post(f"/team/users/{victim.user.pk}/activate/")
    assert User.objects.get(pk=victim.user.pk).is_active


def test_the_last_admin_cannot_demote_or_deactivate_themselves(admin_client, db):
    for other in User.objects.exclude(pk=admin_client.user.pk):
        other.is_active = False
        other.save()
    me = admin_client.user.pk
    admin_client.post(f"/team/users/{me}/role/", {"role": "viewer"})
    admin_client.post(f"/team/users/{me}/deactivate/", {"confirm": "yes"})
    user = User.objects.get(pk=me)
    assert user.is_active and role_of(user) == Role.ADMIN
    failed = AuditEvent.objects.filter(outcome="failed").values_list("action", flat=True)
    assert sorted(failed) == ["user.deactivate", "user.role"]
    assert admin_client.get("/team/").status_code == 200


def test_an_admin_can_step_down_when_another_admin_remains(admin_client, user_factory):
    user_factory("admin")
    response = admin_client.post(f"/team/users/{admin_client.user.pk}/role/", {"role": "operator"})
    assert response.status_code == 302
    assert role_of(User.objects.get(pk=admin_client.user.pk)) == Role.OPERATOR


# --------------------------------------------------------------------------- audit log


def _event(action: str, target: str, outcome: str = "ok", **kwargs) -> AuditEvent:
    return AuditEvent.objects.create(action=action, target=target, outcome=outcome, **kwargs)


def test_audit_log_is_newest_first_filtered_and_paginated(admin_client, db):
    old = _event("image.pull", "busybox:old", created_at=timezone.now() - timedelta(days=3))
    for n in range(60):
        _event("container.stop", f"ctr-{n}", username="alice")
    _event("container.kill", "ctr-x", outcome="failed", username="bob", message="boom")
    page = admin_client.get("/audit/").content.decode()
    assert page.index("ctr-x") < page.index("ctr-59") < page.index("ctr-58")
    assert "Page 1 of 2" in page and "busybox:old" not in page
    assert "busybox:old" in admin_client.get("/audit/?page=2").content.decode()
    failed = admin_client.get("/audit/?outcome=failed").content.decode()
    assert "ctr-x" in failed and "ctr-1<" not in failed
    by_user = admin_client.get("/audit/?user=bob&action=container").content.decode()
    assert "ctr-x" in by_user and "ctr-5<" not in by_user
    assert "ctr-42" in admin_client.get("/audit/?target=ctr-42").content.decode()
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "busybox:old" not in admin_client.get(f"/audit/?since={since}&page=1").content.decode()
    until = (old.created_at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    only_old = admin_client.get(f"/audit/?until={until}").content.decode()
    assert "busybox:old" in only_old and "ctr-x" not in only_old


def test_audit_rows_partial_for_htmx(admin_client, db):
    _event("container.stop", "partial-target")
    response = admin_client.get("/audit/?target=partial", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "partial-target" in body and "<html" not in body and 'id="audit-rows"' not in body


def test_audit_csv_export_is_streamed_filtered_and_injection_safe(admin_client, db):
    _event("container.rename", '=HYPERLINK("http://evil")', message="+cmd|' /C calc'!A0", username="@eve")
    _event("container.rename", "-2+3", parameters={"name": "@SUM(1)"})
    _event("image.pull", "not-in-export")
    response = admin_client.get("/audit/export.csv?action=container.rename")
    assert response.streaming and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["time", "user", "role", "address", "action"]
    assert len(rows) == 3
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil")' in cells and "'+cmd|' /C calc'!A0" in cells
    assert "'@eve" in cells and "'-2+3" in cells
    assert not [c for c in cells if c and c[0] in "=+-@"]


def test_audit_page_filters_by_endpoint_and_shows_it(admin_client, db):
    _event("container.pause", "on-second", endpoint="second")
    _event("container.pause", "on-local", endpoint="local")
    page = admin_client.get("/audit/?endpoint=second").content.decode()
    assert "on-second" in page
    assert "on-local" not in page
    assert '<option value="second" selected>' in page
    assert '<td class="mono" data-testid="event-endpoint">second</td>' in page


def test_audit_csv_export_has_an_endpoint_column(admin_client, db):
    _event("container.pause", "on-second", endpoint="second")
    response = admin_client.get("/audit/export.csv?action=container.pause")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    column = rows[0].index("endpoint")
    assert [row[column] for row in rows[1:]] == ["second"]


def test_audit_log_and_export_are_admin_only(operator_client, db):
    assert operator_client.get("/audit/").status_code == 403
    assert operator_client.get("/audit/export.csv").status_code == 403


# --------------------------------------------------------------------------- recordings


@pytest.fixture
def recording(admin_client, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    event = audit.record(admin_client.user, "container.exec", target="abc123", parameters={"cmd": "sh"})
    recorder = SessionRecorder.open(audit_event=event, width=90, height=20, command="sh")
    recorder.output(b"$ ")
    recorder.input(b"echo hi\r")
    recorder.output(b"echo hi\r\nhi\r\n$ ")
    recorder.close()
    return event.recording


def test_recording_is_linked_from_its_audit_event_and_replays(admin_client, recording):
    page = admin_client.get("/audit/?action=container.exec").content.decode()
    assert f'href="/audit/recordings/{recording.pk}/"' in page
    replay = admin_client.get(f"/audit/recordings/{recording.pk}/")
    assert replay.status_code == 200
    assert f'data-cast-url="/audit/recordings/{recording.pk}/cast"' in replay.content.decode()
    # The same strict policy as every page: xterm's styles go through static/js/xterm-csp.js.
    assert "'unsafe-inline'" not in replay["Content-Security-Policy"]
    assert "script-src 'self';" in replay["Content-Security-Policy"]


def test_recording_download_is_the_asciicast_file(admin_client, recording):
    response = admin_client.get(f"/audit/recordings/{recording.pk}/cast")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="recording-{recording.pk}.cast"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert json.loads(lines[0])["version"] == 2
    assert [json.loads(line)[1:] for line in lines[1:]] == [
        ["o", "$ "],
        ["i", "echo hi\r"],
        ["o", "echo hi\r\nhi\r\n$ "],
    ]


def test_recording_is_admin_only(operator_client, recording):
    assert operator_client.get(f"/audit/recordings/{recording.pk}/").status_code == 403
    assert operator_client.get(f"/audit/recordings/{recording.pk}/cast").status_code == 403


def test_recording_outside_the_recordings_dir_is_never_served(admin_client, recording, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "secret.cast"
    elsewhere.write_text("secret")
    Recording.objects.filter(pk=recording.pk).update(path=str(elsewhere))
    assert admin_client.get(f"/audit/recordings/{recording.pk}/cast").status_code == 404


def test_purge_recordings_deletes_old_files_and_keeps_the_audit_event(admin_client, recording, settings):
    from pathlib import Path

    file = Path(recording.path)
    call_command("purge_recordings", stdout=io.StringIO())
    assert file.exists()  # younger than the retention
    settings.RECORDINGS_RETENTION_DAYS = 30
    Recording.objects.filter(pk=recording.pk).update(started_at=timezone.now() - timedelta(days=31))
    out = io.StringIO()
    call_command("purge_recordings", stdout=out)
    assert "Deleted 1 recording(s)" in out.getvalue()
    assert not file.exists()
    recording.refresh_from_db()
    assert recording.path == "" and AuditEvent.objects.filter(pk=recording.audit_event_id).exists()
    assert admin_client.get(f"/audit/recordings/{recording.pk}/cast").status_code == 404
    assert b'data-testid="recording-gone"' in admin_client.get(f"/audit/recordings/{recording.pk}/").content


# --------------------------------------------------------------------------- login throttling


def _fail(client: Client, username: str, address: str = "127.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


def test_repeated_failures_for_a_user_slow_down_then_lock_even_the_right_password(
    client, user_factory, settings
):
    settings.LOGIN_THROTTLE_SLOW_AFTER = 2
    settings.LOGIN_THROTTLE_LOCK_AFTER = 4
    settings.LOGIN_THROTTLE_DELAY_SECONDS = 0.3
    user = user_factory("viewer", password="right-password-1")
    from core.throttle import verdict

    _fail(client, user.username, "10.0.0.1")
    assert verdict(user.username, "10.9.9.9").delay == 0  # one failure: no slow-down yet
    _fail(client, user.username, "10.0.0.2")
    assert verdict(user.username, "10.9.9.9").delay == pytest.approx(0.3)
    started = time.monotonic()
    _fail(client, user.username, "10.0.0.3")  # third failure: the 2 before it slow it down
    assert time.monotonic() - started >= 0.3
    _fail(client, user.username, "10.0.0.4")
    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": "right-password-1"},
        REMOTE_ADDR="10.0.0.5",
    )
    assert response.status_code == 200 and b'data-testid="login-locked"' in response.content
    locked = AuditEvent.objects.get(action="auth.locked")
    assert locked.target == user.username and locked.client_address == "10.0.0.5"
    assert AuditEvent.objects.filter(action="auth.login", outcome="denied").count() == 4


def test_the_lock_ends_when_the_failures_age_out(client, user_factory, settings):
    settings.LOGIN_THROTTLE_LOCK_AFTER = 2
    settings.LOGIN_THROTTLE_SLOW_AFTER = 100
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 600
    user = user_factory("viewer", password="right-password-1")
    for event in [_fail(client, user.username) for _ in range(2)]:
        assert event.status_code == 200
    good = {"username": user.username, "password": "right-password-1"}
    assert client.post("/accounts/login/", good).status_code == 200  # locked
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 0  # as if the window had passed
    assert client.post("/accounts/login/", good).status_code == 302


def test_repeated_failures_from_one_address_lock_that_address_for_every_user(client, user_factory, settings):
    settings.LOGIN_THROTTLE_ADDRESS_LOCK_AFTER = 3
    settings.LOGIN_THROTTLE_ADDRESS_SLOW_AFTER = 100
    user = user_factory("viewer", password="right-password-1")
    for n in range(3):
        _fail(client, unique(f"guess{n}"), "192.0.2.9")
    good = {"username": user.username, "password": "right-password-1"}
    assert client.post("/accounts/login/", good, REMOTE_ADDR="192.0.2.9").status_code == 200
    assert client.post("/accounts/login/", good, REMOTE_ADDR="192.0.2.10").status_code == 302


def test_a_good_login_resets_the_user_count(client, user_factory, settings):
    settings.LOGIN_THROTTLE_LOCK_AFTER = 3
    settings.LOGIN_THROTTLE_SLOW_AFTER = 100
    user = user_factory("viewer", password="right-password-1")
    good = {"username": user.username, "password": "right-password-1"}
    _fail(client, user.username, "10.1.0.1")
    _fail(client, user.username, "10.1.0.2")
    assert client.post("/accounts/login/", good, REMOTE_ADDR="10.1.0.3").status_code == 302
    client.post("/accounts/logout/")
    _fail(client, user.username, "10.1.0.4")
    _fail(client, user.username, "10.1.0.5")
    assert client.post("/accounts/login/", good, REMOTE_ADDR="10.1.0.6").status_code == 302


def test_export_link_carries_the_current_filters(admin_client, db):
    _event("container.stop", "a&b target")
    page = admin_client.get("/audit/?target=a%26b&outcome=ok", HTTP_HX_REQUEST="true").content.decode()
    assert 'href="/audit/export.csv?target=a%26b&amp;outcome=ok"' in page


def test_the_throttle_holds_across_processes(tmp_path):
    """Failures made by one process lock the account for another (the count is in the database)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'throttle.sqlite3'}",
        LOGIN_THROTTLE_LOCK_AFTER="3",
        LOGIN_THROTTLE_SLOW_AFTER="100",
        ALLOWED_HOSTS="127.0.0.1",
    )

    def shell(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True)
    login = (
        "from django.test import Client\n"
        "def login(pw):\n"
        "    form = {'username': 'amy', 'password': pw}\n"
        "    return Client(HTTP_HOST='127.0.0.1').post('/accounts/login/', form)\n"
    )
    shell(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user(username='amy', password='right-password-1')\n"
        + login
        + "print([login('wrong').status_code for _ in range(3)])\n"
    )
    other = shell(login + "r = login('right-password-1')\nprint(r.status_code, b'login-locked' in r.content)")
    assert other.strip().splitlines()[-1] == "200 True"


def test_a_user_changes_their_own_password_and_stays_logged_in(viewer_client):
    page = viewer_client.get("/account/password/")
    assert page.status_code == 200 and b'name="old_password"' in page.content
    bad = viewer_client.post("/account/password/", {"old_password": "nope"})
    assert bad.status_code == 200
    new = "Another-long-pass-42"
    form = {
        "old_password": "pw-" + RUN_ID,
        "new_password1": new,
        "new_password2": new,
    }
    assert viewer_client.post("/account/password/", form).status_code == 302
    assert viewer_client.get("/team/").status_code == 403  # still logged in (and still a viewer)
    user = User.objects.get(pk=viewer_client.user.pk)
    assert user.check_password(new)
    outcomes = list(
        AuditEvent.objects.filter(action="user.password").order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["failed", "ok"]
    assert new not in json.dumps(list(AuditEvent.objects.values_list("parameters", "message")))
