"""Log lines that cannot be forged: control characters escaped, credentials kept out of access logs.

Everything the app logs may carry text from outside (a login username, a ref, an engine message). A
newline in it could start a fake line; an ESC could rewrite a terminal showing the log. The
``SafeFormatter`` (settings.LOGGING, every handler) escapes C0/C1 controls in the message and its
arguments; daphne's access log (which writes to a stream, not through logging) is patched once, in
``dashboard/asgi.py``, to escape the same and to redact credentials-looking query parameters.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import parse_qsl, urlencode

# C0 controls (tab included), DEL and C1 controls; Unicode line/paragraph separators too.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}
# Query parameter names whose values must never reach a log.
_CREDENTIAL_NAME = re.compile(r"token|pass|secret|key|auth|session|credential|signature|sig$", re.IGNORECASE)
REDACTED = "REDACTED"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\n``, ``\\x1b``, ``\\x85``)."""

    def one(match: re.Match) -> str:
        ch = match.group()
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _CONTROLS.sub(one, text)


def redact_query(path: str) -> str:
    """A request path whose credentials-looking query values are replaced by ``REDACTED``."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_CREDENTIAL_NAME.search(name) for name, _ in pairs):
        return path
    cleaned = [(name, REDACTED if _CREDENTIAL_NAME.search(name) else value) for name, value in pairs]
    return f"{base}?{urlencode(cleaned, safe='/:,')}"


class SafeFormatter(logging.Formatter):
    """A Formatter whose message (after the %-args are merged in) has its control characters escaped.

    Tracebacks keep their own line breaks (they come from our code), but the exception's message is
    escaped like any other text.
    """

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg = escape_controls(record.getMessage())
        safe.args = None
        if record.exc_info:
            safe.exc_text = self._safe_traceback(record.exc_info)
            safe.exc_info = None
        return super().format(safe)

    def _safe_traceback(self, exc_info) -> str:
        """The traceback with each exception's message (in the chain too) escaped; frames kept."""
        trace = traceback.TracebackException(*exc_info)
        seen, pending = set(), [trace]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            current._str = escape_controls(str(getattr(current, "_str", "")))  # the message as text
            pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        return "".join(trace.format()).rstrip("\n")


def install_access_log_redaction() -> None:
    """Make daphne's access log escape control characters and redact credentials in query strings."""
    from daphne.access import AccessLogGenerator

    if getattr(AccessLogGenerator.write_entry, "dashboard_safe", False):
        return
    original = AccessLogGenerator.write_entry

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        method, sep, path = str(request).partition(" ")
        safe = f"{method}{sep}{redact_query(path)}" if sep else redact_query(method)
        return original(self, host, date, escape_controls(safe), status, length, ident, user)

    write_entry.dashboard_safe = True
    AccessLogGenerator.write_entry = write_entry
