"""Exec sessions that always end: each is a row until every process it started is known gone.

The consumer calls :func:`remember` once the exec runs, and hands the end of the session to
:func:`sweep` in a thread of its own (never on the event loop, and not tied to the consumer, so a
cancelled handler still ends its processes). A sweep that cannot reach the engine leaves the row
``pending``; one sweeper thread per process retries pending rows until the engine answers again.
Rows still ``open`` from a process of this host that no longer runs (daphne killed, restarted) are
swept the same way when the sweeper starts.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from core import engine
from core.engine import streams
from core.errors import EngineUnavailable
from core.models import ExecSession

log = logging.getLogger(__name__)

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
SWEEP_INTERVAL = 2.0

_sweeper: threading.Thread | None = None
_orphans_checked = False
_sweeper_lock = threading.Lock()
_wake = threading.Event()


def local_sweep_allowed() -> bool:
    return bool(getattr(settings, "EXEC_SWEEP_LOCAL", True))


def remember(terminal: streams.TerminalSocket, *, endpoint: str, username: str) -> int:
    """Store the session (sync: call off the loop); returns the row id."""
    row = ExecSession.objects.create(
        token=terminal.token,
        exec_id=terminal.exec_id or "",
        container_id=terminal.container_id,
        endpoint=endpoint,
        username=username,
        local=terminal.local if local_sweep_allowed() else False,
        process=PROCESS_ID,
    )
    if not _orphans_checked:
        ensure_sweeper()
    return row.pk


def _sweep_row(row: ExecSession) -> streams.ExecStatus:
    from core.endpoints import DEFAULT_SLUG, default_ref, lookup

    ref = lookup(row.endpoint) or (default_ref() if row.endpoint in ("", DEFAULT_SLUG) else None)
    if ref is None:
        raise LookupError(f"the endpoint {row.endpoint!r} no longer exists")
    return engine.for_endpoint(ref).streams.sweep_exec(
        row.container_id, row.exec_id, row.token, local=row.local if local_sweep_allowed() else False
    )


def sweep(
    docker: engine.Engine, row_id: int | None, terminal: streams.TerminalSocket
) -> streams.ExecStatus | None:
    """End every process of the session; mark the row ended, or pending when the engine is away.

    Blocking: runs in the session's cleanup thread. Returns the exec's final status (None when the
    engine could not be reached).
    """
    try:
        status = docker.streams.end_exec(terminal, local_kill=local_sweep_allowed())
    except EngineUnavailable as exc:
        if row_id is not None:
            ExecSession.objects.filter(pk=row_id).update(
                state=ExecSession.State.PENDING, last_error=exc.message[:1000], attempts=1
            )
            ensure_sweeper()
            _wake.set()
        return None
    if row_id is not None:
        ExecSession.objects.filter(pk=row_id).update(state=ExecSession.State.ENDED, ended_at=timezone.now())
    return status


def _orphans() -> None:
    """Rows left open by a process of this host that is gone: they need a sweep too."""
    host = socket.gethostname()
    for row in ExecSession.objects.filter(state=ExecSession.State.OPEN).exclude(process=PROCESS_ID):
        name, _, rest = row.process.partition(":")
        pid = int(rest.partition(":")[0] or 0)
        if name != host or not pid:
            continue
        try:
            os.kill(pid, 0)
            continue  # that process still runs (and may still end its session itself)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        ExecSession.objects.filter(pk=row.pk, state=ExecSession.State.OPEN).update(
            state=ExecSession.State.PENDING, last_error="the server process ended before the session"
        )


def sweep_pending() -> int:
    """One pass over the pending rows; returns how many are still pending."""
    left = 0
    for row in ExecSession.objects.filter(state=ExecSession.State.PENDING):
        try:
            _sweep_row(row)
        except EngineUnavailable as exc:
            left += 1
            ExecSession.objects.filter(pk=row.pk).update(
                attempts=row.attempts + 1, last_error=exc.message[:1000]
            )
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. the endpoint was deleted: give up on this row
            log.warning("exec session %s could not be swept: %s", row.pk, exc)
            ExecSession.objects.filter(pk=row.pk).update(last_error=str(exc)[:1000])
        ExecSession.objects.filter(pk=row.pk).update(state=ExecSession.State.ENDED, ended_at=timezone.now())
    return left


def _run_sweeper() -> None:
    global _sweeper, _orphans_checked
    try:
        close_old_connections()
        if not _orphans_checked:
            _orphans_checked = True
            _orphans()
        while True:
            _wake.clear()
            try:
                left = sweep_pending()
            except Exception:
                log.exception("exec sweeper pass failed")
                left = 1
            if not left:
                with _sweeper_lock:
                    if not ExecSession.objects.filter(state=ExecSession.State.PENDING).exists():
                        _sweeper = None
                        return
            _wake.wait(SWEEP_INTERVAL)
            time.sleep(0.05)
    finally:
        connection.close()


def ensure_sweeper() -> None:
    """Start the per-process sweeper thread unless it runs (cheap; called at each session start)."""
    global _sweeper
    with _sweeper_lock:
        if _sweeper is not None and _sweeper.is_alive():
            return
        _sweeper = threading.Thread(target=_run_sweeper, name="exec-sweeper", daemon=True)
        _sweeper.start()
