"""Fixtures for the images tests: small distinct labelled images, a linked Registry row, job waiting."""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator

import docker
import pytest

from tests.support import RUN_ID, TEST_LABEL, unique


def tiny_rootfs(payload: bytes | None = None) -> bytes:
    """A one-file root filesystem tar; distinct content gives a distinct image id."""
    data = payload if payload is not None else secrets.token_bytes(64)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def make_image(engine: docker.DockerClient) -> Iterator[Callable[..., dict]]:
    """``make_image(tags=("latest",), labels={}, repository=None, payload=None)`` -> {id, repository, ref}.

    Every image carries TEST_LABEL=RUN_ID and a RUN_ID repository; all are removed at teardown.
    """
    created: list[str] = []

    def make(
        *,
        tags: tuple[str, ...] = ("latest",),
        labels: dict | None = None,
        repository: str | None = None,
        payload: bytes | None = None,
        dangling: bool = False,
    ) -> dict:
        repository = repository or f"{unique('img')}"
        changes = [f'LABEL {TEST_LABEL}="{RUN_ID}"']
        for key, value in (labels or {}).items():
            changes.append(f"LABEL {key}={_quoted(value)}")
        result = engine.api.import_image_from_data(
            tiny_rootfs(payload),
            repository=None if dangling else repository,
            tag=None if dangling else tags[0],
            changes=changes,
        )
        image_id = _imported_id(result)
        created.append(image_id)
        if not dangling:
            for tag in tags[1:]:
                engine.api.tag(image_id, repository, tag)
        return {"id": image_id, "repository": repository, "ref": f"{repository}:{tags[0]}"}

    yield make
    for image_id in created:
        try:
            engine.api.remove_image(image_id, force=True)
        except docker.errors.APIError:
            pass


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imported_id(result: str | dict) -> str:
    import json

    text = result if isinstance(result, str) else json.dumps(result)
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        status = json.loads(line).get("status", "")
        if status.startswith("sha256:"):
            return status
    raise AssertionError(f"docker import gave no id: {text}")


def wait_job(job_id: str, timeout: float = 120):
    """Wait until an in-process job ends; return it."""
    from core.engine import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def has_image(engine: docker.DockerClient, reference: str) -> bool:
    try:
        engine.api.inspect_image(reference)
    except docker.errors.NotFound:
        return False
    return True
