"""Real Redis and PostgreSQL servers for the scale-out tests (Debian packages, loopback only)."""

from __future__ import annotations

import glob
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import daphne_process as daphne  # noqa: F401 - re-exported for the scale tests
from tests.support import dashboard_env, free_port, manage, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free 127.0.0.1 port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is missing: apt-get install redis-server (make test does it).", pytrace=False
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="dash-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _port_open(port), timeout=15, message="redis-server to listen")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb in a temp dir, run as the postgres user); yields a URL."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.fail("PostgreSQL is missing: apt-get install postgresql (make test does it).", pytrace=False)
    bindir = Path(bins[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="dash-pg-"))
    shutil.chown(workdir, "postgres", "postgres")
    data, sockets = workdir / "data", workdir / "sock"
    sockets.mkdir()
    shutil.chown(sockets, "postgres", "postgres")
    password = secrets.token_hex(8)
    pwfile = workdir / "pw"
    pwfile.write_text(password)
    shutil.chown(pwfile, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "dashboard",
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            *as_postgres,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sockets}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _port_open(port), timeout=30, message="postgres to listen")
        yield f"postgres://dashboard:{password}@127.0.0.1:{port}/postgres"
    finally:
        process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
