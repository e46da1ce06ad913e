"""Log streams and exec/attach sockets: the blocking halves, run by consumers in their own threads.

Everything here blocks; nothing here knows about asyncio. A consumer opens a stream, reads it from a
dedicated thread, and calls ``close()`` from the event loop to wake that thread up (the socket is
shut down, so the blocked ``read`` returns at once).

Speed matters (a 200k-line log must stream faster than the docker CLI can print it), so on unix
and plain tcp endpoints the log is asked for as HTTP/1.0 on a connection of its own: the engine then
sends an unchunked body (it sends one HTTP/1.1 chunk per log line otherwise) that is read with plain
``recv`` calls, and docker's 8-byte stream headers are decoded here in large slices instead of one
Python call per line. TLS and ssh endpoints read docker-py's response (chunking undone in bulk).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import secrets
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from docker.transport import UnixHTTPAdapter

from core.engine._client import Engine, engine_call, translated
from core.errors import InvalidInput, NotFound
from core.live.batching import Batcher
from core.live.lines import MAX_LINE, LineAssembler

READ_SIZE = 64 * 1024
QUIET_SECONDS = 0.005
STREAMS = {1: "stdout", 2: "stderr", 0: "stdout"}
_STREAM_NAMES = ("stdout", "stdout", "stderr")  # STREAMS by index, for the kinds 0-2
BULK_CARRY_MAX = 64 * 1024  # a message still arriving bigger than this: no bulk walk (see _demux)
BULK_MISSES = 4  # the bulk walk taking nothing this many times in a row: not tried again this read
_HEADER = struct.Struct(">BxxxL")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EXEC_TOKEN_VAR = "DASHBOARD_EXEC_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    tty: bool
    running: bool
    status: str
    started_at: str
    open_stdin: bool
    exit_code: int | None = None  # when it is not running


@engine_call
def container_facts(engine: Engine, container_id: str) -> ContainerFacts:
    """What a log or terminal stream needs to know about a container (one inspect).

    Args:
        container_id: id or name.

    Returns:
        A :class:`ContainerFacts`.

    Raises:
        NotFound: no such container.
        EngineUnavailable: the engine does not answer.
    """
    data = engine.api.inspect_container(container_id)
    config = data.get("Config") or {}
    state = data.get("State") or {}
    return ContainerFacts(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        tty=bool(config.get("Tty")),
        running=bool(state.get("Running")),
        status=str(state.get("Status", "")),
        started_at=str(state.get("StartedAt", "")),
        open_stdin=bool(config.get("OpenStdin")),
        exit_code=None if state.get("Running") else _int_or_none(state.get("ExitCode")),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_since(value: str | None, *, now: float | None = None) -> str | None:
    """``since``/``until`` as the engine wants it: unix seconds, from ``10m``, a timestamp or seconds.

    Args:
        value: ``""``/None (no bound), ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"``, unix seconds
            (``"1700000000"`` or with a fraction), or an RFC 3339 / ISO 8601 timestamp.
        now: the reference time for relative values (default: now).

    Returns:
        Unix seconds as a string (``"1700000000.000000000"``), or None.

    Raises:
        InvalidInput: the value is none of the above.
    """
    if not value:
        return None
    value = value.strip()
    relative = _RELATIVE.match(value)
    if relative:
        seconds = float(relative.group(1)) * _UNITS[relative.group(2)]
        return f"{(now if now is not None else time.time()) - seconds:.9f}"
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"“{value}” is not a time: use e.g. 10m, 2h, 1700000000 or 2024-05-01T10:00:00Z."
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.9f}"


def ts_to_since(ts: str) -> str:
    """The engine timestamp of a line (RFC 3339 nano) + 1ns as ``since`` (to resume after it)."""
    main, _, rest = ts.partition(".")
    fraction = rest.rstrip("Z").split("+")[0].split("-")[0] if rest else ""
    seconds = datetime.fromisoformat(main + "+00:00").timestamp()
    nanos = int((fraction + "000000000")[:9]) + 1
    return f"{int(seconds) + nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


# --------------------------------------------------------------------------- raw reading


def _raw_socket(response) -> socket.socket | None:
    """The socket under a streamed docker-py response (unix, tcp and ssh transports)."""
    try:
        sock = response.raw._fp.fp.raw
    except AttributeError:
        return None
    if isinstance(sock, socket.socket):
        return sock
    inner = getattr(sock, "_sock", None)
    return inner if isinstance(inner, socket.socket) else None


def body_reader(response, size: int) -> Callable[[], bytes]:
    """A ``read()`` of a streamed docker-py response: the body bytes one raw read of up to ``size``
    brought (b"" at the end), HTTP/1.1 chunking undone in bulk. http.client's chunked reading costs
    a readline and a read per chunk (the engine sends logs a chunk per line, archives in 32 KiB
    chunks): a quarter of daphne's CPU in a volume download."""
    message = getattr(response.raw, "_fp", None)  # http.client's response
    fp = getattr(message, "fp", None)
    if fp is None or not hasattr(fp, "read1"):
        iterator = response.raw.stream(size, decode_content=False)
        return lambda: next(iterator, b"")
    if not response.raw.chunked:  # http.client's read1 stops at the Content-Length, if any
        return lambda: message.read1(size)
    return _Dechunker(fp.read1, size).read


class _Dechunker:
    """HTTP/1.1 chunked transfer decoding over big raw reads (docker sends one chunk per log line,
    archives in 32 KiB chunks). Bounded: a chunk's payload is passed on as it arrives, whatever the
    size the engine announced; only a chunk-size line is ever held, and at most 1 KiB of it."""

    MAX_HEADER = 1024

    def __init__(self, read1: Callable[[int], bytes], size: int = READ_SIZE):
        self.read1 = read1
        self.size = size
        self.buffer = b""  # the start of a chunk-size line (never payload)
        self.left = 0  # payload bytes of the current chunk still to come
        self.skip = 0  # bytes of the CRLF after the current chunk's payload still to come
        self.done = False

    def read(self) -> bytes:
        out: list[bytes] = []
        while not out:
            if self.done:
                return b""
            data = self.read1(self.size)
            if not data:
                self.done = True
                return b""
            buffer = self.buffer + data if self.buffer else data
            self.buffer = b""
            pos, end = 0, len(buffer)
            find, append = buffer.find, out.append
            while pos < end:
                if self.left:
                    stop = pos + self.left
                    if stop > end:  # the payload goes on in the next read
                        append(buffer[pos:] if pos else buffer)
                        self.left = stop - end
                        break
                    append(buffer[pos:stop])
                    self.left, self.skip, pos = 0, 2, stop
                    continue
                if self.skip:
                    taken = min(self.skip, end - pos)
                    self.skip -= taken
                    pos += taken
                    continue
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if end - pos > self.MAX_HEADER:
                        raise ValueError("a chunk-size line over 1 KiB in the engine's response")
                    self.buffer = buffer[pos:]
                    break
                size = int(buffer[pos:eol].split(b";", 1)[0], 16)  # ";name=value" extensions, rare
                if size == 0:
                    self.done = True
                    break
                self.left, pos = size, eol + 2
        return out[0] if len(out) == 1 else b"".join(out)


class Body:
    """A streamed engine answer's body: ``read()`` gives the bytes one read brought (b"" at the
    end); ``shutdown()`` wakes a blocked ``read()`` from any thread; ``close()`` frees the connection
    (the reading thread calls it when done)."""

    def __init__(self, read: Callable[[], bytes], sock: socket.socket | None, release: Callable[[], object]):
        self.read = read
        self._sock = sock
        self._release = release

    def shutdown(self) -> None:
        if self._sock is not None:
            _shutdown(self._sock)
        else:
            self._release()

    def close(self) -> None:
        self.shutdown()
        self._release()


def open_body(api, url: str, params: dict[str, object], *, size: int) -> Body:
    """GET ``url`` and stream its body in reads of up to ``size`` bytes, without a read timeout.
    A plain connection's reads wait for ``size`` bytes (fewer only at the end): a bulk download
    moves whole chunks, with no joins in Python.

    Unix and plain tcp endpoints: an HTTP/1.0 request on a connection of its own, so the engine
    sends the body unchunked (it chunks archives in 32 KiB pieces for HTTP/1.1: a read, a slice and
    a join per piece in Python); TLS and ssh ones: docker-py's streamed response, dechunked in bulk.
    No ``Accept-Encoding``: the engine compresses nothing.

    Raises:
        docker.errors.APIError: the engine refused (NotFound...), as docker-py raises it.
        OSError: no connection or no answer.
    """
    address = _plain_address(api)
    if address is not None:
        sock, body, chunked = _raw_get(api, address, url, params)
        read = _Dechunker(body.read1, size).read if chunked else functools.partial(body.read_full, size)
        return Body(read, sock, sock.close)
    identity = {"Accept-Encoding": "identity"}
    response = api._get(url, params=params, stream=True, headers=identity, timeout=None)
    try:
        api._raise_for_status(response)
    except BaseException:
        response.close()
        raise
    return Body(body_reader(response, size), _raw_socket(response), response.close)


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --------------------------------------------------------------------------- logs


class LogStream:
    """One open ``/containers/<id>/logs`` response, read as batches of line dicts.

    Each line is ``{"stream": "stdout"|"stderr", "text": str, "ts": str}`` (ready for the
    websocket frame). ``ts`` is the engine's RFC 3339 timestamp, requested unless the reader needs
    none (``stamped=False``: a one-off read shown without them; merged views interleave by it and a
    restart resumes with ``since``); ``""`` when not requested.
    """

    def __init__(
        self,
        read: Callable[[], bytes],
        *,
        sock: socket.socket | None,
        release: Callable[[], object],
        tty: bool,
        url: str,
        stamped: bool = True,
    ):
        """``read()`` gives body bytes (b"" at the end); ``sock`` is the socket under it (shut down
        by :meth:`close` to wake a blocked read); ``release()`` frees the connection after that.
        ``stamped``: each engine line begins with its timestamp and a space (``timestamps=1``)."""
        self.tty = tty
        self.stamped = stamped
        self.url = url
        self.last_ts = ""
        self._read = read
        self._sock = sock
        self._release = release
        self._closed = False
        self._assemblers: dict[int, LineAssembler] = {}  # streams with an unfinished line
        self._pending_ts: dict[int, str] = {}
        self._frame_buffer = b""

    def batches(self) -> Iterator[list[dict]]:
        """Yield lists of complete lines as they arrive; returns at the end of the stream.

        Raises:
            EngineUnavailable: the connection to the engine broke mid-stream (unless closed by us).
        """
        batcher = Batcher()
        try:
            while True:
                with translated(self.url):
                    try:
                        data = self._read()
                    except (OSError, ValueError, AttributeError):
                        if self._closed:
                            return
                        raise
                if not data:
                    batcher.add(self._flush_pending(), 0, 0.0)
                    if batcher.lines:
                        yield batcher.take()
                    return
                lines = self._tty_lines(data) if self.tty else self._demux(data)
                now = time.monotonic()
                batcher.add(lines, len(data), now)
                # Coalesce while the engine keeps writing (a backlog); hand over when it goes quiet,
                # at 64 KiB, or after 50 ms: fewer, bigger hand-overs to the event loop.
                if batcher.lines and batcher.due(now, more_ready=self._more_ready):
                    yield batcher.take()
        except Exception:
            if self._closed:
                return
            raise

    def _more_ready(self) -> bool:
        """More body bytes can be read without blocking (buffered, or on the socket)."""
        if self._sock is None:
            return False
        try:
            return bool(select.select([self._sock], [], [], QUIET_SECONDS)[0])
        except (OSError, ValueError):
            return False

    def _demux(self, data: bytes) -> list[dict]:
        """Engine messages -> lines. Runs of whole-line messages go through :meth:`_whole_lines`
        (the buffer split at newlines once per read); any other message (a 16 KiB partial, several
        lines in one, a header holding a newline byte...) through :meth:`_add`, one at a time, after
        which the bulk walk resumes where the pieces line up with the messages again."""
        carried = self._frame_buffer
        buffer = carried + data if carried else data
        lines: list[dict] = []
        end = len(buffer)
        unpack = _HEADER.unpack_from
        stamped = self.stamped
        assemblers = self._assemblers
        # A message bigger than the engine sends (it cuts lines into 16 KiB messages) still arriving:
        # its buffer is not split at every newline again on every read.
        pieces = buffer.split(b"\n") if len(carried) <= BULK_CARRY_MAX else []
        if pieces:
            pieces.pop()  # after the last newline: not a whole message
        count = len(pieces)
        index = 0  # the next piece, which begins at piece_at
        piece_at = 0
        misses = 0
        pos = 0
        while pos + 8 <= end:
            if index < count and piece_at == pos and not any(a.pending for a in assemblers.values()):
                taken, size = self._whole_lines(pieces, index, lines)
                index += taken
                pos += size
                piece_at = pos
                misses = 0 if taken else misses + 1
                if misses >= BULK_MISSES:  # message after message the bulk walk takes none
                    count = 0
                if pos + 8 > end:
                    break
            kind, size = unpack(buffer, pos)
            start = pos + 8
            stop = start + size
            if stop > end:
                break
            pos = stop
            if stamped:
                ts, _, text = buffer[start:stop].partition(b" ")
            else:
                ts, text = b"", buffer[start:stop]
            self._add(kind, ts, text, lines)
            if pos - piece_at > BULK_CARRY_MAX:  # a big message: no walking its pieces one by one
                count = 0
            while piece_at < pos and index < count:
                piece_at += len(pieces[index]) + 1
                index += 1
        self._frame_buffer = buffer[pos:]
        return lines

    def _whole_lines(self, pieces: list[bytes], index: int, lines: list[dict]) -> tuple[int, int]:
        """The common case in bulk, from ``pieces[index]`` (the read buffer split at newlines, the
        piece beginning where a message does) while no stream has a piece of a line pending:
        messages that are each one whole line with its newline, none inside, a non-empty stamp when
        stamped, at most MAX_LINE long.

        A piece is such a message exactly when its header's size is the piece's length (a newline
        inside a header, a message holding several lines or a partial one breaks that), so walking
        the pieces parses as the message-by-message loop would. Returns how many pieces were taken
        and their bytes (newlines included).
        """
        unpack = _HEADER.unpack_from
        append = lines.append
        names = _STREAM_NAMES
        stamped = self.stamped
        size_taken = 0
        stamp = ""
        first = index
        for piece in itertools.islice(pieces, index, None):
            length = len(piece)
            if length < 8:
                break
            kind, size = unpack(piece, 0)
            if size != length - 7 or kind > 2:
                break
            if stamped:
                space = piece.find(b" ", 8)
                if space <= 8 or length - space - 1 > MAX_LINE:  # no stamp, an empty one, too long
                    break
                stamp = piece[8:space].decode("ascii", "replace")
                append(
                    {
                        "stream": names[kind],
                        "text": piece[space + 1 :].decode("utf-8", "replace"),
                        "ts": stamp,
                    }
                )
            elif length - 8 > MAX_LINE:
                break
            else:
                append({"stream": names[kind], "text": piece[8:].decode("utf-8", "replace"), "ts": ""})
            size_taken += length + 1
            index += 1
        if stamp:
            self.last_ts = stamp
        return index - first, size_taken

    def _add(self, kind: int, ts: bytes, text: bytes, lines: list[dict]) -> None:
        """One engine message: a whole line, a piece of one (16 KiB partials) or several lines."""
        stream = STREAMS.get(kind, "stdout")
        stamp = ts.decode("ascii", "replace")
        if stamp:
            self.last_ts = stamp
        assembler = self._assemblers.get(kind)
        idle = assembler is None or not assembler.pending
        if idle and text.endswith(b"\n") and len(text) <= MAX_LINE:
            body = text[:-1]
            if b"\n" not in body:  # the common case: one whole line per engine message
                lines.append({"stream": stream, "text": _text(body), "ts": stamp})
                return
        if assembler is None:
            assembler = self._assemblers[kind] = LineAssembler()
        # A line's timestamp is the one of its first piece.
        first_ts = self._pending_ts.pop(kind, stamp) if assembler.pending else stamp
        done = assembler.feed(text)
        for number, (line, total) in enumerate(done):
            lines.append(_line(stream, line, first_ts if number == 0 else stamp, total))
        if assembler.pending:
            self._pending_ts[kind] = stamp if done else first_ts

    def _unstamped(self, raw: str) -> tuple[str, str]:
        """A TTY log line's engine timestamp (``""`` when not asked for) and its text."""
        if not self.stamped:
            return "", raw
        stamp, _, text = raw.partition(" ")
        return stamp, text

    def _tty_lines(self, data: bytes) -> list[dict]:
        assembler = self._assemblers.get(1)
        if assembler is None:
            assembler = self._assemblers[1] = LineAssembler()
        lines = []
        for raw, total in assembler.feed(data):
            stamp, text = self._unstamped(raw)
            if stamp:
                self.last_ts = stamp
            lines.append(_line("stdout", text.rstrip("\r") if not total else text, stamp, total))
        return lines

    def _flush_pending(self) -> list[dict]:
        lines = []
        for kind, assembler in sorted(self._assemblers.items()):
            for raw, total in assembler.flush():
                if self.tty:
                    stamp, text = self._unstamped(raw)
                else:
                    stamp, text = self._pending_ts.get(kind, ""), raw
                lines.append(_line(STREAMS.get(kind, "stdout"), text, stamp, total))
        self._assemblers.clear()
        return lines

    def close(self) -> None:
        """Wake up and end the reading thread (safe from any thread, idempotent)."""
        if self._closed:
            return
        self._closed = True
        _shutdown(self._sock)
        try:
            self._release()
        except Exception:  # noqa: BLE001, S110 - closing a broken response may raise anything
            pass


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _line(stream: str, text: str, ts: str, total: int) -> dict:
    """A line for the websocket frame; a cut line also says its full length (``truncated``)."""
    if total:
        return {"stream": stream, "text": text, "ts": ts, "truncated": total}
    return {"stream": stream, "text": text, "ts": ts}


@engine_call
def open_logs(
    engine: Engine,
    container_id: str,
    *,
    tail: str = "500",
    since: str | None = None,
    until: str | None = None,
    follow: bool = True,
    tty: bool = False,
    timestamps: bool = True,
) -> LogStream:
    """Open the container's log stream (stdout and stderr, with engine timestamps unless
    ``timestamps=False``: the engine then formats none, ~15% of its work on a big log, and each
    line's ``ts`` is ``""``).

    Args:
        container_id: id or name.
        tail: number of last lines, or ``"all"``.
        since: engine ``since`` (unix seconds string, see :func:`parse_since`), or None.
        until: engine ``until``, or None.
        follow: keep the stream open for new lines.
        tty: the container's ``Config.Tty`` (its log is one raw stream, not multiplexed).

    Returns:
        A :class:`LogStream`; the caller must ``close()`` it.

    Raises:
        NotFound: no such container.
        InvalidInput: the engine refused the parameters.
        EngineUnavailable: the engine does not answer.
    """
    return _open_log_stream(
        engine,
        "/containers/{0}/logs",
        container_id,
        tail=tail,
        since=since,
        until=until,
        follow=follow,
        tty=tty,
        timestamps=timestamps,
    )


def _open_log_stream(
    engine: Engine,
    template: str,
    target: str,
    *,
    tail: str,
    since: str | None,
    until: str | None,
    follow: bool,
    tty: bool,
    timestamps: bool = True,
) -> LogStream:
    """GET a container's or a service's ``/logs`` (both answer in the same format) as a LogStream.

    Unix and plain tcp endpoints: an HTTP/1.0 request on a connection of its own (unchunked body,
    see the module docstring); TLS and ssh ones: docker-py's streamed response.
    """
    with engine.translated():
        api = engine.api
        params: dict[str, object] = {
            "stdout": 1,
            "stderr": 1,
            "timestamps": 1 if timestamps else 0,
            "follow": 1 if follow else 0,
            "tail": tail,
        }
        if since:
            params["since"] = since
        if until:
            params["until"] = until
        url = api._url(template, target)
        address = _plain_address(api)
        if address is not None:
            sock, body, chunked = _raw_get(api, address, url, params)
            read = _Dechunker(body.read1).read if chunked else body.read1
            return LogStream(read, sock=sock, release=sock.close, tty=tty, url=engine.url, stamped=timestamps)
        response = api._get(url, params=params, stream=True)
        api._raise_for_status(response)
    sock = _raw_socket(response)
    if sock is not None:
        sock.settimeout(None)  # a quiet stream is not an error; close() wakes the reader
    return LogStream(
        body_reader(response, READ_SIZE),
        sock=sock,
        release=response.close,
        tty=tty,
        url=engine.url,
        stamped=timestamps,
    )


# --------------------------------------------------------------------------- raw HTTP/1.0 GET

MAX_HEAD = 64 * 1024  # an answer's status line and headers
MAX_ERROR_BODY = 1024 * 1024  # the body of a refusal (a JSON message)


def _plain_address(api) -> tuple[str, Any, str] | None:
    """``(kind, address, Host header)`` to reach ``api``'s engine with a plain socket: ``("unix",
    path, "localhost")`` or ``("tcp", (host, port), "host:port")``; None for TLS, ssh and named
    pipes (only docker-py speaks those)."""
    adapter = getattr(api, "_custom_adapter", None)
    if isinstance(adapter, UnixHTTPAdapter) and api.base_url == "http+docker://localhost":
        return "unix", adapter.socket_path, "localhost"
    if api.base_url.startswith("http://"):
        parts = urlsplit(api.base_url)
        if parts.hostname and parts.port:
            return "tcp", (parts.hostname, parts.port), parts.netloc
    return None


def _raw_get(
    api, address: tuple[str, Any, str], url: str, params: dict[str, object]
) -> tuple[socket.socket, _SocketBody, bool]:
    """GET ``url`` (docker-py's ``api._url``) with ``params`` as HTTP/1.0 on a new connection.

    The connection and the answer's head are bounded by ``api.timeout``, as docker-py's are; the
    body is then read without a timeout (``close()`` wakes the reader). The engine answers an
    HTTP/1.0 request without chunking and closes the connection at the end of the body, so the end
    of the stream is the end of the log. An error status raises what docker-py raises for it
    (``api._raise_for_status`` on the same answer), so the translation is the same.

    Returns:
        The socket, its body reader and whether the body is chunked after all.

    Raises:
        OSError: no connection, or the engine did not answer (EngineUnavailable once translated).
        docker.errors.APIError: the engine refused (NotFound, InvalidInput... once translated).
    """
    kind, where, _ = address
    sock = _connect(kind, where, api.timeout)
    try:
        body, chunked = _raw_request(sock, api, address, url, params)
    except BaseException:
        sock.close()
        raise
    return sock, body, chunked


def _raw_request(
    sock: socket.socket,
    api,
    address: tuple[str, Any, str],
    url: str,
    params: dict[str, object],
    *,
    deadline: float | None = None,
) -> tuple[_SocketBody, bool]:
    """Send the HTTP/1.0 GET of :func:`_raw_get` on the connected ``sock`` and read the answer's head
    (each read bounded by the socket's timeout, the whole head by ``deadline``, a monotonic time);
    leaves the socket without a timeout. The caller owns and closes the socket."""
    host = address[2]
    query = urlencode(params, doseq=True)
    headers = {"User-Agent": api.headers.get("User-Agent", "docker-sdk-python")}
    headers.update(api._general_configs.get("HttpHeaders") or {})  # docker-py's update_headers
    head = f"GET {urlsplit(url).path}?{query} HTTP/1.0\r\nHost: {host}\r\n"
    for name, value in headers.items():
        if any(char in f"{name}{value}" for char in "\r\n\0"):  # as requests refuses them
            raise requests.exceptions.InvalidHeader(f"Invalid header {name!r} in the docker config")
        head += f"{name}: {value}\r\n"
    sock.sendall(head.encode("latin-1") + b"\r\n")
    status, reason, fields, rest = _read_head(sock, deadline=deadline)
    if status != 200:
        body = rest + _read_rest(sock, fields, rest, deadline=deadline)
        _refuse(api, f"{url}?{query}", status, reason, fields, body)
    sock.settimeout(None)  # a quiet stream is not an error; close() wakes the reader
    chunked = "chunked" in fields.get("transfer-encoding", "").lower()
    return _SocketBody(sock, rest), chunked


def _connect(kind: str, where: Any, timeout: float) -> socket.socket:
    if kind == "tcp":
        return socket.create_connection(where, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(where)
    except BaseException:
        sock.close()
        raise
    return sock


def _read_head(
    sock: socket.socket, *, deadline: float | None = None
) -> tuple[int, str, dict[str, str], bytes]:
    """Read an HTTP answer's head: ``(status, reason, lower-cased headers, body bytes read along)``.

    Raises:
        ConnectionError: the connection ended first, the head did not end by ``deadline`` (a
            monotonic time), or this is not an HTTP answer.
    """
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_HEAD:
            raise ConnectionError("the engine's answer has no end of headers")
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectionError("the engine's answer did not come in time")
            sock.settimeout(min(left, sock.gettimeout() or left))
        try:
            more = sock.recv(READ_SIZE)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise ConnectionError("the engine's answer did not come in time") from None
            raise
        if not more:
            raise ConnectionError("the engine closed the connection without answering")
        data += more
    status_line, *lines = data[:end].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ConnectionError(f"not an HTTP answer: {status_line[:100]!r}")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(code), reason, fields, data[end + 4 :]


def _read_rest(
    sock: socket.socket, fields: dict[str, str], rest: bytes, *, deadline: float | None = None
) -> bytes:
    """The rest of a refusal's body (its length, or up to the end of the connection; bounded in
    size, and in time by ``deadline``: what came by then is the body)."""
    length = fields.get("content-length", "")
    wanted = min(int(length), MAX_ERROR_BODY) if length.isdigit() else MAX_ERROR_BODY
    out = b""
    while len(rest) + len(out) < wanted:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(min(left, sock.gettimeout() or left))
        try:
            more = sock.recv(READ_SIZE)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                break
            raise
        if not more:
            break
        out += more
    return out[: max(0, wanted - len(rest))]


def _refuse(api, url: str, status: int, reason: str, fields: dict[str, str], body: bytes) -> None:
    """Raise what docker-py raises for this answer (``APIClient._raise_for_status``)."""
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response.url = url
    response.headers.update(fields)
    response._content = body
    api._raise_for_status(response)
    raise ConnectionError(f"the engine answered HTTP {status} {reason}")  # not an error status


class _SocketBody:
    """A raw answer's body: the bytes read along with the head first, then the socket's."""

    def __init__(self, sock: socket.socket, early: bytes):
        self._early = early
        self._recv = sock.recv

    def read1(self, size: int = READ_SIZE) -> bytes:
        if self._early:
            data, self._early = self._early, b""
            return data
        return self._recv(size)

    def read_full(self, size: int) -> bytes:
        """``size`` bytes in one allocation (fewer only at the end of the body or after a
        shutdown): the kernel fills the buffer (MSG_WAITALL) instead of Python joining reads."""
        if self._early:
            data, self._early = self._early, b""
            return data
        return self._recv(size, socket.MSG_WAITALL)


@engine_call
def open_service_logs(
    engine: Engine,
    service_id: str,
    *,
    tail: str = "500",
    since: str | None = None,
    follow: bool = True,
) -> LogStream:
    """Open a Swarm service's log stream (every task; stdout and stderr, with timestamps).

    Args:
        service_id: the service's id or name.
        tail: number of last lines per task, or ``"all"``.
        since: engine ``since`` (see :func:`parse_since`), or None.
        follow: keep the stream open for new lines.

    Returns:
        A :class:`LogStream` (services log in the multiplexed format); the caller must ``close()`` it.

    Raises:
        NotFound: no such service.
        EngineRefused: the engine is not a Swarm manager, or refused the parameters.
        EngineUnavailable: the engine does not answer.
    """
    return _open_log_stream(
        engine,
        "/services/{0}/logs",
        service_id,
        tail=tail,
        since=since,
        until=None,
        follow=follow,
        tty=False,
    )


# --------------------------------------------------------------------------- exec and attach


@dataclass(frozen=True)
class ExecStatus:
    running: bool
    exit_code: int | None


class TerminalSocket:
    """A hijacked exec/attach connection: raw terminal bytes both ways (TTY) or multiplexed."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        exec_id: str | None,
        container_id: str,
        token: str,
        url: str,
        multiplexed: bool = False,
        local: bool | None = None,
        pending: bytes = b"",
        hijack: Any = None,
    ):
        self.sock = sock
        self._hijack = hijack  # what the SDK handed back (owns the socket's reader, see _release)
        self.multiplexed = multiplexed
        self.local = local  # the exec's processes are visible in this host's /proc (None: unknown)
        self._pending = pending  # output read while checking that the exec started
        self._frames = b""
        self.exec_id = exec_id
        self.container_id = container_id
        self.token = token
        self.url = url
        self._closed = False

    def recv(self) -> bytes:
        """Block for output; b"" when the process ended or the socket was closed."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        while True:
            try:
                data = self.sock.recv(READ_SIZE)
            except OSError:
                return b""
            if not self.multiplexed or not data:
                return data
            payload = self._demux(data)
            if payload:
                return payload

    def _demux(self, data: bytes) -> bytes:
        """Non-TTY attach: drop docker's 8-byte stream headers, keep the payloads in order."""
        buffer = self._frames + data
        pos, out = 0, []
        while pos + 8 <= len(buffer):
            _, size = _HEADER.unpack_from(buffer, pos)
            if pos + 8 + size > len(buffer):
                break
            out.append(buffer[pos + 8 : pos + 8 + size])
            pos += 8 + size
        self._frames = buffer[pos:]
        return b"".join(out)

    def send(self, data: bytes) -> None:
        """Write input bytes (blocks only if the process does not read its input)."""
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def send_now(self, data: bytes) -> int:
        """Write what the socket takes at once, never waiting (safe on the event loop): the bytes
        handled, 0 when it would wait or the socket is not a plain one (TLS, ssh). A broken
        connection counts as handled, as in :meth:`send` (the reader sees the end)."""
        if type(self.sock) is not socket.socket or self._closed:
            return 0
        try:
            return self.sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return len(data)

    def close(self) -> None:
        """Shut the socket down (wakes a blocked ``recv``); idempotent."""
        if self._closed:
            return
        self._closed = True
        _shutdown(self.sock)
        _release(self.sock, self._hijack)


def _hijacked(result) -> socket.socket:
    sock = getattr(result, "_sock", result)
    sock.settimeout(None)
    return sock


def _release(sock: socket.socket, hijack: Any) -> None:
    """Close a hijacked socket for real, now.

    ``sock.close()`` alone does not free the descriptor: the SDK's HTTP response reads through
    ``sock.makefile()``, and a socket with a live makefile reader stays open until that reader is
    closed. docker-py keeps the response alive on purpose (``hijack._response = response``), which
    makes a reference cycle (reader -> response -> reader), so the descriptor would wait for the
    cyclic garbage collector: measured, 10 closed exec sessions kept 10 descriptors until
    ``gc.collect()``. Closing the response and the reader drops the last reference at once.
    """
    for closable in (sock, getattr(hijack, "_response", None), hijack):
        if closable is None:
            continue
        try:
            closable.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken HTTP response may raise anything
            pass


DEFAULT_SHELL = ["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"]


@engine_call
def start_exec(
    engine: Engine,
    container_id: str,
    *,
    cmd: list[str] | None = None,
    user: str = "",
    workdir: str = "",
    cols: int = 80,
    rows: int = 24,
) -> TerminalSocket:
    """Start an interactive TTY exec and hand back its socket.

    Args:
        container_id: id or name (must be running).
        cmd: argv; None for the default shell (bash when the image has it, else sh).
        user: ``user[:group]`` or empty for the image's user.
        workdir: working directory or empty.
        cols: initial terminal width.
        rows: initial terminal height.

    Returns:
        A :class:`TerminalSocket` (call :func:`end_exec` after closing it, so nothing is left running).

    Raises:
        NotFound: no such container.
        Conflict: the container is not running.
        EngineRefused: the engine refused (unknown user, bad workdir...).
    """
    api = engine.api
    token = secrets.token_hex(12)
    created = api.exec_create(
        container_id,
        cmd or DEFAULT_SHELL,
        stdin=True,
        tty=True,
        user=user or "",
        workdir=workdir or None,
        environment={"TERM": "xterm-256color", EXEC_TOKEN_VAR: token},
    )
    exec_id = created["Id"]
    result = api.exec_start(exec_id, tty=True, socket=True)
    sock = _hijacked(result)
    try:
        local, pending = _started(api, exec_id, sock, token, result)
    except BaseException:
        _shutdown(sock)
        _release(sock, result)
        raise
    try:
        api.exec_resize(exec_id, height=rows, width=cols)
    except Exception:  # noqa: BLE001, S110 - the process may already have ended; the stream says so
        pass
    return TerminalSocket(
        sock,
        exec_id=exec_id,
        container_id=container_id,
        token=token,
        url=engine.url,
        local=local,
        pending=pending,
        hijack=result,
    )


START_WAIT = 3.0


def _started(api, exec_id: str, sock: socket.socket, token: str, result=None) -> tuple[bool | None, bytes]:
    """Wait until the exec runs (or ended); raise the engine's message if it never started.

    An unknown user, workdir or command is not an API error: the engine writes its message to the
    exec's stream and ends it with no process (Pid 0, exit code 126/127). Returns whether the
    process tree is visible in this host's /proc, and any output already read.
    """
    deadline = time.monotonic() + START_WAIT
    while True:
        data = api.exec_inspect(exec_id)
        pid = int(data.get("Pid") or 0)
        if data.get("Running") and pid:
            return _has_token(pid, token), b""
        if data.get("ExitCode") is not None or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    if pid:  # it ran and already ended (e.g. `echo hi`): the stream holds its output
        return None, b""
    pending = _buffered(result, sock) + _drain(sock, timeout=1.0)
    text = _text(pending).strip()
    code = data.get("ExitCode")
    raise InvalidInput(text[:500] or f"The command did not start (exit code {code}).")


def _buffered(result, sock: socket.socket) -> bytes:
    """Bytes the HTTP response's buffered reader took along with the upgrade headers (the engine
    writes a refusal right after them, often in the same segment)."""
    fp = getattr(getattr(getattr(getattr(result, "_response", None), "raw", None), "_fp", None), "fp", None)
    if fp is None or not hasattr(fp, "peek"):
        return b""
    sock.settimeout(1.0)
    try:
        return fp.peek()
    except (OSError, ValueError):
        return b""
    finally:
        sock.settimeout(None)


def _drain(sock: socket.socket, *, timeout: float, limit: int = 64 * 1024) -> bytes:
    """Read what is there until EOF, ``limit`` bytes or ``timeout`` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < limit:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        try:
            data = sock.recv(READ_SIZE)
        except OSError:
            break
        if not data:
            break
        out += data
    return out


@engine_call
def resize_terminal(engine: Engine, terminal: TerminalSocket, *, cols: int, rows: int) -> None:
    """Resize the exec's (or the attached container's) TTY.

    Args:
        terminal: the open session.
        cols: width in columns.
        rows: height in rows.

    Raises:
        EngineRefused: the engine refused (process gone).
    """
    api = engine.api
    if terminal.exec_id:
        api.exec_resize(terminal.exec_id, height=rows, width=cols)
    else:
        api.resize(terminal.container_id, height=rows, width=cols)


@engine_call
def exec_status(engine: Engine, exec_id: str) -> ExecStatus:
    """Whether an exec still runs, and its exit code.

    Args:
        exec_id: the exec instance.

    Returns:
        An :class:`ExecStatus`.

    Raises:
        NotFound: the exec (or its container) is gone.
    """
    data = engine.api.exec_inspect(exec_id)
    code = data.get("ExitCode")
    return ExecStatus(running=bool(data.get("Running")), exit_code=code if isinstance(code, int) else None)


_KILL_SCRIPT = (
    'for p in /proc/[0-9]*; do if tr "\\000" "\\n" < "$p/environ" 2>/dev/null | grep -qx "$1"; '
    'then echo "${p#/proc/}"; fi; done > /tmp/.dashboard-kill-$$; '
    "kill -HUP $(cat /tmp/.dashboard-kill-$$) 2>/dev/null; sleep 0.2; "
    "kill -KILL $(cat /tmp/.dashboard-kill-$$) 2>/dev/null; rm -f /tmp/.dashboard-kill-$$"
)


def _has_token(pid: int, token: str) -> bool:
    """Whether process ``pid`` (as this host sees it) carries the session token."""
    needle = f"{EXEC_TOKEN_VAR}={token}".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return pid > 0 and needle in environ.read().split(b"\0")
    except OSError:
        return False


def token_pids(token: str) -> list[int]:
    """Every process in this host's /proc whose environment carries the session token."""
    needle = f"{EXEC_TOKEN_VAR}={token}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _kill_local(token: str) -> bool:
    """End every local process carrying the token (SIGHUP, then SIGKILL; twice, for forks in
    between). Returns whether any was found."""
    found = False
    for _ in range(2):
        pids = token_pids(token)
        if not pids:
            break
        found = True
        for number in pids:
            try:
                os.kill(number, signal.SIGHUP)
            except OSError:
                pass
        time.sleep(0.05)
        for number in pids:
            try:
                os.kill(number, signal.SIGKILL)
            except OSError:
                pass
    return found


@engine_call
def end_exec(engine: Engine, terminal: TerminalSocket, *, local_kill: bool = True) -> ExecStatus:
    """Make sure the exec's process tree is gone (docker leaves TTY execs running on disconnect).

    See :func:`sweep_exec`; this is the same for an open session's socket.
    """
    local = terminal.local if local_kill else False
    return sweep_exec(engine, terminal.container_id, terminal.exec_id or "", terminal.token, local=local)


@engine_call
def sweep_exec(
    engine: Engine, container_id: str, exec_id: str, token: str, *, local: bool | None = None
) -> ExecStatus:
    """End every process the session started, whatever state its main process is in.

    The exec was started with a unique token in its environment; children inherit it, so a
    background ``sleep`` outlives the main process but not this sweep. When the engine runs on this
    host (``local``: we saw the exec's process in /proc at start) the tree is found in /proc and
    ended here; otherwise (or when unknown and nothing was found locally) one short helper exec
    (needs ``sh``) finds it under the container's /proc. Either way: SIGHUP, then SIGKILL.

    Args:
        container_id: the container the exec runs in.
        exec_id: the exec instance ("" when unknown).
        token: the session's DASHBOARD_EXEC_TOKEN value.
        local: True/False when known whether this host sees the exec's processes, None if not.

    Returns:
        The exec's final :class:`ExecStatus`.

    Raises:
        EngineUnavailable: the engine does not answer (nothing could be swept remotely).
    """
    api = engine.api
    found = local is not False and _kill_local(token)
    if not found and local is not True:
        try:
            killer = api.exec_create(
                container_id, ["sh", "-c", _KILL_SCRIPT, "sh", f"{EXEC_TOKEN_VAR}={token}"]
            )
            api.exec_start(killer["Id"])
        except Exception as exc:
            if getattr(exc, "status_code", None) is None and not hasattr(exc, "explanation"):
                raise
    if not exec_id:
        return ExecStatus(running=False, exit_code=None)
    status = ExecStatus(running=True, exit_code=None)
    for _ in range(20):
        try:
            status = exec_status(engine, exec_id)
        except NotFound:
            return ExecStatus(running=False, exit_code=None)
        if not status.running:
            break
        time.sleep(0.05)
    return status


@engine_call
def start_attach(engine: Engine, container_id: str, *, tty: bool = True) -> TerminalSocket:
    """Attach to the container's main process (stdin, stdout, stderr; no old output).

    Closing the socket detaches: the container keeps running.

    Args:
        container_id: id or name (must be running).
        tty: the container's ``Config.Tty`` (otherwise its output is multiplexed).

    Returns:
        A :class:`TerminalSocket` without an exec id.

    Raises:
        NotFound: no such container.
        Conflict: the container is not running.
    """
    api = engine.api
    sock = api.attach_socket(
        container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
    )
    return TerminalSocket(
        _hijacked(sock),
        exec_id=None,
        container_id=container_id,
        token="",
        url=engine.url,
        multiplexed=not tty,
        hijack=sock,
    )


@engine_call
def container_exit_code(engine: Engine, container_id: str) -> int | None:
    """The container's exit code when it has stopped, else None.

    Args:
        container_id: id or name.

    Returns:
        The exit code, or None while it runs.

    Raises:
        NotFound: no such container.
    """
    state = engine.api.inspect_container(container_id).get("State") or {}
    return None if state.get("Running") else int(state.get("ExitCode") or 0)
