"""``make run`` (scripts/run.sh), the README's first command, end to end: a first run on a fresh data
directory makes an admin, prints how to log in and serves the login page. An acceptance audit found
it ending silently after the migrations while every other test passed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_make_run_serves_the_dashboard_and_prints_the_first_login(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "PY"):
        env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts/run.sh")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        status, deadline = None, time.monotonic() + 120
        while status != 200 and time.monotonic() < deadline:
            assert process.poll() is None, f"run.sh ended with {process.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=5
                ) as response:
                    status = response.status
            except OSError:
                time.sleep(0.5)
        text = log.read_text()
        assert status == 200, text
        assert re.search(r"username: admin\n\s+password: \S{12,}", text), text
        assert f"serving on http://127.0.0.1:{port}" in text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
