"""The engine log read path without an engine: chunked decoding, the multiplexed frames -> lines
(the inline whole-line case must give exactly what the general path gives), the raw HTTP/1.0
request and its answer (head, unchunked or chunked body, refusals), ts blanked in frames."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from core.engine import streams
from core.engine._client import translated
from core.engine.streams import LogStream, _Dechunker, _read_head, _SocketBody
from core.errors import EngineUnavailable, InvalidInput, NotFound
from core.live.frames import line_frames
from core.live.lines import MAX_LINE

REAL_CONNECT = streams._connect  # the unit tier's guard replaces it; these tests use their own socket

_HEADER = struct.Struct(">BxxxL")


def _stream(*, stamped: bool = True) -> LogStream:
    stream = LogStream.__new__(LogStream)  # no response: only the parsing state
    stream.stamped = stamped
    stream.tty = False
    stream.last_ts = ""
    stream._assemblers = {}
    stream._pending_ts = {}
    stream._frame_buffer = b""
    return stream


def _frame(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


MESSAGES = [
    (1, b"2026-12-03T10:00:00.000000001Z one\n"),
    (2, b"2026-12-03T10:00:00.000000002Z err \xff\xfe bad utf-8\n"),
    (1, b"2026-12-03T10:00:00.000000003Z " + b"p" * 16384),  # a 16 KiB piece, no newline
    (2, b"2026-12-03T10:00:00.000000004Z stderr while stdout is pending\n"),
    (1, b"2026-12-03T10:00:00.000000005Z end of the long one\n"),
    (1, b"2026-12-03T10:00:00.000000006Z two\nlines in one message\n"),
    (1, b"no-space-at-all"),
    (1, b"2026-12-03T10:00:00.000000007Z " + b"x" * MAX_LINE + b"\n"),  # exactly the limit
    (1, b"2026-12-03T10:00:00.000000008Z " + b"y" * (MAX_LINE + 1) + b"\n"),  # cut
    (2, b"2026-12-03T10:00:00.000000009Z \n"),  # an empty line
    (1, b"2026-12-03T10:00:00.000000010Z caf\xc3\xa9 \xe2\x82\xac\n"),
]


def _reference() -> tuple[list[dict], str]:
    stream = _stream()
    lines: list[dict] = []
    for kind, payload in MESSAGES:
        ts, _, text = payload.partition(b" ")
        stream._add(kind, ts, text, lines)
    return lines + stream._flush_pending(), stream.last_ts


def test_demux_gives_what_the_general_path_gives_in_one_read():
    stream = _stream()
    lines = stream._demux(b"".join(_frame(kind, payload) for kind, payload in MESSAGES))
    assert (lines + stream._flush_pending(), stream.last_ts) == _reference()


def test_demux_gives_the_same_lines_whatever_the_read_boundaries():
    data = b"".join(_frame(kind, payload) for kind, payload in MESSAGES)
    expected = _reference()
    for step in (1, 7, 4096):
        stream = _stream()
        lines: list[dict] = []
        for start in range(0, len(data), step):
            lines += stream._demux(data[start : start + step])
        assert (lines + stream._flush_pending(), stream.last_ts) == expected, step


def _random_messages(rng: random.Random, *, stamped: bool) -> list[tuple[int, bytes]]:
    """Messages of every shape: whole lines of sizes whose header holds a newline byte (10, 266,
    2570 ...), several lines in one, 16 KiB partials, lines over MAX_LINE, kinds 0-3, no space."""
    messages = []
    for n in range(400):
        stamp = b"2026-12-03T10:00:%02d.%09dZ " % (n % 60, n) if stamped else b""
        shape = rng.random()
        if shape < 0.5:
            size = rng.choice([0, 1, 5, 10 - len(stamp) - 1, 266 - len(stamp) - 1, 2570 - len(stamp) - 1, 40])
            text = bytes(rng.choice(b"ab \xc3\xa9\t") for _ in range(max(size, 0))) + b"\n"
        elif shape < 0.6:
            text = b"first\nsecond\n" + (b"third" if rng.random() < 0.5 else b"")
        elif shape < 0.7:
            text = b"q" * 16384  # a partial message, continued by the next of its stream
        elif shape < 0.75:
            text = b"z" * (MAX_LINE + rng.choice([-1, 0, 1, 5000])) + b"\n"
        elif shape < 0.8:
            text = b"nospace\n" if not stamped else b""
            stamp = b"no-space-at-all" if stamped else b""
        elif shape < 0.83:
            text = b" an empty stamp\n"  # stamped: "" then the text (never from docker, but parsed)
        else:
            text = b"\xe2\x82" if rng.random() < 0.5 else b"\xac end\n"  # a character split across messages
        messages.append((rng.choice([1, 1, 1, 2, 2, 0, 3]), stamp + text))
    return messages


@pytest.mark.parametrize("stamped", [True, False])
def test_demux_bulk_path_matches_message_by_message_on_random_input(stamped):
    rng = random.Random(20261204)
    for _ in range(6):
        messages = _random_messages(rng, stamped=stamped)
        reference = _stream(stamped=stamped)
        expected: list[dict] = []
        for kind, payload in messages:
            ts, _, text = payload.partition(b" ") if stamped else (b"", b"", payload)
            reference._add(kind, ts, text, expected)
        expected += reference._flush_pending()
        data = b"".join(_frame(kind, payload) for kind, payload in messages)
        for step in (997, 4093, 65536, len(data)):
            stream = _stream(stamped=stamped)
            lines: list[dict] = []
            for start in range(0, len(data), step):
                lines += stream._demux(data[start : start + step])
            lines += stream._flush_pending()
            assert lines == expected, step
            assert stream.last_ts == reference.last_ts
            if not stamped:
                assert {line["ts"] for line in lines} == {""}


def test_demux_reads_a_header_holding_a_newline_byte():
    # size 10: the header's last byte is b"\n"; splitting at newlines must not cut a message there
    payload = b"ts-c abcd\n"
    data = _frame(1, b"ts-a one\n") + _frame(1, payload) + _frame(2, b"ts-b two\n")
    assert b"\n" in _HEADER.pack(1, len(payload))
    lines = _stream()._demux(data)
    assert [(line["stream"], line["text"], line["ts"]) for line in lines] == [
        ("stdout", "one", "ts-a"),
        ("stdout", "abcd", "ts-c"),
        ("stderr", "two", "ts-b"),
    ]


def test_a_line_with_an_empty_stamp_leaves_the_last_stamp_as_it_was():
    data = _frame(1, b"T1 a\n") + _frame(1, b" b\n")
    for cut in (len(data), 13, 5):
        stream = _stream()
        lines = stream._demux(data[:cut]) + stream._demux(data[cut:])
        assert [(line["text"], line["ts"]) for line in lines] == [("a", "T1"), ("b", "")]
        assert stream.last_ts == "T1", cut


def test_a_huge_message_arriving_in_many_reads_is_not_split_at_newlines_on_every_read():
    # not what docker sends (it cuts lines into 16 KiB messages): 2 MB of short lines in ONE
    # message, read 64 KiB at a time; splitting the growing buffer on each read took ~1 s here.
    payload = b"2026-12-03T10:00:00.000000001Z " + b"ab\n" * 700_000
    data = _frame(1, payload)

    def timed(step: int) -> float:
        stream = _stream()
        started = time.perf_counter()
        lines: list[dict] = []
        for start in range(0, len(data), step):
            lines += stream._demux(data[start : start + step])
        elapsed = time.perf_counter() - started
        assert len(lines) == 700_000 and lines[0]["text"] == "ab" and lines[-1]["text"] == "ab"
        return elapsed

    def by_message() -> float:  # the lines' own cost: the message given to _add whole
        started = time.perf_counter()
        ts, _, text = payload.partition(b" ")
        _stream()._add(1, ts, text, [])
        return time.perf_counter() - started

    own = min(by_message(), by_message())
    # 1.8x without the carry limit (the growing buffer split at every newline on each read)
    assert min(timed(65_536), timed(65_536)) < 1.5 * own + 0.05
    assert timed(len(data)) < 1.5 * own + 0.05


def test_dechunker_joins_chunks_split_across_reads_and_reads_extensions():
    body = b"".join(_frame(kind, payload) for kind, payload in MESSAGES[:3])
    chunked = (
        b"5\r\n" + body[:5] + b"\r\n" + b"%x;name=value\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n"
    )
    pieces = [chunked[i : i + 3] for i in range(0, len(chunked), 3)]
    reader = _Dechunker(lambda _size: pieces.pop(0) if pieces else b"")
    out = b""
    while data := reader.read():
        out += data
    assert out == body


def test_frames_blank_ts_without_touching_the_shared_lines():
    lines = [{"stream": "stdout", "text": str(i), "ts": f"2026-12-03T10:00:{i:02}Z"} for i in range(50)]
    before = [dict(line) for line in lines]
    framed = [line for frame, _ in line_frames(lines, blank_ts=True) for line in json.loads(frame)["lines"]]
    assert framed == [{**line, "ts": ""} for line in before]
    assert lines == before
    kept = [line for frame, _ in line_frames(lines) for line in json.loads(frame)["lines"]]
    assert kept == before


# --------------------------------------------------------------------------- the raw HTTP/1.0 read


class _Pieces:
    """A socket whose ``recv`` hands out the given pieces one per call (then b"": the end)."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = list(pieces)

    def recv(self, _size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def _read_all(read, *, tty: bool = False) -> tuple[list[dict], str]:
    stream = LogStream(read, sock=None, release=lambda: None, tty=tty, url="unix:///test.sock")
    lines = [line for batch in stream.batches() for line in batch]
    return lines, stream.last_ts


def _cut(data: bytes, step: int) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


def _chunked(body: bytes, step: int) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in _cut(body, step)) + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n"


def test_the_head_is_read_across_reads_and_the_body_bytes_read_along_are_kept():
    pieces = [*_cut(HEAD[:-1], 1), HEAD[-1:] + b"first body bytes"]
    status, reason, fields, rest = _read_head(_Pieces(pieces))
    assert (status, reason, rest) == (200, "OK", b"first body bytes")
    assert fields["content-type"] == "application/vnd.docker.multiplexed-stream"


def test_a_connection_that_ends_before_the_head_is_a_connection_error():
    with pytest.raises(ConnectionError):
        _read_head(_Pieces([b"HTTP/1.1 200 OK\r\n"]))


def test_an_answer_that_is_not_http_is_a_connection_error():
    with pytest.raises(ConnectionError):
        _read_head(_Pieces([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]))


@pytest.mark.parametrize("step", [3, 4096, 1 << 20])
def test_an_unchunked_body_gives_the_same_lines_whatever_the_read_boundaries(step):
    body = b"".join(_frame(kind, payload) for kind, payload in MESSAGES)
    early, rest = body[:5], body[5:]  # bytes that came with the head: a header split across reads
    reader = _SocketBody(_Pieces(_cut(rest, step)), early)
    assert _read_all(reader.read1) == _reference()


@pytest.mark.parametrize("step", [3, 4096])
def test_a_chunked_body_gives_the_same_lines_as_an_unchunked_one(step):
    body = b"".join(_frame(kind, payload) for kind, payload in MESSAGES)
    chunked = _chunked(body, 100)
    reader = _SocketBody(_Pieces(_cut(chunked[3:], step)), chunked[:3])
    assert _read_all(_Dechunker(reader.read1).read) == _reference()


def test_a_10_mib_line_in_16_kib_messages_is_cut_and_the_next_line_follows():
    total = 10 * 1024 * 1024
    stamp = b"2026-12-03T10:00:00.000000001Z "
    messages = [(1, stamp + b"z" * 16384) for _ in range(total // 16384)]
    messages += [(1, stamp + b"\n"), (1, b"2026-12-03T10:00:00.000000002Z next\n")]
    body = b"".join(_frame(kind, payload) for kind, payload in messages)
    lines, last_ts = _read_all(_SocketBody(_Pieces(_cut(body, 65536)), b"").read1)
    assert [line["text"] for line in lines][1:] == ["next"]
    assert lines[0]["truncated"] == total
    assert lines[0]["text"].startswith("z" * MAX_LINE)
    assert lines[0]["ts"] == "2026-12-03T10:00:00.000000001Z"
    assert last_ts == "2026-12-03T10:00:00.000000002Z"


def test_the_end_of_the_body_flushes_an_unfinished_line():
    body = _frame(1, b"2026-12-03T10:00:00.000000001Z whole\n") + _frame(
        2, b"2026-12-03T10:00:00.000000002Z no newline"
    )
    lines, last_ts = _read_all(_SocketBody(_Pieces([body[:20], body[20:]]), b"").read1)
    assert lines == [
        {"stream": "stdout", "text": "whole", "ts": "2026-12-03T10:00:00.000000001Z"},
        {"stream": "stderr", "text": "no newline", "ts": "2026-12-03T10:00:00.000000002Z"},
    ]
    assert last_ts == "2026-12-03T10:00:00.000000002Z"


def test_a_tty_body_is_read_as_one_stream():
    body = b"2026-12-03T10:00:00.000000001Z one\r\n2026-12-03T10:00:00.000000002Z two\r\n"
    lines, last_ts = _read_all(_SocketBody(_Pieces(_cut(body, 5)), b"").read1, tty=True)
    assert [(line["text"], line["ts"]) for line in lines] == [
        ("one", "2026-12-03T10:00:00.000000001Z"),
        ("two", "2026-12-03T10:00:00.000000002Z"),
    ]
    assert last_ts == "2026-12-03T10:00:00.000000002Z"


# A local unix socket that answers one request with canned bytes: what _raw_get sends and how it
# reads the answer, without an engine.


@contextmanager
def _answering(tmp_path: Path, *pieces: bytes, hold: bool = False):
    path = str(tmp_path / "answer.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen: dict[str, bytes] = {}
    release = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request and (more := conn.recv(4096)):
                request += more
            seen["request"] = request
            for piece in pieces:
                conn.sendall(piece)
            if hold:
                release.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path, seen
    finally:
        release.set()
        thread.join(10)
        server.close()


def _get(path: str, params: dict | None = None, *, timeout: float = 5):
    api = docker.APIClient(base_url=f"unix://{path}", version="1.41", timeout=timeout)
    url = api._url("/containers/{0}/logs", "abc")
    with translated(f"unix://{path}"):
        return streams._raw_get(api, ("unix", path, "localhost"), url, params or {"tail": "all"})


@pytest.fixture
def raw_connect(monkeypatch):
    monkeypatch.setattr(streams, "_connect", REAL_CONNECT)


def test_the_request_is_http_1_0_and_its_body_is_read_to_the_end(tmp_path, raw_connect):
    body = b"".join(_frame(kind, payload) for kind, payload in MESSAGES)
    with _answering(tmp_path, HEAD + body[:3], body[3:]) as (path, seen):
        sock, reader, chunked = _get(path, {"stdout": 1, "follow": 0, "tail": "all"})
        try:
            lines = _read_all(reader.read1)
        finally:
            sock.close()
    assert seen["request"].startswith(
        b"GET /v1.41/containers/abc/logs?stdout=1&follow=0&tail=all HTTP/1.0\r\n"
    )
    assert b"\r\nHost: localhost\r\n" in seen["request"]
    assert chunked is False
    assert lines == _reference()


def test_a_chunked_answer_is_said_to_be_chunked(tmp_path, raw_connect):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with _answering(tmp_path, head + b"0\r\n\r\n") as (path, _):
        sock, _, chunked = _get(path)
        sock.close()
    assert chunked is True


@pytest.mark.parametrize(
    ("status", "error"), [(b"404 Not Found", NotFound), (b"400 Bad Request", InvalidInput)]
)
def test_a_refusal_is_translated_like_docker_pys_with_the_engines_message(
    tmp_path, raw_connect, status, error
):
    message = b'{"message":"No such container: abc"}\n'
    answer = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(message),
        message,
    )
    with _answering(tmp_path, answer) as (path, _), pytest.raises(error) as raised:
        _get(path)
    assert raised.value.message == "No such container: abc"


def test_an_engine_that_closes_without_answering_is_unavailable(tmp_path, raw_connect):
    with _answering(tmp_path) as (path, _), pytest.raises(EngineUnavailable):
        _get(path)


def test_an_engine_that_never_answers_is_unavailable_after_the_timeout(tmp_path, raw_connect):
    started = time.monotonic()
    with _answering(tmp_path, hold=True) as (path, _), pytest.raises(EngineUnavailable):
        _get(path, timeout=0.3)
    assert time.monotonic() - started < 5


def test_no_engine_socket_is_unavailable(tmp_path, raw_connect):
    with pytest.raises(EngineUnavailable):
        _get(str(tmp_path / "nobody.sock"))


def test_close_from_another_thread_wakes_a_blocked_reader(tmp_path, raw_connect):
    first = _frame(1, b"2026-12-03T10:00:00.000000001Z first\n")
    with _answering(tmp_path, HEAD + first, hold=True) as (path, _):
        sock, reader, _ = _get(path)
        stream = LogStream(reader.read1, sock=sock, release=sock.close, tty=False, url=path)
        got: list[dict] = []
        thread = threading.Thread(target=lambda: [got.extend(batch) for batch in stream.batches()])
        thread.start()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        stream.close()
        thread.join(5)
        assert not thread.is_alive()
    assert time.monotonic() - started < 1
    assert [line["text"] for line in got] == ["first"]


def test_a_download_body_is_read_in_whole_chunks_and_a_shutdown_wakes_a_blocked_read():
    ours, engine = socket.socketpair()
    body = bytes(range(256)) * 1000  # 256,000 bytes, written in uneven trickles

    def trickle() -> None:
        for start in range(0, len(body), 7_777):
            engine.sendall(body[start : start + 7_777])
            time.sleep(0.001)
        engine.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=trickle)
    writer.start()
    reader = _SocketBody(ours, b"early")  # the bytes read along with the head come first, alone
    chunks = [reader.read_full(65_536)]
    while data := reader.read_full(65_536):
        chunks.append(data)
    writer.join()
    assert chunks[0] == b"early" and b"".join(chunks[1:]) == body
    assert [len(c) for c in chunks[1:]] == [65_536, 65_536, 65_536, len(body) - 3 * 65_536]

    # nothing more will come on a still-open connection: a shutdown from another thread ends the wait
    ours2, engine2 = socket.socketpair()
    engine2.sendall(b"x" * 100)
    blocked = _SocketBody(ours2, b"")
    got: list[bytes] = []
    thread = threading.Thread(target=lambda: got.append(blocked.read_full(65_536)))
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive()  # waiting for the rest of its 64 KiB
    streams._shutdown(ours2)
    thread.join(timeout=5)
    assert not thread.is_alive() and got and len(got[0]) <= 100
    for sock in (ours, engine, ours2, engine2):
        sock.close()
