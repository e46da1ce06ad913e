"""Engine-wide facts: version, counts, disk usage."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine._client import client, engine_call


@dataclass(frozen=True)
class EngineInfo:
    name: str
    version: str
    api_version: str
    os: str
    os_type: str
    arch: str
    kernel: str
    cpus: int
    memory: int
    containers: int
    running: int
    paused: int
    stopped: int
    images: int
    storage_driver: str
    swarm_state: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class DiskUsageRow:
    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


@engine_call
def engine_info(*, host: str | None = None) -> EngineInfo:
    """Version and counts of the engine (``docker info`` + ``docker version``).

    Args:
        host: the engine's URL; None for the default DOCKER_HOST.

    Returns:
        An :class:`EngineInfo`.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = client(host).api
    info = api.info()
    version = api.version()
    return EngineInfo(
        name=str(info.get("Name", "")),
        version=str(version.get("Version", info.get("ServerVersion", ""))),
        api_version=str(version.get("ApiVersion", "")),
        os=str(info.get("OperatingSystem", "")),
        os_type=str(info.get("OSType", "")),
        arch=str(info.get("Architecture", "")),
        kernel=str(info.get("KernelVersion", "")),
        cpus=int(info.get("NCPU") or 0),
        memory=int(info.get("MemTotal") or 0),
        containers=int(info.get("Containers") or 0),
        running=int(info.get("ContainersRunning") or 0),
        paused=int(info.get("ContainersPaused") or 0),
        stopped=int(info.get("ContainersStopped") or 0),
        images=int(info.get("Images") or 0),
        storage_driver=str(info.get("Driver", "")),
        swarm_state=str((info.get("Swarm") or {}).get("LocalNodeState", "inactive")),
        warnings=tuple(str(w) for w in info.get("Warnings") or ()),
    )


def _positive(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


@engine_call
def disk_usage(*, host: str | None = None) -> list[DiskUsageRow]:
    """``docker system df``: images, containers, local volumes and build cache, with what is reclaimable.

    Reclaimable follows the docker CLI: bytes not used by any container (images), the writable
    layers of containers that are not running, volumes no container references, and build cache
    that is neither in use nor shared.

    Args:
        host: the engine's URL; None for the default DOCKER_HOST.

    Returns:
        Four rows, in the CLI's order.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    df = client(host).api.df()
    images = df.get("Images") or []
    used_by_images = sum(
        _positive(i.get("Size")) - _positive(i.get("SharedSize"))
        for i in images
        if (i.get("Containers") or 0) > 0
    )
    layers = _positive(df.get("LayersSize"))
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    volume_size = [(_positive((v.get("UsageData") or {}).get("Size")), v) for v in volumes]
    return [
        DiskUsageRow(
            kind="Images",
            total=len(images),
            active=sum(1 for i in images if (i.get("Containers") or 0) > 0),
            size=layers,
            reclaimable=max(layers - used_by_images, 0),
        ),
        DiskUsageRow(
            kind="Containers",
            total=len(containers),
            active=sum(1 for c in containers if c.get("State") == "running"),
            size=sum(_positive(c.get("SizeRw")) for c in containers),
            reclaimable=sum(_positive(c.get("SizeRw")) for c in containers if c.get("State") != "running"),
        ),
        DiskUsageRow(
            kind="Local volumes",
            total=len(volumes),
            active=sum(1 for _, v in volume_size if (v.get("UsageData") or {}).get("RefCount", 0) > 0),
            size=sum(size for size, _ in volume_size),
            reclaimable=sum(
                size for size, v in volume_size if (v.get("UsageData") or {}).get("RefCount", 0) == 0
            ),
        ),
        DiskUsageRow(
            kind="Build cache",
            total=len(cache),
            active=sum(1 for b in cache if b.get("InUse")),
            size=sum(_positive(b.get("Size")) for b in cache),
            reclaimable=sum(
                _positive(b.get("Size")) for b in cache if not b.get("InUse") and not b.get("Shared")
            ),
        ),
    ]
