"""``ws/containers/<id>/exec/`` and ``ws/containers/<id>/attach/``: interactive terminals.

Binary frames carry terminal bytes both ways. Text frames are JSON control: the browser sends
``{"type": "resize", "cols": N, "rows": M}`` and ``{"type": "paste", "data": "...", "bracketed": bool}``
(pasted text: escape sequences and control characters other than tab/CR/LF are removed here, whatever
the browser did); the server sends ``{"type": "exit", "code": N}`` when the process ends and
``{"type": "error", "message"}`` before closing on a failure. Input is bounded: a frame over
``EXEC_INPUT_FRAME_BYTES`` closes the session with 4009, a flood over the byte/frame rates (or input the
process does not read) with 4008 (1009/1008 in the range daphne lets an application send), after an
``error`` frame saying why. Operator and up; start and end are audited, every session is
recorded (asciicast). However the session ends (close, reset, flood, the handler cancelled, the engine
gone), a cleanup thread of its own ends every process it started (core/exec_sessions.py), closes the
recording and audits the end; for attach it only detaches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.urls import path

from core import audit, exec_sessions
from core.consumers.base import GuardedConsumer
from core.consumers.logs import query
from core.consumers.streaming import STREAMS_PER_USER, ThreadPump, acquire_stream_slot, release_stream_slot
from core.engine.streams import TerminalSocket
from core.errors import DashboardError
from core.live.bridge import call
from core.recordings import SessionRecorder
from core.roles import Role

MAX_FRAME = 64 * 1024
WRITE_QUEUE = 256  # input frames waiting for the process to read them
EXIT_STATUS_WAIT = 10.0  # seconds to wait for the engine to mark a finished process finished
# 1009/1008 in the application range: daphne (autobahn) refuses to send codes under 3000 but 1000.
CLOSE_TOO_BIG = 4009
CLOSE_POLICY = 4008
log = logging.getLogger(__name__)

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte (e.g. the bracketed-paste end ESC[201~)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
_NEWLINES = re.compile(r"\r?\n")


def sanitize_paste(text: str) -> str:
    """Pasted text as a terminal may receive it: no escape sequences, no C0/C1 controls but tab,
    CR and LF (line ends become CR, as a terminal's Enter), so a paste cannot end a bracketed paste
    early or drive the terminal."""
    return _NEWLINES.sub("\r", _CONTROLS.sub("", _ESCAPES.sub("", text)))


class RateLimit:
    """A token bucket: ``allow(amount)`` until more than ``rate`` per second (burst ``2 * rate``)."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.capacity = 2 * self.rate
        self.tokens = self.capacity
        self.clock = clock
        self.last = clock()

    def allow(self, amount: float = 1) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


def _size(value: str | None, default: int) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return min(max(number, 1), 1000)


class TerminalConsumer(GuardedConsumer):
    """Shared relay for exec and attach: a reader thread, a writer thread, the recorder, the audit."""

    required_role = Role.OPERATOR
    action = "container.exec"
    sweeps = True  # exec: end the processes the session started; attach: just detach

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.terminal: TerminalSocket | None = None
        self.pump: ThreadPump | None = None
        self.recorder: SessionRecorder | None = None
        self.writes: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE)
        self.writer: threading.Thread | None = None
        self.relay_task: asyncio.Task | None = None
        self.session_row: int | None = None
        self.slot = False
        self.ending = False
        self.started = time.monotonic()
        self.exit_code: int | None = None
        self.ended_by = "closed"
        self.parameters: dict[str, Any] = {}
        self.container_id = ""
        self.frame_limit = int(getattr(settings, "EXEC_INPUT_FRAME_BYTES", MAX_FRAME))
        self.byte_rate = RateLimit(int(getattr(settings, "EXEC_INPUT_BYTES_PER_SECOND", 1024 * 1024)))
        self.frame_rate = RateLimit(int(getattr(settings, "EXEC_INPUT_FRAMES_PER_SECOND", 1000)))

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when daphne cancels the handler: ending the session must not need the loop.
            self.end_session()

    async def start(self) -> None:
        self.container_id = self.scope["url_route"]["kwargs"]["container_id"]
        params = query(self.scope)
        self.cols, self.rows = _size(params.get("cols"), 80), _size(params.get("rows"), 24)
        try:
            self.parameters = self.parse(params)
        except ValueError as exc:
            await self.fail(str(exc))
            return
        if not acquire_stream_slot(self.scope["user"].pk):
            await self.fail(f"Too many live streams are open for you ({STREAMS_PER_USER}); close a few tabs.")
            return
        self.slot = True
        try:
            terminal = await call(self.open_terminal, abandoned=self._abandoned)
        except DashboardError as exc:
            await database_sync_to_async(audit.record)(
                self.scope,
                self.action,
                target=self.container_id,
                parameters=self.parameters,
                outcome=audit.FAILED,
                message=exc.message,
            )
            await self.fail(exc.message)
            return
        self.terminal = terminal
        if self.ending:  # the socket went away while the exec started: end what was started
            self._spawn_finish()
            return
        try:
            await database_sync_to_async(self.begin)(terminal)
        except Exception:
            # No audit trail or recording, no session: end the process we just started.
            log.exception("could not audit/record the %s session on %s", self.action, self.container_id)
            await self.fail("The session could not be recorded; try again.")
            return
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        self.pump = ThreadPump(f"{self.action}-{self.container_id[:12]}", self.read_output, self.queue)
        self.writer = threading.Thread(target=self.write_input, name="terminal-writer", daemon=True)
        self.relay_task = asyncio.create_task(self.relay())
        self.pump.start()
        self.writer.start()

    def _abandoned(self, terminal: TerminalSocket) -> None:
        """The handler was cancelled (daphne, the browser long gone) while the exec started."""
        self.terminal = terminal
        self.ending = True
        self._spawn_finish()

    def begin(self, terminal: TerminalSocket) -> None:
        """Audit the start, remember the session, open the recording (one trip off the loop)."""
        event = audit.record(self.scope, self.action, target=self.container_id, parameters=self.parameters)
        if self.sweeps:
            self.session_row = exec_sessions.remember(
                terminal, endpoint=self.scope["endpoint"].slug, username=self.scope["user"].get_username()
            )
        self.recorder = SessionRecorder.open(
            audit_event=event, width=self.cols, height=self.rows, command=self.command_label()
        )

    def parse(self, params: dict[str, str]) -> dict[str, Any]:
        cmd = params.get("cmd", "").strip()
        try:
            argv = shlex.split(cmd) if cmd else []
        except ValueError as exc:
            raise ValueError(f"The command does not parse: {exc}.") from exc
        return {"cmd": argv, "user": params.get("user", ""), "workdir": params.get("workdir", "")}

    def command_label(self) -> str:
        return shlex.join(self.parameters["cmd"]) if self.parameters["cmd"] else "bash || sh"

    def open_terminal(self) -> TerminalSocket:
        return self.docker.streams.start_exec(
            self.container_id,
            cmd=self.parameters["cmd"] or None,
            user=self.parameters["user"],
            workdir=self.parameters["workdir"],
            cols=self.cols,
            rows=self.rows,
        )

    def exit_status(self, terminal: TerminalSocket) -> int | None:
        """After the stream ended by itself: the process's exit code."""
        return _polled(lambda: self._finished_exec(terminal), self._stopping)

    def _stopping(self) -> bool:
        return self.pump is not None and self.pump.stopping.is_set()

    def _finished_exec(self, terminal: TerminalSocket) -> tuple[bool, int | None]:
        status = self.docker.streams.exec_status(terminal.exec_id or "")
        return not status.running, status.exit_code

    # ---- threads

    def read_output(self, put: Callable[[Any], bool]) -> None:
        terminal = self.terminal
        assert terminal is not None and self.pump is not None
        while data := terminal.recv():
            if not put(("out", data)):
                return
        if self.pump.stopping.is_set():
            return
        try:
            code = self.exit_status(terminal)
        except DashboardError:
            code = None
        put(("exit", code))

    def write_input(self) -> None:
        terminal = self.terminal
        while (data := self.writes.get()) is not None:
            try:
                if terminal is not None and not self.ending:
                    terminal.send(data)
            finally:
                self.writes.task_done()  # write() may write directly again once nothing is queued

    def finish(self) -> None:
        """The cleanup thread: end the processes, close the recording, audit the end. Never raises."""
        terminal = self.terminal
        assert terminal is not None
        try:
            if self.pump is not None:
                self.pump.stop()
            terminal.close()
            self._stop_writer()
            status = None
            if self.sweeps:
                status = exec_sessions.sweep(self.docker, self.session_row, terminal)
            if self.exit_code is None and status is not None:
                self.exit_code = status.exit_code
            if self.pump is not None and self.pump.thread.ident is not None:
                self.pump.thread.join(10)
            if self.writer is not None:
                self.writer.join(10)
            if self.recorder is not None:
                self.recorder.close()
            if self.session_row is not None or not self.sweeps:
                audit.record(
                    self.scope,
                    f"{self.action}.end",
                    target=self.container_id,
                    parameters={
                        **self.parameters,
                        "seconds": round(time.monotonic() - self.started, 1),
                        "exit_code": self.exit_code,
                        "ended_by": self.ended_by,
                    },
                )
        except Exception:
            log.exception("ending the %s session on %s failed", self.action, self.container_id)
        finally:
            connection.close()

    def _stop_writer(self) -> None:
        while True:  # make room for the sentinel: what was not written is moot now
            try:
                self.writes.put_nowait(None)
                return
            except queue.Full:
                try:
                    self.writes.get_nowait()
                except queue.Empty:
                    pass

    # ---- loop side

    async def relay(self) -> None:
        q = self.queue
        while True:
            kind, payload = await q.get()
            if kind == "out":
                chunks, size = [payload], len(payload)
                while size < MAX_FRAME and not q.empty():
                    peek = q.get_nowait()
                    if peek[0] != "out":
                        await self.flush(chunks)
                        chunks, size = [], 0
                        kind, payload = peek
                        break
                    chunks.append(peek[1])
                    size += len(peek[1])
                if chunks:
                    await self.flush(chunks)
                    continue
            if kind == "exit":
                self.exit_code = payload
                self.ended_by = "exit"
                await self.send_json({"type": "exit", "code": payload})
                await self.close()
                return
            if kind == "error":
                message = (
                    payload.message if isinstance(payload, DashboardError) else "the terminal stream failed"
                )
                self.ended_by = "error"
                await self.fail(message)
                return

    async def flush(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        await self.send(bytes_data=data)
        if self.recorder is not None:
            self.recorder.output(data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.terminal is None or self.ending:
            return
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        if size > self.frame_limit:
            await self.refuse(CLOSE_TOO_BIG, f"Input frame over {self.frame_limit} bytes; session closed.")
            return
        if not self.frame_rate.allow() or not self.byte_rate.allow(size):
            await self.refuse(
                CLOSE_POLICY, "Input flood (too many bytes or frames per second); session closed."
            )
            return
        if bytes_data is not None:
            await self.write(bytes_data)
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "resize":
            cols, rows = _size(str(message.get("cols")), 80), _size(str(message.get("rows")), 24)
            try:
                await call(self.docker.streams.resize_terminal, self.terminal, cols=cols, rows=rows)
            except DashboardError:
                return
            if self.recorder is not None:
                self.recorder.resize(cols, rows)
        elif message.get("type") == "paste" and isinstance(message.get("data"), str):
            text = sanitize_paste(message["data"])
            if message.get("bracketed") is True:
                text = f"\x1b[200~{text}\x1b[201~"
            await self.write(text.encode())
        elif message.get("type") == "input" and isinstance(message.get("data"), str):
            await self.write(message["data"].encode())

    async def write(self, data: bytes) -> None:
        if not data:
            return
        # A keystroke goes straight to the socket when it takes it at once and nothing is queued or
        # being written (order kept): no hand-over to the writer thread on the way to the echo
        # (~0.1 ms of it). What the socket does not take goes to the writer thread, which may wait.
        # Before the session is audited, remembered and recorded (the writer thread starts last)
        # input waits in the queue: after a start that failed nothing ever reads it.
        rest = data
        if self.writer is not None and self.writes.unfinished_tasks == 0 and not self.ending:
            rest = data[self.terminal.send_now(data) :]
        if rest:
            try:
                self.writes.put_nowait(rest)
            except queue.Full:
                await self.refuse(CLOSE_POLICY, "The process is not reading its input; session closed.")
                return
        if self.recorder is not None:
            self.recorder.input(data)

    async def refuse(self, code: int, message: str) -> None:
        """Close this one session for its input (the cleanup runs as for any other end)."""
        self.ended_by = "input limit"
        await self.send_json({"type": "error", "message": message})
        await self.close(code=code, reason=message[:120])
        self.end_session()

    async def fail(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
        await self.close()

    async def stop(self) -> None:
        self.end_session()

    def end_session(self) -> None:
        """Start the cleanup thread (once); synchronous and quick, so safe while being cancelled."""
        # The person closed the terminal: it no longer counts against their cap, even while the
        # process tree is being ended and the recording closed in the cleanup thread.
        if self.slot:
            self.slot = False
            release_stream_slot(self.scope["user"].pk)
        if self.ending:
            return
        self.ending = True
        if self.relay_task is not None and self.relay_task is not _current_task():
            self.relay_task.cancel()
        if self.terminal is None:
            return  # nothing started (or start() is still waiting for the engine: it checks `ending`)
        self._spawn_finish()

    def _spawn_finish(self) -> None:
        if self.pump is not None:
            self.pump.stop()
        threading.Thread(target=self.finish, name="terminal-cleanup", daemon=True).start()


def _current_task() -> asyncio.Task | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class ExecConsumer(TerminalConsumer):
    """``docker exec -it`` in the browser."""

    audit_denied_action = "container.exec"


class AttachConsumer(TerminalConsumer):
    """``docker attach``: the main process's terminal; closing detaches (the container keeps running)."""

    action = "container.attach"
    audit_denied_action = "container.attach"
    sweeps = False  # detach only: the container keeps running

    def parse(self, params: dict[str, str]) -> dict[str, Any]:
        return {}

    def command_label(self) -> str:
        return "attach"

    def open_terminal(self) -> TerminalSocket:
        facts = self.docker.streams.container_facts(self.container_id)
        if not facts.running:
            from core.errors import Conflict

            raise Conflict(f"Container {facts.name} is not running ({facts.status}).")
        terminal = self.docker.streams.start_attach(facts.id, tty=facts.tty)
        if facts.tty:
            try:
                self.docker.streams.resize_terminal(terminal, cols=self.cols, rows=self.rows)
            except DashboardError:
                pass
        return terminal

    def exit_status(self, terminal: TerminalSocket) -> int | None:
        def finished() -> tuple[bool, int | None]:
            code = self.docker.streams.container_exit_code(terminal.container_id)
            return code is not None, code

        return _polled(finished, self._stopping)


def _polled(check: Callable[[], tuple[bool, int | None]], stopping: Callable[[], bool]) -> int | None:
    """The exit code once ``check()`` says the process finished; None after EXIT_STATUS_WAIT seconds
    or once the socket is ``stopping`` (the tab was closed: nobody to tell).

    The engine marks a process finished a moment after its socket closes: usually within 50 ms, on
    a busy host a second or more (a fixed count of 20 polls lost the code there)."""
    deadline = time.monotonic() + EXIT_STATUS_WAIT
    pause = 0.02
    while True:
        done, code = check()
        if done:
            return code
        if time.monotonic() >= deadline or stopping():
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


websocket_urlpatterns = [
    path("ws/containers/<ref:container_id>/exec/", ExecConsumer.as_asgi(), name="ws-exec"),
    path("ws/containers/<ref:container_id>/attach/", AttachConsumer.as_asgi(), name="ws-attach"),
]
