"""Job progress frames (pure folding; the database row is real, the channel layer is captured)."""

import pytest

from core.engine import jobs
from core.models import Job as JobRow


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(jobs, "publish", lambda job_id, frame: sent.append(frame))
    return sent


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: now[0])
    return now


@pytest.mark.django_db
def test_a_layer_that_changes_between_two_saves_without_a_frame_is_still_sent(frames, clock):
    row = JobRow.objects.create(id="j" * 32, kind="pull", target="repo:tag", required_role="operator")
    job = jobs.Job(row)
    clock[0] += 0.95
    job.feed({"id": "layer1", "status": "Downloading", "progressDetail": {"current": 1, "total": 9}})
    clock[0] += 0.1  # a save is due (>= 1 s), a frame is not (the last was 0.1 s ago)
    job.feed({"id": "layer1", "status": "Pull complete"})
    clock[0] += 1.1  # a slow machine: the next message comes after another save interval
    job.feed({"status": "Digest: sha256:abc"})
    job.finish("success", "pull of repo:tag finished.")
    layers = [layer for f in frames if f["type"] == "progress" for layer in f["layers"]]
    assert any(layer["status"] == "Pull complete" for layer in layers)
    lines = [line for f in frames if f["type"] == "progress" for line in f["lines"]]
    assert "Digest: sha256:abc" in lines
    assert frames[-1]["type"] == "done"


@pytest.mark.django_db
def test_frames_do_not_repeat_what_was_sent_before_the_last_two_saves(frames, clock):
    row = JobRow.objects.create(id="k" * 32, kind="pull", target="repo:tag", required_role="operator")
    job = jobs.Job(row)
    for n in range(6):
        clock[0] += 1.1
        job.feed({"status": f"line {n}"})
    last = [f for f in frames if f["type"] == "progress"][-1]
    assert last["lines"][-1] == "line 5" and "line 0" not in last["lines"]
