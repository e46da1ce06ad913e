"""``ws/containers/<id>/logs/`` and the merged ``ws/logs/?containers=a,b``: live log lines.

Frames: ``{"type": "lines", "lines": [{"stream", "text", "ts"}...]}`` batched (~50 ms / 64 KiB),
``{"type": "notice", "message"}`` (container restarted, following again), then
``{"type": "end", "reason"}``; errors are ``{"type": "error", "message"}`` then close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.urls import path

from core.consumers.base import GuardedConsumer
from core.consumers.loghub import Follower, TooManyStreams, hub
from core.consumers.streaming import STREAMS_PER_USER, acquire_stream_slot, release_stream_slot
from core.engine import Engine
from core.engine.streams import ContainerFacts, parse_since, ts_to_since
from core.errors import DashboardError, EngineUnavailable, NotFound
from core.live.bridge import Feed, Pump, call
from core.live.follow import END, FOLLOW, after_stream_end
from core.live.frames import line_frames
from core.live.lines import ts_key
from core.live.merge import MERGE_HOLD_SECONDS, Merger

# How long a followed log waits for a stopped container to start again (``docker restart`` stops,
# then starts: on a busy engine 2 s was not always enough) before it ends with "stopped".
RESTART_GRACE_SECONDS = 5.0
MAX_MERGED = 20
PROBE_TIMEOUT = 4.0  # seconds the engine has to answer a probe
PROBE_EVERY = 0.5  # how often the probe looks at the silence: a hang is told within quiet + 0.5 + 4 s
END_GRACE_SECONDS = 120  # after ``end``, how long the server waits for the client to close


def query(scope: dict[str, Any]) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return {key: values[-1] for key, values in raw.items()}


def log_options(params: dict[str, str]) -> dict[str, Any]:
    """tail/since/until/timestamps/follow from the query string, validated (raises InvalidInput);
    an ``until`` means no following."""
    from core.errors import InvalidInput

    tail = params.get("tail", "500") or "500"
    if tail != "all" and not (tail.isdigit() and int(tail) >= 0):
        raise InvalidInput("tail must be a number of lines or “all”.")
    until = parse_since(params.get("until"))
    return {
        "tail": tail,
        "since": parse_since(params.get("since")),
        "until": until,
        "timestamps": params.get("timestamps", "0") == "1",
        # a log up to a moment in the past has an end: nothing to follow
        "follow": params.get("follow", "1") != "0" and until is None,
    }


def follow_container(
    docker: Engine,
    container: ContainerFacts,
    options: dict[str, Any],
    feed: Feed,
    put: Callable[[Any], bool],
) -> None:
    """The thread's work: read one container's log, resume across restarts, end with a reason.

    With ``options["announce"]`` an ``("opened", None)`` item says the engine stream is open (a
    shared stream: new viewers read their tail only after it, so nothing falls between the two).
    """
    since, tail, started_at = options["since"], options["tail"], container.started_at
    stopping = lambda: feed.closed  # noqa: E731 - read by _after_stream_ended
    announce = options.get("announce", False)
    while True:
        log = docker.streams.open_logs(
            container.id,
            tail=tail,
            since=since,
            until=options.get("until"),
            follow=options["follow"],
            tty=container.tty,
            timestamps=options.get("engine_timestamps", True),
        )
        if not feed.attach(log):
            return
        if announce:
            announce = False
            put(("opened", None))
        try:
            for batch in log.batches():
                if not put(("lines", batch)):
                    return
        finally:
            feed.detach(log)
            log.close()
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
    began = time.monotonic()
    while True:
        facts, problem = None, ""
        try:
            facts = docker.streams.container_facts(container_id)
        except NotFound:
            problem = "the container was removed"
        except EngineUnavailable:
            raise  # reported as ``engine disconnected`` (an error frame: the view reconnects)
        except DashboardError as exc:
            problem = f"the engine stopped the stream: {exc.message}"
        decision = after_stream_end(
            running=facts.running if facts else None,
            started_at=facts.started_at if facts else "",
            previous_started_at=started_at,
            status=facts.status if facts else "",
            exit_code=facts.exit_code if facts else None,
            problem=problem,
            waited=time.monotonic() - began,
            grace=0.0 if stopping() else grace,
        )
        if decision.action == FOLLOW:
            return "", facts
        if decision.action == END:
            return decision.reason, None
        time.sleep(0.2)


class LogsConsumer(GuardedConsumer):
    """Relays one or several containers' logs; viewer and up."""

    stamped_lines = True  # the engine was asked for timestamps (start() may decide otherwise)

    async def start(self) -> None:
        self.pump: Pump | None = None
        self.follower: Follower | None = None
        self.probe_task: asyncio.Task | None = None
        self.last_seen = time.monotonic()
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
            containers = [await call(self.docker.streams.container_facts, name) for name in names]
        except DashboardError as exc:
            await self.fail(exc.message)
            return
        self.timestamps = options["timestamps"]
        self.follow = options["follow"]
        self.merged = len(containers) > 1
        # The engine formats timestamps only when something here needs them (~15% of its work on
        # a big log): the view shows them, a merge interleaves by them, a follow resumes from the
        # last one after a restart (and a shared stream's tail meets the live lines by them).
        self.stamped_lines = options["engine_timestamps"] = (
            options["timestamps"] or options["follow"] or self.merged
        )
        self.remaining = len(containers)
        self.labels = [container.name or container.id[:12] for container in containers]
        if not self.merged and options["follow"]:
            await self.start_shared(containers[0], options)
            return
        # a merge waits for a container whose stream has not opened yet (core/live/merge.py)
        options["announce"] = self.merged
        producers = [self.producer_for(container, options) for container in containers]
        self.pump = Pump(producers[0], maxsize=8 * len(containers), name=f"logs-{containers[0].id[:12]}")
        self.labels = [container.name or container.id[:12] for container in containers]
        self.relay_task = asyncio.create_task(self.relay_merged() if self.merged else self.relay())
        self.probe_task = asyncio.create_task(
            self.probe_engine(self.docker.streams.container_facts, containers[0].id)
        )
        self.pump.start(
            also=[
                (producer, f"logs-{container.id[:12]}")
                for container, producer in zip(containers[1:], producers[1:], strict=True)
            ]
        )

    def container_ids(self, params: dict[str, str]) -> list[str]:
        return [self.scope["url_route"]["kwargs"]["container_id"]]

    async def start_shared(self, container: ContainerFacts, options: dict[str, Any]) -> None:
        """Follow through the process's shared engine stream (core/consumers/loghub.py): join it,
        wait until it is open, then read this viewer's own tail; live lines newer than the tail follow."""
        endpoint = getattr(self.scope.get("endpoint"), "slug", "") or "default"
        live = {**options, "tail": "0", "since": None, "announce": True}
        try:
            self.follower = hub.follow(
                (endpoint, container.id, "stdout+stderr"), self.producer_for(container, live)
            )
        except TooManyStreams as exc:
            await self.fail(exc.message)
            return
        try:
            await asyncio.wait_for(self.follower.shared.opened.wait(), PROBE_TIMEOUT * 3)
        except TimeoutError:
            await self.fail("engine disconnected (the log stream did not open); reconnect to resume")
            return
        own_tail = {**options, "follow": False}
        self.pump = Pump(
            self.producer_for(container, own_tail), maxsize=8, name=f"logs-tail-{container.id[:12]}"
        )
        self.relay_task = asyncio.create_task(self.relay_shared())
        self.probe_task = asyncio.create_task(
            self.probe_engine(self.docker.streams.container_facts, container.id)
        )
        self.pump.start()

    async def relay_shared(self) -> None:
        """This viewer's tail, then the shared live lines newer than the tail's last line."""
        assert self.pump is not None and self.follower is not None
        newest = ""
        while (items := await self.pump.batch()) is not None:
            self.last_seen = time.monotonic()
            for kind, payload in items:
                if kind == "lines" and payload:
                    newest = ts_key(payload[-1]["ts"]) or newest
                    await self.send_lines(payload)
                elif kind == "error":
                    await self.control(kind, payload, [])
                    return
        self.pump = None
        reasons: list[str] = []
        while self.remaining and (items := await self.follower.batch()) is not None:
            self.last_seen = time.monotonic()
            self.gate.skipped += self.follower.take_dropped()
            for kind, payload in items:
                if kind != "lines":
                    if not await self.control(kind, payload, reasons):
                        return
                elif newest:  # the overlap with this viewer's tail: skip what it already sent
                    fresh = [line for line in payload.lines if ts_key(line["ts"]) > newest]
                    if fresh:
                        newest = ""
                        await self.send_lines(fresh)
                else:  # the shared batch, framed once for every follower
                    for frame, count in payload.frames(self.timestamps):
                        if not await self.send_droppable(frame, count):
                            return
        await self.finish("; ".join(dict.fromkeys(reasons)) or "the log stream ended")

    def producer_for(self, container: ContainerFacts, options: dict[str, Any]) -> Callable[[Feed], None]:
        label = container.name or container.id[:12]

        def produce(feed: Feed) -> None:
            def tagged(item: Any) -> bool:
                if self.merged and item[0] == "lines":
                    for line in item[1]:
                        line["container"] = label
                elif item[0] == "opened":
                    item = ("opened", label)
                return feed.put(item)

            try:
                follow_container(self.docker, container, options, feed, tagged)
            except Exception as exc:  # noqa: BLE001 - one container's failure is reported in order
                tagged(("error", exc))
            finally:
                if self.merged:
                    feed.put(("done", label))

        return produce

    async def relay(self) -> None:
        """Forward lines as they come (the engine side batches ~50 ms / 64 KiB), notices, the end."""
        assert self.pump is not None
        reasons: list[str] = []
        while self.remaining and (items := await self.pump.batch()) is not None:
            self.last_seen = time.monotonic()
            lines: list[dict] = []
            for kind, payload in items:
                if kind == "lines":
                    lines.extend(payload)
                    continue
                if lines:
                    await self.send_lines(lines)
                    lines = []
                if not await self.control(kind, payload, reasons):
                    return
            if lines:
                await self.send_lines(lines)
        await self.finish("; ".join(dict.fromkeys(reasons)))

    async def control(self, kind: str, payload: Any, reasons: list[str]) -> bool:
        """A notice, an end or an error from a producer; False when the socket was failed."""
        if kind == "notice":
            await self.send_json({"type": "notice", "message": payload})
        elif kind == "end":
            reasons.append(payload)
            self.remaining -= 1
        elif kind == "error":
            if isinstance(payload, EngineUnavailable):
                await self.fail(f"engine disconnected ({payload.message}); reconnect to resume")
                return False
            await self.fail(
                payload.message if isinstance(payload, DashboardError) else "the log stream failed"
            )
            return False
        return True

    async def relay_merged(self) -> None:
        """Interleave several containers by timestamp (core/live/merge.py)."""
        assert self.pump is not None
        merger = Merger(self.labels, exact=not self.follow)
        reasons: list[str] = []
        self.remaining = 1 << 30  # ``end`` frames do not end a merged view; ``done`` does
        while not merger.over:
            items = (
                await self.pump.next_within(MERGE_HOLD_SECONDS) if merger.held else await self.pump.batch()
            )
            if items is None:
                merger.active.clear()
                items = []
            now = time.monotonic()
            if items:
                self.last_seen = now
            for kind, payload in items:
                if kind == "lines":
                    if payload:
                        merger.add(payload[-1]["container"], payload, now)
                elif kind == "opened":
                    merger.opened(payload, now)
                elif kind == "done":
                    merger.done(payload)
                elif not await self.control(kind, payload, reasons):
                    return
            out = merger.ready(now)
            if out:
                await self.send_lines(out)
        await self.finish("; ".join(dict.fromkeys(reasons)))

    async def finish(self, reason: str) -> None:
        """Send ``end`` and let the client close: closing first would make the server drop the
        connection after its close-handshake timeout, losing lines a slow client has not read yet."""
        if self.probe_task is not None:
            self.probe_task.cancel()
        await self.flush_skipped()  # the held-back newest lines too: the end of the log
        await self.send_json({"type": "end", "reason": reason})
        if self.slot:
            self.slot = False
            release_stream_slot(self.scope["user"].pk)
        await asyncio.sleep(END_GRACE_SECONDS)
        await self.close()

    async def send_lines(self, batch: list[dict]) -> None:
        # Without timestamps the frames carry copies with "ts" blank (a shared stream's lines go
        # to other viewers too), made while framing; lines read without them have it blank already.
        for frame, count in line_frames(batch, blank_ts=not self.timestamps and self.stamped_lines):
            if not await self.send_droppable(frame, count):
                return

    async def fail(self, message: str) -> None:
        if self.closing:
            return
        await self.send_json({"type": "error", "message": message})
        await self.close()

    async def probe_engine(self, check: Callable[..., Any], *args: Any) -> None:
        """A followed log may be quiet, or the engine may hang: after LIVE_ENGINE_PROBE_SECONDS of
        silence ask the engine (bounded by PROBE_TIMEOUT); no answer is ``engine disconnected``."""
        quiet = settings.LIVE_ENGINE_PROBE_SECONDS
        while not self.closing:
            await asyncio.sleep(PROBE_EVERY)
            if time.monotonic() - self.last_seen < quiet:
                continue
            try:
                await asyncio.wait_for(call(check, *args), PROBE_TIMEOUT)
            except TimeoutError:
                problem = f"no answer in {PROBE_TIMEOUT:.0f} s"
            except EngineUnavailable as exc:
                problem = exc.message
            except DashboardError:
                problem = ""  # it answered (the container may be gone: the stream says so)
            else:
                problem = ""
            if problem:
                await self.fail(f"engine disconnected ({problem}); reconnect to resume")
                return
            self.last_seen = time.monotonic()

    async def stop(self) -> None:
        try:
            pump = getattr(self, "pump", None)
            if pump is not None:
                pump.close()  # closes the engine streams: the threads end by themselves
            follower = getattr(self, "follower", None)
            if follower is not None:
                self.follower = None
                follower.leave()  # the last one out closes the shared engine stream
            for name in ("relay_task", "probe_task"):
                task = getattr(self, name, None)
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
        finally:
            if getattr(self, "slot", False):
                self.slot = False
                release_stream_slot(self.scope["user"].pk)


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
        self.pump, self.relay_task, self.slot = None, None, False
        self.probe_task, self.last_seen = None, time.monotonic()
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

        def produce(feed: Feed) -> None:
            log = self.docker.streams.open_service_logs(
                service_id, tail=options["tail"], since=options["since"], follow=options["follow"]
            )
            if not feed.attach(log):
                return
            try:
                for batch in log.batches():
                    if not feed.put(("lines", batch)):
                        return
            except Exception as exc:  # noqa: BLE001 - reported in order, after the lines before it
                feed.put(("error", exc))
                return
            finally:
                feed.detach(log)
                log.close()
            feed.put(("end", "the service's log stream ended" if options["follow"] else "end of the log"))

        self.pump = Pump(produce, maxsize=8, name=f"service-logs-{service_id[:12]}")
        self.relay_task = asyncio.create_task(self.relay())
        self.pump.start()


websocket_urlpatterns = [
    path("ws/containers/<ref:container_id>/logs/", LogsConsumer.as_asgi(), name="ws-container-logs"),
    path("ws/logs/", MergedLogsConsumer.as_asgi(), name="ws-logs"),
    path("ws/swarm/services/<ref:service_id>/logs/", ServiceLogsConsumer.as_asgi(), name="ws-service-logs"),
]
