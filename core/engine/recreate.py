"""Recreate a container with a new spec (edit, update = recreate after a pull), with rollback.

The steps, each reported as a progress line of the job that runs them::

    pull (optional) -> create the new container under a temporary name -> stop the old one
    -> start the new one -> wait until it runs (and is healthy, when it has a healthcheck)
    -> remove the old one -> give the new one the old name

On any failure after the new container exists: the new one is removed (``-v`` removes only the
volumes the engine made for it, never the named and carried-over ones) and the old one is started
again under its name if it was running. A failure says which step failed, and the rollback's outcome.
The old container keeps its name until it is removed, so a rollback never has to rename it back.

The spec carries the old container's volumes by name, its anonymous ones too (their 64-hex names),
so the data is the same volume, not a copy; networks with aliases and published ports are in the spec.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from core.engine import containers as containers_module
from core.engine import images as images_module
from core.engine._client import Engine, engine_call
from core.engine.containers import CreateSpec, CurrentSpec
from core.errors import DashboardError, EngineRefused, EngineUnavailable, NotFound

RUNNING_GRACE = 0.5  # seconds the new container must stay up after it first shows as running
START_TIMEOUT = 30.0  # seconds to wait for "running"
STOP_TIMEOUT = 10  # the grace period of ``docker stop``
POLL = 0.05


@dataclass
class Report:
    """What a recreate did, filled in as it goes (for the audit trail and the bulk outcome)."""

    name: str
    old_id: str = ""
    new_id: str = ""
    old_image_id: str = ""
    new_image_id: str = ""
    old_digests: tuple[str, ...] = ()
    new_digests: tuple[str, ...] = ()
    step: str = ""  # the step running (or that failed)
    rolled_back: bool = False
    downtime: float | None = None  # seconds from "old stopped" to "new running"
    lines: list[str] = field(default_factory=list)

    def audit(self) -> dict:
        return {
            "old_id": self.old_id[:12],
            "new_id": self.new_id[:12],
            "old_image": self.old_image_id,
            "new_image": self.new_image_id,
            "old_digests": list(self.old_digests),
            "new_digests": list(self.new_digests),
            "rolled_back": self.rolled_back,
        }


class RecreateFailed(EngineRefused):
    """A step failed; ``message`` says which, and what the rollback did."""


def _say(report: Report, text: str) -> dict:
    report.lines.append(text)
    return {"status": text}


def _digests(engine: Engine, image_id: str) -> tuple[str, ...]:
    try:
        return tuple(engine.api.inspect_image(image_id).get("RepoDigests") or ())
    except Exception:  # noqa: BLE001 - only for the audit trail; a gone image has no digests
        return ()


def _wait_running(engine: Engine, container_id: str) -> None:
    """Until the container runs (and stays up RUNNING_GRACE), and is healthy if it has a healthcheck."""
    api = engine.api
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        state = api.inspect_container(container_id).get("State") or {}
        if state.get("Running") and not state.get("Restarting"):
            break
        if state.get("Status") in ("exited", "dead"):
            raise EngineRefused(f"the new container exited at once with code {state.get('ExitCode')}")
        if time.monotonic() > deadline:
            raise EngineRefused(f"the new container was not running after {START_TIMEOUT:.0f} s")
        time.sleep(POLL)


def _wait_stable_and_healthy(engine: Engine, container_id: str, *, health_wait: float) -> Iterator[str]:
    api = engine.api
    time.sleep(RUNNING_GRACE)
    state = api.inspect_container(container_id).get("State") or {}
    if not state.get("Running") or state.get("Restarting") or state.get("RestartCount"):
        raise EngineRefused(
            f"the new container stopped right after starting (exit code {state.get('ExitCode')})"
        )
    if not state.get("Health"):
        return
    yield f"waiting up to {health_wait:.0f} s for the healthcheck to pass"
    deadline = time.monotonic() + health_wait
    while True:
        state = api.inspect_container(container_id).get("State") or {}
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy":
            return
        if health == "unhealthy":
            raise EngineRefused("the new container's healthcheck failed (unhealthy)")
        if not state.get("Running"):
            raise EngineRefused(
                f"the new container stopped while its healthcheck ran (code {state.get('ExitCode')})"
            )
        if time.monotonic() > deadline:
            raise EngineRefused(f"the new container was not healthy after {health_wait:.0f} s")
        time.sleep(0.2)


def _rollback(engine: Engine, report: Report, *, was_running: bool) -> str:
    """Remove the new container, start the old one again; the sentence saying what happened."""
    api = engine.api
    notes = []
    if report.new_id:
        try:
            with engine.translated():
                api.remove_container(report.new_id, force=True, v=True)
            notes.append("the new container was removed")
        except NotFound:
            notes.append("the new container was already gone")
        except DashboardError as error:
            notes.append(f"the new container could not be removed ({error.message}); remove it by hand")
    try:
        with engine.translated():
            state = api.inspect_container(report.old_id).get("State") or {}
            if was_running and not state.get("Running"):
                api.start(report.old_id)
                notes.append(f"{report.name} was started again")
            else:
                notes.append(f"{report.name} is {'running' if state.get('Running') else 'stopped'} as before")
    except NotFound:
        notes.append(f"{report.name} is gone (removed meanwhile): nothing to start again")
    except DashboardError as error:
        notes.append(f"{report.name} could not be started again: {error.message}")
    report.rolled_back = True
    return "; ".join(notes)


@engine_call
def run(
    engine: Engine,
    *,
    current: CurrentSpec,
    spec: CreateSpec,
    report: Report,
    pull: bool = False,
    auth_config: dict | None = None,
    health_wait: float = 60.0,
) -> Iterator[dict]:
    """Recreate ``current`` as ``spec``: a generator of progress messages for :mod:`core.engine.jobs`.

    Args:
        current: the container as it was when the person confirmed (its id is what gets replaced).
        spec: the new spec; its ``name`` is ignored (the container keeps its name).
        report: filled in as the steps run (ids, image ids and digests, the failed step).
        pull: ``docker pull`` the spec's image first.
        auth_config: registry credentials for the pull.
        health_wait: seconds to wait for a healthcheck to pass.

    Raises:
        RecreateFailed: a step failed; the message names it and what the rollback did.
        EngineUnavailable: the engine went away (the rollback is attempted first).
    """
    api = engine.api
    report.old_id, report.old_image_id = current.id, current.image_id
    report.old_digests = _digests(engine, current.image_id)
    report.step = "inspect"
    try:
        with engine.translated():
            state = api.inspect_container(current.id).get("State") or {}
    except NotFound as error:
        raise RecreateFailed(f"{current.name} is gone (removed meanwhile); nothing was changed.") from error
    was_running = bool(state.get("Running"))
    if pull:
        report.step = "pull"
        yield _say(report, f"pulling {spec.image}")
        try:
            yield from images_module.pull_stream(engine, spec.image, auth_config=auth_config)
        except DashboardError as error:
            raise RecreateFailed(
                f"The pull of {spec.image} failed: {error.message} Nothing was changed."
            ) from error
        with engine.translated():
            pulled = str(api.inspect_image(spec.image).get("Id") or "")
        if spec == current.spec and pulled == current.image_id:
            # e.g. a moved multi-platform index whose entry for this platform did not change
            report.new_image_id, report.new_digests = pulled, _digests(engine, pulled)
            report.step = "done"
            yield _say(report, f"{spec.image} is the image {current.name} already runs: nothing to recreate")
            return
    temporary = f"{current.name}-recreate-{int(time.time())}"
    try:
        report.step = "create"
        yield _say(report, f"creating the new container as {temporary}")
        created = containers_module.create_container(engine, spec=replace(spec, name=temporary), start=False)
        report.new_id = created.id
        with engine.translated():
            report.new_image_id = str(api.inspect_container(created.id).get("Image") or "")
        report.new_digests = _digests(engine, report.new_image_id)
        stopped_at = time.monotonic()
        if was_running:
            report.step = "stop"
            yield _say(report, f"stopping {current.name}")
            with engine.translated():
                api.stop(current.id, timeout=STOP_TIMEOUT)
            stopped_at = time.monotonic()
        if was_running:  # a stopped container is replaced by a created one: nothing is started
            report.step = "start"
            yield _say(report, "starting the new container")
            with engine.translated():
                api.start(created.id)
                _wait_running(engine, created.id)
            report.downtime = time.monotonic() - stopped_at
            yield _say(report, f"running after {report.downtime:.2f} s without {current.name}")
            report.step = "health"
            with engine.translated():
                for line in _wait_stable_and_healthy(engine, created.id, health_wait=health_wait):
                    yield _say(report, line)
        report.step = "remove the old container"
        yield _say(report, f"removing the old {current.name}")
        try:
            with engine.translated():
                api.remove_container(current.id, force=True, v=False)
        except NotFound:
            pass  # removed meanwhile: the new one takes the name all the same
    except EngineUnavailable:
        _rollback(engine, report, was_running=was_running)
        raise
    except DashboardError as error:
        failed = report.step
        rollback = _rollback(engine, report, was_running=was_running)
        yield _say(report, f"rolled back: {rollback}")
        raise RecreateFailed(
            f"The recreate of {current.name} failed at “{failed}”: {error.message}. {rollback}."
        ) from error
    report.step = "rename"
    yield _say(report, f"renaming the new container to {current.name}")
    try:
        with engine.translated():
            api.rename(created.id, current.name)
    except DashboardError as error:
        raise RecreateFailed(
            f"The new container runs as {temporary}, but it could not be renamed to {current.name} "
            f"({error.message}); rename it by hand."
        ) from error
    report.step = "done"
