"""Volumes: inspect one (driver, options, which containers mount it) for the workload policy."""

from __future__ import annotations

from core.engine._client import Engine, engine_call
from core.policy import VolumeFacts


@engine_call
def volume_facts(engine: Engine, *, name: str) -> VolumeFacts | None:
    """``docker volume inspect`` plus the containers mounting it, or None when it does not exist.

    Args:
        name: the volume's name.

    Returns:
        A :class:`core.policy.VolumeFacts`, or None (a mount of that name would create it).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    try:
        raw = api.inspect_volume(name)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise
    users = api.containers(all=True, filters={"volume": raw.get("Name") or name})
    return VolumeFacts(
        name=str(raw.get("Name") or name),
        driver=str(raw.get("Driver") or "local"),
        options=tuple(sorted((str(k), str(v)) for k, v in (raw.get("Options") or {}).items())),
        used_by=tuple(sorted(str((c.get("Names") or ["?"])[0]).lstrip("/") for c in users)),
    )
