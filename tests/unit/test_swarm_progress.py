"""Rolling-update progress read from a service's inspect data (pure; no engine)."""

from core.engine.swarm import _progress


def _service(*, image: str, previous: str | None, status: dict | None = None) -> dict:
    raw = {
        "ID": "svc1",
        "Spec": {
            "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": image}},
        },
    }
    if previous is not None:
        raw["PreviousSpec"] = {"TaskTemplate": {"ContainerSpec": {"Image": previous}}}
    if status is not None:
        raw["UpdateStatus"] = status
    return raw


def test_never_updated_service_has_no_state():
    progress = _progress(_service(image="app:1", previous=None), [])
    assert progress.state == "" and not progress.in_progress


def test_an_accepted_update_the_manager_has_not_started_is_pending_not_never_updated():
    progress = _progress(_service(image="app:2", previous="app:1"), [])
    assert progress.state == "updating" and progress.in_progress
    assert "waiting for the manager" in progress.message
    assert (progress.updated, progress.desired, progress.target_image) == (0, 2, "app:2")


def test_the_managers_status_wins_when_present():
    status = {"State": "completed", "Message": "update completed", "StartedAt": "2026-12-03T07:00:00Z"}
    progress = _progress(_service(image="app:2", previous="app:1", status=status), [])
    assert progress.state == "completed" and progress.message == "update completed"
    assert not progress.in_progress


def test_a_spec_change_that_leaves_the_tasks_alone_is_not_an_update_in_progress():
    progress = _progress(_service(image="app:1", previous="app:1"), [])
    assert progress.state == ""
