"""Background jobs for long engine operations (pull, push, build, ...): rows any process can serve.

Each job runs in its own daemon thread in the process that started it (it goes on when the browser
tab closes). Its state is a :class:`core.models.Job` row: kind, status, a progress snapshot, result,
who, endpoint, and a heartbeat. Progress goes out through the channel layer's ``group_send`` to
:func:`group_name` (at most ~5 frames/s), so with Redis a socket on any replica follows it; the
snapshot is written to the database at most once a second (and at the end).

A late subscriber (on any process) joins the group, then reads the snapshot from the row. Progress
frames repeat every line and layer changed since the snapshot *before* the last one, so whatever
the subscriber read is followed without a gap (the page drops lines it already has by index).

A running job's process updates its heartbeat every few seconds; a running row whose heartbeat is
older than ``settings.JOB_STALE_SECONDS`` belonged to a process that died (restart, crash) and is
marked ``interrupted`` when it is read: an honest end instead of a 404 or a page spinning forever.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.engine._client import Engine, engine_call
from core.errors import DashboardError
from core.models import Job as JobRow

log = logging.getLogger(__name__)

RUNNING, SUCCESS, ERROR, INTERRUPTED = "running", "success", "error", "interrupted"
FLUSH_INTERVAL = 0.2  # progress frames
SAVE_INTERVAL = 1.0  # snapshot writes to the database
HEARTBEAT_INTERVAL = 5.0
MAX_LINES = 2000  # kept in the snapshot (the oldest go first)
MAX_LINE = 2000  # characters per line
FRAME_LINES = 500  # at most per progress frame
INTERRUPTED_MESSAGE = (
    "Interrupted: the server process running this job stopped (restart or crash). "
    "Its outcome is unknown; check the images list and start it again if needed."
)

KEEP_FINISHED = 200  # finished jobs kept in memory too (for this process's own callers and tests)

_running: dict[str, Job] = {}
_finished: dict[str, Job] = {}
_running_lock = threading.Lock()
_heartbeat: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None


def remember_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Record the server's event loop: in-memory channel layers must be used from that loop."""
    global _loop
    _loop = loop


def group_name(job_id: str) -> str:
    return f"imagejob.{job_id}"


class Job:
    """The running side of one job (in the process that runs it): folds progress, sends, saves."""

    def __init__(self, row: JobRow):
        self.row = row
        self.id, self.kind, self.target = row.id, row.kind, row.target
        self.status, self.message, self.result = RUNNING, "", ""
        self.layers: dict[str, dict[str, Any]] = {}
        self.lines: list[str] = []
        self.first_line = 0  # absolute index of lines[0] (older ones were dropped)
        self.finished: float | None = None
        self._lock = threading.Lock()
        self._changed = False
        self._last_flush = 0.0
        self._last_save = time.monotonic()
        self._saved_total = 0  # line count at the last save
        self._base_total = 0  # ... and at the one before: frames repeat lines from here
        self._dirty: set[str] = set()  # layers changed since the last save
        self._dirty_before: set[str] = set()  # ... and during the save interval before
        self._unflushed: set[str] = set()  # layers changed since the last progress frame
        self._flushed_total = 0  # line count at the last progress frame

    @property
    def total(self) -> int:
        return self.first_line + len(self.lines)

    def _progress(self) -> dict[str, Any]:
        return {
            "layers": [dict(layer) for layer in self.layers.values()],
            "lines": list(self.lines),
            "first_line": self.first_line,
        }

    def snapshot(self) -> dict[str, Any]:
        """The ``state`` frame: the whole job as it is now."""
        with self._lock:
            return state_frame(
                self.id, self.kind, self.target, self.status, self.message, self.result, self._progress()
            )

    def _add_line(self, line: str) -> None:
        self.lines.append(line[:MAX_LINE] + (" …" if len(line) > MAX_LINE else ""))
        if len(self.lines) > MAX_LINES:
            drop = len(self.lines) - MAX_LINES
            del self.lines[:drop]
            self.first_line += drop
        self._changed = True

    def feed(self, message: dict[str, Any]) -> None:
        """Fold one engine progress message (pull/push/build), or one item of a job over several
        resources (``{"item": key, "status", "outcome", "title"}``), into the state."""
        if "item" in message:
            self._item(message)
        else:
            self._engine_message(message)
        now = time.monotonic()
        if now - self._last_save >= SAVE_INTERVAL:
            self.save()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def _item(self, message: dict[str, Any]) -> None:
        """One resource of a bulk job: its row (``outcome``: waiting, running, ok, failed, skipped)."""
        with self._lock:
            key = str(message["item"])
            row = self.layers.setdefault(key, {"id": key, "item": True, "title": "", "outcome": "waiting"})
            for field in ("status", "outcome", "title"):
                if field in message:
                    row[field] = str(message[field])[:MAX_LINE]
            self._dirty.add(key)
            self._changed = True
            if message.get("line"):
                self._add_line(str(message["line"]))

    def _engine_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            layer_id = message.get("id")
            status = str(message.get("status") or "")
            if layer_id and status and not status.startswith(("Pulling from", "The push refers")):
                layer = self.layers.setdefault(
                    layer_id, {"id": layer_id, "status": "", "transfer": [0, 0], "extract": [0, 0]}
                )
                layer["status"] = status
                detail = message.get("progressDetail") or {}
                current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
                if status in ("Downloading", "Pushing"):
                    layer["transfer"] = [current, total or layer["transfer"][1]]
                elif status == "Extracting":
                    layer["extract"] = [current, total or layer["extract"][1]]
                elif status in ("Download complete", "Pushed", "Layer already exists", "Already exists"):
                    total = layer["transfer"][1]
                    layer["transfer"] = [total, total]
                elif status == "Pull complete":
                    layer["transfer"] = [layer["transfer"][1]] * 2
                    layer["extract"] = [layer["extract"][1]] * 2
                self._dirty.add(layer_id)
                self._unflushed.add(layer_id)
                self._changed = True
            else:
                text = str(message.get("stream") or status or "")
                if layer_id and status:
                    text = f"{layer_id}: {status}"
                for line in text.splitlines():
                    if line.strip():
                        self._add_line(line.rstrip())
                aux = message.get("aux") or {}
                if aux.get("ID"):
                    self.result = str(aux["ID"])
                if aux.get("Digest"):
                    self._add_line(f"digest: {aux['Digest']}")

    def log(self, line: str) -> None:
        with self._lock:
            self._add_line(line)

    def save(self) -> None:
        """Write the snapshot (and heartbeat) to the row; throttled by the caller."""
        with self._lock:
            self._last_save = time.monotonic()
            progress = self._progress()
            self._base_total, self._saved_total = self._saved_total, self.total
            self._dirty_before, self._dirty = self._dirty, set()
            fields = {"progress": progress, "result": self.result, "heartbeat_at": timezone.now()}
        try:
            JobRow.objects.filter(pk=self.id).update(**fields)
        except Exception:  # a busy database delays a snapshot; it never fails the job itself
            log.warning("could not save the progress of job %s", self.id, exc_info=True)

    def flush(self) -> None:
        """Send one ``progress`` frame: lines and layers changed since the save before the last
        (what a watcher that loaded the stored snapshot may lack) or since the last frame (two saves
        can fall between two frames on a slow machine; nothing changed may go unsent)."""
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._changed:
                return
            self._changed = False
            since = min(self._base_total, self._flushed_total)
            start = max(since, self.first_line, self.total - FRAME_LINES)
            lines = self.lines[start - self.first_line :]
            ids = self._dirty | self._dirty_before | self._unflushed
            self._unflushed, self._flushed_total = set(), self.total
            layers = [dict(self.layers[i]) for i in ids if i in self.layers]
        publish(self.id, {"type": "progress", "layers": layers, "lines": lines, "first_line": start})

    def finish(self, status: str, message: str, result: str = "") -> None:
        """Store the end, send the last progress and the ``done`` frame; ``finished`` is set last."""
        with self._lock:
            self.status, self.message = status, message
            self.result = result or self.result
            self._changed = True
            progress = self._progress()
        try:
            JobRow.objects.filter(pk=self.id).update(
                status=status,
                message=message[:4000],
                result=self.result,
                progress=progress,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
        except Exception:  # the watchers still get the end; the row turns "interrupted" when stale
            log.exception("could not store the end of job %s", self.id)
        self.flush()
        publish(self.id, {"type": "done", "status": status, "message": message, "result": self.result})
        self.finished = time.time()


def state_frame(
    job_id: str, kind: str, target: str, status: str, message: str, result: str, progress: dict[str, Any]
) -> dict[str, Any]:
    lines = list(progress.get("lines") or [])
    return {
        "type": "state",
        "job": job_id,
        "kind": kind,
        "target": target,
        "status": status,
        "message": message,
        "result": result,
        "layers": list(progress.get("layers") or []),
        "lines": lines,
        "first_line": int(progress.get("first_line") or 0),
        "line_count": len(lines),
    }


def snapshot_of(row: JobRow) -> dict[str, Any]:
    """The ``state`` frame of a job from its row (fresher from memory when it runs here)."""
    with _running_lock:
        job = _running.get(row.id)
    if job is not None:
        return job.snapshot()
    return state_frame(row.id, row.kind, row.target, row.status, row.message, row.result, row.progress or {})


def load(job_id: str) -> JobRow | None:
    """The job's row, with a dead process's running job marked interrupted (sync: off the loop)."""
    row = JobRow.objects.filter(pk=job_id).first()
    if row is None or row.status != RUNNING:
        return row
    with _running_lock:
        if job_id in _running:
            return row
    cutoff = timezone.now() - timedelta(seconds=int(getattr(settings, "JOB_STALE_SECONDS", 30)))
    if row.heartbeat_at < cutoff:
        JobRow.objects.filter(pk=job_id, status=RUNNING, heartbeat_at__lt=cutoff).update(
            status=INTERRUPTED, message=INTERRUPTED_MESSAGE, finished_at=timezone.now()
        )
        row.refresh_from_db()
    return row


def may_watch(user, row: JobRow, token=None) -> bool:
    """Only people allowed to start a job of that kind (on its endpoint) can see it; through an API
    ``token``, only when the token's role allows it too."""
    from core.endpoints import default_ref
    from core.roles import ROLE_GROUPS, effective_role, token_role

    needed = ROLE_GROUPS.get(row.required_role)
    slug = row.endpoint or default_ref().slug
    role = effective_role(user, slug) if getattr(user, "is_authenticated", False) else None
    if role is not None and token is not None:
        role = min(role, token_role(token))
    return needed is not None and role is not None and role >= needed


def publish(job_id: str, frame: dict[str, Any]) -> None:
    """Fan a frame out to every socket watching the job (errors are logged, never raised)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "job.frame", "frame": frame}
    try:
        loop = _loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group_name(job_id), message), loop)
            future.result(timeout=10)
        else:
            async_to_sync(layer.group_send)(group_name(job_id), message)
    except Exception:
        log.warning("could not publish a frame of job %s", job_id, exc_info=True)


def get(job_id: str) -> Job | None:
    """The job object, when it runs (or recently ran) in this process; else None: use :func:`load`."""
    with _running_lock:
        return _running.get(job_id) or _finished.get(job_id)


def _beat() -> None:
    """One thread per process while jobs run here: keeps their heartbeats fresh."""
    global _heartbeat
    try:
        while True:
            time.sleep(HEARTBEAT_INTERVAL)
            with _running_lock:
                ids = list(_running)
                if not ids:
                    _heartbeat = None
                    return
            try:
                JobRow.objects.filter(pk__in=ids, status=RUNNING).update(heartbeat_at=timezone.now())
            except Exception:
                log.warning("job heartbeat failed", exc_info=True)
    finally:
        connection.close()


@engine_call
def start(
    engine: Engine,
    kind: str,
    target: str,
    work: Callable[[Engine, Job], Iterable[dict[str, Any]]],
    *,
    required_role: str,
    user=None,
    endpoint: str = "",
    on_done: Callable[[Job], None] | None = None,
    success_message: Callable[[Job], str] | None = None,
) -> Job:
    """Store the job, then run ``work(engine, job)`` (an iterator of engine progress messages) in a
    thread of its own, which is handed the engine explicitly.

    Args:
        kind: ``pull``, ``push``, ``build`` (later ``recreate``, ``deploy``).
        target: what it acts on (a reference), for display.
        work: returns the messages to fold in; raising a DashboardError ends the job in error.
        required_role: the role label needed to start this kind of job: also needed to watch it.
        user: who started it.
        endpoint: the endpoint's slug.
        on_done: called in the job thread when it ends (e.g. to write the audit event).
        success_message: builds the final message of a successful job.

    Returns:
        The running :class:`Job`.
    """
    from core.exec_sessions import PROCESS_ID

    global _heartbeat
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    row = JobRow.objects.create(
        id=uuid.uuid4().hex,
        kind=kind,
        target=target[:512],
        required_role=required_role,
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        endpoint=endpoint,
        process=PROCESS_ID,
    )
    job = Job(row)
    with _running_lock:
        _running[job.id] = job
        if _heartbeat is None:
            _heartbeat = threading.Thread(target=_beat, name="job-heartbeat", daemon=True)
            _heartbeat.start()

    def run(engine: Engine) -> None:
        try:
            for message in work(engine, job):
                job.feed(message)
            text = success_message(job) if success_message else f"{kind} of {target} finished."
            outcome = (SUCCESS, text)
        except DashboardError as exc:
            outcome = (ERROR, exc.message)
        except Exception as exc:
            log.exception("job %s (%s %s) failed", job.id, kind, target)
            outcome = (ERROR, f"{kind} failed unexpectedly: {type(exc).__name__}")
        try:
            job.status, job.message = outcome
            if on_done is not None:  # the audit trail first: whoever sees "done" finds it written
                try:
                    on_done(job)
                except Exception:
                    log.exception("on_done of job %s failed", job.id)
            job.finish(*outcome)
        finally:
            with _running_lock:
                _running.pop(job.id, None)
                _finished[job.id] = job
                while len(_finished) > KEEP_FINISHED:
                    _finished.pop(next(iter(_finished)))
            connection.close()

    threading.Thread(target=run, args=(engine,), name=f"job-{kind}-{job.id[:8]}", daemon=True).start()
    return job
