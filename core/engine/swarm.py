"""Swarm mode: the swarm state of an engine, its nodes, services and tasks, and the service actions.

Everything here needs an engine that is a Swarm *manager* (the engine answers 503 "This node is not
a swarm manager" otherwise, which arrives as :class:`core.errors.EngineRefused`); views check
:func:`swarm_state` first and show how to ``docker swarm init`` instead.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from docker.errors import APIError
from docker.types import EndpointSpec, Placement, ServiceMode, TaskTemplate
from docker.types.services import ContainerSpec
from docker.utils import version_lt

from core import references
from core.engine._client import Engine, engine_call
from core.errors import Conflict, InvalidInput
from core.policy import Mount, Workload, masked_env

AVAILABILITIES = ("active", "pause", "drain")
_PORT = re.compile(r"^(?:(?P<published>\d{1,5}):)?(?P<target>\d{1,5})(?:/(?P<protocol>tcp|udp|sctp))?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*=")
# The label `docker stack deploy` puts on the services (and tasks) of a swarm stack.
STACK_LABEL = "com.docker.stack.namespace"
# Task states that still count as "on their way" during a rolling update (docker/swarmkit api).
_CURRENT = {"running", "ready"}


@dataclass(frozen=True)
class SwarmState:
    local_state: str  # inactive, pending, active, error, locked
    is_manager: bool
    node_id: str
    cluster_id: str
    managers: int
    nodes: int
    error: str

    @property
    def active(self) -> bool:
        return self.local_state == "active"


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: str
    availability: str
    state: str
    address: str
    engine_version: str
    cpus: float
    memory: int
    leader: bool
    reachability: str
    labels: dict[str, str]
    os: str
    arch: str


@dataclass(frozen=True)
class PublishedPort:
    published: int
    target: int
    protocol: str
    mode: str

    def __str__(self) -> str:
        return f"{self.published}:{self.target}/{self.protocol}" + (" (host)" if self.mode == "host" else "")


@dataclass(frozen=True)
class ServiceSummary:
    id: str
    name: str
    mode: str  # replicated, global, replicated-job, global-job
    running: int
    desired: int
    image: str
    ports: tuple[PublishedPort, ...]
    update_state: str  # "" when never updated; updating, paused, completed, rollback_* ...
    update_message: str
    created: str
    updated: str
    stack: str = ""  # the swarm stack it belongs to (``com.docker.stack.namespace``), if any

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def updating(self) -> bool:
        return self.update_state in ("updating", "rollback_started")


@dataclass(frozen=True)
class Task:
    id: str
    slot: int | None
    node_id: str
    node: str
    state: str
    desired_state: str
    message: str
    error: str
    image: str
    container_id: str
    created: str
    updated: str
    service_id: str = ""

    @property
    def name(self) -> str:
        return f"{self.slot}" if self.slot is not None else self.node

    @property
    def current(self) -> bool:
        """Wanted running (or ready to start): not part of the history."""
        return self.desired_state in _CURRENT


@dataclass(frozen=True)
class UpdateProgress:
    """A rolling update as the manager reports it, plus how many tasks already run the new image."""

    state: str
    message: str
    started: str
    completed: str
    target_image: str
    updated: int
    desired: int

    @property
    def in_progress(self) -> bool:
        return self.state in ("updating", "rollback_started")


@dataclass(frozen=True)
class ServiceDetail:
    summary: ServiceSummary
    version: int
    command: tuple[str, ...]
    env: tuple[str, ...]
    constraints: tuple[str, ...]
    labels: dict[str, str]
    update_parallelism: int
    update_delay_seconds: float
    update_order: str
    previous_image: str
    tasks: tuple[Task, ...]
    progress: UpdateProgress
    workload: Workload  # what its task template asks of the hosts (core/policy.py)

    @property
    def env_masked(self) -> tuple[str, ...]:
        return masked_env(self.env)

    @property
    def current_tasks(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.current)


@dataclass(frozen=True)
class LogLine:
    task_id: str
    text: str


# --------------------------------------------------------------------------- reading


def _image(reference: str) -> str:
    """Services store ``repo:tag@sha256:...``; the digest is noise on a page."""
    return reference.split("@", 1)[0]


def _ports(spec_or_endpoint: dict) -> tuple[PublishedPort, ...]:
    return tuple(
        PublishedPort(
            published=int(p.get("PublishedPort") or 0),
            target=int(p.get("TargetPort") or 0),
            protocol=str(p.get("Protocol") or "tcp"),
            mode=str(p.get("PublishMode") or "ingress"),
        )
        for p in spec_or_endpoint.get("Ports") or ()
    )


def _mode(spec: dict) -> tuple[str, int | None]:
    mode = spec.get("Mode") or {}
    if "Replicated" in mode:
        return "replicated", int((mode["Replicated"] or {}).get("Replicas") or 0)
    if "Global" in mode:
        return "global", None
    if "ReplicatedJob" in mode:
        return "replicated-job", int((mode["ReplicatedJob"] or {}).get("TotalCompletions") or 0)
    if "GlobalJob" in mode:
        return "global-job", None
    return "unknown", None


def _summary(raw: dict, running: int, desired: int) -> ServiceSummary:
    spec = raw.get("Spec") or {}
    status = raw.get("UpdateStatus") or {}
    mode, _ = _mode(spec)
    return ServiceSummary(
        id=raw["ID"],
        name=str(spec.get("Name", "")),
        mode=mode,
        running=running,
        desired=desired,
        image=_image(str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", ""))),
        ports=_ports(raw.get("Endpoint") or {}) or _ports(spec.get("EndpointSpec") or {}),
        update_state=str(status.get("State") or ""),
        update_message=str(status.get("Message") or ""),
        created=str(raw.get("CreatedAt", "")),
        updated=str(raw.get("UpdatedAt", "")),
        stack=str((spec.get("Labels") or {}).get(STACK_LABEL, "")),
    )


@engine_call
def swarm_state(engine: Engine) -> SwarmState:
    """Whether the engine is in Swarm mode and a manager (from ``docker info``; one request).

    Args:

    Returns:
        A :class:`SwarmState`; ``is_manager`` says whether the rest of this module can be used.

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    swarm = engine.api.info().get("Swarm") or {}
    return SwarmState(
        local_state=str(swarm.get("LocalNodeState") or "inactive"),
        is_manager=bool(swarm.get("ControlAvailable")),
        node_id=str(swarm.get("NodeID") or ""),
        cluster_id=str((swarm.get("Cluster") or {}).get("ID") or ""),
        managers=int(swarm.get("Managers") or 0),
        nodes=int(swarm.get("Nodes") or 0),
        error=str(swarm.get("Error") or ""),
    )


def _node(raw: dict) -> Node:
    spec = raw.get("Spec") or {}
    description = raw.get("Description") or {}
    resources = description.get("Resources") or {}
    manager = raw.get("ManagerStatus") or {}
    platform = description.get("Platform") or {}
    return Node(
        id=raw["ID"],
        hostname=str(description.get("Hostname", "")),
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str((raw.get("Status") or {}).get("State", "")),
        address=str((raw.get("Status") or {}).get("Addr", "")),
        engine_version=str((description.get("Engine") or {}).get("EngineVersion", "")),
        cpus=int(resources.get("NanoCPUs") or 0) / 1e9,
        memory=int(resources.get("MemoryBytes") or 0),
        leader=bool(manager.get("Leader")),
        reachability=str(manager.get("Reachability", "")),
        labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
        os=str(platform.get("OS", "")),
        arch=str(platform.get("Architecture", "")),
    )


@engine_call
def list_nodes(engine: Engine) -> list[Node]:
    """The swarm's nodes (one request), managers first, then by hostname.

    Args:

    Returns:
        A list of :class:`Node`.

    Raises:
        EngineRefused: the engine is not a swarm manager.
        EngineUnavailable: the engine does not answer.
    """
    nodes = [_node(raw) for raw in engine.api.nodes()]
    return sorted(nodes, key=lambda n: (n.role != "manager", n.hostname, n.id))


@engine_call
def list_services(engine: Engine) -> list[ServiceSummary]:
    """The services with running/desired replicas, sorted by name.

    On API 1.41+ the engine counts the tasks itself (``GET /services?status=true``: one request).
    Older engines get exactly one more request: the running tasks of all services, counted here.

    Args:

    Returns:
        A list of :class:`ServiceSummary`.

    Raises:
        EngineRefused: the engine is not a swarm manager.
        EngineUnavailable: the engine does not answer.
    """
    return _services(engine.api)


@engine_call
def stack_services(engine: Engine, *, name: str = "") -> list[ServiceSummary]:
    """The services of swarm stacks (all, or of the stack ``name``), from the stack label.

    One request (two on engines before API 1.41). An engine that is not a swarm manager answers it
    with 503 at once: that is no swarm stacks, not an error, so the stack list costs nothing more
    on a plain engine.
    """
    label = f"{STACK_LABEL}={name}" if name else STACK_LABEL
    try:
        return _services(engine.api, {"label": label})
    except APIError as exc:
        if exc.status_code == 503:  # "This node is not a swarm manager"
            return []
        raise


@engine_call
def stack_tasks(engine: Engine, *, name: str) -> list[Task]:
    """The tasks of the swarm stack ``name`` (current first), by the stack label: two requests."""
    return _tasks(engine.api, filters={"label": f"{STACK_LABEL}={name}"})


@dataclass(frozen=True)
class Convergence:
    """How far one service of a swarm stack is from its current spec."""

    service: str
    ready: int  # tasks of the CURRENT spec that run (an update's old tasks do not count)
    desired: int
    failed: int  # tasks of the current spec that failed or were rejected
    error: str  # the newest of their errors

    @property
    def done(self) -> bool:
        return self.ready >= self.desired


_SPEC_KEYS = ("ContainerSpec", "Resources", "Placement", "RestartPolicy", "LogDriver")


def _same_spec(task: dict, template: dict) -> bool:
    """A task's spec is the template's (see :func:`stack_convergence`)."""
    if int(task.get("ForceUpdate") or 0) != int(template.get("ForceUpdate") or 0):
        return False
    return all((task.get(key) or {}) == (template.get(key) or {}) for key in _SPEC_KEYS)


@engine_call
def stack_convergence(engine: Engine, *, name: str) -> list[Convergence]:
    """Each service of the swarm stack ``name`` against its current spec (two requests).

    A task runs the current spec when its ``Spec`` matches the service's ``TaskTemplate`` in
    :data:`_SPEC_KEYS` (the manager copies the template into each task; ``--force`` changes
    ``ForceUpdate``; the API adds ``Runtime`` to the template only, so the two are not compared
    whole), so an update is done only when the new tasks run, not while the old ones still do.
    """
    api = engine.api
    label = {"label": f"{STACK_LABEL}={name}"}
    services = api.services(filters=label)
    tasks = api.tasks(filters=label)
    found = []
    for raw in services:
        spec = raw.get("Spec") or {}
        template = spec.get("TaskTemplate") or {}
        own = [t for t in tasks if t.get("ServiceID") == raw["ID"]]
        current = [t for t in own if _same_spec(t.get("Spec") or {}, template)]
        ready = sum(
            1
            for t in current
            if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"
        )
        failed = sorted(
            (t for t in current if (t.get("Status") or {}).get("Err")), key=lambda t: str(t.get("UpdatedAt"))
        )
        _, replicas = _mode(spec)
        if replicas is None:  # global: one task per node that should run one
            replicas = len({t.get("NodeID") for t in own if t.get("DesiredState") == "running"}) or 1
        found.append(
            Convergence(
                service=str(spec.get("Name", "")),
                ready=ready,
                desired=replicas,
                failed=len(failed),
                error=str(failed[-1]["Status"]["Err"]) if failed else "",
            )
        )
    return sorted(found, key=lambda c: c.service)


@engine_call
def stack_leftovers(engine: Engine, *, name: str) -> int:
    """How many services and networks of the swarm stack ``name`` are still there (after ``rm``)."""
    label = {"label": f"{STACK_LABEL}={name}"}
    try:
        services = engine.api.services(filters=label)
    except APIError as exc:
        if exc.status_code != 503:
            raise
        services = []
    return len(services) + len(engine.api.networks(filters=label))


@engine_call
def force_update(engine: Engine, service_id: str) -> None:
    """Replace every task of the service with a new one (``docker service update --force``).

    Raises:
        NotFound: no such service.
        Conflict: the service changed meanwhile; try again.
    """
    api = engine.api
    raw, version = _current(api, service_id)
    template = copy.deepcopy(raw["Spec"].get("TaskTemplate") or {})
    template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    api.update_service(raw["ID"], version, task_template=template, fetch_current_spec=True)


def _services(api, filters: dict | None = None) -> list[ServiceSummary]:
    if not version_lt(api._version, "1.41"):
        raw_services = api.services(filters=filters, status=True)
    else:
        raw_services = api.services(filters=filters)
    if all("ServiceStatus" in s for s in raw_services):
        services = [
            _summary(
                s,
                int(s["ServiceStatus"].get("RunningTasks") or 0),
                int(s["ServiceStatus"].get("DesiredTasks") or 0),
            )
            for s in raw_services
        ]
    else:
        tasks = api.tasks(filters={"desired-state": "running", **(filters or {})})
        running = Counter(t["ServiceID"] for t in tasks if (t.get("Status") or {}).get("State") == "running")
        desired = Counter(t["ServiceID"] for t in tasks)
        services = []
        for s in raw_services:
            _, replicas = _mode(s.get("Spec") or {})
            services.append(
                _summary(s, running[s["ID"]], replicas if replicas is not None else desired[s["ID"]])
            )
    return sorted(services, key=lambda s: s.name)


def _tasks(api, service_id: str = "", *, filters: dict | None = None) -> list[Task]:
    hostnames = {n["ID"]: (n.get("Description") or {}).get("Hostname", "") for n in api.nodes()}
    tasks = []
    for raw in api.tasks(filters=filters or {"service": service_id}):
        status = raw.get("Status") or {}
        container = ((raw.get("Spec") or {}).get("ContainerSpec")) or {}
        tasks.append(
            Task(
                id=raw["ID"],
                slot=raw.get("Slot"),
                node_id=str(raw.get("NodeID") or ""),
                node=str(hostnames.get(raw.get("NodeID"), raw.get("NodeID") or "")),
                state=str(status.get("State", "")),
                desired_state=str(raw.get("DesiredState", "")),
                message=str(status.get("Message", "")),
                error=str(status.get("Err", "")),
                image=_image(str(container.get("Image", ""))),
                container_id=str((status.get("ContainerStatus") or {}).get("ContainerID", "")),
                created=str(raw.get("CreatedAt", "")),
                updated=str(raw.get("UpdatedAt", "")),
                service_id=str(raw.get("ServiceID") or ""),
            )
        )
    # Current tasks first (by slot), then history, newest first: what `docker service ps` shows.
    tasks.sort(key=lambda t: t.updated, reverse=True)
    tasks.sort(key=lambda t: (not t.current, t.slot or 0))
    return tasks


def _progress(raw: dict, tasks: list[Task]) -> UpdateProgress:
    status = raw.get("UpdateStatus") or {}
    spec = raw.get("Spec") or {}
    target = _image(str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")))
    current = [t for t in tasks if t.current]
    _, replicas = _mode(spec)
    updated = sum(1 for t in current if t.image == target and t.state == "running")
    desired = replicas if replicas is not None else len(current)
    state, message = str(status.get("State") or ""), str(status.get("Message") or "")
    previous = (raw.get("PreviousSpec") or {}).get("TaskTemplate")
    if not state and previous is not None and previous != spec.get("TaskTemplate") and updated < desired:
        # The update was accepted but the manager has not written an UpdateStatus yet (it does so
        # asynchronously, a moment after the POST): it is pending, not "never updated".
        state, message = "updating", "Update accepted; waiting for the manager to start it."
    return UpdateProgress(
        state=state,
        message=message,
        started=str(status.get("StartedAt") or ""),
        completed=str(status.get("CompletedAt") or ""),
        target_image=target,
        updated=updated,
        desired=desired,
    )


@engine_call
def service_tasks(engine: Engine, service_id: str) -> list[Task]:
    """The tasks of one service with their node's hostname (two requests: tasks, nodes).

    Args:
        service_id: the service's id or name.

    Returns:
        Current tasks first (by slot), then the task history.

    Raises:
        EngineRefused: the engine is not a swarm manager.
    """
    return _tasks(engine.api, service_id)


def _workload(api, template: dict) -> Workload:
    """What a service's task template asks of its hosts, in the policy's terms."""
    container = template.get("ContainerSpec") or {}
    privileges = container.get("Privileges") or {}
    mounts = []
    for m in container.get("Mounts") or ():
        options = (m.get("VolumeOptions") or {}).get("DriverConfig") or {}
        mounts.append(
            Mount(
                source=str(m.get("Source") or ""),
                target=str(m.get("Target") or ""),
                kind=str(m.get("Type") or "volume").lower(),
                read_only=bool(m.get("ReadOnly")),
                driver=str(options.get("Name") or ""),
                driver_options=tuple(
                    sorted((str(k), str(v)) for k, v in (options.get("Options") or {}).items())
                ),
            )
        )
    drivers = set()
    for attachment in template.get("Networks") or ():
        try:
            drivers.add(str(api.inspect_network(attachment.get("Target", "")).get("Driver") or ""))
        except Exception as exc:  # a network gone since is not the host's
            if getattr(exc, "status_code", None) != 404:
                raise
    security = []
    if (privileges.get("SELinuxContext") or {}).get("Disable"):
        security.append("label=disable")
    if (privileges.get("Seccomp") or {}).get("Mode") == "unconfined":
        security.append("seccomp=unconfined")
    if (privileges.get("AppArmor") or {}).get("Mode") == "disabled":
        security.append("apparmor=unconfined")
    return Workload(
        cap_add=tuple(str(c) for c in container.get("CapabilityAdd") or ()),
        network="host" if "host" in drivers else "",
        mounts=tuple(mounts),
        security_opt=tuple(security),
        sysctls=tuple(f"{k}={v}" for k, v in (container.get("Sysctls") or {}).items()),
    )


@engine_call
def inspect_service(engine: Engine, service_id: str) -> ServiceDetail:
    """One service: its spec, its tasks and the state of its last rolling update.

    Args:
        service_id: the service's id or name.

    Returns:
        A :class:`ServiceDetail`.

    Raises:
        NotFound: no such service.
        EngineRefused: the engine is not a swarm manager.
    """
    api = engine.api
    raw = api.inspect_service(service_id)
    tasks = _tasks(api, raw["ID"])
    spec = raw.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    update = spec.get("UpdateConfig") or {}
    current = [t for t in tasks if t.current]
    _, replicas = _mode(spec)
    running = sum(1 for t in current if t.state == "running")
    previous = ((raw.get("PreviousSpec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return ServiceDetail(
        summary=_summary(raw, running, replicas if replicas is not None else len(current)),
        version=int((raw.get("Version") or {}).get("Index") or 0),
        command=tuple(str(a) for a in (container.get("Command") or []) + (container.get("Args") or [])),
        env=tuple(str(e) for e in container.get("Env") or ()),
        constraints=tuple(str(c) for c in (template.get("Placement") or {}).get("Constraints") or ()),
        labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
        update_parallelism=int(update.get("Parallelism", 1) or 0),
        update_delay_seconds=int(update.get("Delay") or 0) / 1e9,
        update_order=str(update.get("Order") or "stop-first"),
        previous_image=_image(str(previous.get("Image", ""))),
        tasks=tuple(tasks),
        progress=_progress(raw, tasks),
        workload=_workload(api, template),
    )


@engine_call
def update_progress(engine: Engine, service_id: str) -> UpdateProgress:
    """Poll a rolling update: the service's UpdateStatus and how many tasks run the new image.

    Args:
        service_id: the service's id or name.

    Returns:
        An :class:`UpdateProgress` (``in_progress`` while the manager is still updating).

    Raises:
        NotFound: no such service.
    """
    api = engine.api
    raw = api.inspect_service(service_id)
    return _progress(raw, _tasks(api, raw["ID"]))


# --------------------------------------------------------------------------- parsing inputs


def parse_ports(text: str) -> list[PublishedPort]:
    """Parse ``8080:80``, ``8443:443/tcp``, ``53:53/udp`` (comma or newline separated).

    A port without a published number (``80``) lets the swarm choose one (30000+).

    Raises:
        InvalidInput: a port does not fit ``[published:]target[/protocol]`` or is out of range.
    """
    ports = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        match = _PORT.match(item)
        if match is None:
            raise InvalidInput(f"“{item}” is not a port mapping like 8080:80 or 53:53/udp.")
        published = int(match["published"] or 0)
        target = int(match["target"])
        if not (0 < target < 65536) or not (0 <= published < 65536):
            raise InvalidInput(f"“{item}”: ports go from 1 to 65535.")
        ports.append(PublishedPort(published, target, match["protocol"] or "tcp", "ingress"))
    return ports


def parse_env(text: str) -> list[str]:
    """``KEY=value`` lines; blank lines are ignored.

    Raises:
        InvalidInput: a line is not ``KEY=value``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if not _ENV.match(line):
            raise InvalidInput(f"“{line}” is not KEY=value.")
    return lines


def parse_constraints(text: str) -> list[str]:
    """Placement constraints, one per line (``node.role==manager``, ``node.labels.zone!=b``).

    Raises:
        InvalidInput: a line has no ``==`` or ``!=``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "==" not in line and "!=" not in line:
            raise InvalidInput(f"“{line}” is not a constraint like node.role==manager.")
    return lines


# --------------------------------------------------------------------------- actions


@engine_call
def create_service(
    engine: Engine,
    *,
    name: str,
    image: str,
    replicas: int = 1,
    command: list[str] | None = None,
    ports: list[PublishedPort] | None = None,
    env: list[str] | None = None,
    constraints: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Create a replicated service (``docker service create``).

    The image must be present on the nodes or pullable by them; the manager does not check.

    Args:
        name: the service's name.
        image: the image reference.
        replicas: how many tasks to run (0 or more).
        command: the command to run instead of the image's default.
        ports: ports to publish (ingress mode unless the port says ``host``).
        env: ``KEY=value`` items.
        constraints: placement constraints.
        labels: service labels.

    Returns:
        The new service's id.

    Raises:
        InvalidInput: a bad name, replicas or spec (the engine's 400).
        Conflict: a service of that name exists.
    """
    references.validate_service_name(name)  # a BadReference leaves as InvalidReference (engine_call)
    if replicas < 0:
        raise InvalidInput("Replicas cannot be negative.")
    if not image.strip():
        raise InvalidInput("An image is required.")
    template = TaskTemplate(
        container_spec=ContainerSpec(image.strip(), command=command or None, env=env or None),
        placement=Placement(constraints=constraints) if constraints else None,
    )
    endpoint = None
    if ports:
        endpoint = EndpointSpec(
            ports=[
                {"TargetPort": p.target, "Protocol": p.protocol, "PublishMode": p.mode}
                | ({"PublishedPort": p.published} if p.published else {})
                for p in ports
            ]
        )
    created = engine.api.create_service(
        template,
        name=name,
        labels=labels or None,
        mode=ServiceMode("replicated", replicas=replicas),
        endpoint_spec=endpoint,
    )
    return str(created["ID"])


def _current(api, service_id: str) -> tuple[dict, int]:
    raw = api.inspect_service(service_id)
    return raw, int(raw["Version"]["Index"])


@engine_call
def scale_service(engine: Engine, service_id: str, *, replicas: int) -> None:
    """Set a replicated service's replica count (``docker service scale``).

    Args:
        service_id: the service's id or name.
        replicas: the new count (0 or more).

    Raises:
        InvalidInput: negative replicas, or the service is global (it runs one task per node).
        NotFound: no such service.
        Conflict: the service changed meanwhile (version mismatch); try again.
    """
    if replicas < 0:
        raise InvalidInput("Replicas cannot be negative.")
    api = engine.api
    raw, version = _current(api, service_id)
    mode, _ = _mode(raw["Spec"])
    if mode != "replicated":
        raise InvalidInput(f"Only replicated services can be scaled; this one is {mode}.")
    api.update_service(
        raw["ID"], version, mode=ServiceMode("replicated", replicas=replicas), fetch_current_spec=True
    )


@engine_call
def update_image(engine: Engine, service_id: str, *, image: str) -> None:
    """Start a rolling update of the service to ``image`` (``docker service update --image``).

    The manager replaces tasks following the service's UpdateConfig (parallelism, delay, order);
    follow it with :func:`update_progress`.

    Args:
        service_id: the service's id or name.
        image: the new image reference.

    Raises:
        InvalidInput: an empty image.
        NotFound: no such service.
        Conflict: the service changed meanwhile; try again.
    """
    if not image.strip():
        raise InvalidInput("An image is required.")
    api = engine.api
    raw, version = _current(api, service_id)
    template = copy.deepcopy(raw["Spec"].get("TaskTemplate") or {})
    template.setdefault("ContainerSpec", {})["Image"] = image.strip()
    api.update_service(raw["ID"], version, task_template=template, fetch_current_spec=True)


@engine_call
def remove_service(engine: Engine, service_id: str) -> None:
    """Remove a service and its tasks (``docker service rm``).

    Args:
        service_id: the service's id or name.

    Raises:
        NotFound: no such service.
    """
    engine.api.remove_service(service_id)


@engine_call
def set_node_availability(engine: Engine, node_id: str, *, availability: str) -> None:
    """Drain, pause or activate a node (``docker node update --availability``).

    Args:
        node_id: the node's id or hostname.
        availability: ``active``, ``pause`` or ``drain``.

    Raises:
        InvalidInput: an unknown availability.
        NotFound: no such node.
        Conflict: the node changed meanwhile; try again.
    """
    if availability not in AVAILABILITIES:
        raise InvalidInput(f"Availability is one of {', '.join(AVAILABILITIES)}.")
    api = engine.api
    raw = api.inspect_node(node_id)
    spec = dict(raw.get("Spec") or {})
    if spec.get("Availability") == availability:
        raise Conflict(f"The node is already {availability}.")
    spec["Availability"] = availability
    api.update_node(raw["ID"], int(raw["Version"]["Index"]), node_spec=spec)


_DETAILS = re.compile(r"^(?P<details>(?:[\w.]+=[^,\s]*,?)+) (?P<text>.*)$", re.DOTALL)


@engine_call
def service_log_stream(
    engine: Engine, service_id: str, *, tail: int | str = 100, follow: bool = False
) -> Iterator[bytes]:
    """Service logs as a stream of raw chunks (stdout and stderr, with task details), like container logs.

    Each line starts with ``com.docker.swarm.node.id=...,com.docker.swarm.service.id=...,
    com.docker.swarm.task.id=...`` then a space. Errors raised while iterating are SDK errors: iterate
    inside ``engine.translated()``. docker-py gives no handle on the HTTP response here, so a follower
    blocked in a read cannot be interrupted by ``close()`` from another thread; a websocket consumer
    should use ``follow=True`` only with that in mind (the thread ends at the next line or EOF).

    Args:
        service_id: the service's id or name.
        tail: how many lines from the end per task (or ``"all"``).
        follow: keep the stream open for new lines.

    Returns:
        The docker-py log stream (a generator of bytes).

    Raises:
        NotFound: no such service.
    """
    return engine.api.service_logs(
        service_id, details=True, stdout=True, stderr=True, follow=follow, tail=tail
    )


@engine_call
def service_log_lines(engine: Engine, service_id: str, *, tail: int = 100) -> list[LogLine]:
    """The last ``tail`` lines of each task of a service, read once (not followed).

    Args:
        service_id: the service's id or name.
        tail: lines per task.

    Returns:
        :class:`LogLine` items (task id, text) in the order the engine sent them.

    Raises:
        NotFound: no such service.
    """
    stream = service_log_stream(engine, service_id, tail=tail, follow=False)
    data = b"".join(stream)
    lines = []
    for line in data.decode("utf-8", "replace").splitlines():
        match = _DETAILS.match(line)
        if match is None:
            lines.append(LogLine("", line))
            continue
        details = dict(item.split("=", 1) for item in match["details"].rstrip(",").split(",") if "=" in item)
        lines.append(LogLine(details.get("com.docker.swarm.task.id", ""), match["text"]))
    return lines
