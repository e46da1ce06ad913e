"""``ws/containers/<id>/logs/`` and the merged ``ws/logs/?containers=a,b``: live log lines.

Frames: ``{"type": "lines", "lines": [{"stream", "text", "ts"}...]}`` batched (~50 ms / 64 KiB),
``{"type": "notice", "message"}`` (container restarted, following again), then
``{"type": "end", "reason"}``; errors are ``{"type": "error", "message"}`` then close.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django.urls import path

from core.consumers.base import GuardedConsumer
from core.consumers.streaming import (
    STREAMS_PER_USER,
    ThreadPump,
    acquire_stream_slot,
    in_thread,
    release_stream_slot,
)
from core.engine import Engine
from core.engine.streams import ContainerFacts, LogStream, parse_since, ts_to_since
from core.errors import DashboardError, EngineUnavailable, NotFound

BATCH_SECONDS = 0.05
BATCH_BYTES = 64 * 1024
RESTART_GRACE_SECONDS = 2.0
MAX_MERGED = 20
END_GRACE_SECONDS = 120  # after ``end``, how long the server waits for the client to close
MERGE_HOLD_SECONDS = 0.25  # merged view: how long a line may wait for a quieter container's lines


def query(scope: dict[str, Any]) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return {key: values[-1] for key, values in raw.items()}


def log_options(params: dict[str, str]) -> dict[str, Any]:
    """tail/since/timestamps/follow from the query string, validated (raises InvalidInput)."""
    from core.errors import InvalidInput

    tail = params.get("tail", "500") or "500"
    if tail != "all" and not (tail.isdigit() and int(tail) >= 0):
        raise InvalidInput("tail must be a number of lines or “all”.")
    return {
        "tail": tail,
        "since": parse_since(params.get("since")),
        "timestamps": params.get("timestamps", "0") == "1",
        "follow": params.get("follow", "1") != "0",
    }


def follow_container(
    docker: Engine,
    container: ContainerFacts,
    options: dict[str, Any],
    put: Callable[[Any], bool],
    stopping: Callable[[], bool],
    register: Callable[[LogStream | None], None],
) -> None:
    """The thread's work: read one container's log, resume across restarts, end with a reason."""
    since, tail, started_at = options["since"], options["tail"], container.started_at
    while True:
        log = docker.streams.open_logs(
            container.id, tail=tail, since=since, follow=options["follow"], tty=container.tty
        )
        register(log)
        if stopping():
            log.close()
            return
        try:
            for batch in log.batches():
                if not put(("lines", batch)):
                    return
        finally:
            log.close()
            register(None)
        if stopping():
            return
        if not options["follow"]:
            put(("end", "end of the log (not following)"))
            return
        grace = RESTART_GRACE_SECONDS if container.running else 0.0
        reason, facts = _after_stream_ended(docker, container.id, started_at, stopping, grace)
        if facts is None:
            put(("end", reason))
            return
        put(("notice", f"{container.name or container.id[:12]} restarted; following again."))
        started_at = facts.started_at
        since = ts_to_since(log.last_ts) if log.last_ts else None
        tail = "all"


def _after_stream_ended(
    docker: Engine, container_id: str, started_at: str, stopping: Callable[[], bool], grace: float
):
    """Why did a followed log end? (None, facts) is a restart to follow; (reason, None) is the end."""
    deadline = time.monotonic() + grace
    while True:
        try:
            facts = docker.streams.container_facts(container_id)
        except NotFound:
            return "the container was removed", None
        except EngineUnavailable as exc:
            return f"the engine went away ({exc.message})", None
        except DashboardError as exc:
            return f"the engine stopped the stream: {exc.message}", None
        if facts.running and facts.started_at != started_at:
            return "", facts
        if facts.running:
            return "the engine closed the log stream while the container kept running", None
        if time.monotonic() > deadline or stopping():
            return f"the container stopped ({facts.status})", None
        time.sleep(0.2)


class LogsConsumer(GuardedConsumer):
    """Relays one or several containers' logs; viewer and up."""

    async def start(self) -> None:
        self.pumps: list[ThreadPump] = []
        self.relay_task: asyncio.Task | None = None
        self.slot = False
        params = query(self.scope)
        try:
            options = log_options(params)
            names = self.container_ids(params)
        except DashboardError as exc:
            await self.fail(exc.message)
            return
        if not acquire_stream_slot(self.scope["user"].pk):
            await self.fail(
                f"Too many live streams are open for you ({STREAMS_PER_USER}); "
                "close a few log or terminal tabs."
            )
            return
        self.slot = True
        try:
            containers = [await in_thread(self.docker.streams.container_facts, name) for name in names]
        except DashboardError as exc:
            await self.fail(exc.message)
            return
        self.timestamps = options["timestamps"]
        self.merged = len(containers) > 1
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=8 * len(containers))
        self.remaining = len(containers)
        for container in containers:
            self.pumps.append(self.pump_for(container, options))
        self.labels = [container.name or container.id[:12] for container in containers]
        self.relay_task = asyncio.create_task(self.relay_merged() if self.merged else self.relay())
        for pump in self.pumps:
            pump.start()

    def container_ids(self, params: dict[str, str]) -> list[str]:
        return [self.scope["url_route"]["kwargs"]["container_id"]]

    def pump_for(self, container: ContainerFacts, options: dict[str, Any]) -> ThreadPump:
        current: list[LogStream | None] = [None]
        label = container.name or container.id[:12]

        def produce(put: Callable[[Any], bool]) -> None:
            def tagged(item: Any) -> bool:
                if self.merged and item[0] == "lines":
                    for line in item[1]:
                        line["container"] = label
                return put(item)

            try:
                follow_container(self.docker, container, options, tagged, pump.stopping.is_set, register)
            finally:
                if self.merged:
                    put(("done", label))

        def register(log: LogStream | None) -> None:
            current[0] = log

        pump = ThreadPump(f"logs-{container.id[:12]}", produce, self.queue)
        pump.current = current  # type: ignore[attr-defined]
        return pump

    async def relay(self) -> None:
        """Batch lines by time and size; forward notices; end when every stream has ended."""
        queue = self.queue
        reasons: list[str] = []
        while self.remaining:
            kind, payload = await queue.get()
            if kind == "lines":
                batch, size = list(payload), _size(payload)
                deadline = time.monotonic() + BATCH_SECONDS
                pending_control = None
                while size < BATCH_BYTES:
                    if queue.empty():
                        timeout = deadline - time.monotonic()
                        if timeout <= 0:
                            break
                        try:
                            kind2, payload2 = await asyncio.wait_for(queue.get(), timeout)
                        except TimeoutError:
                            break
                    else:
                        kind2, payload2 = queue.get_nowait()
                    if kind2 != "lines":
                        pending_control = (kind2, payload2)
                        break
                    batch.extend(payload2)
                    size += _size(payload2)
                await self.send_lines(batch)
                if pending_control is None:
                    continue
                kind, payload = pending_control
            if kind == "notice":
                await self.send_json({"type": "notice", "message": payload})
            elif kind == "end":
                reasons.append(payload)
                self.remaining -= 1
            elif kind == "error":
                message = payload.message if isinstance(payload, DashboardError) else "the log stream failed"
                if isinstance(payload, EngineUnavailable):
                    reasons.append(f"the engine went away ({payload.message})")
                    self.remaining -= 1
                    continue
                await self.fail(message)
                return
        await self.finish("; ".join(dict.fromkeys(reasons)))

    async def relay_merged(self) -> None:
        """Interleave several containers by timestamp: a line goes out once every other container
        has sent something newer (or ended), or after MERGE_HOLD_SECONDS at the latest."""
        queue = self.queue
        held: list[tuple[str, int, dict, float]] = []
        newest = dict.fromkeys(self.labels, "")
        active = set(self.labels)
        reasons: list[str] = []
        seq = 0
        while active or held:
            try:
                if held:
                    kind, payload = await asyncio.wait_for(queue.get(), MERGE_HOLD_SECONDS)
                else:
                    kind, payload = await queue.get()
            except TimeoutError:
                kind, payload = "tick", None
            now = time.monotonic()
            if kind == "lines":
                for line in payload:
                    held.append((_ts_key(line["ts"]), seq, line, now))
                    seq += 1
                if payload:
                    label = payload[-1]["container"]
                    newest[label] = max(newest[label], _ts_key(payload[-1]["ts"]))
                if not queue.empty():
                    continue
            elif kind == "done":
                active.discard(payload)
            elif kind == "notice":
                await self.send_json({"type": "notice", "message": payload})
            elif kind == "end":
                reasons.append(payload)
            elif kind == "error":
                if isinstance(payload, EngineUnavailable):
                    reasons.append(f"the engine went away ({payload.message})")
                    continue
                await self.fail(
                    payload.message if isinstance(payload, DashboardError) else "the stream failed"
                )
                return
            if not held:
                continue
            held.sort(key=lambda entry: (entry[0], entry[1]))
            watermark = min((newest[label] for label in active), default=None)
            count = 0
            for key, _, _, arrived in held:
                if watermark is not None and key > watermark and now - arrived < MERGE_HOLD_SECONDS:
                    break
                count += 1
            if count:
                out, held = [entry[2] for entry in held[:count]], held[count:]
                for start in range(0, len(out), 1000):
                    await self.send_lines(out[start : start + 1000])
        await self.finish("; ".join(dict.fromkeys(reasons)))

    async def finish(self, reason: str) -> None:
        """Send ``end`` and let the client close: closing first would make the server drop the
        connection after its close-handshake timeout, losing lines a slow client has not read yet."""
        await self.send_json({"type": "end", "reason": reason})
        if self.slot:
            self.slot = False
            release_stream_slot(self.scope["user"].pk)
        await asyncio.sleep(END_GRACE_SECONDS)
        await self.close()

    async def send_lines(self, batch: list[dict]) -> None:
        if not self.timestamps:
            for line in batch:
                line["ts"] = ""
        await self.send(text_data=json.dumps({"type": "lines", "lines": batch}, separators=(",", ":")))

    async def fail(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
        await self.close()

    async def stop(self) -> None:
        try:
            pumps = getattr(self, "pumps", [])
            for pump in pumps:
                pump.stop()
                log = pump.current[0]  # type: ignore[attr-defined]
                if log is not None:
                    log.close()
            for pump in pumps:
                if pump.thread.ident is not None:
                    await pump.finished()
            task = getattr(self, "relay_task", None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        finally:
            if getattr(self, "slot", False):
                self.slot = False
                release_stream_slot(self.scope["user"].pk)


def _ts_key(ts: str) -> str:
    """Engine timestamps trim trailing zeros of the nanoseconds: pad them so strings sort by time."""
    main, dot, fraction = ts.rstrip("Z").partition(".")
    return f"{main}.{fraction.ljust(9, '0')}" if dot else f"{main}.000000000"


def _size(lines: list[dict]) -> int:
    return sum(len(line["text"]) for line in lines) + 40 * len(lines)


class MergedLogsConsumer(LogsConsumer):
    """``ws/logs/?containers=a,b``: several containers in one stream, lines tagged and interleaved."""

    def container_ids(self, params: dict[str, str]) -> list[str]:
        from core.errors import InvalidInput

        ids = [part.strip() for part in params.get("containers", "").split(",") if part.strip()]
        if not ids:
            raise InvalidInput("Name at least one container: ?containers=<id>,<id>.")
        if len(ids) > MAX_MERGED:
            raise InvalidInput(f"At most {MAX_MERGED} containers in one merged view.")
        return list(dict.fromkeys(ids))


class ServiceLogsConsumer(LogsConsumer):
    """A Swarm service's logs (all its tasks) in the same frames and viewer; viewer and up."""

    async def start(self) -> None:
        self.pumps, self.relay_task, self.slot = [], None, False
        try:
            options = log_options(query(self.scope))
        except DashboardError as exc:
            await self.fail(exc.message)
            return
        if not acquire_stream_slot(self.scope["user"].pk):
            await self.fail(f"Too many live streams are open for you ({STREAMS_PER_USER}); close a few tabs.")
            return
        self.slot = True
        service_id = self.scope["url_route"]["kwargs"]["service_id"]
        self.timestamps, self.merged, self.remaining = options["timestamps"], False, 1
        self.labels = [service_id[:12]]
        self.queue = asyncio.Queue(maxsize=8)
        current: list[LogStream | None] = [None]

        def produce(put: Callable[[Any], bool]) -> None:
            log = self.docker.streams.open_service_logs(
                service_id, tail=options["tail"], since=options["since"], follow=options["follow"]
            )
            current[0] = log
            try:
                for batch in log.batches():
                    if not put(("lines", batch)):
                        return
            finally:
                log.close()
                current[0] = None
            if not pump.stopping.is_set():
                put(("end", "the service's log stream ended" if options["follow"] else "end of the log"))

        pump = ThreadPump(f"service-logs-{service_id[:12]}", produce, self.queue)
        pump.current = current  # type: ignore[attr-defined]
        self.pumps.append(pump)
        self.relay_task = asyncio.create_task(self.relay())
        pump.start()


websocket_urlpatterns = [
    path("ws/containers/<ref:container_id>/logs/", LogsConsumer.as_asgi(), name="ws-container-logs"),
    path("ws/logs/", MergedLogsConsumer.as_asgi(), name="ws-logs"),
    path("ws/swarm/services/<ref:service_id>/logs/", ServiceLogsConsumer.as_asgi(), name="ws-service-logs"),
]
