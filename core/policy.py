"""The ONE workload policy: what a non-admin may ask of a Docker host, and what a viewer may read.

A Docker socket is root on its host, so everything that creates or changes a workload (container
create/run, swarm service create and update; later recreate/edit, stack deploy, volume create and
the API) describes what it asks for as a :class:`Workload` and calls :func:`refusals` with the facts
the engine knows (:class:`Facts`: the named volumes, the network's driver). The rules, for roles
below admin:

- no privileged mode, no added capabilities, no devices, no ``security_opt``, no sysctls;
- no host or other container's namespace: network ``host`` / ``container:*`` (or a network whose
  driver is ``host``, named by its id), pid/ipc/uts ``host`` / ``container:*``, case-insensitively;
- no bind mounts of host paths; no named volume with a non-``local`` driver or with bind/device
  ``driver_opts`` (``type=none``, ``o=bind``, ``device=...``), whether it exists or would be created;
- an existing named volume that some container already mounts is another application's data: a
  non-admin may mount it read-only only; and no ``volumes_from`` another container;
- log options only from :data:`SAFE_LOG_OPTIONS` (rotation, metadata, tag): none that sends logs to
  an address or URL, names a host path or carries credentials (``syslog-address``, ``gelf-address``...).

For everyone (admins too): a field the form does not know is refused, never silently ignored.

Pure: no engine calls, no database. The engine gathers :class:`Facts`; views and forms call here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from core.roles import Role

MASK = "***"
# Values of these namespace fields a non-admin may use (empty = the engine's default).
SAFE_NAMESPACE_VALUES = {
    "network": {"", "bridge", "none", "default"},
    "pid": {"", "private"},
    "ipc": {"", "private", "shareable", "none"},
    "uts": {"", "private"},
}
BIND_OPTION_TYPES = {"none", "bind", "rbind"}
# Log options a non-admin may set: they shape the logs (rotation, metadata, tag, buffering). The
# others send logs to an address, a URL or a host path, or carry credentials: admin only.
SAFE_LOG_OPTIONS = frozenset(
    "max-size max-file compress labels labels-regex env env-regex tag mode max-buffer-size".split()
)
# Names whose values are secrets (env keys, audit parameters): masked for whoever may not see them.
SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)


@dataclass(frozen=True)
class Mount:
    """One mount a workload asks for. ``kind``: ``bind`` (host path), ``volume`` (named) or ``tmpfs``."""

    source: str
    target: str
    kind: str = "volume"
    read_only: bool = False
    driver: str = ""  # for a volume the mount itself would create (a swarm mount's DriverConfig)
    driver_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workload:
    """What a workload asks of its host, whatever path it came from (form, service spec, API)."""

    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    network: str = ""
    pid: str = ""
    ipc: str = ""
    uts: str = ""
    mounts: tuple[Mount, ...] = ()
    devices: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    sysctls: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()  # other containers whose volumes it mounts
    log_options: tuple[tuple[str, str], ...] = ()  # the log driver's options (key, value)
    unknown_fields: tuple[str, ...] = ()

    @property
    def volume_names(self) -> tuple[str, ...]:
        return tuple(m.source for m in self.mounts if m.kind == "volume" and m.source)


@dataclass(frozen=True)
class VolumeFacts:
    """An existing named volume as the engine reports it."""

    name: str
    driver: str = "local"
    options: tuple[tuple[str, str], ...] = ()
    used_by: tuple[str, ...] = ()  # names of the containers that mount it


@dataclass(frozen=True)
class Facts:
    """What the engine knows about the resources a workload names (gathered only for non-admins)."""

    volumes: Mapping[str, VolumeFacts] = field(default_factory=dict)  # existing ones only
    network_driver: str = ""  # the driver of ``Workload.network`` when it names an existing network


@dataclass(frozen=True)
class Refusal:
    """One rule a workload breaks: the field it is about and the sentence shown to the person."""

    field: str
    message: str


def bind_options(driver: str, options: Iterable[tuple[str, str]]) -> str:
    """Why a volume driver/options pair reaches outside Docker's own storage ('' when it does not)."""
    if (driver or "local").lower() != "local":
        return f"the volume driver “{driver}” (only “local” is allowed)"
    for key, value in options:
        key, value = key.strip().lower(), value.strip().lower()
        if key == "device":
            return f"the option device={value} (mounts something of the host)"
        if key == "type" and value in BIND_OPTION_TYPES:
            return f"the option type={value} (a bind mount of the host)"
        if key == "o" and {"bind", "rbind"} & {part.strip() for part in value.split(",")}:
            return f"the option o={value} (a bind mount of the host)"
    return ""


def _namespace_refusal(name: str, value: str, network_driver: str = "") -> Refusal | None:
    lowered = value.strip().lower()
    if name == "network" and network_driver.lower() == "host":
        return Refusal(
            name, f"Only an admin may use the host's network namespace (“{value}” is the host network)."
        )
    if lowered in SAFE_NAMESPACE_VALUES[name] or (name == "network" and not _is_special(lowered)):
        return None
    if lowered == "host":
        return Refusal(name, f"Only an admin may use the host's {name} namespace.")
    if lowered.startswith("container:"):
        return Refusal(name, f"Only an admin may join another container's {name} namespace ({value}).")
    return Refusal(name, f"Only an admin may choose the {name} namespace ({value}).")


def _is_special(network: str) -> bool:
    """Network modes that are not a network's name: host, container:<x>, ns:<path>."""
    return network == "host" or ":" in network


def _mount_refusals(mount: Mount, facts: Facts) -> list[Refusal]:
    if mount.kind == "tmpfs":
        return []
    if mount.kind == "bind":
        return [
            Refusal(
                "volumes", f"Only an admin may bind-mount host paths ({mount.source}); use a named volume."
            )
        ]
    if mount.kind != "volume":
        return [Refusal("volumes", f"Only an admin may use {mount.kind} mounts ({mount.source}).")]
    existing = facts.volumes.get(mount.source)
    if existing is None:
        why = bind_options(mount.driver, mount.driver_options)
        return (
            [Refusal("volumes", f"Only an admin may create the volume {mount.source} with {why}.")]
            if why
            else []
        )
    why = bind_options(existing.driver, existing.options)
    if why:
        return [Refusal("volumes", f"Only an admin may mount the volume {mount.source}: it uses {why}.")]
    if existing.used_by and not mount.read_only:
        users = ", ".join(existing.used_by[:5]) + (" …" if len(existing.used_by) > 5 else "")
        return [
            Refusal(
                "volumes",
                f"The volume {mount.source} holds another application's data (used by {users}): "
                "mount it read-only (:ro), or ask an admin.",
            )
        ]
    return []


def refusals(workload: Workload, role: Role, facts: Facts | None = None) -> tuple[Refusal, ...]:
    """Every rule ``workload`` breaks for ``role`` (empty: allowed). Admins only get unknown fields."""
    found: list[Refusal] = []
    if workload.unknown_fields:
        names = ", ".join(sorted(workload.unknown_fields))
        found.append(Refusal("", f"Unknown field(s) refused: {names}. Nothing was changed."))
    if role >= Role.ADMIN:
        return tuple(found)
    facts = facts or Facts()
    if workload.privileged:
        found.append(Refusal("privileged", "Only an admin may create a privileged container."))
    if workload.cap_add:
        found.append(Refusal("cap_add", "Only an admin may add capabilities."))
    for name in ("devices", "security_opt", "sysctls"):
        if getattr(workload, name):
            found.append(Refusal(name, f"Only an admin may set {name}."))
    for name in ("network", "pid", "ipc", "uts"):
        refusal = _namespace_refusal(
            name, getattr(workload, name), facts.network_driver if name == "network" else ""
        )
        if refusal is not None:
            found.append(refusal)
    for mount in workload.mounts:
        found.extend(_mount_refusals(mount, facts))
    if workload.volumes_from:
        names = ", ".join(workload.volumes_from)
        found.append(
            Refusal("volumes_from", f"Only an admin may mount another container's volumes ({names}).")
        )
    routed = sorted({key for key, _ in workload.log_options if key not in SAFE_LOG_OPTIONS})
    if routed:
        found.append(
            Refusal(
                "log_opts",
                f"Only an admin may set the log option(s) {', '.join(routed)} (log options other than "
                f"{', '.join(sorted(SAFE_LOG_OPTIONS))} send logs elsewhere or name host paths).",
            )
        )
    return tuple(found)


def gather_facts(
    workload: Workload,
    *,
    inspect_volume: Callable[..., VolumeFacts | None],
    network_driver: Callable[..., str],
) -> Facts:
    """The facts :func:`refusals` needs, from the engine functions given (volumes and network)."""
    volumes = {}
    for name in dict.fromkeys(workload.volume_names):
        found = inspect_volume(name=name)
        if found is not None:
            volumes[name] = found
    network = workload.network.strip()
    driver = network_driver(name=network) if network and not _is_special(network.lower()) else ""
    return Facts(volumes=volumes, network_driver=driver)


def unknown_fields(posted: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """The posted field names a form does not know (the CSRF token is not a field)."""
    allowed = set(known) | {"csrfmiddlewaretoken"}
    return tuple(sorted({name for name in posted if name not in allowed}))


# --------------------------------------------------------------------------- secrets for viewers


def looks_secret(name: str) -> bool:
    """Whether a variable or parameter name looks like it holds a secret (PASSWORD, API_KEY ...)."""
    return bool(SECRET_NAME.search(name))


def masked_env_text(text: str) -> str:
    """A ``.env`` text with the values of secret-looking variables replaced by ``***``."""
    out = []
    for line in text.splitlines():
        key, sep, _ = line.partition("=")
        name = key.strip().removeprefix("export ").strip()
        out.append(f"{key}={MASK}" if sep and not name.startswith("#") and looks_secret(name) else line)
    return "\n".join(out)


# ``KEY: value``, ``- KEY=value`` or ``KEY=value`` lines of a compose file (environment, args, labels).
_ASSIGNMENT = re.compile(r"^(\s*(?:-\s*)?[\"']?([A-Za-z_][A-Za-z0-9_.-]*)[\"']?\s*[:=])(\s*)(\S.*)$")


def masked_compose_text(text: str) -> str:
    """A compose file with the values of secret-looking keys (``DB_PASSWORD: x``) replaced by ``***``."""
    out = []
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and looks_secret(match.group(2)):
            line = f"{match.group(1)}{match.group(3) or ' '}{MASK}"
        out.append(line)
    return "\n".join(out)


def masked_env(items: Iterable[str]) -> tuple[str, ...]:
    """``KEY=value`` items with every value replaced by ``***`` (a bare ``KEY`` stays as it is)."""
    out = []
    for item in items:
        key, sep, _ = str(item).partition("=")
        out.append(f"{key}={MASK}" if sep else key)
    return tuple(out)


# Where env lists live in the documents the dashboard shows: container inspect, image inspect
# (Config and the legacy ContainerConfig), a swarm service (Spec and PreviousSpec).
_ENV_PATHS = (
    ("Config", "Env"),
    ("ContainerConfig", "Env"),
    ("Spec", "TaskTemplate", "ContainerSpec", "Env"),
    ("PreviousSpec", "TaskTemplate", "ContainerSpec", "Env"),
)


def masked_document(raw: Mapping) -> dict:
    """A copy of an inspect document with the env values masked wherever they appear."""
    doc = json.loads(json.dumps(raw))
    for path in _ENV_PATHS:
        node = doc
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), list):
            node[path[-1]] = list(masked_env(node[path[-1]]))
    return doc
