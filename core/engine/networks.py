"""Networks: the driver of a network named by name or id (the workload policy's host check)."""

from __future__ import annotations

from core.engine._client import client, engine_call


@engine_call
def network_driver(*, name: str, host: str | None = None) -> str:
    """The driver of the network ``name`` (name, id or unique id prefix), '' when there is none.

    ``host`` means the host's network namespace, whatever the network is called by the person.

    Args:
        name: what the person typed as the network.
        host: the engine's URL; None for the current endpoint.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    try:
        raw = client(host).api.inspect_network(name)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            return ""
        raise
    return str(raw.get("Driver") or "")
