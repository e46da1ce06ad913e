"""Engine-wide facts: version, counts, disk usage."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine._client import Engine, engine_call


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
    swarm_role: str
    warnings: tuple[str, ...]
    log_drivers: tuple[str, ...] = ()  # the log drivers this engine has (built in and plugins)
    default_log_driver: str = ""


def _swarm_role(info: dict) -> str:
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        return "none"
    return "manager" if swarm.get("ControlAvailable") else "worker"


@dataclass(frozen=True)
class DiskUsageRow:
    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


@engine_call
def ping(engine: Engine) -> None:
    """The engine answers (``/_ping``: the cheapest call there is, for liveness checks).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    engine.api.ping()


@engine_call
def engine_info(engine: Engine) -> EngineInfo:
    """Version and counts of the engine (``docker info`` + ``docker version``).

    Args:

    Returns:
        An :class:`EngineInfo`.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
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
        swarm_role=_swarm_role(info),
        warnings=tuple(str(w) for w in info.get("Warnings") or ()),
        log_drivers=tuple(str(d) for d in (info.get("Plugins") or {}).get("Log") or ()),
        default_log_driver=str(info.get("LoggingDriver", "")),
    )


# ``docker info``'s Architecture (the kernel's name) -> the OCI platform's architecture[/variant].
OCI_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm/v7",
    "armv6l": "arm/v6",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@engine_call
def platform(engine: Engine) -> str:
    """The engine's platform as an OCI index names it: ``linux/amd64``, ``linux/arm/v7`` (one
    ``docker info``); '' when the architecture is one this table does not know."""
    info = engine.api.info()
    arch = OCI_ARCHITECTURES.get(str(info.get("Architecture", "")), "")
    os_type = str(info.get("OSType") or "linux")
    return f"{os_type}/{arch}" if arch else ""


def _positive(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _system_df(api) -> dict:
    """``/system/df``, waiting for a concurrent one: the engine runs only one at a time and answers
    "a disk usage operation is already running" to the others (several tabs, several processes)."""
    import time

    for attempt in range(20):
        try:
            return api.df()
        except Exception as exc:
            if "already running" not in str(getattr(exc, "explanation", "") or exc) or attempt == 19:
                raise
            time.sleep(0.25)
    raise AssertionError("unreachable")


@engine_call
def disk_usage(engine: Engine) -> list[DiskUsageRow]:
    """``docker system df``: images, containers, local volumes and build cache, with what is reclaimable.

    Reclaimable follows the docker CLI: bytes not used by any container (images), the writable
    layers of containers that are not running, volumes no container references, and build cache
    that is neither in use nor shared.

    Args:

    Returns:
        Four rows, in the CLI's order.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    df = _system_df(engine.api)
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


@dataclass(frozen=True)
class EndpointHealth:
    reachable: bool
    version: str = ""
    os: str = ""
    swarm_role: str = ""
    containers: int = 0
    running: int = 0
    images: int = 0
    error: str = ""
    seconds: float = 0.0


@engine_call
def probe(engine: Engine, *, timeout: float = 3.0) -> EndpointHealth:
    """Health of the endpoint, bounded by ``timeout`` so a dead host never slows the others.

    Reuses the endpoint's cached client (the handshake of a new one is bounded by ``timeout`` too),
    makes one call (``/info``) with ``timeout`` and never raises.

    Args:
        timeout: seconds before the host counts as down.

    Returns:
        An :class:`EndpointHealth`; ``reachable`` is False with ``error`` set when it does not answer.
    """
    import time

    from core.engine._client import LIBRARY_ERRORS, translate
    from core.errors import DashboardError

    started = time.monotonic()
    try:
        api = engine.client(handshake_timeout=timeout).api
        info = api._result(
            api._get(api._url("/info"), timeout=timeout), json=True
        )  # ServerVersion is in /info
    except DashboardError as exc:
        return EndpointHealth(reachable=False, error=exc.message, seconds=time.monotonic() - started)
    except LIBRARY_ERRORS as exc:  # mapped to a message: a probe of an absent engine never raises
        error = translate(exc, host=engine.url)
        return EndpointHealth(reachable=False, error=error.message, seconds=time.monotonic() - started)
    swarm_role = _swarm_role(info)
    return EndpointHealth(
        reachable=True,
        version=str(info.get("ServerVersion", "")),
        os=str(info.get("OperatingSystem", "")),
        swarm_role=swarm_role,
        containers=int(info.get("Containers") or 0),
        running=int(info.get("ContainersRunning") or 0),
        images=int(info.get("Images") or 0),
        seconds=time.monotonic() - started,
    )


def health_from_info(info: EngineInfo) -> EndpointHealth:
    """The health row of an endpoint whose :class:`EngineInfo` was just fetched (no second probe)."""
    return EndpointHealth(
        reachable=True,
        version=info.version,
        os=info.os,
        swarm_role=info.swarm_role,
        containers=info.containers,
        running=info.running,
        images=info.images,
    )


@dataclass(frozen=True)
class Named:
    """One thing on the engine a person can look up by name (the command palette)."""

    kind: str  # "container", "image", "volume", "network" or "stack"
    name: str
    ref: str  # what its page's URL takes: a container/network id, an image id, a volume/stack name
    detail: str = ""


def _matches(needle: str, *texts: str) -> bool:
    return any(needle in text.lower() for text in texts)


@engine_call
def find_named(engine: Engine, *, needle: str, limit: int) -> tuple[list[Named], bool]:
    """Containers, images, volumes, networks and compose projects whose name holds ``needle``
    (case-insensitive), at most ``limit`` of each kind; four list requests whatever the counts.

    Returns:
        The matches (kind by kind, shortest names first) and whether any kind had more than ``limit``.
    """
    api = engine.api
    needle = needle.lower()
    containers = api.containers(all=True)
    found: dict[str, list[Named]] = {
        kind: [] for kind in ("container", "image", "volume", "network", "stack")
    }
    projects: set[str] = set()
    for raw in containers:
        name = str((raw.get("Names") or ["/"])[0]).lstrip("/")
        if _matches(needle, name, str(raw.get("Id", ""))[:12]):
            found["container"].append(Named("container", name, str(raw["Id"]), str(raw.get("Image", ""))))
        project = (raw.get("Labels") or {}).get("com.docker.compose.project", "")
        if project and _matches(needle, project):
            projects.add(project)
    found["stack"] = [Named("stack", name, name, "compose project") for name in projects]
    for raw in api.images():
        image_id = str(raw.get("Id", "")).removeprefix("sha256:")
        tags = [t for t in raw.get("RepoTags") or [] if t != "<none>:<none>"]
        for tag in tags or [image_id[:12]]:
            if _matches(needle, tag, image_id[:12]):
                found["image"].append(Named("image", tag, image_id[:12], image_id[:12]))
    for raw in api.volumes().get("Volumes") or []:
        if _matches(needle, str(raw.get("Name", ""))):
            found["volume"].append(
                Named("volume", str(raw["Name"]), str(raw["Name"]), str(raw.get("Driver", "")))
            )
    for raw in api.networks():
        if _matches(needle, str(raw.get("Name", ""))):
            found["network"].append(
                Named("network", str(raw["Name"]), str(raw["Id"]), str(raw.get("Driver", "")))
            )
    results: list[Named] = []
    more = False
    for items in found.values():
        items.sort(key=lambda n: (len(n.name), n.name))
        results.extend(items[:limit])
        more = more or len(items) > limit
    return results, more


# --------------------------------------------------------------------------- engine totals (overview)

TOTALS_MAX = 100  # running containers read per sample (one short stats call each)
TOTALS_WORKERS = 4  # of them at once


@dataclass(frozen=True)
class UsageReading:
    """One container's cumulative counters (a one-shot ``/stats``): CPU ns, host CPU ns, memory."""

    cpu_total: int
    system_total: int
    memory: int


@dataclass(frozen=True)
class EngineTotals:
    """CPU % of all running containers (up to 100 x ``cpus``) and their memory against the host's."""

    cpu_percent: float
    cpus: int
    memory_usage: int
    memory_total: int
    running: int
    counted: int  # containers read (at most TOTALS_MAX; the rest are not in the figures)


@engine_call
def usage_readings(engine: Engine, *, limit: int = TOTALS_MAX) -> tuple[dict[str, UsageReading], int]:
    """The counters of up to ``limit`` running containers, read concurrently with one-shot stats
    (the engine answers at once: no second reading, so CPU % comes from two calls of this).

    Returns:
        ({container id: reading}, how many containers run). A container gone meanwhile is left out.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    from concurrent.futures import ThreadPoolExecutor

    from docker.errors import APIError

    from core.engine.containers import stats_sample

    api = engine.api
    ids = [c["Id"] for c in api.containers(filters={"status": "running"})]

    def read(container_id: str) -> tuple[str, UsageReading] | None:
        try:
            raw = api.stats(container_id, stream=False, one_shot=True)
        except APIError as exc:
            if exc.status_code in (404, 409):  # stopped or removed meanwhile: left out
                return None
            raise
        cpu = raw.get("cpu_stats") or {}
        reading = UsageReading(
            cpu_total=int((cpu.get("cpu_usage") or {}).get("total_usage") or 0),
            system_total=int(cpu.get("system_cpu_usage") or 0),
            memory=stats_sample(raw).memory_usage,
        )
        return container_id, reading

    with ThreadPoolExecutor(max_workers=TOTALS_WORKERS, thread_name_prefix="totals") as pool:
        found = [r for r in pool.map(read, ids[:limit]) if r is not None]
    return dict(found), len(ids)


def totals(
    previous: dict[str, UsageReading],
    current: dict[str, UsageReading],
    *,
    running: int,
    cpus: int,
    memory_total: int,
) -> EngineTotals:
    """The engine's totals from two readings (pure): CPU % the way the docker CLI computes it per
    container ((CPU delta / host CPU delta) x CPUs x 100), summed over the containers in both;
    memory summed over the current reading (page cache excluded)."""
    cpu = 0.0
    for container_id, now in current.items():
        before = previous.get(container_id)
        if before is None:
            continue
        cpu_delta = now.cpu_total - before.cpu_total
        system_delta = now.system_total - before.system_total
        if cpu_delta > 0 and system_delta > 0:
            cpu += cpu_delta / system_delta * max(cpus, 1) * 100.0
    return EngineTotals(
        cpu_percent=round(min(cpu, 100.0 * max(cpus, 1)), 2),
        cpus=cpus,
        memory_usage=sum(r.memory for r in current.values()),
        memory_total=memory_total,
        running=running,
        counted=len(current),
    )
