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
    watcher.ready_at = 0.0
    yield watcher, engine_end
    watcher.stop()
    ours.close()
    engine_end.close()


def event(kind: str, action: str) -> bytes:
    return json.dumps({"Type": kind, "Action": action, "Actor": {"ID": "x"}}).encode() + b"\n"


def apply_pending(watcher) -> None:
    """What the watcher thread does when the socket is readable."""
    with watcher._lock:
        watcher._apply(watcher._sock.recv(snapshots.MAX_EVENT_BYTES))


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


def test_nothing_is_kept_from_a_read_started_before_the_stream_was_ready(stream):
    watcher, _ = stream
    watcher.ready_at = time.monotonic() + 60
    assert not watcher.keep("volumes", watcher.begin(), ("a",))


def test_an_event_split_across_reads_is_applied_once_whole(stream):
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    whole = event("volume", "create")
    with watcher._lock:
        watcher._apply(whole[:10])
    assert watcher.get("volumes") == ("a",)
    with watcher._lock:
        watcher._apply(whole[10:])
    assert watcher.get("volumes") is None


def test_an_event_line_over_the_limit_ends_the_watcher(stream):
    watcher, _ = stream
    with pytest.raises(ValueError, match="over"), watcher._lock:
        watcher._apply(b"{" + b"x" * snapshots.MAX_EVENT_BYTES)


def test_an_unreadable_event_ends_the_watcher(stream):
    watcher, _ = stream
    with pytest.raises(ValueError, match="unreadable"), watcher._lock:
        watcher._apply(b"not json\n")


def test_a_stopped_watcher_serves_nothing(stream):
    watcher, _ = stream
    watcher.keep("volumes", watcher.begin(), ("a",))
    watcher.stop()
    assert watcher.get("volumes") is None
    assert not watcher.keep("volumes", watcher.begin(), ("b",))
