"""Overview tabs of one endpoint share one usage reading (N tabs do not make N x the engine calls)."""

import asyncio

from core.consumers.overview import SharedReadings
from tests.unit.aio import run as run_async


def _fetcher():
    calls = []

    async def fetch():
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    return fetch, calls


def test_tabs_at_the_same_time_share_one_reading():
    shared = SharedReadings(max_age=4)
    fetch, calls = _fetcher()

    async def main():
        return await asyncio.gather(*(shared.get("e", fetch) for _ in range(20)))

    results = run_async(main())
    assert len(calls) == 1
    assert {value for _, value in results} == {1}


def test_a_tab_always_gets_a_reading_newer_than_its_last():
    shared = SharedReadings(max_age=4)
    fetch, calls = _fetcher()

    async def main():
        stamp, first = await shared.get("e", fetch)
        again, second = await shared.get("e", fetch, after=stamp)
        other_stamp, other = await shared.get("e", fetch)  # another tab: the young one is shared
        return stamp, again, first, second, other_stamp, other

    stamp, again, first, second, other_stamp, other = run_async(main())
    assert (first, second) == (1, 2) and again > stamp
    assert (other_stamp, other) == (again, 2) and len(calls) == 2


def test_an_old_reading_is_read_again_and_endpoints_are_bounded():
    shared = SharedReadings(max_age=0, max_keys=3)
    fetch, calls = _fetcher()

    async def main():
        await shared.get("e", fetch)
        await shared.get("e", fetch)
        for key in range(10):
            await shared.get(key, fetch)

    run_async(main())
    assert len(calls) == 12
    assert len(shared._found) <= 3 and len(shared._locks) <= 3 + 1


def test_a_failed_reading_is_not_kept():
    shared = SharedReadings(max_age=4)

    async def broken():
        raise RuntimeError("engine away")

    fetch, calls = _fetcher()

    async def main():
        try:
            await shared.get("e", broken)
        except RuntimeError:
            pass
        return await shared.get("e", fetch)

    _, value = run_async(main())
    assert value == 1 and calls == [1]
