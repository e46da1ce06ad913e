"""Pure terminal logic, no engine: recording decoding and cap, paste sanitizing, input rate limits."""

from __future__ import annotations

import io
import json

from core.consumers.exec import RateLimit, sanitize_paste
from core.recordings import CastWriter


def _events(buffer: io.StringIO) -> list[list]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_multibyte_character_split_across_chunks_is_recorded_whole():
    buffer = io.StringIO()
    cast = CastWriter(buffer, max_bytes=1 << 20)
    euro = "€".encode()  # three bytes
    cast.event(0.1, "o", b"price " + euro[:1])
    cast.event(0.2, "o", euro[1:] + b" 5")
    assert "".join(event[2] for event in _events(buffer)) == "price € 5"


def test_output_and_input_streams_have_their_own_decoders():
    buffer = io.StringIO()
    cast = CastWriter(buffer, max_bytes=1 << 20)
    snowman, accent = "☃".encode(), "é".encode()
    cast.event(0.1, "o", snowman[:2])
    cast.event(0.2, "i", accent[:1])
    cast.event(0.3, "o", snowman[2:])
    cast.event(0.4, "i", accent[1:])
    events = _events(buffer)
    assert [(kind, text) for _, kind, text in events] == [("o", "☃"), ("i", "é")]


def test_invalid_utf8_becomes_the_replacement_character():
    buffer = io.StringIO()
    CastWriter(buffer, max_bytes=1 << 20).event(0.1, "o", b"a\xffb")
    assert _events(buffer)[0][2] == "a\ufffdb"


def test_an_incomplete_character_at_the_end_is_flushed_as_a_replacement():
    buffer = io.StringIO()
    cast = CastWriter(buffer, max_bytes=1 << 20)
    cast.event(0.1, "o", b"x" + "€".encode()[:2])
    cast.finish(0.2)
    assert "".join(event[2] for event in _events(buffer)) == "x\ufffd"


def test_the_recording_stops_at_its_size_cap_with_a_marker():
    buffer = io.StringIO()
    cast = CastWriter(buffer, max_bytes=2000)
    for number in range(100):
        cast.event(number / 10, "o", b"y" * 100)
    events = _events(buffer)
    assert cast.truncated
    assert "recording stopped: 2000 bytes reached" in events[-1][2]
    assert len(buffer.getvalue()) < 2000 + 200


def test_paste_loses_the_bracketed_paste_end_and_every_escape():
    assert sanitize_paste("echo harmless\x1b[201~\necho SMUGGLED\n") == "echo harmless\recho SMUGGLED\r"


def test_paste_keeps_tab_cr_lf_and_text_but_drops_other_controls():
    assert sanitize_paste("a\tb\r\nc\x00\x03\x07\x7f\x85d é€") == "a\tb\rcd é€"


def test_paste_drops_osc_and_eight_bit_csi_sequences():
    assert sanitize_paste("x\x1b]0;evil title\x07y\x9b2Jz\x1bcw") == "xyzw"


def test_rate_limit_allows_a_burst_then_refuses_then_refills():
    now = [0.0]
    limit = RateLimit(100, clock=lambda: now[0])
    allowed = sum(limit.allow() for _ in range(500))
    assert allowed == 200  # the burst: two seconds' worth
    now[0] += 0.5
    assert limit.allow(50)
    assert not limit.allow(1)


def test_rate_limit_counts_bytes_as_amounts():
    limit = RateLimit(1000, clock=lambda: 0.0)
    assert limit.allow(1500)
    assert not limit.allow(600)


def test_send_now_writes_what_the_socket_takes_and_never_waits():
    import socket

    from core.engine.streams import TerminalSocket

    ours, process = socket.socketpair()
    terminal = TerminalSocket(ours, exec_id=None, container_id="c", token="t", url="unix:///x")
    try:
        assert terminal.send_now(b"ls\r") == 3
        assert process.recv(16) == b"ls\r"
        # a process that does not read its input: the buffer fills, then nothing more is taken
        taken = sum(terminal.send_now(b"x" * 65536) for _ in range(200))
        assert 0 < taken < 200 * 65536
        assert terminal.send_now(b"more") == 0  # would wait: the caller hands it to its writer thread
        terminal.close()
        assert terminal.send_now(b"after close") == 0
    finally:
        ours.close()
        process.close()


def test_send_now_leaves_other_sockets_to_the_writer_thread():
    import socket
    import ssl

    from core.engine.streams import TerminalSocket

    ours, process = socket.socketpair()
    wrapped = ssl.SSLSocket.__new__(ssl.SSLSocket)  # stands for a TLS endpoint's socket: never used
    terminal = TerminalSocket(ours, exec_id=None, container_id="c", token="t", url="unix:///x")
    terminal.sock = wrapped
    try:
        assert terminal.send_now(b"ls\r") == 0
    finally:
        ours.close()
        process.close()


def test_a_browser_frame_skips_channels_database_cleanup_hop_and_other_messages_keep_it(monkeypatch):
    import channels.consumer

    from core.consumers.base import GuardedConsumer
    from tests.unit.aio import run

    hops = []

    async def hop():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", hop)
    got = []

    class Probe(GuardedConsumer):
        async def receive(self, text_data=None, bytes_data=None):
            got.append(bytes_data or text_data)

        async def websocket_disconnect(self, message):
            got.append(message["type"])

    consumer = Probe()
    run(consumer.dispatch({"type": "websocket.receive", "bytes": b"k"}))
    assert got == [b"k"] and hops == []
    run(consumer.dispatch({"type": "websocket.disconnect", "code": 1000}))
    assert got == [b"k", "websocket.disconnect"] and hops == [1]


def test_input_reaches_the_process_only_once_the_session_has_started():
    """Before the session is audited and recorded (or after that failed) input waits for the writer
    thread: written straight away it would reach a live shell with no trail."""
    import socket

    from core.consumers.exec import ExecConsumer
    from core.engine.streams import TerminalSocket
    from tests.unit.aio import run

    ours, process = socket.socketpair()
    process.setblocking(False)
    consumer = ExecConsumer()
    consumer.terminal = TerminalSocket(ours, exec_id=None, container_id="c", token="t", url="unix:///x")
    consumer.frame_rate = consumer.byte_rate = type("Open", (), {"allow": lambda self, *a: True})()
    consumer.frame_limit = 1 << 16
    try:
        run(consumer.receive(bytes_data=b"rm -rf /data\r"))  # begin() failed or has not finished
        try:
            leaked = process.recv(64)
        except BlockingIOError:
            leaked = b""
        assert leaked == b""
        assert consumer.writes.qsize() == 1  # waits for the writer thread, which a failed start never runs
    finally:
        ours.close()
        process.close()
