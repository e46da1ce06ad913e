"""Several dashboard processes on a real Redis, and the database tests on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from tests.scale_support import ROOT, daphne, dashboard_env, manage, postgres_server, redis_server
from tests.support import LiveServer

# The database-dependent tests re-run on PostgreSQL (browser and multi-process ones need no re-run).
POSTGRES_SUITE = ["tests/test_foundation.py"]


def _create_user(env: dict[str, str], role: str) -> tuple[str, str]:
    username, password = f"scale-{role}", f"pw-scale-{role}-1"
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from core.roles import ROLE_GROUPS, set_role\n"
        f"u = get_user_model().objects.create_user(username={username!r}, password={password!r})\n"
        f"set_role(u, ROLE_GROUPS[{role!r}])\n",
    )
    return username, password


def _logout(url: str, cookie: str) -> None:
    """Log out on one process with the session cookie (CSRF token fetched like a browser would)."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request = urllib.request.Request(f"{url}/", headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    page = opener.open(request, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = next(c.value for c in jar if c.name == "csrftoken")
    logout = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/accounts/logout/",
        data=f"csrfmiddlewaretoken={token}".encode(),
        headers={"Cookie": f"sessionid={cookie}; csrftoken={csrf_cookie}", "Referer": f"{url}/"},
    )
    try:
        opener.open(logout, timeout=10)
    except urllib.error.HTTPError as exc:  # the redirect to the login page is followed; 200 expected
        raise AssertionError(f"logout answered {exc.code}") from exc


def test_logout_on_process_a_closes_a_websocket_on_process_b_through_redis(tmp_path, engine):
    with redis_server() as redis_url:
        env = dashboard_env(
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
            DATA_DIR=str(tmp_path),
            WHITENOISE_USE_FINDERS="1",
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        users = {"viewer": _create_user(env, "viewer")}
        with daphne(env, tmp_path / "a.log") as (url_a, _), daphne(env, tmp_path / "b.log") as (url_b, _):
            process_a = LiveServer(url=url_a, pid=0, users=users, database=tmp_path, log_path=tmp_path)
            cookie = process_a.session_cookie("viewer")
            ws_b = url_b.replace("http://", "ws://")
            with websockets.sync.client.connect(
                f"{ws_b}/ws/overview/",
                additional_headers={"Cookie": f"sessionid={cookie}", "Origin": url_b},
                open_timeout=10,
            ) as socket_on_b:
                assert '"type":"status"' in socket_on_b.recv(timeout=15)
                _logout(url_a, cookie)
                started = time.monotonic()
                frames = []
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        frames.append(socket_on_b.recv(timeout=10))
                assert closed.value.rcvd.code == 4401
                assert time.monotonic() - started < 5
                assert any("Session ended: logged out" in frame for frame in frames)


def test_database_dependent_tests_pass_on_postgresql(tmp_path, engine):
    with postgres_server() as database_url:
        env = dashboard_env(DATABASE_URL=database_url)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--ds-report-backend",
                "-m",
                "not browser",
                "-p",
                "no:cacheprovider",
                *POSTGRES_SUITE,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert " passed" in summary and "failed" not in summary, summary
        assert "postgresql" in result.stdout, "the inner run must report the PostgreSQL backend"


def _start_build(url: str, cookie: str, dockerfile: str, tag: str) -> str:
    """POST the build form on one process like a browser; return the job id from the redirect."""
    import re

    import requests

    session = requests.Session()
    session.cookies.set("sessionid", cookie)
    page = session.get(f"{url}/images/build/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{url}/images/build/",
        data={"csrfmiddlewaretoken": token, "dockerfile": dockerfile, "tag": tag},
        headers={"Referer": f"{url}/images/build/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[-2000:]
    return re.search(r"/jobs/([0-9a-f]{32})/", response.headers["Location"]).group(1)


def _job_frames(
    ws_url: str, origin: str, cookie: str, job_id: str, *, until: str, timeout: float
) -> list[dict]:
    import json

    frames: list[dict] = []
    with websockets.sync.client.connect(
        f"{ws_url}/ws/jobs/{job_id}/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": origin},
        open_timeout=10,
    ) as ws:
        deadline = time.monotonic() + timeout
        while not frames or not until(frames[-1]):
            frames.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))
    return frames


def _ended(frame: dict) -> bool:
    return frame["type"] in ("state", "done") and frame.get("status") not in (None, "running")


def test_a_job_started_on_one_process_is_served_and_streamed_by_the_other(tmp_path, engine, base_image):
    from tests.support import RUN_ID, TEST_LABEL

    tag = f"{RUN_ID}-scale-job:v1"
    with redis_server() as redis_url:
        env = dashboard_env(
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
            DATA_DIR=str(tmp_path),
            JOB_STALE_SECONDS="4",
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        users = {role: _create_user(env, role) for role in ("viewer", "operator")}
        try:
            with (
                daphne(env, tmp_path / "a.log") as (url_a, pid_a),
                daphne(env, tmp_path / "b.log") as (url_b, _),
            ):
                process_a = LiveServer(
                    url=url_a, pid=pid_a, users=users, database=tmp_path, log_path=tmp_path
                )
                cookie = process_a.session_cookie("operator")
                dockerfile = (
                    f'FROM {base_image}\nLABEL {TEST_LABEL}="{RUN_ID}"\nRUN sleep 2; echo scale-built\n'
                )
                job_id = _start_build(url_a, cookie, dockerfile, tag)
                ws_b = url_b.replace("http://", "ws://")
                frames = _job_frames(ws_b, url_b, cookie, job_id, until=_ended, timeout=90)
                page = urllib.request.Request(  # noqa: S310 - loopback
                    f"{url_b}/images/jobs/{job_id}/", headers={"Cookie": f"sessionid={cookie}"}
                )
                body = urllib.request.urlopen(page, timeout=10).read().decode()  # noqa: S310
                viewer = process_a.session_cookie("viewer")
                with pytest.raises(ConnectionClosed) as refused:
                    _job_frames(ws_b, url_b, viewer, job_id, until=_ended, timeout=10)
                # A job whose process dies: the other process says "interrupted", not "No such job".
                slow = f'FROM {base_image}\nLABEL {TEST_LABEL}="{RUN_ID}"\nRUN sleep 60\n'
                dead_id = _start_build(url_a, cookie, slow, f"{RUN_ID}-scale-dead:v1")
                first = _job_frames(ws_b, url_b, cookie, dead_id, until=lambda frame: True, timeout=10)
                import os
                import signal

                os.kill(pid_a, signal.SIGKILL)
                ended = _job_frames(ws_b, url_b, cookie, dead_id, until=_ended, timeout=40)
        finally:
            if any(tag in t for image in engine.api.images() for t in image.get("RepoTags") or []):
                engine.api.remove_image(tag, force=True)
    assert frames[0]["type"] == "state"
    assert frames[-1]["status"] == "success", frames[-1]
    assert any("scale-built" in line for frame in frames for line in frame.get("lines", []))
    assert "scale-built" in body
    assert refused.value.rcvd.code == 4403  # a viewer may not start a build, so may not watch one
    assert first[0]["status"] == "running"
    assert ended[-1]["status"] == "interrupted"


def _post_form(url: str, cookie: str, path: str) -> int:
    """POST ``path`` on one process with the session cookie and a CSRF token fetched like a browser."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page_request = urllib.request.Request(f"{url}/", headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    page = opener.open(page_request, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}{path}",
        data=f"csrfmiddlewaretoken={token}".encode(),
        headers={"Cookie": f"sessionid={cookie}; csrftoken={csrf_cookie}", "Referer": f"{url}/"},
    )
    return opener.open(request, timeout=60).status


def _page(url: str, cookie: str) -> str:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
    return urllib.request.urlopen(request, timeout=10).read().decode()  # noqa: S310 - loopback


def test_an_update_check_on_process_a_is_seen_by_process_b_through_redis(tmp_path, engine, make_container):
    container = make_container(command="sleep 300")  # from an imported image: "unknown (locally)"
    with redis_server() as redis_url:
        env = dashboard_env(
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
            DATA_DIR=str(tmp_path),
            UPDATE_CHECK_UNLINKED="False",  # loopback only: no registry of the engine's other images
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        users = {role: _create_user(env, role) for role in ("viewer", "operator")}
        with daphne(env, tmp_path / "a.log") as (url_a, _), daphne(env, tmp_path / "b.log") as (url_b, _):
            process_a = LiveServer(url=url_a, pid=0, users=users, database=tmp_path, log_path=tmp_path)
            viewer, operator = process_a.session_cookie("viewer"), process_a.session_cookie("operator")
            detail_on_b = f"{url_b}/containers/{container['Id'][:12]}/"
            assert "data-update=" not in _page(detail_on_b, viewer)  # nothing checked anywhere yet
            assert _post_form(url_a, operator, "/updates/check/") == 200  # redirect followed
            page = _page(detail_on_b, viewer)
    assert 'data-update="unknown"' in page
    assert "locally" in page
