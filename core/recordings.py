"""Terminal session recordings (asciicast v2 files under DATA_DIR/recordings/).

Usage from a consumer (all methods are synchronous and cheap; call ``open``/``close`` through
``database_sync_to_async``)::

    recorder = SessionRecorder.open(audit_event=event, width=80, height=24, command="sh")
    recorder.output(b"...")      # bytes the terminal showed
    recorder.input(b"...")       # bytes the person typed
    recorder.resize(120, 40)
    recorder.close()             # flushes the file and stamps the Recording row
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent, Recording


def recordings_dir() -> Path:
    path = Path(getattr(settings, "RECORDINGS_DIR", settings.DATA_DIR / "recordings"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class SessionRecorder:
    """Appends asciicast v2 events (``[seconds, "o"|"i"|"r", data]``) to one file."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self._file = open(recording.path, "a", encoding="utf-8")
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls, *, audit_event: AuditEvent, width: int = 80, height: int = 24, command: str = ""
    ) -> SessionRecorder:
        path = recordings_dir() / f"{uuid.uuid4().hex}.cast"
        header = {
            "version": 2,
            "width": int(width),
            "height": int(height),
            "timestamp": int(time.time()),
            "command": command,
            "title": f"{audit_event.action} {audit_event.target} by {audit_event.username}",
            "env": {"TERM": "xterm-256color"},
        }
        path.write_text(json.dumps(header) + "\n", encoding="utf-8")
        recording = Recording.objects.create(
            audit_event=audit_event, path=str(path), width=width, height=height, command=command[:500]
        )
        return cls(recording)

    def _event(self, kind: str, data: str) -> None:
        with self._lock:
            if self._closed:
                return
            line = json.dumps([round(time.monotonic() - self._start, 6), kind, data])
            self._file.write(line + "\n")

    def output(self, data: bytes) -> None:
        self._event("o", data.decode("utf-8", "replace"))

    def input(self, data: bytes) -> None:
        self._event("i", data.decode("utf-8", "replace"))

    def resize(self, cols: int, rows: int) -> None:
        self._event("r", f"{int(cols)}x{int(rows)}")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._file.close()
        self.recording.ended_at = timezone.now()
        self.recording.size = Path(self.recording.path).stat().st_size
        self.recording.save(update_fields=["ended_at", "size"])
