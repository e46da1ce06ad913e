"""The shared log stream (core/consumers/loghub.py) and the memory give-back, without an engine."""

from __future__ import annotations

import asyncio
import json
import time

from core.consumers.loghub import LogHub, SharedBatch
from core.live.bridge import Feed
from tests.unit.aio import run


def _lines(*texts: str) -> list[dict]:
    return [
        {"stream": "stdout", "text": text, "ts": f"2026-12-03T10:00:0{i}Z"} for i, text in enumerate(texts)
    ]


def test_a_shared_batch_is_framed_once_per_form():
    batch = SharedBatch(_lines("a", "b"))
    assert batch.frames(True) is batch.frames(True)


def test_frames_without_timestamps_blank_them_and_leave_the_shared_lines_alone():
    batch = SharedBatch(_lines("a"))
    ((frame, _),) = batch.frames(False)
    assert json.loads(frame)["lines"][0]["ts"] == ""
    assert batch.lines[0]["ts"] == "2026-12-03T10:00:00Z"


def _producer(bursts: list[list[dict]]):
    def produce(feed: Feed) -> None:
        feed.put(("opened", None))
        for lines in bursts:
            if not feed.put(("lines", lines)):
                return
        feed.put(("end", "done"))

    return produce


async def _followed(bursts: list[list[dict]], followers: int):
    hub = LogHub()
    first = hub.follow(("default", "c1", "stdout+stderr"), _producer(bursts))
    others = [first.shared.join() for _ in range(followers - 1)]
    received = []
    for follower in [first, *others]:
        items = []
        while (got := await asyncio.wait_for(follower.batch(), 5)) is not None:
            items.extend(got)
        received.append(items)
    for follower in [first, *others]:
        follower.leave()
    return received


def test_every_follower_gets_the_same_batch_objects():
    received = run(_followed([_lines("a"), _lines("b")], followers=3))
    batches = [[id(payload) for kind, payload in items if kind == "lines"] for items in received]
    assert batches[0] == batches[1] == batches[2]


def test_batches_arriving_within_one_window_go_out_together():
    bursts = [_lines(str(i)) for i in range(40)]
    (items,) = run(_followed(bursts, followers=1))
    deliveries = [[line["text"] for line in payload.lines] for kind, payload in items if kind == "lines"]
    # the first delivery goes at once with what was read by then; the rest waits for the window.
    # 40 bursts put back to back: a few deliveries at most (a thread the OS pauses past the
    # 0.1 s window makes one more), never one per burst
    assert len(deliveries) <= 8
    assert [text for delivery in deliveries for text in delivery] == [str(i) for i in range(40)]


def test_the_end_follows_the_last_lines():
    (items,) = run(_followed([_lines("a")], followers=1))
    assert [kind for kind, _ in items][-1] == "end"


def test_many_streams_ending_at_once_give_memory_back_once(monkeypatch):
    from core.live import memory

    trims = []
    monkeypatch.setattr(memory, "_TRIM", lambda pad: trims.append(pad) or 1)
    monkeypatch.setattr(memory, "TRIM_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(memory, "_state", {"scheduled": False, "last": 0.0})
    for _ in range(10):
        memory.release_freed_memory()
    deadline = time.monotonic() + 5
    while memory._state["scheduled"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trims == [0]
