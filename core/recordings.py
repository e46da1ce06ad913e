"""Terminal session recordings (asciicast v2 files under DATA_DIR/recordings/).

Usage from a consumer::

    recorder = SessionRecorder.open(audit_event=event, width=80, height=24, command="sh")  # DB: off the loop
    recorder.output(b"...")      # bytes the terminal showed   } cheap and non-blocking: safe on the
    recorder.input(b"...")       # bytes the person typed      } event loop (a bounded queue to one
    recorder.resize(120, 40)     #                             } writer thread per process)
    recorder.close()             # blocks until written; stamps the Recording row: off the loop

Bounded: the queue holds at most ``QUEUE_SIZE`` events (past it events are dropped and counted, and
a marker says how many); a recording stops at ``settings.RECORDING_MAX_BYTES`` with a marker.
Each stream (output, input) has its own incremental UTF-8 decoder, so a character split across two
chunks is written whole.
"""

from __future__ import annotations

import codecs
import json
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent, Recording

QUEUE_SIZE = 10_000


def recordings_dir() -> Path:
    path = Path(getattr(settings, "RECORDINGS_DIR", settings.DATA_DIR / "recordings"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class CastWriter:
    """Pure asciicast event writer: decodes each stream incrementally, stops at ``max_bytes``."""

    def __init__(self, file: IO[str], *, max_bytes: int, written: int = 0):
        self.file = file
        self.max_bytes = max_bytes
        self.written = written
        self.truncated = False
        self.decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in ("o", "i")}

    def event(self, at: float, kind: str, data: bytes | str) -> None:
        if self.truncated:
            return
        if isinstance(data, bytes):
            text = self.decoders[kind].decode(data)
            if not text:
                return
        else:
            text = data
        line = json.dumps([round(at, 6), kind, text]) + "\n"
        if self.written + len(line) > self.max_bytes:
            self.truncated = True
            line = json.dumps(
                [round(at, 6), "o", f"\r\n[recording stopped: {self.max_bytes} bytes reached]\r\n"]
            )
            line += "\n"
        self.file.write(line)
        self.written += len(line)  # json.dumps escapes non-ASCII: one byte per character

    def finish(self, at: float) -> None:
        """Write what the decoders still hold (an incomplete character at the very end)."""
        for kind, decoder in self.decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                self.event(at, kind, rest)


class _Writer:
    """The one thread per process that writes every recording's events, in order."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.thread = threading.Thread(target=self.run, name="recording-writer", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            recorder, item = self.queue.get()
            try:
                recorder.apply(item)
            except Exception:  # noqa: BLE001 - one broken file must not stop the others
                recorder.failed = True


_writer: _Writer | None = None
_writer_lock = threading.Lock()


def _the_writer() -> _Writer:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = _Writer()
        return _writer


class SessionRecorder:
    """Appends asciicast v2 events (``[seconds, "o"|"i"|"r", data]``) to one file."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self._file = open(recording.path, "a", encoding="utf-8")
        self._cast = CastWriter(
            self._file,
            max_bytes=int(getattr(settings, "RECORDING_MAX_BYTES", 64 * 1024 * 1024)),
            written=Path(recording.path).stat().st_size,
        )
        self._start = time.monotonic()
        self._closed = False
        self._done = threading.Event()
        self.dropped = 0
        self.failed = False
        self._writer = _the_writer()

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

    # ---- any thread (the event loop included): never blocks

    def _put(self, item: tuple) -> None:
        if self._closed:
            return
        try:
            self._writer.queue.put_nowait((self, item))
        except queue.Full:
            self.dropped += 1

    def output(self, data: bytes) -> None:
        self._put((time.monotonic() - self._start, "o", data))

    def input(self, data: bytes) -> None:
        self._put((time.monotonic() - self._start, "i", data))

    def resize(self, cols: int, rows: int) -> None:
        self._put((time.monotonic() - self._start, "r", f"{int(cols)}x{int(rows)}"))

    # ---- the writer thread

    def apply(self, item: tuple | None) -> None:
        if item is None:
            try:
                at = time.monotonic() - self._start
                if self.dropped:
                    self._cast.event(at, "o", f"\r\n[recording: {self.dropped} events dropped]\r\n")
                self._cast.finish(at)
                self._file.close()
            finally:
                self._done.set()
            return
        self._cast.event(*item)

    # ---- off the loop

    def close(self, timeout: float = 30) -> None:
        """Flush the file and stamp the Recording row (blocks: call it off the event loop)."""
        if self._closed:
            return
        self._closed = True
        try:  # the end marker must not be dropped: wait for room
            self._writer.queue.put((self, None), timeout=timeout)
            self._done.wait(timeout)
        except queue.Full:
            self.failed = True
        self.recording.ended_at = timezone.now()
        self.recording.size = Path(self.recording.path).stat().st_size
        self.recording.truncated = self._cast.truncated
        self.recording.save(update_fields=["ended_at", "size", "truncated"])
