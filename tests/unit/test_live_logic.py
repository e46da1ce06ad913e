"""The pure stream logic of core/live/ (no engine): lines, UTF-8, batching, merge, follow, frames."""

from __future__ import annotations

import json

from core.live.batching import DELIVER_BATCHES, Batcher, coalesce, deliver_due
from core.live.follow import END, FOLLOW, WAIT, after_stream_end
from core.live.frames import HARD, line_frames
from core.live.lines import LineAssembler, Utf8Stream, ts_key
from core.live.merge import Merger
from core.live.transport import CLOSE, DROP, SEND, SendGate
from tests.unit.aio import run as run_async

# --------------------------------------------------------------------------- lines


def test_whole_lines_come_out_without_their_newline():
    assert LineAssembler().feed(b"one\ntwo\n") == [("one", 0), ("two", 0)]


def test_a_line_split_across_reads_is_joined():
    assembler = LineAssembler()
    assembler.feed(b"hel")
    assert assembler.feed(b"lo\n") == [("hello", 0)]


def test_a_multibyte_character_split_across_reads_stays_whole():
    data = "é€😀\n".encode()
    assembler = LineAssembler()
    out = []
    for i in range(len(data)):
        out += assembler.feed(data[i : i + 1])
    assert out == [("é€😀", 0)]


def test_a_long_line_is_cut_with_a_marker_and_its_full_length():
    assembler = LineAssembler(max_line=10)
    ((_, total),) = assembler.feed(b"x" * 25 + b"\n")
    assert total == 25


def test_a_cut_line_keeps_the_first_max_bytes_and_says_so():
    ((text, _),) = LineAssembler(max_line=10).feed(b"x" * 25 + b"\n")
    assert text.startswith("x" * 10 + " … [line truncated: 25 bytes")


def test_the_stream_goes_on_after_a_cut_line():
    assembler = LineAssembler(max_line=10)
    assembler.feed(b"y" * 7)
    assembler.feed(b"y" * 100)
    assert assembler.feed(b"y\nnext\n")[1] == ("next", 0)


def test_a_cut_line_counts_bytes_across_reads():
    assembler = LineAssembler(max_line=10)
    for _ in range(100):
        assembler.feed(b"z" * 1000)
    ((_, total),) = assembler.feed(b"\n")
    assert total == 100_000


def test_a_huge_line_keeps_only_max_bytes_in_memory():
    assembler = LineAssembler(max_line=64)
    for _ in range(1000):
        assembler.feed(b"q" * 10_000)
    assert assembler._pending_len == 64


def test_a_cut_through_a_multibyte_character_drops_it_rather_than_garbling():
    ((text, _),) = LineAssembler(max_line=3).feed("a€\n".encode())  # the cut splits €
    assert text.startswith("a … [")


def test_invalid_utf8_is_replaced():
    assert LineAssembler().feed(b"a\xffb\n") == [("a\ufffdb", 0)]


def test_flush_returns_the_unfinished_line():
    assembler = LineAssembler()
    assembler.feed(b"tail")
    assert assembler.flush() == [("tail", 0)]


def test_utf8_stream_reassembles_characters_split_across_chunks():
    stream = Utf8Stream()
    data = "ü€😀".encode()
    assert "".join(stream.feed(data[i : i + 1]) for i in range(len(data))) == "ü€😀"


def test_utf8_stream_flush_replaces_a_dangling_partial_character():
    stream = Utf8Stream()
    stream.feed("€".encode()[:2])
    assert stream.flush() == "\ufffd"


def test_ts_key_pads_trimmed_nanoseconds_so_strings_sort_by_time():
    assert ts_key("2024-01-01T00:00:00.5Z") > ts_key("2024-01-01T00:00:00.123456789Z")


# --------------------------------------------------------------------------- batching


def test_a_batch_waits_while_a_backlog_is_ready():
    batcher = Batcher(max_seconds=0.05, max_bytes=1000)
    batcher.add([{"text": "a"}], 10, now=0.0)
    assert not batcher.due(0.01, more_ready=lambda: True)


def test_a_batch_goes_out_when_the_source_is_quiet():
    batcher = Batcher()
    batcher.add([{"text": "a"}], 10, now=0.0)
    assert batcher.due(0.0, more_ready=lambda: False)


def test_a_batch_goes_out_after_its_time():
    batcher = Batcher(max_seconds=0.05)
    batcher.add([{"text": "a"}], 10, now=0.0)
    assert batcher.due(0.06, more_ready=lambda: True)


def test_a_batch_goes_out_at_its_size():
    batcher = Batcher(max_bytes=100)
    batcher.add([{"text": "a"}], 100, now=0.0)
    assert batcher.due(0.0, more_ready=lambda: True)


def test_take_empties_the_batch():
    batcher = Batcher()
    batcher.add([{"text": "a"}, {"text": "b"}], 10, now=0.0)
    batcher.take()
    assert not batcher.due(1.0, more_ready=lambda: False)


def test_a_delivery_waits_for_its_window():
    assert not deliver_due([("lines", [{"text": "a"}])], now=0.05, deadline=0.1)


def test_a_delivery_goes_out_when_its_window_is_over():
    assert deliver_due([("lines", [{"text": "a"}])], now=0.1, deadline=0.1)


def test_a_delivery_goes_out_early_when_enough_batches_wait():
    items = [("lines", [{"text": str(i)}]) for i in range(DELIVER_BATCHES)]
    assert deliver_due(items, now=0.0, deadline=0.1)


def test_coalesce_joins_consecutive_line_batches_in_order():
    items = [("lines", [{"text": "a"}]), ("lines", [{"text": "b"}, {"text": "c"}])]
    assert coalesce(items) == [("lines", [{"text": "a"}, {"text": "b"}, {"text": "c"}])]


def test_coalesce_keeps_notices_between_the_lines_they_separate():
    items = [("lines", [{"text": "a"}]), ("notice", "restarted"), ("lines", [{"text": "b"}]), ("end", "x")]
    assert coalesce(items) == [
        ("lines", [{"text": "a"}]),
        ("notice", "restarted"),
        ("lines", [{"text": "b"}]),
        ("end", "x"),
    ]


def test_coalesce_leaves_out_empty_batches():
    assert coalesce([("lines", []), ("end", "x")]) == [("end", "x")]


def test_coalesce_does_not_change_the_batches_it_joins():
    first = [{"text": "a"}]
    coalesce([("lines", first), ("lines", [{"text": "b"}])])
    assert first == [{"text": "a"}]


# --------------------------------------------------------------------------- merge


def _line(label: str, ts: str) -> dict:
    return {"container": label, "ts": ts, "text": f"{label}@{ts}", "stream": "stdout"}


def test_merge_holds_a_line_until_the_other_container_sends_something_newer():
    merger = Merger(["a", "b"], hold=10)
    merger.add("a", [_line("a", "2024-01-01T00:00:02Z")], now=0)
    assert merger.ready(now=0) == []


def test_merge_interleaves_by_timestamp():
    merger = Merger(["a", "b"], hold=10)
    merger.add("a", [_line("a", "2024-01-01T00:00:01Z"), _line("a", "2024-01-01T00:00:03Z")], now=0)
    merger.add("b", [_line("b", "2024-01-01T00:00:02Z"), _line("b", "2024-01-01T00:00:04Z")], now=0)
    assert [line["text"][:1] for line in merger.ready(now=0)] == ["a", "b", "a"]


def test_merge_releases_held_lines_after_the_hold_time():
    merger = Merger(["a", "b"], hold=0.25)
    merger.opened("b", now=0)
    merger.add("a", [_line("a", "2024-01-01T00:00:02Z")], now=0)
    assert merger.ready(now=0.2) == []
    assert len(merger.ready(now=0.3)) == 1


def test_merge_counts_the_hold_from_when_the_quiet_container_opened():
    merger = Merger(["a", "b"], hold=0.25)
    merger.add("a", [_line("a", "2024-01-01T00:00:02Z")], now=0)
    merger.opened("b", now=1.0)  # its tail is on the way: wait for it
    assert merger.ready(now=1.1) == []
    assert len(merger.ready(now=1.3)) == 1


def test_merge_waits_longer_for_a_container_whose_stream_has_not_opened():
    """A busy engine may open one container's log a while after the other's: its lines must not be
    overtaken by the hold meant for a quiet container (CI saw a1 a2 a3 b1 b2)."""
    merger = Merger(["a", "b"], hold=0.25, first_hold=5)
    merger.add("a", [_line("a", "2024-01-01T00:00:01Z"), _line("a", "2024-01-01T00:00:03Z")], now=0)
    assert merger.ready(now=1.0) == []
    merger.add("b", [_line("b", "2024-01-01T00:00:02Z")], now=1.0)
    assert [line["text"][:1] for line in merger.ready(now=1.0)] == ["a", "b"]
    assert len(merger.ready(now=1.3)) == 1  # b spoke: the ordinary hold again
    lone = Merger(["a", "b"], hold=0.25, first_hold=5)
    lone.add("a", [_line("a", "2024-01-01T00:00:01Z")], now=0)
    assert lone.ready(now=4.9) == [] and len(lone.ready(now=5.0)) == 1  # bounded: it never opened


def test_an_exact_merge_waits_for_every_container_however_slow():
    merger = Merger(["a", "b"], hold=0.25, first_hold=1, exact=True)
    merger.add("a", [_line("a", f"2024-01-01T00:00:0{second}Z") for second in (0, 4, 8)], now=0)
    merger.done("a")
    merger.opened("b", now=0)
    assert merger.ready(now=60) == []
    merger.add("b", [_line("b", f"2024-01-01T00:00:0{second}Z") for second in (2, 6)], now=60)
    assert [line["text"][:1] for line in merger.ready(now=60)] == ["a", "b", "a", "b"]
    merger.done("b")
    assert [line["text"][:1] for line in merger.ready(now=60)] == ["a"]
    assert merger.over


def test_merge_holds_at_most_max_held_lines_oldest_first():
    merger = Merger(["a", "b"], exact=True, max_held=3)
    merger.add("a", [_line("a", f"2024-01-01T00:00:0{second}Z") for second in range(5)], now=0)
    out = merger.ready(now=0)
    assert [line["ts"] for line in out] == ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"]
    assert len(merger.held) == 3


def test_merge_does_not_wait_for_a_container_that_ended():
    merger = Merger(["a", "b"], hold=10)
    merger.add("a", [_line("a", "2024-01-01T00:00:02Z")], now=0)
    merger.done("b")
    assert len(merger.ready(now=0)) == 1


def test_merge_is_over_when_every_container_ended_and_nothing_is_held():
    merger = Merger(["a"], hold=10)
    merger.done("a")
    assert merger.over


# --------------------------------------------------------------------------- follow decision


def _decide(**kwargs):
    base = {"running": False, "started_at": "t1", "previous_started_at": "t1", "waited": 0.0, "grace": 2.0}
    return after_stream_end(**{**base, **kwargs})


def test_a_new_start_time_means_follow_again():
    assert _decide(running=True, started_at="t2").action == FOLLOW


def test_a_stopped_container_is_waited_for_during_the_grace():
    assert _decide(waited=0.5).action == WAIT


def test_a_stopped_container_ends_with_its_exit_code():
    decision = _decide(waited=3.0, status="exited", exit_code=137)
    assert (decision.action, decision.reason) == (END, "the container stopped (exited, exit code 137)")


def test_an_engine_problem_ends_with_the_problem():
    assert _decide(running=None, problem="engine disconnected (x)").reason == "engine disconnected (x)"


def test_a_stream_closed_while_running_ends_with_that_reason():
    assert "kept running" in _decide(running=True).reason


# --------------------------------------------------------------------------- frames


def test_frames_stay_under_the_hard_limit_for_control_characters():
    lines = [{"stream": "stdout", "text": "\x01" * 60_000, "ts": ""} for _ in range(20)]
    assert max(len(frame.encode()) for frame, _ in line_frames(lines)) <= HARD


def test_frames_keep_every_line_in_order():
    lines = [{"stream": "stdout", "text": str(i) * 500, "ts": ""} for i in range(1000)]
    out = [line["text"] for frame, _ in line_frames(lines) for line in json.loads(frame)["lines"]]
    assert out == [line["text"] for line in lines]


def test_frames_are_split_by_budget():
    lines = [{"stream": "stdout", "text": "x" * 1000, "ts": ""} for _ in range(1000)]
    assert len(list(line_frames(lines, budget=64 * 1024))) >= 15


def test_frames_count_their_lines():
    lines = [{"stream": "stdout", "text": "x" * 1000, "ts": ""} for _ in range(1000)]
    assert sum(count for _, count in line_frames(lines)) == 1000


# --------------------------------------------------------------------------- send gate


def test_the_gate_sends_while_the_buffer_is_under_the_limit():
    assert SendGate(limit=100, stall_seconds=30).decide(50, now=0, units=3) == SEND


def test_the_gate_drops_and_counts_over_the_limit():
    gate = SendGate(limit=100, stall_seconds=30)
    gate.decide(500, now=0, units=3)
    gate.decide(500, now=1, units=4)
    assert gate.take_skipped() == 7


def test_the_gate_keeps_the_newest_dropped_frame_and_counts_the_older_ones():
    gate = SendGate(limit=100, stall_seconds=30)
    gate.decide(500, now=0, units=3, frame="older")
    gate.decide(500, now=1, units=4, frame="newest")
    assert gate.take_skipped() == 3


def test_the_held_frame_is_the_newest_and_given_once():
    gate = SendGate(limit=100, stall_seconds=30)
    gate.decide(500, now=0, units=3, frame="older")
    gate.decide(500, now=1, units=4, frame="newest")
    assert [gate.take_held(), gate.take_held()] == ["newest", None]


def test_the_gate_closes_a_viewer_stalled_past_the_limit():
    gate = SendGate(limit=100, stall_seconds=30)
    gate.decide(500, now=0, units=1)
    assert gate.decide(500, now=31, units=1) == CLOSE


def test_the_stall_clock_restarts_once_the_buffer_drains():
    gate = SendGate(limit=100, stall_seconds=30)
    gate.decide(500, now=0, units=1)
    gate.decide(0, now=20, units=1)
    assert gate.decide(500, now=40, units=1) == DROP


def test_the_transport_is_found_through_the_session_wrapper():
    from functools import partial

    from channels.sessions import InstanceSessionWrapper

    from core.live.transport import transport_of

    class Transport:
        dataBuffer, offset, _tempDataLen = b"", 0, 0

    class Protocol:
        transport = Transport()

    async def handle_reply(protocol, message):
        return None

    wrapper = InstanceSessionWrapper({"type": "websocket", "cookies": {}}, partial(handle_reply, Protocol()))
    assert isinstance(transport_of(wrapper.send), Transport)


def _backpressure_run(messages: list[dict]):
    """Run WriteBackpressure over an app that sends ``messages``; the fake daphne transport it saw."""
    from functools import partial

    from core.live.transport import WriteBackpressure

    class Transport:
        SEND_LIMIT = 128 * 1024
        dataBuffer, offset, _tempDataLen, disconnected = b"", 0, 0, False

    class Protocol:
        transport = Transport()

    async def handle_reply(protocol, message):
        return None

    async def app(scope, receive, send):
        for message in messages:
            await send(message)

    protocol = Protocol()
    run_async(WriteBackpressure(app)({"type": "http"}, None, partial(handle_reply, protocol)))
    return protocol.transport


def test_a_streamed_body_is_sent_in_bigger_writes():
    from core.live.transport import STREAM_SEND_LIMIT

    transport = _backpressure_run(
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b"x" * 10, "more_body": True},
            {"type": "http.response.body"},
        ]
    )
    assert transport.SEND_LIMIT == STREAM_SEND_LIMIT


def test_a_page_in_one_message_keeps_twisteds_write_size():
    transport = _backpressure_run(
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b"<html>", "more_body": False},
        ]
    )
    assert transport.SEND_LIMIT == 128 * 1024
