"""Networks: list (with the containers attached), inspect, create, connect/disconnect, remove.

"Attached" / "in use" means referenced by ANY container, in any state, and has ONE source for the
list, the detail, delete and prune: ``/containers/json?all=1``, whose ``NetworkSettings.Networks``
names every network a container is configured for (:func:`refers`). A network's own inspect
``Containers`` lists only running endpoints, and the engine removes a network that only stopped or
never-started containers name (their next start then fails with "network not found"). On 20.10 a
container that never ran has an empty ``NetworkID`` there (only the network's name, or what was
typed, as the key); a stopped one keeps the id; addresses are empty until it runs.

The list is TWO concurrent requests (``/networks`` and ``/containers/json?all=1``); the detail and
delete are the network's inspect and ``/containers/json?all=1``, also concurrent.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime

from core.engine._client import Engine, both, engine_call
from core.engine.volumes import ContainerUse, engine_time, with_containers
from core.errors import Conflict, InvalidInput, NotFound

PREDEFINED = frozenset({"bridge", "host", "none"})
MAX_INSPECTED_ALIASES = 100  # attached containers inspected for their aliases on a detail page


@dataclass(frozen=True)
class Subnet:
    subnet: str
    gateway: str = ""
    ip_range: str = ""


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str
    scope: str
    created: str
    internal: bool
    attachable: bool
    ipv6: bool
    subnets: tuple[Subnet, ...]
    labels: dict[str, str] = field(hash=False)
    options: dict[str, str] = field(hash=False)
    containers: tuple[ContainerUse, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def in_use(self) -> bool:
        """Referenced by any container, running or not (docker's own prune counts running ones)."""
        return bool(self.containers)

    @property
    def used_only_by_stopped(self) -> bool:
        """In use, but by no running container: ``docker network prune`` would remove it."""
        return self.in_use and not any(c.running for c in self.containers)

    @property
    def created_at(self) -> datetime | None:
        return engine_time(self.created)


@dataclass(frozen=True)
class Attachment:
    """A container on a network, as the network's detail page shows it: a running one's addresses,
    or for one not running what it asks for (``requested_ipv4``/``requested_ipv6``, its IPAMConfig)."""

    container: ContainerUse
    ipv4: str
    ipv6: str
    mac: str
    aliases: tuple[str, ...]
    requested_ipv4: str = ""
    requested_ipv6: str = ""


@dataclass(frozen=True)
class NetworkDetail:
    network: Network
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    driver: str = "bridge"
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    attachable: bool = False
    ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    options: dict[str, str] = field(default_factory=dict, hash=False)


def _container_name(raw: dict) -> str:
    names = raw.get("Names") or []
    return (
        names[0].lstrip("/") if names else str(raw.get("Name", "")).lstrip("/") or str(raw.get("Id", ""))[:12]
    )


def _use(raw: dict) -> ContainerUse:
    return ContainerUse(
        id=str(raw.get("Id", "")),
        name=_container_name(raw),
        state=str(raw.get("State", "")),
        image=str(raw.get("Image", "")),
    )


def refers(key: str, settings: dict | None, network_id: str, network_name: str) -> bool:
    """Whether a container's ``NetworkSettings.Networks[key] = settings`` names this network.

    By the endpoint's ``NetworkID`` (set once the container ran), else by the key: the network's
    name (what the engine stores for a container that never ran), its id, or an id prefix of 12 or
    more hex digits (should the engine keep what was typed: it resolves those at start). A stopped
    container whose network was removed and made again under the same name counts for the new one
    too: its start would look the name up. Pure.
    """
    if network_id and (settings or {}).get("NetworkID") == network_id:
        return True
    if not key:
        return False
    if key == network_name or key == network_id:
        return True
    return len(key) >= 12 and _HEX.fullmatch(key) is not None and network_id.startswith(key)


_HEX = re.compile(r"[0-9a-f]+")


def _users_by_network(
    containers: list[dict], networks: list[dict]
) -> dict[str, list[tuple[ContainerUse, dict]]]:
    """Every network's id -> the containers (any state) that refer to it (:func:`refers`), each with
    its endpoint settings from ``/containers/json``. One pass: indexes by NetworkID, name and id."""
    by_name = {str(n.get("Name", "")): str(n.get("Id", "")) for n in networks}
    ids = [str(n.get("Id", "")) for n in networks]
    known = set(ids)
    users: dict[str, dict[str, tuple[ContainerUse, dict]]] = {}
    for raw in containers:
        endpoints = (raw.get("NetworkSettings") or {}).get("Networks") or {}
        if not endpoints:
            continue
        use = _use(raw)
        for key, settings in endpoints.items():
            settings = settings or {}
            targets = set()
            network_id = str(settings.get("NetworkID") or "")
            if network_id in known:
                targets.add(network_id)
            if key in by_name:
                targets.add(by_name[key])
            if key in known:
                targets.add(key)
            elif len(key) >= 12 and _HEX.fullmatch(key):
                targets.update(i for i in ids if i.startswith(key))
            for target in targets:
                users.setdefault(target, {}).setdefault(use.id, (use, settings))
    return {target: list(found.values()) for target, found in users.items()}


def _network(raw: dict, users: dict[str, list[tuple[ContainerUse, dict]]]) -> Network:
    ipam = raw.get("IPAM") or {}
    network_id = str(raw.get("Id", ""))
    return Network(
        id=network_id,
        name=str(raw.get("Name", "")),
        driver=str(raw.get("Driver", "")),
        scope=str(raw.get("Scope", "")),
        created=str(raw.get("Created", "")),
        internal=bool(raw.get("Internal")),
        attachable=bool(raw.get("Attachable")),
        ipv6=bool(raw.get("EnableIPv6")),
        subnets=tuple(
            Subnet(
                subnet=str(c.get("Subnet", "")),
                gateway=str(c.get("Gateway", "")),
                ip_range=str(c.get("IPRange", "")),
            )
            for c in ipam.get("Config") or []
        ),
        labels=dict(raw.get("Labels") or {}),
        options=dict(raw.get("Options") or {}),
        containers=tuple(sorted((use for use, _ in users.get(network_id, ())), key=lambda u: u.name)),
    )


@engine_call
def list_networks(engine: Engine) -> list[Network]:
    """``docker network ls`` with the containers attached to each, in two concurrent requests."""
    networks, containers = with_containers(engine.api, engine.api.networks)
    users = _users_by_network(containers, networks)
    return [_network(raw, users) for raw in networks]


@engine_call
def network_names(engine: Engine) -> list[tuple[str, str]]:
    """``(name, driver)`` of every network, sorted by name (one request; for pickers)."""
    return sorted((str(raw.get("Name", "")), str(raw.get("Driver", ""))) for raw in engine.api.networks())


def _inspect_with_users(engine: Engine, ref: str) -> tuple[dict, list[tuple[ContainerUse, dict]], dict]:
    """The network's inspect and the containers that refer to it (any state), read at the same time;
    plus the running endpoints the inspect names (``Containers``: id -> addresses)."""
    api = engine.api
    raw, containers = both(lambda: api.inspect_network(ref), lambda: api.containers(all=True))
    users = _users_by_network(containers, [raw]).get(str(raw.get("Id", "")), [])
    return raw, users, dict(raw.get("Containers") or {})


def _address(settings: dict, address: str, prefix: str) -> str:
    value = str(settings.get(address) or "")
    length = settings.get(prefix)
    return f"{value}/{length}" if value and length else value


@engine_call
def inspect_network(engine: Engine, *, ref: str) -> NetworkDetail:
    """One network and every container that refers to it (running or not) with its state, addresses,
    MAC and aliases: a running one's from the network's inspect (else its own settings), one not
    running shows what it asks for (IPAMConfig) or nothing. Two concurrent requests, plus an inspect
    of each of the first ``MAX_INSPECTED_ALIASES`` containers for its aliases (``/containers/json``
    leaves them out).

    Raises:
        NotFound: no such network.
    """
    api = engine.api
    raw, users, endpoints = _inspect_with_users(engine, ref)
    name = str(raw.get("Name", ""))
    rows: list[tuple[ContainerUse, dict, dict]] = [
        (use, settings, endpoints.get(use.id) or {}) for use, settings in users
    ]
    known = {use.id for use, _ in users}
    for container_id, info in endpoints.items():  # running endpoints /containers/json did not list
        if container_id not in known:  # (one started meanwhile, a swarm load balancer's endpoint)
            use = ContainerUse(id=str(container_id), name=str((info or {}).get("Name", "")), state="")
            rows.append((use, {}, info or {}))
    rows.sort(key=lambda row: row[0].name)
    attachments = []
    for index, (use, settings, endpoint) in enumerate(rows):
        aliases: tuple[str, ...] = ()
        if index < MAX_INSPECTED_ALIASES:
            try:
                container = api.inspect_container(use.id)
            except Exception as exc:
                if getattr(exc, "status_code", None) != 404:
                    raise
            else:
                mine = ((container.get("NetworkSettings") or {}).get("Networks") or {}).items()
                own = next((s for k, s in mine if refers(k, s, str(raw.get("Id", "")), name)), None) or {}
                aliases = tuple(a for a in own.get("Aliases") or () if not use.id.startswith(a))
                if not use.state:
                    use = ContainerUse(
                        id=use.id, name=use.name, state=str((container.get("State") or {}).get("Status", ""))
                    )
        requested = settings.get("IPAMConfig") or {}
        attachments.append(
            Attachment(
                container=use,
                ipv4=str(endpoint.get("IPv4Address") or "") or _address(settings, "IPAddress", "IPPrefixLen"),
                ipv6=str(endpoint.get("IPv6Address") or "")
                or _address(settings, "GlobalIPv6Address", "GlobalIPv6PrefixLen"),
                mac=str(endpoint.get("MacAddress") or settings.get("MacAddress") or ""),
                aliases=aliases,
                requested_ipv4=str(requested.get("IPv4Address") or ""),
                requested_ipv6=str(requested.get("IPv6Address") or ""),
            )
        )
    network_users = {str(raw.get("Id", "")): [(a.container, {}) for a in attachments]}
    return NetworkDetail(network=_network(raw, network_users), attachments=tuple(attachments))


def check_subnets(spec: NetworkSpec, existing: list[Network]) -> None:
    """Pure checks of a new network's addresses against each other and the engine's networks.

    Raises:
        InvalidInput: not a subnet, gateway/range outside it, or overlap with an existing one.
    """
    if not spec.subnet:
        if spec.gateway or spec.ip_range:
            raise InvalidInput("A gateway or IP range needs a subnet.")
        return
    try:
        subnet = ipaddress.ip_network(spec.subnet, strict=True)
    except ValueError as exc:
        raise InvalidInput(
            f"“{spec.subnet}” is not a subnet in CIDR form (e.g. 10.20.0.0/24): {exc}."
        ) from None
    if spec.gateway:
        try:
            gateway = ipaddress.ip_address(spec.gateway)
        except ValueError:
            raise InvalidInput(f"“{spec.gateway}” is not an IP address.") from None
        if gateway not in subnet:
            raise InvalidInput(f"The gateway {gateway} is outside the subnet {subnet}.")
    if spec.ip_range:
        try:
            ip_range = ipaddress.ip_network(spec.ip_range, strict=True)
        except ValueError as exc:
            raise InvalidInput(f"“{spec.ip_range}” is not an IP range in CIDR form: {exc}.") from None
        if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
            raise InvalidInput(f"The IP range {ip_range} is outside the subnet {subnet}.")
    for network in existing:
        for other in network.subnets:
            try:
                taken = ipaddress.ip_network(other.subnet, strict=False)
            except ValueError:
                continue
            if taken.version == subnet.version and subnet.overlaps(taken):
                raise InvalidInput(f"The subnet {subnet} overlaps {taken} of network “{network.name}”.")


@engine_call
def create_network(engine: Engine, *, spec: NetworkSpec) -> Network:
    """``docker network create`` after checking the subnet against the engine's networks.

    Raises:
        Conflict: a network of that name exists.
        InvalidInput: bad addresses, or the engine refused the driver/options.
    """
    from docker.types import IPAMConfig, IPAMPool

    api = engine.api
    existing = list_networks(engine)
    if any(n.name == spec.name for n in existing):
        raise Conflict(f"A network named “{spec.name}” already exists.")
    check_subnets(spec, existing)
    ipam = None
    if spec.subnet:
        ipam = IPAMConfig(
            pool_configs=[
                IPAMPool(subnet=spec.subnet, gateway=spec.gateway or None, iprange=spec.ip_range or None)
            ]
        )
    created = api.create_network(
        spec.name,
        driver=spec.driver,
        options=spec.options or None,
        ipam=ipam,
        internal=spec.internal,
        labels=spec.labels or None,
        enable_ipv6=spec.ipv6,
        attachable=spec.attachable or None,
        check_duplicate=True,
    )
    return _network(api.inspect_network(created["Id"]), {})


def check_address(raw: dict, ipv4_address: str) -> None:
    """Pure: an IPv4 address a container asks for on the network ``raw`` (its inspect) must be inside
    one of its IPAM subnets. The engine checks it only when the container starts (20.10 stores any
    address for a stopped container), so a bad one would surface later as a failed start.

    Raises:
        InvalidInput: a predefined network, no IPv4 subnet, or outside all of them.
    """
    if not ipv4_address:
        return
    name = str(raw.get("Name", ""))
    if name in PREDEFINED:
        raise InvalidInput(f"An IPv4 address can be chosen only on a user-defined network, not on “{name}”.")
    address = ipaddress.ip_address(ipv4_address)
    subnets = []
    for config in (raw.get("IPAM") or {}).get("Config") or ():
        try:
            subnet = ipaddress.ip_network(str(config.get("Subnet", "")), strict=False)
        except ValueError:
            continue
        if subnet.version == address.version:
            subnets.append(subnet)
    if not subnets:
        raise InvalidInput(f"Network “{name}” has no IPv4 subnet, so no IPv4 address can be chosen on it.")
    if not any(address in subnet for subnet in subnets):
        raise InvalidInput(
            f"The IPv4 address {address} is outside the subnet{'s' if len(subnets) > 1 else ''} of network "
            f"“{name}” ({', '.join(str(s) for s in subnets)})."
        )


class NetworkGone(NotFound):
    """The network itself is not there (not the container a connect or disconnect names): the
    views go back to the list, as there is no network page to return to."""


def _inspect_or_gone(engine: Engine, ref: str) -> dict:
    """The network's inspect; a network that is not there is a :class:`NetworkGone` that says so."""
    try:
        return engine.api.inspect_network(ref)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            raise NetworkGone(
                f"Network “{ref}” was not found (it may have been removed); nothing was changed."
            ) from exc
        raise


@engine_call
def connect(
    engine: Engine, *, ref: str, container: str, aliases: tuple[str, ...] = (), ipv4_address: str = ""
) -> None:
    """``docker network connect [--alias A] [--ip IP] NETWORK CONTAINER``, with the checks the 20.10
    engine leaves out for a container that is not running: it accepts an unknown network name (and
    keeps it: the container's next start fails), an address outside the network's subnets, and a
    second connect to a network it is already on (which replaces the first endpoint's settings).

    Raises:
        NetworkGone: no such network (nothing changed).
        NotFound: no such container.
        InvalidInput: ``ipv4_address`` outside the network's subnets (:func:`check_address`).
        Conflict: the container is already connected to it; or the engine refused (address taken ...).
    """
    api = engine.api
    raw = _inspect_or_gone(engine, ref)
    network_id, name = str(raw.get("Id", "")), str(raw.get("Name", ""))
    check_address(raw, ipv4_address)
    target = api.inspect_container(container)
    endpoints = ((target.get("NetworkSettings") or {}).get("Networks") or {}).items()
    if any(refers(key, settings, network_id, name) for key, settings in endpoints):
        raise Conflict(
            f"Container “{str(target.get('Name', container)).lstrip('/')}” is already connected to network "
            f"“{name}”: disconnect it first to change its aliases or address."
        )
    api.connect_container_to_network(
        target["Id"], network_id, aliases=list(aliases) or None, ipv4_address=ipv4_address or None
    )


@engine_call
def disconnect(engine: Engine, *, ref: str, container: str, force: bool = False) -> None:
    """``docker network disconnect [-f] NETWORK CONTAINER``.

    Raises:
        NetworkGone: no such network (nothing changed).
        NotFound: no such container.
    """
    network_id = str(_inspect_or_gone(engine, ref).get("Id", "")) or ref
    engine.api.disconnect_container_from_network(container, network_id, force=force)


def _describe(use: ContainerUse) -> str:
    return f"{use.name} ({use.state or 'running'})"


@engine_call
def remove_network(engine: Engine, *, ref: str) -> None:
    """``docker network rm``: refuses the predefined networks and a network any container refers to,
    running or not (named with their states; the engine itself refuses only running ones).

    Raises:
        Conflict: predefined, or containers refer to it (their names are in the message).
        NotFound: no such network.
    """
    raw, users, endpoints = _inspect_with_users(engine, ref)
    if raw.get("Name") in PREDEFINED:
        raise Conflict(
            f"“{raw.get('Name')}” is one of the engine's predefined networks and cannot be removed."
        )
    known = {use.id for use, _ in users}
    using = [_describe(use) for use, _ in users] + [
        f"{(info or {}).get('Name', '')} (running)" for cid, info in endpoints.items() if cid not in known
    ]
    if using:
        raise Conflict(
            f"Network “{raw.get('Name')}” is in use by {', '.join(sorted(using))}: "
            "disconnect them (or remove the containers) first."
        )
    engine.api.remove_network(raw["Id"])


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
