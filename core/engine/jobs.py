"""Background jobs for long engine operations (pull, push, build), with progress fan-out.

Each job runs in its own daemon thread (not the shared sync pool), so it goes on when the browser
tab closes. Its state lives in this process's memory (``_jobs``); progress goes out through the
channel layer's ``group_send`` to the group :func:`group_name`, batched (at most ~5 frames/s), and
a late subscriber reads :meth:`Job.snapshot` first. Limitation: with several server processes a job
is only known to the process that runs it (the websocket must reach that process).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync

from core.engine._client import Engine, engine_call
from core.errors import DashboardError

log = logging.getLogger(__name__)

RUNNING, SUCCESS, ERROR = "running", "success", "error"
FLUSH_INTERVAL = 0.2
MAX_LINES = 5000
KEEP_FINISHED = 200

_jobs: dict[str, Job] = {}
_jobs_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def remember_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Record the server's event loop: in-memory channel layers must be used from that loop."""
    global _loop
    _loop = loop


def group_name(job_id: str) -> str:
    return f"imagejob.{job_id}"


@dataclass
class Job:
    """One background operation and everything a late subscriber needs to catch up."""

    id: str
    kind: str
    target: str
    status: str = RUNNING
    message: str = ""
    result: str = ""
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _dirty: set[str] = field(default_factory=set)
    _sent_lines: int = 0
    _last_flush: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        """The ``state`` frame: the whole job as it is now."""
        with self._lock:
            return {
                "type": "state",
                "job": self.id,
                "kind": self.kind,
                "target": self.target,
                "status": self.status,
                "message": self.message,
                "result": self.result,
                "layers": [dict(layer) for layer in self.layers.values()],
                "lines": list(self.lines),
                "line_count": len(self.lines),
            }

    def feed(self, message: dict[str, Any]) -> None:
        """Fold one engine progress message (pull/push/build) into the state."""
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
            else:
                text = str(message.get("stream") or status or "")
                if layer_id and status:
                    text = f"{layer_id}: {status}"
                for line in text.splitlines():
                    if line.strip():
                        self.lines.append(line.rstrip())
                aux = message.get("aux") or {}
                if aux.get("ID"):
                    self.result = str(aux["ID"])
                if aux.get("Digest"):
                    self.lines.append(f"digest: {aux['Digest']}")
                if len(self.lines) > MAX_LINES:
                    drop = len(self.lines) - MAX_LINES
                    del self.lines[:drop]
                    self._sent_lines = max(0, self._sent_lines - drop)
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def log(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def flush(self) -> None:
        """Send what changed since the last flush as one ``progress`` frame."""
        with self._lock:
            self._last_flush = time.monotonic()
            layers = [dict(self.layers[i]) for i in self._dirty if i in self.layers]
            lines = self.lines[self._sent_lines :]
            first = self._sent_lines
            self._dirty.clear()
            self._sent_lines = len(self.lines)
        if layers or lines:
            publish(self.id, {"type": "progress", "layers": layers, "lines": lines, "first_line": first})

    def finish(self, status: str, message: str, result: str = "") -> None:
        with self._lock:
            self.status, self.message = status, message
            self.result = result or self.result
            self.finished = time.time()
        self.flush()
        publish(self.id, {"type": "done", "status": status, "message": message, "result": self.result})


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
    with _jobs_lock:
        return _jobs.get(job_id)


@engine_call
def start(
    engine: Engine,
    kind: str,
    target: str,
    work: Callable[[Engine, Job], Iterable[dict[str, Any]]],
    *,
    on_done: Callable[[Job], None] | None = None,
    success_message: Callable[[Job], str] | None = None,
) -> Job:
    """Run ``work(engine, job)`` (an iterator of engine progress messages) in a new daemon thread,
    which is handed the engine explicitly.

    Args:
        kind: ``pull``, ``push`` or ``build``.
        target: what it acts on (a reference), for display.
        work: returns the messages to fold in; raising a DashboardError ends the job in error.
        on_done: called in the job thread when it ends (e.g. to write the audit event).
        success_message: builds the final message of a successful job.

    Returns:
        The running :class:`Job`.
    """
    job = Job(id=uuid.uuid4().hex, kind=kind, target=target)
    with _jobs_lock:
        finished = [j for j in _jobs.values() if j.finished]
        for old in sorted(finished, key=lambda j: j.finished or 0)[: max(0, len(finished) - KEEP_FINISHED)]:
            _jobs.pop(old.id, None)
        _jobs[job.id] = job

    def run(engine: Engine) -> None:
        try:
            for message in work(engine, job):
                job.feed(message)
            text = success_message(job) if success_message else f"{kind} of {target} finished."
            job.finish(SUCCESS, text)
        except DashboardError as exc:
            job.finish(ERROR, exc.message)
        except Exception as exc:
            log.exception("job %s (%s %s) failed", job.id, kind, target)
            job.finish(ERROR, f"{kind} failed unexpectedly: {type(exc).__name__}")
        finally:
            if on_done is not None:
                try:
                    on_done(job)
                except Exception:
                    log.exception("on_done of job %s failed", job.id)
            from django.db import connection

            connection.close()

    threading.Thread(target=run, args=(engine,), name=f"job-{kind}-{job.id[:8]}", daemon=True).start()
    return job
