"""Kept engine reads (core/engine/snapshots.py) on the real engine: served while the engine's event
stream reports no change, and never after one, whoever made it.

Other activity on the engine (a helper container removed by an earlier test's thread, anything a
health check does) may end a kept read at any moment; the tests wait for what they claim rather
than count reads once."""

from __future__ import annotations

import time

import pytest

from core.engine import snapshots
from core.engine import volumes as engine_volumes
from tests.support import RUN_ID, TEST_LABEL, default_engine, unique, wait_for
from tests.volumes_support import volume

__all__ = ["volume"]  # a fixture

# An outside change is in the list once its event arrived and, for the changes the engine reports
# before its lists show them (die, pause), once it settled: a bound on that wait, not a cache life.
EVENT_WAIT = snapshots.SETTLE_SECONDS + 4


@pytest.fixture
def reads(monkeypatch):
    """The engine reads of the volume list, counted; a watcher open and settled for them."""
    snapshots.stop_all()
    counter = {"n": 0}  # engine reads of either part of the list (/volumes, /containers/json)
    for part in ("_engine_volumes", "_engine_volume_users"):
        real = getattr(engine_volumes, part)

        def counted(api, _real=real):
            counter["n"] += 1
            return _real(api)

        monkeypatch.setattr(engine_volumes, part, counted)
    docker = default_engine()
    docker.volumes.list_volumes()  # starts the watcher
    watcher = wait_for(lambda: snapshots.watcher_for(docker), timeout=5, message="a watcher")
    wait_for(lambda: watcher.open and time.monotonic() > watcher.settled_at, timeout=15, message="the stream")
    yield docker, counter
    snapshots.stop_all()


def names(docker) -> set[str]:
    return {v.name for v in docker.volumes.list_volumes()}


def served_kept(docker, counter) -> bool:
    """A list served without an engine read (after one that could keep it)."""
    docker.volumes.list_volumes()
    before = counter["n"]
    docker.volumes.list_volumes()
    return counter["n"] == before


def test_lists_are_kept_and_a_watcher_serves_them(reads, volume):
    docker, counter = reads
    name = volume()
    wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the new volume")
    wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a list served as kept")
    assert name in names(docker)


def test_a_volume_made_and_removed_outside_the_dashboard_is_seen(reads, engine):
    docker, counter = reads
    wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
    name = unique("outside")
    engine.api.create_volume(name=name, labels={TEST_LABEL: RUN_ID})
    try:
        wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the volume made outside")
    finally:
        engine.api.remove_volume(name)
    wait_for(lambda: name not in names(docker), timeout=EVENT_WAIT, message="the volume removed outside")


def test_a_volume_event_mends_the_kept_list_with_one_volume_read(reads, engine, monkeypatch):
    """A create or destroy made outside names its volume: the next list re-reads that volume alone
    (or leaves it out), not the whole /volumes answer. Tried up to three times: an unrelated change
    of unknown reach on a shared engine would make a page read everything (right, but not this)."""
    docker, counter = reads
    mends = []
    real = engine_volumes._patched_volumes

    def counted(api, volumes, changed):
        mends.append(dict(changed))
        return real(api, volumes, changed)

    monkeypatch.setattr(engine_volumes, "_patched_volumes", counted)
    seen = []
    for _ in range(3):
        wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
        name = unique("mended")
        mends.clear()
        engine.api.create_volume(name=name, labels={TEST_LABEL: RUN_ID})
        try:
            wait_for(lambda n=name: n in names(docker), timeout=EVENT_WAIT, message="the volume made outside")
        finally:
            engine.api.remove_volume(name)
        made = {name: False} in mends
        wait_for(lambda n=name: n not in names(docker), timeout=EVENT_WAIT, message="the volume removed")
        seen.append((made, {name: True} in mends))
        if seen[-1] == (True, True):
            break
    assert (True, True) in seen, seen


def test_the_dashboards_own_changes_are_seen_at_once(reads):
    docker, counter = reads
    wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
    created = docker.volumes.create_volume(name=unique("own"), labels={TEST_LABEL: RUN_ID})
    try:
        assert created.name in names(docker)  # no wait: create_volume dropped the kept read
    finally:
        docker.volumes.remove_volume(name=created.name)
    assert created.name not in names(docker)


def _users(docker, name: str) -> list[tuple[str, str]]:
    by_name = {v.name: v for v in docker.volumes.list_volumes()}
    return [(u.id, u.state) for u in by_name[name].used_by] if name in by_name else []


def test_a_container_made_started_paused_and_stopped_outside_changes_used_by(
    reads, engine, volume, make_container
):
    """pause/unpause (and, on 20.10, die) are published before the list shows them: a list read in
    between is not kept, and the next settled one is right."""
    docker, _ = reads
    name = volume()
    wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the volume")
    assert _users(docker, name) == []
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 300", start=False, host_config=host_config)
    cid = container["Id"]
    for change, state in (
        (None, "created"),
        ("start", "running"),
        ("pause", "paused"),
        ("unpause", "running"),
    ):
        if change:
            getattr(engine.api, change)(cid)
        wait_for(lambda s=state: _users(docker, name) == [(cid, s)], timeout=EVENT_WAIT, message=state)
    engine.api.kill(cid)
    wait_for(lambda: _users(docker, name) == [(cid, "exited")], timeout=EVENT_WAIT, message="exited")
    time.sleep(snapshots.SETTLE_SECONDS + 0.5)  # settled and kept: still right
    assert _users(docker, name) == [(cid, "exited")]
    assert _users(docker, name) == [(cid, "exited")]


def test_a_container_that_exits_by_itself_is_not_kept_running(reads, engine, volume, make_container):
    """On 20.10 the engine sends ``die`` before its list says "exited": lists read all along the
    exit must end on "exited" and stay there."""
    docker, _ = reads
    name = volume()
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 1", host_config=host_config)
    deadline = time.monotonic() + 3 + snapshots.SETTLE_SECONDS
    while time.monotonic() < deadline:  # pages read every ~5 ms through the exit
        _users(docker, name)
        time.sleep(0.005)
    assert engine.api.inspect_container(container["Id"])["State"]["Status"] == "exited"
    assert _users(docker, name) == [(container["Id"], "exited")]
    time.sleep(0.2)
    assert _users(docker, name) == [(container["Id"], "exited")]


def test_an_exec_changes_nothing_and_keeps_the_read(reads, engine, volume, make_container):
    """Health checks run an exec per interval: exec events must not end the kept read."""
    docker, counter = reads
    name = volume()
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 300", host_config=host_config)
    wait_for(
        lambda: _users(docker, name) == [(container["Id"], "running")], timeout=EVENT_WAIT, message="user"
    )
    watcher = snapshots.watcher_for(docker)

    def an_exec_leaves_the_generation() -> bool:
        wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
        generation = watcher.generation
        exec_id = engine.api.exec_create(container["Id"], ["true"])["Id"]
        engine.api.exec_start(exec_id)
        wait_for(lambda: not engine.api.exec_inspect(exec_id)["Running"], timeout=10, message="the exec")
        time.sleep(0.3)  # its events are applied by now
        return watcher.generation == generation and served_kept(docker, counter)

    # Another change on the engine meanwhile would bump the generation too: three tries.
    assert any(an_exec_leaves_the_generation() for _ in range(3))


def test_a_container_with_huge_labels_does_not_end_the_watcher(reads, engine, volume, make_container):
    """Its events are over MAX_EVENT_BYTES (the engine copies labels into them): each is a change,
    skipped, and the stream goes on."""
    docker, _ = reads
    name = volume()
    watcher = snapshots.watcher_for(docker)
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    big = {"big": "x" * (3 * snapshots.MAX_EVENT_BYTES)}
    container = make_container(command="sleep 300", start=False, host_config=host_config, labels=big)
    wait_for(
        lambda: _users(docker, name) == [(container["Id"], "created")], timeout=EVENT_WAIT, message="user"
    )
    assert snapshots.watcher_for(docker) is watcher
    assert watcher.alive


def test_an_ended_stream_keeps_nothing_and_a_new_one_opens(reads):
    docker, counter = reads
    wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
    watcher = snapshots.watcher_for(docker)
    watcher.stop()
    wait_for(lambda: not watcher._thread.is_alive(), timeout=5, message="the watcher thread to end")
    before = counter["n"]
    names(docker)
    assert counter["n"] == before + 2  # both parts read from the engine, not from the old stream's
    snapshots._failed.clear()  # it lived less than SHORT_LIFE_SECONDS: no retry wait in this test
    assert snapshots.watcher_for(docker) not in (None, watcher)


def test_a_stream_that_dies_young_is_not_reopened_at_once(reads):
    docker, _ = reads
    watcher = snapshots.watcher_for(docker)
    watcher._sock.shutdown(2)  # as if the engine (or a proxy) ended it
    wait_for(lambda: not watcher._thread.is_alive(), timeout=5, message="the watcher thread to end")
    assert snapshots.watcher_for(docker) is None  # RETRY_SECONDS before the next one


def test_an_idle_watcher_ends_and_closes_its_socket(reads, monkeypatch):
    docker, _ = reads
    watcher = snapshots.watcher_for(docker)
    monkeypatch.setattr(snapshots, "IDLE_SECONDS", 0.0)
    watcher.last_used = time.monotonic() - 1
    # the thread wakes from its current poll (at most POLL_SECONDS) and finds itself idle
    wait_for(lambda: not watcher._thread.is_alive(), timeout=10, message="the idle watcher to end")
    assert watcher._sock.fileno() == -1  # closed
    assert not watcher.alive


def test_the_stack_list_follows_outside_compose_containers(engine, make_container):
    """The compose projects read is kept too: a project's container made, started and removed
    outside the dashboard is in the next list, with its running count."""
    snapshots.stop_all()
    docker = default_engine()
    project = unique("proj")

    def counts() -> tuple[int, int] | None:
        projects, _ = docker.compose.list_stacks()
        found = {p.name: p for p in projects}
        return (found[project].running, found[project].total) if project in found else None

    counts()
    watcher = wait_for(lambda: snapshots.watcher_for(docker), timeout=5, message="a watcher")
    wait_for(lambda: watcher.open and time.monotonic() > watcher.settled_at, timeout=15, message="the stream")
    assert counts() is None
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": "web"}
    container = make_container(command="sleep 300", start=False, labels=labels)
    wait_for(lambda: counts() == (0, 1), timeout=EVENT_WAIT, message="the created container")
    engine.api.start(container["Id"])
    wait_for(lambda: counts() == (1, 1), timeout=EVENT_WAIT, message="the started container")
    engine.api.kill(container["Id"])
    wait_for(lambda: counts() == (0, 1), timeout=EVENT_WAIT, message="the killed container")
    engine.api.remove_container(container["Id"], force=True)
    wait_for(lambda: counts() is None, timeout=EVENT_WAIT, message="the removed container")
    snapshots.stop_all()


def test_an_exit_with_many_published_ports_is_not_kept_running(reads, engine, volume, make_container):
    """On 20.10 an exit's list state waits for the container's port proxies (~50 ms a port): 30
    ports put it past the settle time; the rechecks after ``die`` drop what was kept meanwhile."""
    docker, _ = reads
    name = volume()
    ports = list(range(7000, 7030))
    host_config = engine.api.create_host_config(
        binds={name: {"bind": "/data", "mode": "rw"}},
        port_bindings={p: ("127.0.0.1", None) for p in ports},
    )
    container = make_container(command="sleep 2", host_config=host_config, ports=ports)
    cid = container["Id"]
    wait_for(lambda: _users(docker, name) == [(cid, "running")], timeout=EVENT_WAIT, message="running")
    deadline = time.monotonic() + 2 + snapshots.LATE_RECHECKS[1] + 1
    while time.monotonic() < deadline:  # pages read all along the exit
        _users(docker, name)
        time.sleep(0.02)
    assert engine.api.inspect_container(cid)["State"]["Status"] == "exited"
    # Exits within LATE_RECHECKS[1] (~1.5 s here) are seen by now; a slower one on a busy host
    # (the list late past the 5 s recheck) by the next recheck, well before the 30 s age limit.
    wait_for(
        lambda: _users(docker, name) == [(cid, "exited")],
        timeout=snapshots.LATE_RECHECKS[2] - snapshots.LATE_RECHECKS[1] + 1,
        message="the exit on the list",
    )


def test_a_container_change_re_reads_who_uses_what_but_not_the_volumes(
    reads, engine, volume, make_container, monkeypatch
):
    """Each of the list's two engine reads is dropped by its own events only: a container started
    and stopped outside re-reads /containers/json; the /volumes answer (~10 ms for 1,000) stays
    kept. (Creating a container that names a volume also sends a volume ``create`` event on 20.10.)"""
    docker, counter = reads
    name = volume()
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 300", start=False, host_config=host_config)
    cid = container["Id"]
    wait_for(lambda: _users(docker, name) == [(cid, "created")], timeout=EVENT_WAIT, message="the user")
    wait_for(lambda: served_kept(docker, counter), timeout=EVENT_WAIT, message="a kept list")
    calls = {"volumes": 0, "containers": 0}
    api_class = type(docker.api)
    for method in calls:
        real = getattr(api_class, method)

        def counted(self, *args, _real=real, _method=method, **kwargs):
            calls[_method] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(api_class, method, counted)
    engine.api.start(cid)
    wait_for(lambda: _users(docker, name) == [(cid, "running")], timeout=EVENT_WAIT, message="running")
    engine.api.kill(cid)
    wait_for(lambda: _users(docker, name) == [(cid, "exited")], timeout=EVENT_WAIT, message="exited")
    assert calls["containers"] >= 2
    assert calls["volumes"] == 0
