"""API tokens on a real daphne: websockets with ``Authorization: Bearer``, revocation, refusals."""

from __future__ import annotations

import json
import sqlite3

import pytest
import websockets.exceptions
import websockets.sync.client

from tests.live_support import audit_rows, ws_connect
from tests.support import LiveServer, dashboard_env, manage, unique


def _create_token(live: LiveServer, role: str, *, token_role: str | None = None) -> tuple[int, str]:
    """A token for ``role``'s live user (through create_token); returns (id, secret)."""
    env = dashboard_env(DATABASE_URL=f"sqlite:///{live.database}")
    name = unique("ws-token")
    secret = manage(
        env,
        "create_token",
        live.users[role][0],
        "--name",
        name,
        "--role",
        token_role or role,
        "--expires-days",
        "1",
    ).stdout.strip()
    with sqlite3.connect(live.database) as db:
        (token_id,) = db.execute("SELECT id FROM core_apitoken WHERE name = ?", (name,)).fetchone()
    return token_id, secret


def _bearer(live: LiveServer, path: str, secret: str, *, origin: str | None = None):
    headers = {"Authorization": f"Bearer {secret}"}
    if origin:
        headers["Origin"] = origin
    return websockets.sync.client.connect(
        f"{live.ws_url}{path}", additional_headers=headers, open_timeout=15, origin=None
    )


def _revoke_on_the_page(live: LiveServer, role: str, token_id: int) -> int:
    """POST the revoke form on the live server as ``role`` (CSRF token from the token page)."""
    import re

    import requests

    session = requests.Session()
    session.cookies.set("sessionid", live.session_cookie(role))
    page = session.get(f"{live.url}/account/tokens/", timeout=10).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{live.url}/account/tokens/{token_id}/revoke/",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live.url}/account/tokens/"},
        allow_redirects=False,
        timeout=30,
    )
    return response.status_code


def _first_status(ws) -> dict:
    while True:
        frame = json.loads(ws.recv(timeout=20))
        if frame["type"] == "status":
            return frame


def test_a_bearer_token_opens_a_websocket_without_cookie_or_origin(live):
    _, secret = _create_token(live, "viewer")
    with _bearer(live, "/ws/overview/", secret) as ws:
        assert _first_status(ws)["engine"] == "up"


def test_a_browser_origin_is_still_checked_with_a_bearer_token(live):
    _, secret = _create_token(live, "viewer")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        _bearer(live, "/ws/overview/", secret, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_a_token_in_the_websocket_query_string_is_refused(live):
    _, secret = _create_token(live, "viewer")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        ws_connect(live, f"/ws/overview/?token={secret}", cookie=None)
    assert refused.value.response.status_code == 403


def test_an_unknown_bearer_token_is_refused_at_the_handshake(live):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        _bearer(live, "/ws/overview/", "dkd_" + "A" * 40)
    assert refused.value.response.status_code == 403


def test_a_revoked_token_is_refused_and_audited_with_its_id(live):
    token_id, secret = _create_token(live, "viewer")
    with sqlite3.connect(live.database) as db:
        db.execute("UPDATE core_apitoken SET revoked_at = CURRENT_TIMESTAMP WHERE id = ?", (token_id,))
    with pytest.raises(websockets.exceptions.InvalidStatus):
        _bearer(live, "/ws/overview/", secret)
    with sqlite3.connect(live.database) as db:
        rows = db.execute(
            "SELECT outcome, message FROM core_auditevent"
            " WHERE action = 'websocket.connect' AND token_id = ?",
            (token_id,),
        ).fetchall()
    assert rows == [("denied", rows[0][1])]
    assert "revoked" in rows[0][1]


def test_a_viewer_capped_token_cannot_open_a_terminal(live, make_container):
    container = make_container()
    token_id, secret = _create_token(live, "admin", token_role="viewer")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:  # closed before accept: HTTP 403
        _bearer(live, f"/ws/containers/{container['Id']}/exec/", secret)
    assert refused.value.response.status_code == 403
    with sqlite3.connect(live.database) as db:
        denied = db.execute(
            "SELECT COUNT(*) FROM core_auditevent WHERE outcome = 'denied' AND token_id = ?", (token_id,)
        ).fetchone()[0]
    assert denied >= 1


def test_revoking_the_token_closes_its_open_websocket(live):
    token_id, secret = _create_token(live, "viewer")
    with _bearer(live, "/ws/overview/", secret) as ws:
        _first_status(ws)
        assert _revoke_on_the_page(live, "viewer", token_id) == 302
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=15)
    assert closed.value.rcvd.code == 4401
    assert any(row[2].endswith(")") for row in audit_rows(live, "token.revoke"))
