"""core/request_threads.py: requests' sync code runs on kept threads, bounded, never behind leftovers."""

import threading
import time

from core.request_threads import ExecutorPool, RequestExecutor


def test_an_executor_given_back_is_lent_again_with_the_same_thread():
    pool = ExecutorPool(idle_max=2)
    first = pool.take()
    thread = first.submit(threading.get_ident).result(timeout=5)
    pool.give(first)
    again = pool.take()
    assert again is first
    assert again.submit(threading.get_ident).result(timeout=5) == thread
    pool.give(again)
    pool.close()


def test_concurrent_requests_each_get_their_own_executor():
    pool = ExecutorPool(idle_max=2)
    a, b = pool.take(), pool.take()
    assert a is not b
    assert a.submit(threading.get_ident).result(5) != b.submit(threading.get_ident).result(5)
    pool.give(a)
    pool.give(b)
    pool.close()


def test_idle_executors_are_bounded_and_the_extra_ones_end_their_threads():
    pool = ExecutorPool(idle_max=2)
    lent = [pool.take() for _ in range(5)]
    threads = [e.submit(threading.current_thread).result(5) for e in lent]
    for executor in lent:
        pool.give(executor)
    assert pool.idle == 2
    for thread in threads[2:]:
        thread.join(5)
        assert not thread.is_alive()
    assert all(t.is_alive() for t in threads[:2])
    pool.close()
    for thread in threads[:2]:
        thread.join(5)
        assert not thread.is_alive()


def test_an_executor_still_running_a_leftover_call_is_not_lent_again():
    pool = ExecutorPool(idle_max=4)
    busy = pool.take()
    release = threading.Event()
    leftover = busy.submit(release.wait, 10)
    assert busy.unfinished == 1
    pool.give(busy)  # the request ended (client gone) while its view still runs
    assert pool.idle == 0
    fresh = pool.take()
    assert fresh is not busy
    started = time.monotonic()
    assert fresh.submit(lambda: 42).result(timeout=5) == 42
    assert time.monotonic() - started < 1  # not queued behind the leftover call
    release.set()
    assert leftover.result(timeout=5) is True
    assert busy.unfinished == 0
    pool.give(fresh)
    pool.close()


def test_the_unfinished_count_survives_a_call_that_raises():
    executor = RequestExecutor()

    def boom():
        raise ValueError("x")

    future = executor.submit(boom)
    try:
        future.result(5)
    except ValueError:
        pass
    assert executor.unfinished == 0
    executor.shutdown()
