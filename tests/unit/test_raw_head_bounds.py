"""The raw HTTP/1.0 log request's reads of an answer's head and of a refusal's body are bounded."""

import socket
import threading

import pytest

from core.engine.streams import MAX_ERROR_BODY, MAX_HEAD, _read_head, _read_rest


def _feed(sock: socket.socket, data: bytes) -> threading.Thread:
    def send() -> None:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the reader stopped reading and closed: what the bound is for

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_a_head_that_never_ends_is_refused_after_the_bound():
    ours, engine = socket.socketpair()
    with ours, engine:
        _feed(engine, b"HTTP/1.1 200 OK\r\n" + b"X-Flood: " + b"a" * (4 * MAX_HEAD))
        with pytest.raises(ConnectionError, match="no end of headers"):
            _read_head(ours)


def test_a_refusal_body_is_read_up_to_its_bound_only():
    ours, engine = socket.socketpair()
    with ours, engine:
        _feed(engine, b"x" * (MAX_ERROR_BODY + 5 * 65536))
        body = _read_rest(ours, {}, b"")  # no Content-Length: up to the bound, not to the end
        assert len(body) == MAX_ERROR_BODY


def test_a_refusal_body_stops_at_its_content_length():
    ours, engine = socket.socketpair()
    with ours, engine:
        engine.sendall(b'sage"' + b"trailing bytes of nothing")
        assert _read_rest(ours, {"content-length": "10"}, b'{"mes') == b'sage"'


def test_a_trickled_head_is_refused_at_its_deadline():
    """A peer sending a byte now and then never trips a per-read timeout: the head has a deadline
    (the events watcher's 10 s), so it cannot hold a thread for days."""
    import time

    ours, engine = socket.socketpair()
    stop = threading.Event()

    def trickle() -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            if stop.wait(0.05):
                return
            try:
                engine.sendall(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    with ours, engine:
        ours.settimeout(5)
        thread.start()
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="did not come in time"):
            _read_head(ours, deadline=started + 0.5)
        assert time.monotonic() - started < 1.5
        stop.set()
    thread.join(timeout=5)
