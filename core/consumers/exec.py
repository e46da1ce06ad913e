"""``ws/containers/<id>/exec/`` and ``ws/containers/<id>/attach/``: interactive terminals.

Binary frames carry terminal bytes both ways. Text frames are JSON control: the browser sends
``{"type": "resize", "cols": N, "rows": M}``; the server sends ``{"type": "exit", "code": N}`` when the
process ends and ``{"type": "error", "message"}`` before closing on a failure. Operator and up;
start and end are audited, every session is recorded (asciicast). Closing the socket ends the exec's
processes (docker itself would leave them running) or, for attach, detaches without stopping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.urls import path

from core import audit
from core.consumers.base import GuardedConsumer
from core.consumers.logs import query
from core.consumers.streaming import (
    STREAMS_PER_USER,
    ThreadPump,
    acquire_stream_slot,
    in_thread,
    release_stream_slot,
)
from core.context import context_thread
from core.engine import streams
from core.errors import DashboardError
from core.recordings import SessionRecorder
from core.roles import Role

MAX_FRAME = 64 * 1024
log = logging.getLogger(__name__)


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

    async def start(self) -> None:
        self.terminal: streams.TerminalSocket | None = None
        self.pump: ThreadPump | None = None
        self.recorder: SessionRecorder | None = None
        self.writes: queue.SimpleQueue = queue.SimpleQueue()
        self.writer: threading.Thread | None = None
        self.relay_task: asyncio.Task | None = None
        self.slot = False
        self.started = time.monotonic()
        self.exit_code: int | None = None
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
            self.terminal = await in_thread(self.open_terminal)
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
        try:
            event = await database_sync_to_async(audit.record)(
                self.scope, self.action, target=self.container_id, parameters=self.parameters
            )
            self.recorder = await database_sync_to_async(SessionRecorder.open)(
                audit_event=event, width=self.cols, height=self.rows, command=self.command_label()
            )
        except Exception:
            # No audit trail or recording, no session: end the process we just started.
            log.exception("could not audit/record the %s session on %s", self.action, self.container_id)
            await self.fail("The session could not be recorded; try again.")
            return
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        self.pump = ThreadPump(f"{self.action}-{self.container_id[:12]}", self.read_output, self.queue)
        self.writer = context_thread(target=self.write_input, name="terminal-writer", daemon=True)
        self.relay_task = asyncio.create_task(self.relay())
        self.pump.start()
        self.writer.start()

    def parse(self, params: dict[str, str]) -> dict[str, Any]:
        cmd = params.get("cmd", "").strip()
        try:
            argv = shlex.split(cmd) if cmd else []
        except ValueError as exc:
            raise ValueError(f"The command does not parse: {exc}.") from exc
        return {"cmd": argv, "user": params.get("user", ""), "workdir": params.get("workdir", "")}

    def command_label(self) -> str:
        return shlex.join(self.parameters["cmd"]) if self.parameters["cmd"] else "bash || sh"

    def open_terminal(self) -> streams.TerminalSocket:
        return streams.start_exec(
            self.container_id,
            cmd=self.parameters["cmd"] or None,
            user=self.parameters["user"],
            workdir=self.parameters["workdir"],
            cols=self.cols,
            rows=self.rows,
        )

    def final_status(self, terminal: streams.TerminalSocket, *, stopping: bool) -> int | None:
        """After the stream ended: the exit code; on a disconnect, end the process tree first."""
        if stopping:
            return streams.end_exec(terminal).exit_code
        for _ in range(20):  # the engine marks the exec finished a moment after the socket closes
            status = streams.exec_status(terminal.exec_id or "")
            if not status.running:
                return status.exit_code
            time.sleep(0.05)
        return None

    # ---- threads

    def read_output(self, put: Callable[[Any], bool]) -> None:
        terminal = self.terminal
        assert terminal is not None and self.pump is not None
        while data := terminal.recv():
            if not put(("out", data)):
                break
        stopping = self.pump.stopping.is_set()
        try:
            code = self.final_status(terminal, stopping=stopping)
        except DashboardError:
            code = None
        if not stopping:
            put(("exit", code))

    def write_input(self) -> None:
        terminal = self.terminal
        while (data := self.writes.get()) is not None:
            if terminal is not None:
                terminal.send(data)

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
                await self.send_json({"type": "exit", "code": payload})
                await self.close()
                return
            if kind == "error":
                message = (
                    payload.message if isinstance(payload, DashboardError) else "the terminal stream failed"
                )
                await self.fail(message)
                return

    async def flush(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        await self.send(bytes_data=data)
        if self.recorder is not None:
            self.recorder.output(data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.terminal is None:
            return
        if bytes_data is not None:
            self.writes.put(bytes_data)
            if self.recorder is not None:
                self.recorder.input(bytes_data)
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
                await in_thread(streams.resize_terminal, self.terminal, cols=cols, rows=rows)
            except DashboardError:
                return
            if self.recorder is not None:
                self.recorder.resize(cols, rows)
        elif message.get("type") == "input" and isinstance(message.get("data"), str):
            data = message["data"].encode()
            self.writes.put(data)
            if self.recorder is not None:
                self.recorder.input(data)

    async def fail(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
        await self.close()

    async def stop(self) -> None:
        # The person closed the terminal: it no longer counts against their cap, even while the
        # process tree is being ended and the recording closed below.
        if getattr(self, "slot", False):
            self.slot = False
            release_stream_slot(self.scope["user"].pk)
        try:
            await self.end_session()
        except Exception:
            log.exception("ending the %s session on %s failed", self.action, self.container_id)

    async def end_session(self) -> None:
        """Stop the threads (ending the exec's processes), close the recording, audit the end."""
        terminal = getattr(self, "terminal", None)
        if terminal is None:
            return
        self.terminal = None
        if self.pump is not None:
            self.pump.stop()
        terminal.close()
        self.writes.put(None)
        if self.pump is not None and self.pump.thread.ident is not None:
            await self.pump.finished()
        else:  # the session never got its reader thread: end the process here
            try:
                await in_thread(self.final_status, terminal, stopping=True)
            except DashboardError:
                pass
        for _ in range(40):
            if self.writer is None or not self.writer.is_alive():
                break
            await asyncio.sleep(0.05)
        if self.relay_task is not None and self.relay_task is not asyncio.current_task():
            self.relay_task.cancel()
        if self.recorder is not None:
            await database_sync_to_async(self.recorder.close)()
        await database_sync_to_async(audit.record)(
            self.scope,
            f"{self.action}.end",
            target=self.container_id,
            parameters={
                **self.parameters,
                "seconds": round(time.monotonic() - self.started, 1),
                "exit_code": self.exit_code,
            },
        )


class ExecConsumer(TerminalConsumer):
    """``docker exec -it`` in the browser."""

    audit_denied_action = "container.exec"


class AttachConsumer(TerminalConsumer):
    """``docker attach``: the main process's terminal; closing detaches (the container keeps running)."""

    action = "container.attach"
    audit_denied_action = "container.attach"

    def parse(self, params: dict[str, str]) -> dict[str, Any]:
        return {}

    def command_label(self) -> str:
        return "attach"

    def open_terminal(self) -> streams.TerminalSocket:
        facts = streams.container_facts(self.container_id)
        if not facts.running:
            from core.errors import Conflict

            raise Conflict(f"Container {facts.name} is not running ({facts.status}).")
        terminal = streams.start_attach(facts.id, tty=facts.tty)
        if facts.tty:
            try:
                streams.resize_terminal(terminal, cols=self.cols, rows=self.rows)
            except DashboardError:
                pass
        return terminal

    def final_status(self, terminal: streams.TerminalSocket, *, stopping: bool) -> int | None:
        if stopping:
            return None  # detached: the container keeps running
        for _ in range(40):
            code = streams.container_exit_code(terminal.container_id)
            if code is not None:
                return code
            time.sleep(0.05)
        return None


websocket_urlpatterns = [
    path("ws/containers/<ref:container_id>/exec/", ExecConsumer.as_asgi()),
    path("ws/containers/<ref:container_id>/attach/", AttachConsumer.as_asgi()),
]
