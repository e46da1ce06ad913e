"""Fixtures for the volume tests: labelled volumes, a container that writes into one, helper checks."""

from __future__ import annotations

import docker
import pytest

from tests.support import RUN_ID, TEST_LABEL, unique, wait_for


@pytest.fixture
def volume(engine):
    """Make labelled volumes; all removed at teardown (after the containers using them)."""
    made: list[str] = []

    def make(name: str | None = None, **kwargs) -> str:
        name = name or unique("vol")
        labels = {TEST_LABEL: RUN_ID, **kwargs.pop("labels", {})}
        engine.api.create_volume(name=name, labels=labels, **kwargs)
        made.append(name)
        return name

    yield make
    for name in made:
        for container in engine.api.containers(all=True, filters={"volume": name}):
            engine.api.remove_container(container["Id"], force=True)
        try:
            engine.api.remove_volume(name, force=True)
        except docker.errors.NotFound:
            pass


def with_volume(engine, make_container, name: str, script: str, *, start: bool = True) -> dict:
    host_config = engine.api.create_host_config(binds={name: {"bind": "/data", "mode": "rw"}})
    container = make_container(
        command=["sh", "-c", f"{script} && sleep 300"], start=start, host_config=host_config
    )
    if start:
        wait_for(
            lambda: exists(engine, container["Id"], "/data/.ready"), timeout=20, message="the writer's file"
        )
    return container


def exists(engine, container_id: str, path: str) -> bool:
    try:
        engine.api.get_archive(container_id, path)
    except docker.errors.NotFound:
        return False
    return True


def helpers_left(engine) -> list:
    return engine.api.containers(all=True, filters={"label": "org.dockerdashboard.helper=volume"})
