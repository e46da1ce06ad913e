"""Team console, audit log (filters, CSV), recordings (replay, download, retention), login throttle."""

from __future__ import annotations

import csv
import io
import json
import re
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


@pytest.mark.parametrize("name", ["eve\nINFO core.audit: forged", "eve\x1b[2J", "eve\rx", "eve\x85x"])
def test_a_username_with_control_characters_is_refused_at_create(admin_client, name):
    response = admin_client.post("/team/users/create/", {"username": name, "role": "viewer"})
    assert response.status_code == 400
    assert not User.objects.filter(username=name).exists()


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
    assert "page 1 of 2" in page and "busybox:old" not in page
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


def test_audit_search_sort_and_page_keep_each_other(admin_client, db):
    for n in range(30):
        _event("container.stop", f"keep-{n:02d}", username=f"user{n:02d}")
    _event("container.stop", "other-target", username="aaa")
    html = admin_client.get("/audit/?q=keep-&sort=user&dir=asc&per_page=25&page=2").content.decode()
    assert re.findall(r'class="target">(keep-\d+)<', html) == [f"keep-{n:02d}" for n in range(25, 30)]


def test_audit_sort_links_keep_the_search(admin_client, db):
    _event("container.stop", "keep-1")
    html = admin_client.get("/audit/?q=keep-").content.decode()
    link = re.search(r'<a href="([^"]*)"[^>]*data-sort="user"', html).group(1)
    assert "q=keep-" in link


def test_audit_bad_paging_values_fall_back_to_defaults(admin_client, db):
    _event("container.stop", "ctr-1")
    response = admin_client.get("/audit/?sort=pk&dir=x&page=-4&per_page=100000")
    assert response.status_code == 200


def test_audit_page_past_the_end_is_the_last_page(admin_client, db):
    _event("container.stop", "only-one")
    assert "only-one" in admin_client.get("/audit/?page=999").content.decode()


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
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
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


@pytest.fixture
def throttle(settings):
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 900
    settings.LOGIN_THROTTLE_SLOW_AFTER = 3
    settings.LOGIN_THROTTLE_USER_SLOW_AFTER = 6
    settings.LOGIN_THROTTLE_ADDRESS_SLOW_AFTER = 6
    settings.LOGIN_THROTTLE_DELAY_SECONDS = 60
    settings.LOGIN_THROTTLE_MAX_DELAY_SECONDS = 600
    settings.LOGIN_ATTACK_AFTER = 10
    return settings


def _good(client: Client, user, address: str):
    form = {"username": user.username, "password": "right-password-1"}
    return client.post("/accounts/login/", form, REMOTE_ADDR=address)


def test_failures_from_one_address_make_that_pair_wait_even_with_the_right_password(
    client, user_factory, throttle
):
    user = user_factory("viewer", password="right-password-1")
    for _ in range(3):
        _fail(client, user.username, "10.0.0.1")
    response = _good(client, user, "10.0.0.1")
    assert b'data-testid="login-throttled"' in response.content


def test_the_throttled_page_says_how_long_to_wait(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for _ in range(3):
        _fail(client, user.username, "10.0.0.1")
    assert re.search(rb"Try again in (59|60|61) seconds", _good(client, user, "10.0.0.1").content)


def test_a_throttled_attempt_is_audited_and_not_checked(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for _ in range(3):
        _fail(client, user.username, "10.0.0.1")
    _good(client, user, "10.0.0.1")
    throttled = AuditEvent.objects.get(action="auth.throttled")
    assert (throttled.target, throttled.client_address) == (user.username, "10.0.0.1")


def test_the_same_user_from_another_address_is_not_held_up(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for _ in range(3):
        _fail(client, user.username, "10.0.0.1")
    assert _good(client, user, "10.0.0.2").status_code == 302


def test_nobody_can_lock_an_admin_out_from_a_known_address(client, user_factory, throttle):
    admin = user_factory("admin", password="right-password-1")
    assert _good(client, admin, "10.0.0.9").status_code == 302  # the admin's usual address
    client.post("/accounts/logout/")
    for n in range(40):  # a distributed attack on the admin's name
        _fail(client, admin.username, f"198.51.100.{n}")
    assert _good(Client(), admin, "10.0.0.9").status_code == 302


def test_a_distributed_attack_holds_up_unknown_addresses(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for n in range(6):
        _fail(client, user.username, f"198.51.100.{n}")
    assert b'data-testid="login-throttled"' in _good(client, user, "203.0.113.7").content


def test_a_sustained_attack_writes_one_alert_per_window(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for n in range(15):
        _fail(client, user.username, f"198.51.100.{n}")
    assert AuditEvent.objects.filter(action="auth.attack", target=user.username).count() == 1


def test_admins_see_the_attack_alert_on_the_audit_page(client, user_factory, throttle, admin_client):
    user = user_factory("viewer", password="right-password-1")
    for n in range(10):
        _fail(client, user.username, f"198.51.100.{n}")
    page = admin_client.get("/audit/?action=auth.attack").content.decode()
    assert "10 failed or throttled logins for this username from 10 address(es)" in page


def test_the_wait_ends_when_the_failures_age_out(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for _ in range(3):
        _fail(client, user.username, "10.0.0.1")
    throttle.LOGIN_THROTTLE_WINDOW_SECONDS = 0  # as if the window had passed
    assert _good(client, user, "10.0.0.1").status_code == 302


def test_spraying_from_one_address_holds_up_that_address_for_other_users(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for n in range(6):
        _fail(client, unique(f"guess{n}"), "192.0.2.9")
    assert b'data-testid="login-throttled"' in _good(client, user, "192.0.2.9").content


def test_spraying_does_not_hold_up_other_addresses(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    for n in range(6):
        _fail(client, unique(f"guess{n}"), "192.0.2.9")
    assert _good(client, user, "192.0.2.10").status_code == 302


def test_a_good_login_resets_the_pair_count(client, user_factory, throttle):
    user = user_factory("viewer", password="right-password-1")
    _fail(client, user.username, "10.1.0.1")
    _fail(client, user.username, "10.1.0.1")
    assert _good(client, user, "10.1.0.1").status_code == 302
    client.post("/accounts/logout/")
    _fail(client, user.username, "10.1.0.1")
    _fail(client, user.username, "10.1.0.1")
    assert _good(client, user, "10.1.0.1").status_code == 302


def test_a_username_with_a_newline_is_refused_and_writes_no_log_line(client, db, caplog):
    forged = "eve\n2026-01-01 00:00:00 INFO core.audit: audit admin user.create mallory ok"
    response = client.post("/accounts/login/", {"username": forged, "password": "x"})
    assert b"A username has no control characters." in response.content
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_a_logged_control_character_stays_on_one_line(client, db, capsys):
    import logging

    from core.logsafe import SafeFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("core.audit")
    logger.addHandler(handler)
    try:
        audit.record(
            {}, "auth.login", target="eve\nINFO core.audit: audit admin user.create", outcome="denied"
        )
    finally:
        logger.removeHandler(handler)
    lines = [line for line in capsys.readouterr().err.splitlines() if "auth.login" in line]
    assert lines == [
        "INFO core.audit: audit - auth.login eve\\nINFO core.audit: audit admin user.create denied "
    ]


def test_export_link_carries_the_current_filters(admin_client, db):
    _event("container.stop", "a&b target")
    page = admin_client.get("/audit/?target=a%26b&outcome=ok", HTTP_HX_REQUEST="true").content.decode()
    assert 'href="/audit/export.csv?target=a%26b&amp;outcome=ok"' in page


def test_the_throttle_holds_across_processes(tmp_path):
    """Failures made by one process hold up the same pair in another (the count is in the database)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'throttle.sqlite3'}",
        LOGIN_THROTTLE_SLOW_AFTER="3",
        LOGIN_THROTTLE_DELAY_SECONDS="60",
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
    other = shell(
        login + "r = login('right-password-1')\nprint(r.status_code, b'login-throttled' in r.content)"
    )
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


# --------------------------------------------------------------------------- one-time passwords


def _created_user_client(admin_client) -> tuple[Client, str, str]:
    """Create a user on the team page and log in with the one-time password it shows."""
    name = unique("fresh")
    response = admin_client.post("/team/users/create/", {"username": name, "role": "operator"})
    password = re.search(r'data-testid="one-time-password">([^<]+)<', response.content.decode()).group(1)
    client = Client()
    assert client.post("/accounts/login/", {"username": name, "password": password}).status_code == 302
    return client, name, password


def _scope(username: str) -> dict:
    from core.endpoints import default_ref

    return {"user": User.objects.get(username=username), "endpoint": default_ref()}


def test_a_new_user_is_sent_to_the_password_page_from_every_page(admin_client):
    client, _, _ = _created_user_client(admin_client)
    assert client.get("/audit/").headers["Location"] == "/account/password/"


def test_the_password_page_explains_the_one_time_password(admin_client):
    client, _, _ = _created_user_client(admin_client)
    assert b'data-testid="one-time-password"' in client.get("/account/password/").content


def test_htmx_requests_are_sent_to_the_password_page_too(admin_client):
    client, _, _ = _created_user_client(admin_client)
    assert client.get("/containers/", HTTP_HX_REQUEST="true").headers["HX-Redirect"] == "/account/password/"


def test_logout_works_before_the_change(admin_client):
    client, _, _ = _created_user_client(admin_client)
    assert client.post("/accounts/logout/").headers["Location"] == "/accounts/login/"


def test_websockets_are_refused_until_the_password_is_changed(admin_client):
    from core.roles import websocket_allowed

    _, name, _ = _created_user_client(admin_client)
    assert websocket_allowed(_scope(name), Role.VIEWER) is False


def test_after_the_change_every_page_opens(admin_client):
    client, _, password = _created_user_client(admin_client)
    new = "A-password-of-my-own-42"
    form = {"old_password": password, "new_password1": new, "new_password2": new}
    assert client.post("/account/password/", form).status_code == 302
    assert client.get("/account/password/").status_code == 200
    assert "Location" not in client.get("/audit/").headers  # 403 for an operator, no redirect


def test_websockets_are_allowed_after_the_change(admin_client):
    from core.roles import websocket_allowed

    client, name, password = _created_user_client(admin_client)
    new = "A-password-of-my-own-42"
    client.post("/account/password/", {"old_password": password, "new_password1": new, "new_password2": new})
    assert websocket_allowed(_scope(name), Role.VIEWER) is True


def test_bootstrap_prints_a_one_time_password_that_must_be_changed(db, settings, capsys):
    User.objects.filter(is_superuser=True).update(is_superuser=False)
    settings.FIRST_ADMIN_USERNAME, settings.FIRST_ADMIN_PASSWORD = unique("boss"), ""
    call_command("bootstrap")
    assert "must be changed at the first login" in capsys.readouterr().out
    from core.accounts import must_change_password

    assert must_change_password(User.objects.get(username=settings.FIRST_ADMIN_USERNAME)) is True


def test_bootstrap_with_a_given_password_does_not_force_a_change(db, settings):
    from core.accounts import must_change_password

    User.objects.filter(is_superuser=True).update(is_superuser=False)
    settings.FIRST_ADMIN_USERNAME, settings.FIRST_ADMIN_PASSWORD = unique("boss"), "Given-pass-4242"
    call_command("bootstrap")
    assert must_change_password(User.objects.get(username=settings.FIRST_ADMIN_USERNAME)) is False
