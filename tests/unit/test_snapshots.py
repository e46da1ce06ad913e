"""The kept-read watcher's rules (core/engine/snapshots.py), on a socket pair standing for the
engine's event stream: what counts as a change, what is kept, and the bounds on what it reads."""

from __future__ import annotations

import json
import socket
import time

import pytest

from core.engine import snapshots


@pytest.fixture
def stream():
    """A watcher attached to one end of a socket pair; the test writes events on the other end."""
    ours, engine_end = socket.socketpair()
    watcher = snapshots.Watcher(("test", ""), engine=None, address=None)
    watcher._attach(ours, b"")
    watcher.settled_at = 0.0
    yield watcher, engine_end
    watcher.stop()
    ours.close()
    engine_end.close()


def event(kind: str, action: str) -> bytes:
    return json.dumps({"Type": kind, "Action": action, "Actor": {"ID": "x"}}).encode() + b"\n"


def settle(watcher) -> None:
    """As if SETTLE_SECONDS went by since the last change."""
    watcher.settled_at = 0.0
    watcher._type_settled = dict.fromkeys(watcher._type_settled, 0.0)


def apply_pending(watcher) -> None:
    """What the watcher thread does when the socket is readable (a request may have done it already)."""
    with watcher._lock:
        watcher._read_some()


@pytest.mark.parametrize(
    ("kind", "action", "changes"),
    [
        ("container", "create", True),
        ("container", "start", True),
        ("container", "die", True),
        ("container", "rename", True),
        ("container", "destroy", True),
        ("container", "exec_start: sh -c true", False),
        ("container", "health_status: healthy", False),
        ("container", "archive-path", False),
        ("volume", "create", True),
        ("volume", "destroy", True),
        ("volume", "mount", False),
        ("image", "tag", True),
        ("image", "untag", True),
        ("image", "push", False),
        ("network", "connect", True),  # not asked for; an unknown type counts as a change
        ("container", "some-future-action", True),
    ],
)
def test_what_counts_as_a_change(kind, action, changes):
    assert snapshots.changes({"Type": kind, "Action": action}) is changes


def test_a_kept_read_is_served_until_a_change(stream):
    watcher, engine_end = stream
    started = watcher.begin()
    assert watcher.keep("volumes", started, ("a",))
    assert watcher.get("volumes") == ("a",)
    engine_end.sendall(event("volume", "create"))
    time.sleep(0.01)
    assert watcher.get("volumes") is None  # written, not applied yet: already not served
    apply_pending(watcher)
    assert watcher.get("volumes") is None  # applied: the kept read is gone


def test_harmless_events_keep_the_read(stream):
    watcher, engine_end = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    engine_end.sendall(event("container", "exec_create: true") + event("container", "exec_die"))
    time.sleep(0.01)
    apply_pending(watcher)
    assert watcher.get("volumes") == ("a",)


def test_a_read_that_saw_a_change_start_is_not_kept(stream):
    watcher, engine_end = stream
    started = watcher.begin()
    engine_end.sendall(event("container", "destroy"))
    time.sleep(0.01)
    apply_pending(watcher)
    assert not watcher.keep("volumes", started, ("stale",))
    assert watcher.get("volumes") is None


def test_a_read_is_not_kept_while_a_change_waits_on_the_socket(stream):
    watcher, engine_end = stream
    started = watcher.begin()
    engine_end.sendall(event("volume", "destroy"))
    time.sleep(0.01)
    assert not watcher.keep("volumes", started, ("maybe stale",))


def test_invalidate_drops_what_is_kept(stream):
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    watcher.invalidate()
    assert watcher.get("volumes") is None


def test_nothing_is_kept_from_a_read_begun_while_the_engine_settles(stream):
    """The engine publishes die/pause/unpause before its lists show them: a read begun less than
    SETTLE_SECONDS after a change (or the stream's opening) is served but not kept."""
    watcher, engine_end = stream
    engine_end.sendall(event("container", "die"))
    time.sleep(0.01)
    apply_pending(watcher)
    assert not watcher.keep("volumes", watcher.begin(), ("maybe still running",))
    settle(watcher)  # as if SETTLE_SECONDS went by
    assert watcher.keep("volumes", watcher.begin(), ("settled",))
    assert watcher.get("volumes") == ("settled",)


def test_a_new_stream_keeps_nothing_until_it_settled():
    ours, engine_end = socket.socketpair()
    watcher = snapshots.Watcher(("test", ""), engine=None, address=None)
    try:
        watcher._attach(ours, b"")
        assert not watcher.keep("volumes", watcher.begin(), ("a",))
    finally:
        watcher.stop()
        ours.close()
        engine_end.close()


def test_a_kept_read_expires(stream):
    """A silent stream is no proof of no change (a partition, a buffering proxy): kept reads age out."""
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    assert watcher.get("volumes") == ("a",)
    watcher.keep_seconds = 0.0
    time.sleep(0.01)
    assert watcher.get("volumes") is None


def test_an_event_split_across_reads_is_applied_once_whole(stream):
    """Half an event is not applied yet, but nothing is served while it is incomplete."""
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    whole = event("volume", "create")
    with watcher._lock:
        watcher._apply(whole[:10])
    assert watcher._type_generations["volume"] == 0
    assert watcher.get("volumes") is None
    with watcher._lock:
        watcher._apply(whole[10:])
    assert watcher._type_generations["volume"] == 1
    assert watcher.get("volumes") is None


def test_a_request_applies_what_the_thread_has_not_read_yet(stream):
    """A page does not wait for the watcher thread: it reads the pending events itself, and a
    harmless one (or one of a type the read does not show) leaves the kept read served."""
    watcher, engine_end = stream
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("v",), ("volume",))
    engine_end.sendall(event("volume", "mount") + event("container", "start"))
    time.sleep(0.01)
    assert watcher.get("volumes:raw") == ("v",)  # read and applied by get(), not the thread
    assert watcher._type_generations["container"] == 1
    engine_end.sendall(event("volume", "destroy"))
    time.sleep(0.01)
    assert watcher.get("volumes:raw") is None
    engine_end.close()  # the engine ends the stream: seen by the request too
    time.sleep(0.01)
    assert watcher.get("volumes:raw") is None and not watcher.alive


def test_an_event_line_over_the_limit_is_a_change_skipped_to_its_end(stream):
    """A container with huge labels: its events are changes; the watcher goes on, holding at most
    2 x MAX_EVENT_BYTES, and reads the next event whole."""
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    generation = watcher.generation
    with watcher._lock:
        for _ in range(4):  # one line of 4 x 64 KiB, in reads as the socket gives them
            watcher._apply(b"x" * snapshots.MAX_EVENT_BYTES)
            assert len(watcher._buffer) <= snapshots.MAX_EVENT_BYTES
        watcher._apply(b"end of the long line\n")
    assert watcher.generation > generation
    assert watcher.get("volumes") is None
    watcher.settled_at = 0.0
    watcher.keep("volumes", watcher.begin(), ("b",))
    with watcher._lock:
        watcher._apply(event("container", "exec_die"))  # read whole after the skipped line
    assert watcher.get("volumes") == ("b",)
    with watcher._lock:
        watcher._apply(event("container", "destroy"))
    assert watcher.get("volumes") is None


def test_an_unreadable_event_is_a_change(stream):
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    with watcher._lock:
        watcher._apply(b"not json\n")
    assert watcher.alive
    assert watcher.get("volumes") is None


def _threaded(ours):
    """A watcher whose thread runs on ``ours`` (one end of a socket pair) instead of the engine."""
    watcher = snapshots.Watcher(("test", ""), engine=None, address=None)
    watcher._connect = lambda: watcher._attach(ours, b"")
    return watcher


def _start(watcher) -> float:
    """Start the watcher's thread and wait until its stream is attached; a deadline 5 s on."""
    watcher.start()
    deadline = time.monotonic() + 5
    while not watcher.open and time.monotonic() < deadline:
        time.sleep(0.01)
    return deadline


def test_a_full_read_is_a_change_even_of_harmless_events():
    """A read that fills the whole buffer means the watcher was behind, and the engine drops events
    for a subscriber that falls behind: what it dropped may have been a change."""
    ours, engine_end = socket.socketpair()
    watcher = _threaded(ours)
    try:
        harmless = event("container", "exec_die")
        engine_end.sendall(harmless * (2 * snapshots.MAX_EVENT_BYTES // len(harmless)))
        watcher.start()
        deadline = time.monotonic() + 5
        while watcher.generation == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.generation > 0
    finally:
        watcher.stop()
        watcher._thread.join(timeout=5)
        engine_end.close()
    assert not watcher._thread.is_alive()


def test_harmless_events_read_in_small_pieces_change_nothing():
    ours, engine_end = socket.socketpair()
    watcher = _threaded(ours)
    try:
        _start(watcher)
        for _ in range(20):
            engine_end.sendall(event("container", "exec_start: true"))
            time.sleep(0.005)
        time.sleep(0.1)
        assert watcher.generation == 0
        assert watcher.alive
    finally:
        watcher.stop()
        watcher._thread.join(timeout=5)
        engine_end.close()


def test_a_stopped_watcher_serves_nothing(stream):
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    watcher.stop()
    assert watcher.get("volumes") is None
    assert not watcher.keep("volumes", watcher.begin(), ("b",))


def test_what_is_kept_is_dropped_again_after_a_late_state_event():
    """die (and oom, kill, pause, unpause) come before the list shows them, an exit by ~50 ms per
    published port on 20.10: a read kept after the settle time may still be the old state, so the
    watcher drops what is kept again LATE_RECHECKS after such an event."""
    ours, engine_end = socket.socketpair()
    watcher = _threaded(ours)
    try:
        deadline = _start(watcher)
        engine_end.sendall(event("container", "die"))
        while not watcher._rechecks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(watcher._rechecks) == len(snapshots.LATE_RECHECKS)
        with watcher._lock:
            watcher._rechecks = [time.monotonic() + 0.3]  # the first recheck, sooner
            settle(watcher)
        assert watcher.keep("volumes", watcher.begin(), ("still running?",))
        assert watcher.get("volumes") == ("still running?",)
        while watcher._rechecks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.get("volumes") is None
    finally:
        watcher.stop()
        watcher._thread.join(timeout=5)
        engine_end.close()


def test_a_recheck_due_is_applied_by_the_request_while_the_watcher_sleeps(stream):
    """The watcher thread may sleep in poll() for POLL_SECONDS after a request applied the event
    itself: a read made after a recheck fell due must not be served from what was kept."""
    watcher, engine_end = stream  # no thread: nobody but the requests looks at the rechecks
    engine_end.sendall(event("container", "die"))
    wait = time.monotonic() + 5
    while not watcher._rechecks and time.monotonic() < wait:
        with watcher._lock:
            watcher._caught_up()
    with watcher._lock:
        watcher._rechecks = [time.monotonic() + 0.2]
        settle(watcher)
    assert watcher.keep("volumes", watcher.begin(), ("still running?",))
    assert watcher.get("volumes") == ("still running?",)
    time.sleep(0.25)
    assert watcher.get("volumes") is None
    assert watcher._rechecks == []


def test_stop_is_not_a_failure_but_a_stream_the_engine_ends_young_is():
    for by_engine in (False, True):
        snapshots._failed.clear()
        ours, engine_end = socket.socketpair()
        watcher = _threaded(ours)
        _start(watcher)
        if by_engine:
            engine_end.close()
        else:
            watcher.stop()
        watcher._thread.join(timeout=5)
        engine_end.close()
        assert (watcher.key in snapshots._failed) is by_engine
    snapshots._failed.clear()


def test_a_read_is_dropped_only_by_the_event_types_it_shows(stream):
    """A container starting does not drop the /volumes answer, only what shows containers."""
    watcher, engine_end = stream
    volumes, containers = ("volume", "plugin"), ("container", "image")
    watcher.keep("volumes:raw", watcher.begin(volumes), ("v",), volumes)
    watcher.keep("containers:all", watcher.begin(containers), ("c",), containers)
    watcher.keep("everything", watcher.begin(), ("e",))
    engine_end.sendall(event("container", "start"))
    time.sleep(0.01)
    apply_pending(watcher)
    assert watcher.get("volumes:raw") == ("v",)
    assert watcher.get("containers:all") is None and watcher.get("everything") is None
    # the container change settles for what shows containers only
    assert watcher.keep("volumes:other", watcher.begin(volumes), ("v2",), volumes)
    assert not watcher.keep("containers:all", watcher.begin(containers), ("c2",), containers)
    settle(watcher)
    started = watcher.begin(containers)
    engine_end.sendall(event("volume", "create"))  # while the containers read is on its way
    time.sleep(0.01)
    apply_pending(watcher)
    assert watcher.keep("containers:all", started, ("c3",), containers)  # a volume event: not its concern
    assert watcher.get("volumes:raw") is None and watcher.get("volumes:other") is None
    assert watcher.get("containers:all") == ("c3",)


def test_a_change_of_unknown_reach_drops_every_kind_of_kept_read(stream):
    watcher, engine_end = stream
    for cause in (event("network", "connect"), b"not json\n"):
        watcher.keep("volumes:raw", watcher.begin(("volume",)), ("v",), ("volume",))
        watcher.keep("containers:all", watcher.begin(("container",)), ("c",), ("container",))
        engine_end.sendall(cause)
        time.sleep(0.01)
        apply_pending(watcher)
        assert watcher.get("volumes:raw") is None and watcher.get("containers:all") is None, cause
        settle(watcher)
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("v",), ("volume",))
    watcher.invalidate()
    assert watcher.get("volumes:raw") is None
    settle(watcher)
    started = watcher.begin(("volume",))
    watcher.invalidate()  # our own change while the read was on its way
    settle(watcher)
    assert not watcher.keep("volumes:raw", started, ("v",), ("volume",))


def test_a_late_state_recheck_drops_what_shows_containers_only(stream):
    watcher, _ = stream
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("v",), ("volume",))
    watcher.keep("containers:all", watcher.begin(("container",)), ("c",), ("container",))
    with watcher._lock:
        watcher._changed("container")  # what a recheck does
    assert watcher.get("volumes:raw") == ("v",) and watcher.get("containers:all") is None


def test_an_event_type_the_watcher_does_not_follow_is_refused_as_a_dependency(stream):
    watcher, _ = stream
    with pytest.raises(ValueError):
        watcher.begin(("network",))


class _FakeApi:
    def __init__(self):
        self.calls = {"volumes": 0, "containers": 0}
        self.inspected: list[str] = []
        self.image = "app:1"
        self.store = {"data": {"Name": "data", "Driver": "local"}}

    def volumes(self):
        self.calls["volumes"] += 1
        return {"Volumes": list(self.store.values())}

    def inspect_volume(self, name):
        import docker

        self.inspected.append(name)
        if name not in self.store:
            raise docker.errors.NotFound(f"no such volume: {name}")
        return self.store[name]

    def containers(self, all=False):
        self.calls["containers"] += 1
        return [
            {
                "Id": "c1",
                "Names": ["/app"],
                "State": "running",
                "Image": self.image,
                "Mounts": [{"Type": "volume", "Name": "data", "RW": True}],
            }
        ]


def test_no_part_of_the_volume_list_is_served_older_than_the_keep_time(stream):
    """A container event re-reads who uses what while the /volumes answer stays kept; the list made
    of the two is never kept on its own, so the /volumes part still ages out on its own time (a kept
    join once held it for twice KEEP_SECONDS)."""
    from types import SimpleNamespace

    from core.engine import volumes

    watcher, engine_end = stream
    api = _FakeApi()
    engine = SimpleNamespace(api=api, ref=SimpleNamespace(cache_key=("fake", "join")))
    watcher.keep_seconds = 0.6
    snapshots._watchers[engine.ref.cache_key] = watcher
    try:
        first = volumes._read_volumes(engine)
        assert [u.image for u in first[0].used_by] == ["app:1"]
        assert volumes._read_volumes(engine) is first  # both parts kept: the same join
        assert api.calls == {"volumes": 1, "containers": 1}
        time.sleep(0.3)
        api.image = "app:2"  # changed with an event this time
        engine_end.sendall(event("container", "start"))
        time.sleep(0.01)
        apply_pending(watcher)
        settle(watcher)
        second = volumes._read_volumes(engine)
        assert [u.image for u in second[0].used_by] == ["app:2"]
        assert api.calls == {"volumes": 1, "containers": 2}  # /volumes still the kept answer
        time.sleep(0.4)  # the /volumes answer is now older than keep_seconds; who-uses-what is not
        volumes._read_volumes(engine)
        assert api.calls == {"volumes": 2, "containers": 2}
    finally:
        snapshots._watchers.pop(engine.ref.cache_key, None)


def test_a_stream_end_seen_by_a_request_is_forgotten_at_once_with_its_retry_wait(stream):
    """The page that sees the end must not open a new stream before the retry wait (the watcher
    thread would have recorded a young stream's end a moment later)."""
    watcher, engine_end = stream
    key = ("fake", "ended")
    watcher.key = key
    snapshots._watchers[key] = watcher
    try:
        engine_end.close()
        time.sleep(0.01)
        assert watcher.get("volumes") is None and not watcher.alive
        assert key not in snapshots._watchers
        assert key in snapshots._failed  # a young stream: the next one waits RETRY_SECONDS
    finally:
        snapshots._watchers.pop(key, None)
        snapshots._failed.pop(key, None)


def named_event(kind: str, action: str, name) -> bytes:
    return json.dumps({"Type": kind, "Action": action, "Actor": {"ID": name}}).encode() + b"\n"


def arrive(watcher, engine_end, *lines: bytes) -> None:
    engine_end.sendall(b"".join(lines))
    time.sleep(0.01)
    apply_pending(watcher)


def test_a_named_volume_event_notes_the_name_in_a_read_that_mends_itself(stream):
    watcher, engine_end = stream
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
    watcher.keep("plain", watcher.begin(("volume",)), ("a",), ("volume",))
    watcher.keep("containers", watcher.begin(("container",)), ("c",), ("container",))
    arrive(
        watcher, engine_end, named_event("volume", "create", "new"), named_event("volume", "destroy", "old")
    )
    value, pending, started = watcher.lookup("volumes:raw")
    assert value == ("a",) and pending == {"new": False, "old": True}  # re-read; gone
    assert watcher.get("volumes:raw") is None  # not servable as it is
    assert watcher.lookup("plain") is None  # a read that cannot mend itself goes
    assert watcher.get("containers") == ("c",)  # another type's read stays
    # Mended and kept under what lookup saw: served as it is from then on, with nothing pending.
    assert watcher.keep("volumes:raw", started, ("a", "new"), ("volume",), patchable=True)
    assert watcher.lookup("volumes:raw")[:2] == (("a", "new"), {})


def test_a_named_event_needs_no_settling_but_an_unnamed_one_does(stream):
    """create/destroy come after the engine's store changed: a read begun right after is kept; a
    prune (one event for many volumes, no name) still settles."""
    watcher, engine_end = stream
    arrive(watcher, engine_end, named_event("volume", "create", "new"))
    assert watcher.keep("plain", watcher.begin(("volume",)), ("x",), ("volume",))
    arrive(watcher, engine_end, named_event("volume", "prune", ""))
    assert watcher.get("plain") is None
    assert not watcher.keep("plain", watcher.begin(("volume",)), ("x",), ("volume",))


def test_a_mended_read_is_not_kept_when_another_event_came_meanwhile(stream):
    watcher, engine_end = stream
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
    arrive(watcher, engine_end, named_event("volume", "create", "b"))
    _, pending, started = watcher.lookup("volumes:raw")
    assert pending == {"b": False}
    arrive(watcher, engine_end, named_event("volume", "destroy", "a"))  # while "b" was being read
    assert not watcher.keep("volumes:raw", started, ("a", "b"), ("volume",), patchable=True)
    value, pending, _ = watcher.lookup("volumes:raw")
    assert value == ("a",) and pending == {"a": True, "b": False}  # both mended by the next page


def test_unusable_names_and_too_many_names_drop_the_read(stream, monkeypatch):
    monkeypatch.setattr(snapshots, "MAX_PENDING", 4)
    watcher, engine_end = stream
    for bad in (None, "", 7, "x" * (snapshots.MAX_NAME_CHARS + 1)):
        watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
        settle(watcher)
        arrive(watcher, engine_end, named_event("volume", "create", bad))
        assert watcher.lookup("volumes:raw") is None, bad
    settle(watcher)
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
    arrive(
        watcher, engine_end, *(named_event("volume", "create", f"v{i}") for i in range(snapshots.MAX_PENDING))
    )
    assert len(watcher.lookup("volumes:raw")[1]) == snapshots.MAX_PENDING
    arrive(watcher, engine_end, named_event("volume", "create", "one-more"))
    assert watcher.lookup("volumes:raw") is None


def test_a_mended_read_ages_from_its_first_read(stream):
    watcher, engine_end = stream
    watcher.keep_seconds = 0.3
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
    time.sleep(0.2)
    arrive(watcher, engine_end, named_event("volume", "create", "b"))
    _, _, started = watcher.lookup("volumes:raw")
    assert watcher.keep("volumes:raw", started, ("a", "b"), ("volume",), patchable=True)
    time.sleep(0.15)
    assert watcher.lookup("volumes:raw") is None  # 0.35 s since the first read: too old


def test_our_own_change_of_one_volume_is_mended_and_an_unnamed_one_drops_everything(stream):
    watcher, engine_end = stream
    watcher.keep("volumes:raw", watcher.begin(("volume",)), ("a",), ("volume",), patchable=True)
    watcher.keep("containers", watcher.begin(("container",)), ("c",), ("container",))
    watcher.invalidate("volume", "b")
    assert watcher.lookup("volumes:raw")[1] == {"b": False} and watcher.get("containers") == ("c",)
    arrive(watcher, engine_end, named_event("volume", "destroy", "b"))  # the last word on a name
    assert watcher.lookup("volumes:raw")[1] == {"b": True}
    # Our own change is not ordered against the stream: a re-create by another client may have been
    # applied already, so it is re-read, never taken as gone.
    watcher.invalidate("volume", "b")
    assert watcher.lookup("volumes:raw")[1] == {"b": False}
    watcher.invalidate("network", "n")  # not a kind whose changes are mended: everything goes
    assert watcher.lookup("volumes:raw") is None and watcher.get("containers") is None


def test_the_volume_list_re_reads_only_the_volumes_an_event_named(stream):
    from types import SimpleNamespace

    from core.engine import volumes

    watcher, engine_end = stream
    api = _FakeApi()
    engine = SimpleNamespace(api=api, ref=SimpleNamespace(cache_key=("fake", "mend")))
    snapshots._watchers[engine.ref.cache_key] = watcher
    try:
        api.store["other"] = {"Name": "other", "Driver": "local"}
        first = volumes._read_volumes(engine)
        assert [v.name for v in first] == ["data", "other"]
        api.store["made"] = {"Name": "made", "Driver": "local", "Labels": {"k": "v"}}
        del api.store["data"]
        arrive(
            watcher,
            engine_end,
            named_event("volume", "create", "made"),
            named_event("volume", "destroy", "data"),
            named_event("volume", "mount", "made"),  # harmless
        )
        mended = volumes._read_volumes(engine)
        assert [(v.name, v.labels) for v in mended] == [("other", {}), ("made", {"k": "v"})]
        assert mended[0] is first[1]  # the rows of the volumes no event named: joined once
        assert api.calls["volumes"] == 1 and api.inspected == ["made"]  # the destroyed: no read
        assert volumes._read_volumes(engine) is mended  # kept as mended: no more reads
        assert len(api.inspected) == 1
        # A volume of another driver cannot be kept (it may change without an event here).
        api.store["remote"] = {"Name": "remote", "Driver": "nfs-plugin"}
        arrive(watcher, engine_end, named_event("volume", "create", "remote"))
        assert {v.name for v in volumes._read_volumes(engine)} == {"other", "made", "remote"}
        assert watcher.lookup("volumes:raw") is None
        volumes._read_volumes(engine)
        assert api.calls["volumes"] == 2  # read whole again, and not kept
    finally:
        snapshots._watchers.pop(engine.ref.cache_key, None)


def test_a_container_change_rebuilds_only_the_rows_whose_users_changed(stream):
    from types import SimpleNamespace

    from core.engine import volumes

    watcher, engine_end = stream
    api = _FakeApi()
    api.store["other"] = {"Name": "other", "Driver": "local"}
    engine = SimpleNamespace(api=api, ref=SimpleNamespace(cache_key=("fake", "rejoin")))
    snapshots._watchers[engine.ref.cache_key] = watcher
    try:
        first = volumes._read_volumes(engine)
        api.image = "app:2"
        arrive(watcher, engine_end, event("container", "start"))
        settle(watcher)
        second = volumes._read_volumes(engine)
        assert api.calls == {"volumes": 1, "containers": 2}
        assert [u.image for u in second[0].used_by] == ["app:2"] and second[0] is not first[0]
        assert second[1] is first[1]  # "other": nobody uses it, before or after
    finally:
        snapshots._watchers.pop(engine.ref.cache_key, None)


def test_a_volume_list_with_more_to_re_read_than_a_whole_read_costs_is_read_whole(stream):
    from types import SimpleNamespace

    from core.engine import volumes

    watcher, engine_end = stream
    api = _FakeApi()
    engine = SimpleNamespace(api=api, ref=SimpleNamespace(cache_key=("fake", "whole")))
    snapshots._watchers[engine.ref.cache_key] = watcher
    try:
        volumes._read_volumes(engine)
        for n in range(5):
            api.store[f"v{n}"] = {"Name": f"v{n}", "Driver": "local"}
        # Gone ones cost nothing; two to re-read is still less than a whole read of a short list.
        gone = [named_event("volume", "destroy", f"old{n}") for n in range(10)]
        arrive(watcher, engine_end, *gone, *(named_event("volume", "create", f"v{n}") for n in range(2)))
        assert {v.name for v in volumes._read_volumes(engine)} == {"data", "v0", "v1"}
        assert api.calls["volumes"] == 1 and api.inspected == ["v0", "v1"]
        # Three more on a three-volume list: one whole read instead.
        arrive(watcher, engine_end, *(named_event("volume", "create", f"v{n}") for n in range(2, 5)))
        assert {v.name for v in volumes._read_volumes(engine)} == {"data", *(f"v{n}" for n in range(5))}
        assert api.calls["volumes"] == 2 and api.inspected == ["v0", "v1"]
        volumes._read_volumes(engine)
        assert api.calls["volumes"] == 2  # and kept
    finally:
        snapshots._watchers.pop(engine.ref.cache_key, None)
