"""Kept engine reads (core/engine/snapshots.py) on the real engine: served while the engine's event
stream reports no change, and never after one, whoever made it."""

from __future__ import annotations

import time

import pytest

from core.engine import snapshots
from core.engine import volumes as engine_volumes
from tests.support import RUN_ID, TEST_LABEL, default_engine, unique, wait_for
from tests.volumes_support import volume

__all__ = ["volume"]  # a fixture

# An outside change is seen once the engine has written its event (it publishes it before its
# API call returns); this bounds the wait for that write, it is not a cache lifetime.
EVENT_WAIT = 2.0


@pytest.fixture
def reads(monkeypatch):
    """The engine reads of the volume list, counted; a watcher open and ready for them."""
    snapshots.stop_all()
    counter = {"n": 0}
    real = engine_volumes._read_volumes

    def counted(engine):
        counter["n"] += 1
        return real(engine)

    monkeypatch.setattr(engine_volumes, "_read_volumes", counted)
    docker = default_engine()
    docker.volumes.list_volumes()  # starts the watcher
    watcher = wait_for(lambda: snapshots.watcher_for(docker), timeout=5, message="a watcher")
    wait_for(lambda: watcher.open and time.monotonic() > watcher.ready_at, timeout=10, message="the stream")
    yield docker, counter
    snapshots.stop_all()


def names(docker) -> set[str]:
    return {v.name for v in docker.volumes.list_volumes()}


def test_a_second_list_is_the_kept_read(reads, volume):
    docker, counter = reads
    name = volume()
    wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the new volume")
    before = counter["n"]
    assert name in names(docker)
    assert name in names(docker)
    assert counter["n"] <= before + 1  # one read to keep (if the last one was not kept), then none
    settled = counter["n"]
    assert name in names(docker)
    assert counter["n"] == settled


def test_a_volume_made_and_removed_outside_the_dashboard_is_seen(reads, engine):
    docker, _ = reads
    names(docker)
    names(docker)
    name = unique("outside")
    engine.api.create_volume(name=name, labels={TEST_LABEL: RUN_ID})
    try:
        wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the volume made outside")
    finally:
        engine.api.remove_volume(name)
    wait_for(lambda: name not in names(docker), timeout=EVENT_WAIT, message="the volume removed outside")


def test_the_dashboards_own_changes_are_seen_at_once(reads):
    docker, _ = reads
    names(docker)
    names(docker)
    created = docker.volumes.create_volume(name=unique("own"), labels={TEST_LABEL: RUN_ID})
    try:
        assert created.name in names(docker)  # no wait: create_volume dropped the kept read
    finally:
        docker.volumes.remove_volume(name=created.name)
    assert created.name not in names(docker)


def test_a_container_made_started_and_stopped_outside_changes_used_by(reads, engine, volume, make_container):
    docker, _ = reads
    name = volume()

    def users() -> list[tuple[str, str]]:
        by_name = {v.name: v for v in docker.volumes.list_volumes()}
        return [(u.id, u.state) for u in by_name[name].used_by] if name in by_name else []

    wait_for(lambda: name in names(docker), timeout=EVENT_WAIT, message="the volume")
    assert users() == []
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 300", start=False, host_config=host_config)
    wait_for(lambda: users() == [(container["Id"], "created")], timeout=EVENT_WAIT, message="the user")
    engine.api.start(container["Id"])
    wait_for(lambda: users() == [(container["Id"], "running")], timeout=EVENT_WAIT, message="running")
    engine.api.kill(container["Id"])
    wait_for(lambda: users() == [(container["Id"], "exited")], timeout=EVENT_WAIT, message="exited")


def test_an_exec_changes_nothing_and_keeps_the_read(reads, engine, volume, make_container):
    """Health checks run an exec per interval: exec events must not end the kept read."""
    docker, counter = reads
    name = volume()
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(command="sleep 300", host_config=host_config)
    wait_for(
        lambda: any(
            u.state == "running" for v in docker.volumes.list_volumes() if v.name == name for u in v.used_by
        ),
        timeout=EVENT_WAIT,
        message="the running user",
    )
    names(docker)
    settled = counter["n"]
    exec_id = engine.api.exec_create(container["Id"], ["true"])["Id"]
    engine.api.exec_start(exec_id)
    wait_for(lambda: engine.api.exec_inspect(exec_id)["Running"] is False, timeout=10, message="the exec")
    time.sleep(0.3)  # the exec's events are applied by now
    assert name in names(docker)
    assert counter["n"] == settled


def test_an_ended_stream_keeps_nothing_and_a_new_one_opens(reads):
    docker, counter = reads
    names(docker)
    names(docker)
    watcher = snapshots.watcher_for(docker)
    settled = counter["n"]
    watcher.stop()
    wait_for(lambda: not watcher._thread.is_alive(), timeout=5, message="the watcher thread to end")
    names(docker)
    assert counter["n"] == settled + 1  # read from the engine, not from what the old stream kept
    assert snapshots.watcher_for(docker) is not watcher


def test_an_idle_watcher_ends_and_closes_its_socket(reads, monkeypatch):
    docker, _ = reads
    watcher = snapshots.watcher_for(docker)
    monkeypatch.setattr(snapshots, "IDLE_SECONDS", 0.0)
    monkeypatch.setattr(snapshots, "POLL_SECONDS", 0.05)
    watcher.last_used = time.monotonic() - 1
    # the thread wakes from its current poll (at most the old POLL_SECONDS) and finds itself idle
    wait_for(lambda: not watcher._thread.is_alive(), timeout=10, message="the idle watcher to end")
    assert watcher._sock.fileno() == -1  # closed
    assert not watcher.alive
    assert snapshots.watcher_for(docker) is not watcher


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
    wait_for(lambda: watcher.open and time.monotonic() > watcher.ready_at, timeout=10, message="the stream")
    assert counts() is None
    assert counts() is None  # kept
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": "web"}
    container = make_container(command="sleep 300", start=False, labels=labels)
    wait_for(lambda: counts() == (0, 1), timeout=EVENT_WAIT, message="the created container")
    engine.api.start(container["Id"])
    wait_for(lambda: counts() == (1, 1), timeout=EVENT_WAIT, message="the started container")
    engine.api.remove_container(container["Id"], force=True)
    wait_for(lambda: counts() is None, timeout=EVENT_WAIT, message="the removed container")
    snapshots.stop_all()
