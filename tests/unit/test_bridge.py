"""The bridge (core/live/bridge.py) without an engine: bounds, drop counting, close, errors."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from core.live.bridge import Feed, Policy, Pump, call
from tests.unit.aio import run


def counter(n: int, produced: list[int] | None = None):
    def produce(feed: Feed[int]) -> None:
        for i in range(n):
            if not feed.put(i):
                return
            if produced is not None:
                produced.append(i)

    return produce


def test_slow_reader_and_fast_producer_never_exceed_the_bound():
    async def main() -> int:
        pump = Pump(counter(2000), maxsize=8, policy=Policy.BLOCK).start()
        async for item in pump:
            if item % 100 == 0:
                await asyncio.sleep(0.001)
        return pump.high_water

    high_water = run(main())
    assert high_water <= 8


def test_block_policy_delivers_every_item_in_order():
    async def main() -> list[int]:
        pump = Pump(counter(5000), maxsize=4).start()
        return [item async for item in pump]

    assert run(main()) == list(range(5000))


def test_blocked_producer_waits_for_room():
    produced: list[int] = []
    pump = Pump(counter(100, produced), maxsize=5).start()
    deadline = time.monotonic() + 5
    while len(produced) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # time enough for a sixth, were the producer not waiting
    assert len(produced) == 5
    pump.close()


def test_drop_oldest_counts_exactly_what_was_dropped():
    pump = Pump(counter(1000), maxsize=10, policy=Policy.DROP_OLDEST).start()
    pump.finished.wait(5)
    kept = list(pump)
    dropped = pump.take_dropped()
    assert (len(kept), dropped) == (10, 990)


def test_drop_oldest_keeps_the_newest_items():
    pump = Pump(counter(1000), maxsize=10, policy=Policy.DROP_OLDEST).start()
    pump.finished.wait(5)
    assert list(pump) == list(range(990, 1000))


def test_drop_oldest_counts_units_of_batches():
    def produce(feed: Feed[list[int]]) -> None:
        for i in range(100):
            feed.put([i] * 3)

    pump = Pump(produce, maxsize=4, policy=Policy.DROP_OLDEST, units=len).start()
    pump.finished.wait(5)
    list(pump)
    assert pump.take_dropped() == 96 * 3


def test_take_dropped_resets_the_count():
    pump = Pump(counter(50), maxsize=10, policy=Policy.DROP_OLDEST).start()
    pump.finished.wait(5)
    pump.take_dropped()
    assert pump.take_dropped() == 0


def test_close_unblocks_a_producer_blocked_on_a_full_buffer():
    pump = Pump(counter(10_000), maxsize=2).start()
    time.sleep(0.1)
    pump.close()
    assert pump.finished.wait(2)


def test_close_unblocks_a_producer_blocked_in_a_socket_read():
    left, right = socket.socketpair()

    class Stream:
        def __iter__(self):
            while data := left.recv(100):
                yield data

        def close(self):
            left.shutdown(socket.SHUT_RDWR)

    pump = Pump.over(Stream, maxsize=4).start()
    time.sleep(0.1)
    pump.close()
    finished = pump.finished.wait(2)
    left.close()
    right.close()
    assert finished


def test_close_on_the_loop_returns_at_once_while_the_producer_is_stuck():
    gate = threading.Event()

    def produce(feed: Feed[int]) -> None:
        feed.put(1)
        gate.wait(5)

    async def main() -> float:
        pump = Pump(produce).start()
        await pump.batch()
        started = time.monotonic()
        pump.close()
        return time.monotonic() - started

    elapsed = run(main())
    gate.set()
    assert elapsed < 1  # the producer stays stuck for 5 s: close() did not wait for it


def test_a_closed_pump_ends_the_async_reader():
    async def main():
        pump = Pump(counter(10_000), maxsize=2).start()
        await pump.batch()
        pump.close()
        return await pump.batch()

    assert run(main()) is None


def test_a_producer_exception_surfaces_after_its_items():
    def produce(feed: Feed[int]) -> None:
        feed.put(1)
        feed.put(2)
        raise ValueError("engine said no")

    async def main() -> list[int]:
        seen: list[int] = []
        with pytest.raises(ValueError, match="engine said no"):
            async for item in Pump(produce).start():
                seen.append(item)
        return seen

    assert run(main()) == [1, 2]


def test_a_producer_exception_surfaces_to_a_sync_reader():
    def produce(feed: Feed[int]) -> None:
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        list(Pump(produce).start())


def test_an_exception_after_close_is_not_reported():
    def produce(feed: Feed[int]) -> None:
        feed.put(1)
        feed.put(2)
        raise OSError("the socket we shut down")

    async def main():
        pump = Pump(produce, maxsize=1).start()
        await pump.batch()
        pump.close()
        await pump.wait_finished(2)
        return await pump.batch()

    assert run(main()) is None


def test_next_within_returns_empty_after_the_timeout():
    gate = threading.Event()

    def produce(feed: Feed[int]) -> None:
        gate.wait(5)

    async def main():
        pump = Pump(produce).start()
        try:
            return await pump.next_within(0.05)
        finally:
            pump.close()
            gate.set()

    assert run(main()) == []


def test_over_closes_the_stream_at_the_end():
    closed = []

    class Stream(list):
        def close(self):
            closed.append(True)

    list(Pump.over(lambda: Stream([1, 2, 3])).start())
    assert closed == [True]


def test_call_runs_in_another_thread_and_returns_the_value():
    async def main():
        return await call(lambda: threading.current_thread().name)

    assert run(main()) != threading.current_thread().name


def test_call_reraises_the_exception():
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        run(call(boom))


def test_several_producers_share_the_bound_and_end_with_the_last():
    async def main() -> tuple[list[int], int]:
        pump = Pump(counter(300), maxsize=4)
        pump.start(also=[(counter(300), "second")])
        seen = [item async for item in pump]
        return seen, pump.high_water

    seen, high_water = run(main())
    assert len(seen) == 600
    assert high_water <= 4


def test_a_producer_that_returns_at_once_does_not_end_the_others():
    """The merged log view of a finished container: its producer may return before the next one
    even starts; the stream must still wait for every producer it was started with."""
    go = threading.Event()

    def late(feed):
        go.wait(5)
        for item in range(3):
            feed.put(item)

    async def main() -> list[int]:
        pump = Pump(lambda feed: None, maxsize=4)
        pump.start(also=[(late, "late")])
        await pump.wait_finished(0.2)  # the first has returned; the second still waits
        go.set()
        return [item async for item in pump]

    assert run(main()) == [0, 1, 2]


def test_a_pump_starts_once():
    pump = Pump(lambda feed: None)
    pump.start()
    with pytest.raises(RuntimeError):
        pump.start()


def test_a_cancelled_call_hands_what_it_opened_to_abandoned():
    gate = threading.Event()
    released: list[str] = []

    def opens() -> str:
        gate.wait(5)
        return "socket"

    async def main() -> None:
        task = asyncio.create_task(call(opens, abandoned=released.append))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        for _ in range(500):
            if released:
                return
            await asyncio.sleep(0.01)

    run(main())
    assert released == ["socket"]


def test_a_call_awaited_to_the_end_abandons_nothing():
    released: list[str] = []
    assert run(call(lambda: "socket", abandoned=released.append)) == "socket"
    assert released == []
