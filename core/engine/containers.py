"""Containers: list, inspect, create/run, lifecycle, top, diff, commit, export, stats and events streams.

Lists are ONE API call (``/containers/json?all=1``); everything else names the container by id,
unique id prefix or name, exactly as the engine accepts it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from docker.types.daemon import CancellableStream

from core.engine._client import Engine, engine_call, translated
from core.errors import NotFound, Refused
from core.policy import masked_document

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
EXPORT_CHUNK_BYTES = 1 << 20
CHANGE_KINDS = {0: "changed", 1: "added", 2: "deleted"}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str
    host_ip: str = ""
    host_port: int | None = None

    @property
    def published(self) -> bool:
        return self.host_port is not None

    @property
    def link_host(self) -> str:
        """The address to link a published TCP port to (wildcard binds -> 127.0.0.1)."""
        if self.host_ip in ("", "0.0.0.0", "::"):  # noqa: S104 - describing a bind, not binding
            return "127.0.0.1"
        return f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip

    def __str__(self) -> str:
        inner = f"{self.container_port}/{self.protocol}"
        if not self.published:
            return inner
        ip = f"{self.host_ip}:" if self.host_ip and self.host_ip not in ("0.0.0.0", "::") else ""  # noqa: S104
        return f"{ip}{self.host_port}->{inner}"


@dataclass(frozen=True)
class ContainerSummary:
    id: str
    name: str
    image: str
    image_id: str
    command: str
    state: str
    status: str
    health: str
    created: int
    ports: tuple[PortBinding, ...]
    labels: dict[str, str] = field(hash=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def compose_project(self) -> str:
        return self.labels.get(COMPOSE_PROJECT_LABEL, "")

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created).astimezone()

    @property
    def exit_code(self) -> int | None:
        """Parsed from the status text ("Exited (3) 2 minutes ago"): the list call has no exit code."""
        if self.state != "exited" or "(" not in self.status:
            return None
        try:
            return int(self.status.split("(", 1)[1].split(")", 1)[0])
        except ValueError:
            return None


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    destination: str
    mode: str
    read_write: bool


@dataclass(frozen=True)
class NetworkAttachment:
    name: str
    ip_address: str
    gateway: str
    mac_address: str
    network_id: str = ""


@dataclass(frozen=True)
class ContainerDetail:
    id: str
    name: str
    image: str
    image_id: str
    command: str
    entrypoint: str
    state: str
    running: bool
    paused: bool
    exit_code: int
    error: str
    health: str
    restart_count: int
    restart_policy: str
    created: str
    started_at: str
    finished_at: str
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    networks: tuple[NetworkAttachment, ...]
    env: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    tty: bool
    privileged: bool
    raw: str  # the full inspect document, pretty JSON
    raw_masked: str  # the same with the env values masked (what a page shows until revealed)
    interactive: bool = False  # Config.OpenStdin: something can be typed to the main process (attach)

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class ProcessTable:
    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Change:
    kind: str  # added / changed / deleted
    path: str


@dataclass(frozen=True)
class VolumeSpec:
    source: str
    target: str
    read_only: bool = False

    @property
    def is_bind(self) -> bool:
        return self.source.startswith("/")

    @property
    def anonymous(self) -> bool:
        """``-v /data``: the engine creates a volume and names it."""
        return not self.source


@dataclass(frozen=True)
class PortSpec:
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None


@dataclass(frozen=True)
class HealthSpec:
    """A healthcheck: ``test`` is ``("CMD-SHELL", cmd)`` or ``("NONE",)``; durations in nanoseconds."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    retries: int = 0
    start_period: int = 0


@dataclass(frozen=True)
class NetworkSpec:
    """A network the container joins, with its aliases there."""

    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateSpec:
    """Everything ``docker create`` takes from the form, already validated."""

    image: str
    name: str = ""
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    restart: str = "no"
    restart_retries: int = 0
    tty: bool = False
    interactive: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    network: str = ""
    workdir: str = ""
    user: str = ""
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    pid: str = ""
    # resource limits (None: the engine's default, unlimited)
    memory: int | None = None  # bytes
    memory_reservation: int | None = None  # bytes
    nano_cpus: int | None = None  # 1e9 = one CPU
    cpu_shares: int | None = None
    pids_limit: int | None = None
    healthcheck: HealthSpec | None = None  # None: the image's
    log_driver: str = ""  # '': the engine's default
    log_options: tuple[tuple[str, str], ...] = ()
    # networks joined besides ``network`` (and ``network``'s aliases when it is listed here too)
    networks: tuple[NetworkSpec, ...] = ()


@dataclass(frozen=True)
class CreateResult:
    id: str
    name: str
    started: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class StatsSample:
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    memory_percent: float
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int
    cpus: int = 1  # online CPUs: CPU % runs up to 100 x cpus (the chart's fixed scale)


# --------------------------------------------------------------------------- mapping


def _ports_from_list(raw: list[dict] | None) -> tuple[PortBinding, ...]:
    ports = {
        PortBinding(
            container_port=int(p.get("PrivatePort") or 0),
            protocol=str(p.get("Type") or "tcp"),
            host_ip=str(p.get("IP") or ""),
            host_port=int(p["PublicPort"]) if p.get("PublicPort") else None,
        )
        for p in raw or ()
    }
    return tuple(sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port or 0)))


def _health_from_status(status: str) -> str:
    for word in ("healthy", "unhealthy", "health: starting"):
        if f"({word})" in status:
            return word.removeprefix("health: ")
    return ""


def _summary(raw: dict) -> ContainerSummary:
    names = raw.get("Names") or []
    return ContainerSummary(
        id=str(raw.get("Id", "")),
        name=(names[0] if names else "").lstrip("/"),
        image=str(raw.get("Image") or ""),
        image_id=str(raw.get("ImageID") or ""),
        command=str(raw.get("Command") or ""),
        state=str(raw.get("State") or ""),
        status=str(raw.get("Status") or ""),
        health=_health_from_status(str(raw.get("Status") or "")),
        created=int(raw.get("Created") or 0),
        ports=_ports_from_list(raw.get("Ports")),
        labels={str(k): str(v) for k, v in (raw.get("Labels") or {}).items()},
    )


def _ports_from_inspect(raw: dict) -> tuple[PortBinding, ...]:
    ports: list[PortBinding] = []
    for key, bindings in ((raw.get("NetworkSettings") or {}).get("Ports") or {}).items():
        number, _, protocol = key.partition("/")
        if not bindings:
            ports.append(PortBinding(container_port=int(number), protocol=protocol or "tcp"))
        for binding in bindings or ():
            ports.append(
                PortBinding(
                    container_port=int(number),
                    protocol=protocol or "tcp",
                    host_ip=str(binding.get("HostIp") or ""),
                    host_port=int(binding["HostPort"]) if binding.get("HostPort") else None,
                )
            )
    return tuple(sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip)))


def _joined(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _detail(raw: dict) -> ContainerDetail:
    state = raw.get("State") or {}
    config = raw.get("Config") or {}
    host_config = raw.get("HostConfig") or {}
    policy = host_config.get("RestartPolicy") or {}
    policy_name = policy.get("Name") or "no"
    if policy_name == "on-failure" and policy.get("MaximumRetryCount"):
        policy_name = f"on-failure:{policy['MaximumRetryCount']}"
    env = []
    for line in config.get("Env") or ():
        key, _, value = str(line).partition("=")
        env.append((key, value))
    networks = tuple(
        NetworkAttachment(
            name=str(name),
            ip_address=str(n.get("IPAddress") or ""),
            gateway=str(n.get("Gateway") or ""),
            mac_address=str(n.get("MacAddress") or ""),
            network_id=str(n.get("NetworkID") or ""),
        )
        for name, n in sorted(((raw.get("NetworkSettings") or {}).get("Networks") or {}).items())
    )
    return ContainerDetail(
        id=str(raw.get("Id", "")),
        name=str(raw.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or ""),
        image_id=str(raw.get("Image") or ""),
        command=_joined([*((raw.get("Path") and [raw["Path"]]) or []), *(raw.get("Args") or [])]),
        entrypoint=_joined(config.get("Entrypoint")),
        state=str(state.get("Status") or ""),
        running=bool(state.get("Running")),
        paused=bool(state.get("Paused")),
        exit_code=int(state.get("ExitCode") or 0),
        error=str(state.get("Error") or ""),
        health=str((state.get("Health") or {}).get("Status") or ""),
        restart_count=int(raw.get("RestartCount") or 0),
        restart_policy=policy_name,
        created=str(raw.get("Created") or ""),
        started_at=str(state.get("StartedAt") or ""),
        finished_at=str(state.get("FinishedAt") or ""),
        ports=_ports_from_inspect(raw),
        mounts=tuple(
            Mount(
                type=str(m.get("Type") or ""),
                source=str(m.get("Name") or m.get("Source") or ""),
                destination=str(m.get("Destination") or ""),
                mode=str(m.get("Mode") or ""),
                read_write=bool(m.get("RW")),
            )
            for m in raw.get("Mounts") or ()
        ),
        networks=networks,
        env=tuple(env),
        labels=tuple(sorted((str(k), str(v)) for k, v in (config.get("Labels") or {}).items())),
        tty=bool(config.get("Tty")),
        interactive=bool(config.get("OpenStdin")),
        privileged=bool(host_config.get("Privileged")),
        raw=json.dumps(raw, indent=2, sort_keys=True),
        raw_masked=json.dumps(masked_document(raw), indent=2, sort_keys=True),
    )


# --------------------------------------------------------------------------- a container's spec


ANONYMOUS_VOLUME_RE = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
# HostConfig settings the create form does not know: a container using one is not re-created by the
# dashboard (it would silently lose them); the edit page and the recreate job say which ones.
UNSUPPORTED_HOST_SETTINGS = (
    "Devices",
    "Tmpfs",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "Sysctls",
    "SecurityOpt",
    "Ulimits",
    "CapDrop",
    "Links",
    "VolumesFrom",
    "GroupAdd",
    "ReadonlyRootfs",
    "Init",
    "CpusetCpus",
    "DeviceRequests",
)


@dataclass(frozen=True)
class CurrentSpec:
    """A container as the create form would describe it, and what a recreate must know about it."""

    id: str
    name: str
    image_id: str
    running: bool
    spec: CreateSpec
    unsupported: tuple[str, ...]  # settings the form cannot carry over (see UNSUPPORTED_HOST_SETTINGS)
    anonymous_volumes: tuple[str, ...]  # carried over by name to the new container


def _differs(value: object, image_value: object) -> bool:
    return bool(value) and value != image_value


def _ports_from_host_config(raw: dict) -> tuple[PortSpec, ...]:
    ports: list[PortSpec] = []
    bindings = (raw.get("HostConfig") or {}).get("PortBindings") or {}
    for key, entries in sorted(bindings.items()):
        number, _, protocol = key.partition("/")
        for entry in entries or [{}]:
            host_port = str(entry.get("HostPort") or "")
            host_ip = str(entry.get("HostIp") or "")
            if not host_port and not host_ip:
                host_ip = "0.0.0.0"  # noqa: S104 - "-p 80": any free port on every address, as asked
            ports.append(
                PortSpec(
                    container_port=int(number),
                    protocol=protocol or "tcp",
                    host_ip=host_ip,
                    host_port=int(host_port) if host_port.isdigit() and int(host_port) else None,
                )
            )
    return tuple(ports)


def _unsupported(raw: dict, image_config: dict) -> tuple[str, ...]:
    host = raw.get("HostConfig") or {}
    config = raw.get("Config") or {}
    found = [key for key in UNSUPPORTED_HOST_SETTINGS if host.get(key)]
    if host.get("ShmSize") and int(host["ShmSize"]) != DEFAULT_SHM_SIZE:
        found.append("ShmSize")
    if host.get("Runtime") not in (None, "", "runc"):
        found.append("Runtime")
    if str(host.get("IpcMode") or "") not in ("", "private", "shareable"):
        found.append("IpcMode")
    if host.get("UTSMode"):
        found.append("UTSMode")
    if any((m.get("Type") or "") not in ("bind", "volume") for m in host.get("Mounts") or ()):
        found.append("Mounts (tmpfs/other)")
    if config.get("Hostname") and config["Hostname"] != str(raw.get("Id", ""))[:12]:
        found.append("Hostname")
    if config.get("Domainname"):
        found.append("Domainname")
    if _differs(config.get("StopSignal"), image_config.get("StopSignal")):
        found.append("StopSignal")
    if config.get("StopTimeout") is not None:
        found.append("StopTimeout")
    return tuple(found)


def _health_spec(raw: dict | None) -> HealthSpec | None:
    if not raw or not raw.get("Test"):
        return None
    return HealthSpec(
        test=tuple(str(t) for t in raw["Test"]),
        interval=int(raw.get("Interval") or 0),
        timeout=int(raw.get("Timeout") or 0),
        retries=int(raw.get("Retries") or 0),
        start_period=int(raw.get("StartPeriod") or 0),
    )


def spec_from_inspect(raw: dict, image: dict) -> CurrentSpec:
    """What ``docker create`` would need to make this container again, from its inspect and its
    image's inspect: settings equal to the image's defaults (env, labels, cmd, workdir, healthcheck
    ...) are left out, so a new image's defaults apply after an update.

    Pure: unit-tested without an engine.
    """
    config = raw.get("Config") or {}
    host = raw.get("HostConfig") or {}
    image_config = image.get("Config") or {}
    image_env = set(image_config.get("Env") or ())
    image_labels = image_config.get("Labels") or {}
    restart = host.get("RestartPolicy") or {}
    cid = str(raw.get("Id", ""))
    volumes, anonymous = [], []
    for mount in raw.get("Mounts") or ():
        kind = mount.get("Type")
        if kind == "bind":
            source = str(mount.get("Source") or "")
        elif kind == "volume":
            source = str(mount.get("Name") or "")
            if ANONYMOUS_VOLUME_RE.match(source):
                anonymous.append(source)
        else:
            continue
        volumes.append(
            VolumeSpec(
                source=source, target=str(mount.get("Destination") or ""), read_only=not mount.get("RW")
            )
        )
    network_mode = str(host.get("NetworkMode") or "")
    networks = []
    for name, endpoint in sorted(((raw.get("NetworkSettings") or {}).get("Networks") or {}).items()):
        aliases = tuple(
            str(a) for a in (endpoint or {}).get("Aliases") or () if a and not cid.startswith(str(a))
        )
        networks.append(NetworkSpec(name=str(name), aliases=aliases))
    if network_mode in ("", "default") or (
        len(networks) == 1 and networks[0].name == network_mode and not networks[0].aliases
    ):
        networks = []  # one network without aliases: ``network`` says it all
    if network_mode == "default":
        network_mode = ""
    log = host.get("LogConfig") or {}
    cpus = int(host.get("NanoCpus") or 0)
    pids = host.get("PidsLimit")
    health = config.get("Healthcheck")
    spec = CreateSpec(
        image=str(config.get("Image") or raw.get("Image") or ""),
        name=str(raw.get("Name") or "").lstrip("/"),
        command=tuple(config.get("Cmd") or ())
        if _differs(config.get("Cmd"), image_config.get("Cmd"))
        else (),
        entrypoint=tuple(config.get("Entrypoint") or ())
        if _differs(config.get("Entrypoint"), image_config.get("Entrypoint"))
        else None,
        env=tuple(
            (k, v)
            for k, _, v in (str(e).partition("=") for e in config.get("Env") or () if e not in image_env)
        ),
        ports=_ports_from_host_config(raw),
        volumes=tuple(volumes),
        restart=str(restart.get("Name") or "no"),
        restart_retries=int(restart.get("MaximumRetryCount") or 0),
        tty=bool(config.get("Tty")),
        interactive=bool(config.get("OpenStdin")),
        labels=tuple(
            sorted(
                (str(k), str(v)) for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v
            )
        ),
        network=network_mode,
        workdir=str(config.get("WorkingDir") or "")
        if _differs(config.get("WorkingDir"), image_config.get("WorkingDir"))
        else "",
        user=str(config.get("User") or "") if _differs(config.get("User"), image_config.get("User")) else "",
        privileged=bool(host.get("Privileged")),
        cap_add=tuple(str(c) for c in host.get("CapAdd") or ()),
        pid=str(host.get("PidMode") or ""),
        memory=int(host.get("Memory") or 0) or None,
        memory_reservation=int(host.get("MemoryReservation") or 0) or None,
        nano_cpus=cpus or None,
        cpu_shares=int(host.get("CpuShares") or 0) or None,
        pids_limit=int(pids) if pids else None,
        healthcheck=_health_spec(health) if health != image_config.get("Healthcheck") else None,
        log_driver=str(log.get("Type") or "")
        if log.get("Config") or log.get("Type") not in (None, "", "json-file")
        else "",
        log_options=tuple(sorted((str(k), str(v)) for k, v in (log.get("Config") or {}).items())),
        networks=tuple(networks),
    )
    return CurrentSpec(
        id=cid,
        name=spec.name,
        image_id=str(raw.get("Image") or ""),
        running=bool((raw.get("State") or {}).get("Running")),
        spec=spec,
        unsupported=_unsupported(raw, image_config),
        anonymous_volumes=tuple(anonymous),
    )


# --------------------------------------------------------------------------- reading


@engine_call
def list_containers(engine: Engine, *, include_stopped: bool = True) -> list[ContainerSummary]:
    """``docker ps [-a]`` in ONE request (no per-container inspect).

    Args:
        include_stopped: all containers (``-a``) or only running ones.

    Returns:
        One :class:`ContainerSummary` per container, newest first (the engine's order).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    return [_summary(raw) for raw in engine.api.containers(all=include_stopped)]


@engine_call
def inspect_container(engine: Engine, *, ref: str) -> ContainerDetail:
    """``docker inspect`` of one container.

    Args:
        ref: id, unique id prefix, or name.

    Returns:
        A :class:`ContainerDetail` (with the full inspect JSON in ``raw``).

    Raises:
        NotFound: no such container (or the prefix is ambiguous).
        EngineUnavailable: the engine does not answer.
    """
    return _detail(engine.api.inspect_container(ref))


@engine_call
def current_spec(engine: Engine, *, ref: str) -> CurrentSpec:
    """The container as a :class:`CreateSpec` (see :func:`spec_from_inspect`).

    Args:
        ref: id, unique id prefix, or name.

    Raises:
        NotFound: no such container.
    """
    raw = engine.api.inspect_container(ref)
    try:
        image = engine.api.inspect_image(raw.get("Image") or "")
    except Exception as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
        image = {}  # the image is gone (force-removed): every setting counts as the container's own
    return spec_from_inspect(raw, image)


@engine_call
def top(engine: Engine, *, ref: str) -> ProcessTable:
    """``docker top``: the processes of a running container.

    Args:
        ref: id, unique id prefix, or name.

    Returns:
        A :class:`ProcessTable`.

    Raises:
        NotFound: no such container.
        Conflict: the container is not running.
    """
    raw = engine.api.top(ref)
    return ProcessTable(
        titles=tuple(str(t) for t in raw.get("Titles") or ()),
        processes=tuple(tuple(str(c) for c in row) for row in raw.get("Processes") or ()),
    )


@engine_call
def diff(engine: Engine, *, ref: str) -> list[Change]:
    """``docker diff``: files added, changed and deleted in the container's writable layer.

    Args:
        ref: id, unique id prefix, or name.

    Returns:
        :class:`Change` rows sorted by path.

    Raises:
        NotFound: no such container.
    """
    raw = engine.api.diff(ref) or []
    return sorted(
        (
            Change(kind=CHANGE_KINDS.get(int(c.get("Kind", 0)), "changed"), path=str(c.get("Path")))
            for c in raw
        ),
        key=lambda c: c.path,
    )


# --------------------------------------------------------------------------- create / run


def _create_kwargs(api, spec: CreateSpec) -> dict:
    port_bindings: dict[str, list] = {}
    exposed: list = []
    for port in spec.ports:
        key = f"{port.container_port}/{port.protocol}"
        exposed.append((port.container_port, port.protocol))
        if port.host_port is not None or port.host_ip:  # a bare "80" only exposes, never publishes
            port_bindings.setdefault(key, []).append(
                (port.host_ip, port.host_port) if port.host_ip else port.host_port
            )
    binds = [
        f"{v.source}:{v.target}:{'ro' if v.read_only else 'rw'}" for v in spec.volumes if not v.anonymous
    ]
    anonymous = [v.target for v in spec.volumes if v.anonymous]  # Config.Volumes, as `docker run -v /x`
    restart = None
    if spec.restart != "no":
        restart = {"Name": spec.restart}
        if spec.restart == "on-failure" and spec.restart_retries:
            restart["MaximumRetryCount"] = spec.restart_retries
    host_config = api.create_host_config(
        binds=binds or None,
        port_bindings={k: (v[0] if len(v) == 1 else v) for k, v in port_bindings.items()} or None,
        restart_policy=restart,
        network_mode=_primary_network(spec) or None,
        privileged=spec.privileged,
        cap_add=list(spec.cap_add) or None,
        pid_mode=spec.pid or None,
        **_limits_host_config(spec),
    )
    return {
        "image": spec.image,
        "name": spec.name or None,
        "command": list(spec.command) or None,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "environment": [f"{k}={v}" for k, v in spec.env] or None,
        "ports": [(p, proto) if proto != "tcp" else p for p, proto in exposed] or None,
        "labels": dict(spec.labels) or None,
        "volumes": anonymous or None,
        "tty": spec.tty,
        "stdin_open": spec.interactive,
        "working_dir": spec.workdir or None,
        "user": spec.user or None,
        "host_config": host_config,
        "healthcheck": _healthcheck(spec.healthcheck),
        "networking_config": _networking_config(api, spec),
    }


def _limits_host_config(spec: CreateSpec) -> dict:
    """Resource limits and log options as ``create_host_config`` keywords (only those set)."""
    options = {
        "mem_limit": spec.memory,
        "mem_reservation": spec.memory_reservation,
        "nano_cpus": spec.nano_cpus,
        "cpu_shares": spec.cpu_shares,
        "pids_limit": spec.pids_limit,
    }
    kwargs = {key: value for key, value in options.items() if value is not None}
    if spec.log_driver or spec.log_options:
        kwargs["log_config"] = {"Type": spec.log_driver or "json-file", "Config": dict(spec.log_options)}
    return kwargs


def _healthcheck(health: HealthSpec | None) -> dict | None:
    if health is None:
        return None
    return {
        "Test": list(health.test),
        "Interval": health.interval,
        "Timeout": health.timeout,
        "Retries": health.retries,
        "StartPeriod": health.start_period,
    }


def _primary_network(spec: CreateSpec) -> str:
    return spec.network or (spec.networks[0].name if spec.networks else "")


def _networking_config(api, spec: CreateSpec) -> dict | None:
    """The first network's endpoint (with its aliases) at create; the others are joined before start."""
    primary = _primary_network(spec)
    found = next((n for n in spec.networks if n.name == primary), None)
    if found is None or not found.aliases:
        return None
    return api.create_networking_config({primary: api.create_endpoint_config(aliases=list(found.aliases))})


def _join_networks(api, container_id: str, spec: CreateSpec) -> None:
    """Connect the networks besides the primary one (the engine's create takes one endpoint)."""
    primary = _primary_network(spec)
    for network in spec.networks:
        if network.name != primary:
            api.connect_container_to_network(
                container_id, network.name, aliases=list(network.aliases) or None
            )


NETWORK_MODES = frozenset({"", "default", "bridge", "host", "none"})


def _check_networks(api, spec: CreateSpec) -> None:
    """Refuse a spec naming networks the engine does not have, naming them all (one inspect each)."""
    names = [spec.network] if spec.network not in NETWORK_MODES and ":" not in spec.network else []
    names += [n.name for n in spec.networks]
    missing = _not_found(api.inspect_network, names)
    if missing:
        quoted = ", ".join(f"“{name}”" for name in missing)
        several = len(missing) > 1
        raise NotFound(
            f"Network{'s' if several else ''} {quoted} not found on this engine: create "
            f"{'them' if several else 'it'} on the networks page first (nothing was created)."
        )


def _absent_volumes(api, spec: CreateSpec) -> tuple[str, ...]:
    """The named volumes of ``spec`` that do not exist yet (the engine's create makes them)."""
    return tuple(
        _not_found(api.inspect_volume, [v.source for v in spec.volumes if not v.anonymous and not v.is_bind])
    )


def _not_found(inspect, names: list[str]) -> list[str]:
    """Those of ``names`` (each once, in order) that ``inspect`` answers with a 404."""
    missing = []
    for name in dict.fromkeys(names):
        try:
            inspect(name)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
            missing.append(name)
    return missing


def _remove_new_volumes(engine: Engine, names: tuple[str, ...]) -> None:
    """After a failed create/start: remove the volumes that were absent before it. Not forced, so the
    engine keeps one another container uses meanwhile; one already gone is fine."""
    for name in names:
        try:
            with engine.translated():
                engine.api.remove_volume(name)
        except Refused:  # gone already, used by another container meanwhile, or refused: kept
            pass


@engine_call
def image_exists(engine: Engine, *, reference: str) -> bool:
    """Whether the engine has ``reference`` locally (the dashboard never pulls on create).

    Args:
        reference: an image reference or id.

    Returns:
        True when ``docker image inspect`` finds it.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    try:
        engine.api.inspect_image(reference)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            return False
        raise
    return True


@engine_call
def create_container(engine: Engine, *, spec: CreateSpec, start: bool) -> CreateResult:
    """``docker create`` (and ``docker start`` when ``start``): nothing half-made is left behind.

    Every network the spec names (``network`` and ``networks``) must exist first: the engine's create
    accepts a missing one (the start fails later). When the create or start fails, the container
    just created is removed again, and so are the named volumes the engine made for it (those that
    did not exist before this call and that no other container uses), and the error is raised.

    Args:
        spec: the validated :class:`CreateSpec`.
        start: start it too (``docker run -d``).

    Returns:
        A :class:`CreateResult` with the new container's id.

    Raises:
        NotFound: unknown image, or networks that do not exist (all named; nothing created).
        Conflict: the name is taken.
        InvalidInput: the engine refused a parameter.
        EngineRefused: the start failed (the container was removed).
    """
    api = engine.api
    _check_networks(api, spec)
    new_volumes = _absent_volumes(api, spec)
    try:
        with engine.translated():
            created = api.create_container(**_create_kwargs(api, spec))
    except Refused:
        _remove_new_volumes(engine, new_volumes)
        raise
    container_id = created["Id"]
    try:
        with engine.translated():
            _join_networks(api, container_id, spec)
            if start:
                api.start(container_id)
    except Refused:
        with engine.translated():
            # -v removes only volumes the engine made for this container: volumes named in the
            # spec (a recreate's carried-over anonymous ones too) are never removed by it.
            api.remove_container(container_id, force=True, v=True)
        _remove_new_volumes(engine, new_volumes)
        raise
    name = spec.name or api.inspect_container(container_id)["Name"].lstrip("/")
    return CreateResult(
        id=container_id,
        name=name,
        started=start,
        warnings=tuple(str(w) for w in created.get("Warnings") or ()),
    )


# --------------------------------------------------------------------------- lifecycle


@engine_call
def start(engine: Engine, *, ref: str) -> None:
    """``docker start``.

    Args:
        ref: id, unique id prefix, or name.

    Raises:
        NotFound: no such container.
        EngineRefused: the engine could not start it (e.g. the command does not exist).
    """
    engine.api.start(ref)


@engine_call
def stop(engine: Engine, *, ref: str, timeout: int = 10) -> None:
    """``docker stop -t timeout``.

    Args:
        ref: id, unique id prefix, or name.
        timeout: seconds before SIGKILL.

    Raises:
        NotFound: no such container.
    """
    # The HTTP read must outlast the engine's own grace period.
    engine.api.stop(ref, timeout=timeout)


@engine_call
def restart(engine: Engine, *, ref: str, timeout: int = 10) -> None:
    """``docker restart -t timeout``.

    Args:
        ref: id, unique id prefix, or name.
        timeout: seconds before SIGKILL.

    Raises:
        NotFound: no such container.
    """
    engine.api.restart(ref, timeout=timeout)


@engine_call
def kill(engine: Engine, *, ref: str, signal: str = "SIGKILL") -> None:
    """``docker kill -s signal``.

    Args:
        ref: id, unique id prefix, or name.
        signal: a signal name (``SIGTERM``) or number.

    Raises:
        NotFound: no such container.
        Conflict: the container is not running.
    """
    engine.api.kill(ref, signal=signal)


@engine_call
def pause(engine: Engine, *, ref: str) -> None:
    """``docker pause``.

    Args:
        ref: id, unique id prefix, or name.

    Raises:
        NotFound: no such container.
        Conflict: the container is not running (or already paused).
    """
    engine.api.pause(ref)


@engine_call
def unpause(engine: Engine, *, ref: str) -> None:
    """``docker unpause``.

    Args:
        ref: id, unique id prefix, or name.

    Raises:
        NotFound: no such container.
        Conflict: the container is not paused.
    """
    engine.api.unpause(ref)


@engine_call
def rename(engine: Engine, *, ref: str, name: str) -> None:
    """``docker rename``.

    Args:
        ref: id, unique id prefix, or name.
        name: the new name.

    Raises:
        NotFound: no such container.
        Conflict: the name is taken.
    """
    engine.api.rename(ref, name)


@engine_call
def remove(engine: Engine, *, ref: str, force: bool = False, volumes: bool = False) -> None:
    """``docker rm [-f] [-v]``.

    Args:
        ref: id, unique id prefix, or name.
        force: kill it first when running.
        volumes: also remove its anonymous volumes.

    Raises:
        NotFound: no such container.
        Conflict: it is running and ``force`` is off.
    """
    engine.api.remove_container(ref, force=force, v=volumes)


@engine_call
def commit(
    engine: Engine,
    *,
    ref: str,
    repository: str,
    tag: str = "",
    message: str = "",
    author: str = "",
    pause: bool = True,
    changes: tuple[str, ...] = (),
) -> str:
    """``docker commit``: a new image from the container's filesystem.

    Args:
        ref: id, unique id prefix, or name.
        repository: the new image's repository (may be empty for an untagged image).
        tag: its tag (``latest`` when empty and a repository is given).
        message: the commit message.
        author: the author.
        pause: pause the container while committing (the CLI's default).
        changes: Dockerfile instructions applied to the image config (``CMD ["sh"]``).

    Returns:
        The new image's id (``sha256:...``).

    Raises:
        NotFound: no such container.
        InvalidInput: a change line or the reference was refused.
    """
    result = engine.api.commit(
        ref,
        repository=repository or None,
        tag=(tag or "latest") if repository else None,
        message=message or None,
        author=author or None,
        pause=pause,
        changes=list(changes) or None,
    )
    return str(result["Id"])


# --------------------------------------------------------------------------- streams


@engine_call
def export(engine: Engine, *, ref: str, chunk_size: int = EXPORT_CHUNK_BYTES) -> Iterator[bytes]:
    """``docker export``: the container's filesystem as a tar stream, in large chunks.

    The request is made (and a missing container reported) before the first chunk; the returned
    generator closes the engine response when it is closed or finished.

    Args:
        ref: id, unique id prefix, or name.
        chunk_size: bytes per chunk.

    Returns:
        A generator of ``bytes``.

    Raises:
        NotFound: no such container.
    """
    api = engine.api
    # docker-py's export() hides the response; we need it to close the connection on disconnect.
    response = api._get(api._url("/containers/{0}/export", ref), stream=True)
    api._raise_for_status(response)

    def chunks() -> Iterator[bytes]:
        try:
            with engine.translated():
                raw = response.raw
                while True:
                    data = raw.read(chunk_size)
                    if not data:
                        return
                    yield data
        finally:
            response.close()

    return chunks()


class EngineStream:
    """A blocking iterator of decoded JSON objects from the engine, closable from another thread."""

    def __init__(self, stream: CancellableStream, url: str):
        self._stream = stream
        self._url = url
        self._closed = False

    def __iter__(self) -> Iterator[dict]:
        while True:
            with translated(self._url):
                try:
                    item = next(self._stream)
                except StopIteration:
                    return
            yield item

    def close(self) -> None:
        """Shut the socket down: a read blocked in another thread returns at once."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close()
        except Exception:  # noqa: BLE001,S110 - already closed by the engine or the proxy
            pass


@engine_call
def container_events(engine: Engine) -> EngineStream:
    """``docker events --filter type=container`` as a closable blocking stream (no read timeout).

    The engine sends the response's headers before it subscribes this stream: an event between the
    two would be lost, so the stream starts 2 s back (the engine replays what it kept since; a
    change seen twice only refreshes a row twice).

    Returns:
        An :class:`EngineStream` of event dicts (``Action``, ``id``, ``Actor`` ...).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    stream = engine.api.events(decode=True, filters={"type": "container"}, since=int(time.time()) - 2)
    return EngineStream(stream, engine.url)


@engine_call
def stats_stream(engine: Engine, *, ref: str) -> EngineStream:
    """``docker stats`` of one container, one raw sample a second, as a closable blocking stream.

    Args:
        ref: id, unique id prefix, or name.

    Returns:
        An :class:`EngineStream` of raw stats dicts; see :func:`stats_sample`.

    Raises:
        NotFound: no such container.
    """
    api = engine.api
    response = api._get(api._url("/containers/{0}/stats", ref), params={"stream": True}, stream=True)
    api._raise_for_status(response)
    return EngineStream(CancellableStream(api._stream_helper(response, decode=True), response), engine.url)


@engine_call
def stats_snapshot(engine: Engine, *, ref: str) -> StatsSample:
    """One ``docker stats --no-stream`` sample (the engine waits for a second reading, ~1 s).

    Args:
        ref: id, unique id prefix, or name.

    Returns:
        A :class:`StatsSample` (zeros for a stopped container).

    Raises:
        NotFound: no such container.
        EngineUnavailable: the engine does not answer.
    """
    return stats_sample(engine.api.stats(ref, stream=False))


def stats_sample(raw: dict) -> StatsSample:
    """One raw stats document to numbers, CPU % and memory computed the way the docker CLI does.

    CPU % = (container CPU delta / system CPU delta) x online CPUs x 100; memory usage excludes the
    page cache (``inactive_file`` on cgroup v2, ``total_inactive_file``/``cache`` on v1).
    """
    cpu = raw.get("cpu_stats") or {}
    pre = raw.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ()) or 1
    cpu_percent = (cpu_delta / system_delta) * online * 100.0 if system_delta > 0 and cpu_delta > 0 else 0.0
    memory = raw.get("memory_stats") or {}
    details = memory.get("stats") or {}
    usage = int(memory.get("usage") or 0)
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and details[key] < usage:
            usage -= int(details[key])
            break
    limit = int(memory.get("limit") or 0)
    rx = tx = 0
    for net in (raw.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    read = write = 0
    for entry in (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return StatsSample(
        cpu_percent=round(cpu_percent, 2),
        cpus=int(online),
        memory_usage=usage,
        memory_limit=limit,
        memory_percent=round(usage / limit * 100.0, 2) if limit else 0.0,
        net_rx=rx,
        net_tx=tx,
        block_read=read,
        block_write=write,
        pids=int((raw.get("pids_stats") or {}).get("current") or 0),
    )


@engine_call
def settled(engine: Engine, *, ref: str, seconds: float = 0.3) -> ContainerDetail:
    """Inspect after a short grace period, so a command that fails at once shows as exited.

    Args:
        ref: id, unique id prefix, or name.
        seconds: the grace period.

    Returns:
        The container's :class:`ContainerDetail`.

    Raises:
        NotFound: it was removed meanwhile.
    """
    time.sleep(seconds)
    return inspect_container(engine, ref=ref)
