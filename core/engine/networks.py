"""Networks: the driver of a network named by name or id (the workload policy's host check)."""

from __future__ import annotations

from core.engine._client import Engine, engine_call


@engine_call
def network_driver(engine: Engine, *, name: str) -> str:
    """The driver of the network ``name`` (name, id or unique id prefix), '' when there is none.

    A driver ``host`` means the host's network namespace, whatever the person called the network.

    Args:
        name: what the person typed as the network.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    try:
        raw = engine.api.inspect_network(name)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            return ""
        raise
    return str(raw.get("Driver") or "")
