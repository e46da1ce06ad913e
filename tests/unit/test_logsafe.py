"""Log lines cannot be forged: control characters escaped; credentials out of daphne's access log."""

from __future__ import annotations

import io
import logging
from datetime import datetime

import pytest

from core.logsafe import SafeFormatter, escape_controls, install_access_log_redaction, redact_query


def test_newline_and_carriage_return_are_escaped():
    assert escape_controls("amy\r\nINFO audit admin") == "amy\\r\\nINFO audit admin"


def test_escape_and_other_c0_controls_are_escaped():
    assert escape_controls("\x1b[2J\x00\x07") == "\\x1b[2J\\x00\\x07"


def test_c1_controls_and_unicode_line_separators_are_escaped():
    assert escape_controls("a\x85b\x9bc\u2028d") == "a\\x85b\\x9bc\\u2028d"


def test_printable_text_is_untouched():
    assert escape_controls("zoë ünïcode 😀 tab-less") == "zoë ünïcode 😀 tab-less"


def _format(msg: str, *args, exc_info=None) -> str:
    record = logging.LogRecord("core.audit", logging.INFO, __file__, 1, msg, args, exc_info)
    return SafeFormatter("%(levelname)s %(message)s").format(record)


def test_the_formatter_escapes_the_arguments():
    assert _format("audit %s auth.login", "eve\nINFO audit admin user.create") == (
        "INFO audit eve\\nINFO audit admin user.create auth.login"
    )


def test_the_formatter_escapes_the_message_itself():
    assert _format("bad\rline") == "INFO bad\\rline"


def test_a_formatted_line_is_one_line():
    assert "\n" not in _format("%s %r", "a\nb", "c\nd")


def test_the_exception_message_in_a_traceback_is_escaped():
    try:
        raise ValueError("x\nINFO forged")
    except ValueError:
        import sys

        text = _format("failed", exc_info=sys.exc_info())
    assert text.splitlines()[-1] == "ValueError: x\\nINFO forged"


def test_the_settings_use_the_safe_formatter():
    from django.conf import settings

    assert settings.LOGGING["formatters"]["plain"]["()"] == "core.logsafe.SafeFormatter"


@pytest.mark.parametrize(
    "name", ["token", "access_token", "password", "secret", "api_key", "key", "auth", "sessionid"]
)
def test_credentials_looking_parameters_are_redacted(name):
    assert redact_query(f"/ws/x/?{name}=hunter2&tail=100") == f"/ws/x/?{name}=REDACTED&tail=100"


def test_a_query_without_credentials_is_unchanged():
    assert redact_query("/containers/?q=web&sort=name") == "/containers/?q=web&sort=name"


def test_a_path_without_a_query_is_unchanged():
    assert redact_query("/images/") == "/images/"


def _access_line(request: str) -> str:
    from daphne.access import AccessLogGenerator

    install_access_log_redaction()
    stream = io.StringIO()
    AccessLogGenerator(stream).write_entry("127.0.0.1:5000", datetime(2026, 1, 1), request, 200, 10)
    return stream.getvalue()


def test_daphne_access_log_redacts_query_credentials():
    line = _access_line("GET /audit/?token=abc123&user=amy")
    assert "abc123" not in line


def test_daphne_access_log_keeps_the_rest_of_the_line():
    assert '"GET /audit/?token=REDACTED&user=amy" 200 10' in _access_line("GET /audit/?token=abc123&user=amy")


def test_daphne_access_log_escapes_control_characters():
    assert _access_line("GET /x\n127.0.0.1 - admin").count("\n") == 1


def test_installing_twice_wraps_once():
    from daphne.access import AccessLogGenerator

    install_access_log_redaction()
    first = AccessLogGenerator.write_entry
    install_access_log_redaction()
    assert AccessLogGenerator.write_entry is first
