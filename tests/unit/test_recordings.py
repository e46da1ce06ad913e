"""The asciicast v2 writer: a header line, then one JSON event per line; closed files stay closed."""

from __future__ import annotations

import json

import pytest

from core.models import AuditEvent
from core.recordings import SessionRecorder


@pytest.fixture
def recorder(db, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    event = AuditEvent.objects.create(action="container.exec", target="web", username="amy", outcome="ok")
    recorder = SessionRecorder.open(audit_event=event, width=100, height=30, command="sh -l")
    yield recorder
    recorder.close()


def _lines(recorder) -> list:
    recorder.close()  # events go through the writer thread; closing waits for them to be written
    with open(recorder.recording.path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_the_header_is_asciicast_v2(recorder):
    header = _lines(recorder)[0]
    assert (header["version"], header["width"], header["height"]) == (2, 100, 30)


def test_the_header_names_the_session(recorder):
    assert _lines(recorder)[0]["title"] == "container.exec web by amy"


def test_the_file_is_inside_the_recordings_dir(recorder, settings):
    assert recorder.recording.path.startswith(str(settings.RECORDINGS_DIR))


def test_output_input_and_resize_are_events_in_order(recorder):
    recorder.output(b"$ ")
    recorder.input(b"ls\r")
    recorder.resize(120, 40)
    assert [event[1:] for event in _lines(recorder)[1:]] == [["o", "$ "], ["i", "ls\r"], ["r", "120x40"]]


def test_event_times_do_not_go_backwards(recorder):
    for n in range(5):
        recorder.output(str(n).encode())
    times = [event[0] for event in _lines(recorder)[1:]]
    assert times == sorted(times)


def test_invalid_utf8_is_replaced_not_fatal(recorder):
    recorder.output(b"\xff\xfeok")
    assert _lines(recorder)[1][2] == "\ufffd\ufffdok"


def test_escape_sequences_are_kept_as_data(recorder):
    recorder.output(b"\x1b[31mred\x1b[0m\n")
    assert _lines(recorder)[1][2] == "\x1b[31mred\x1b[0m\n"


def test_close_stamps_the_size_and_end(recorder):
    recorder.output(b"bye")
    recorder.close()
    recorder.recording.refresh_from_db()
    assert recorder.recording.size > 0


def test_close_stamps_the_end_time(recorder):
    recorder.close()
    recorder.recording.refresh_from_db()
    assert recorder.recording.ended_at is not None


def test_events_after_close_are_dropped(recorder):
    recorder.output(b"before")
    recorder.close()
    recorder.output(b"after")
    with open(recorder.recording.path, encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) == 2


def test_close_twice_is_harmless(recorder):
    recorder.close()
    recorder.close()
    assert recorder._closed is True
