"""Networks: list (with the containers attached), inspect, create, connect/disconnect, remove.

The list is TWO concurrent requests (``/networks`` and ``/containers/json?all=1``): the engine's network list
leaves ``Containers`` empty, while every container summary names its networks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from core.engine._client import Engine, engine_call
from core.engine.volumes import ContainerUse, with_containers
from core.errors import Conflict, InvalidInput

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
        return bool(self.containers)


@dataclass(frozen=True)
class Attachment:
    """A container on a network, as the network's detail page shows it."""

    container: ContainerUse
    ipv4: str
    ipv6: str
    mac: str
    aliases: tuple[str, ...]


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


def _users_by_network(containers: list[dict]) -> dict[str, list[ContainerUse]]:
    users: dict[str, list[ContainerUse]] = {}
    for raw in containers:
        networks = (raw.get("NetworkSettings") or {}).get("Networks") or {}
        use = ContainerUse(
            id=str(raw.get("Id", "")),
            name=_container_name(raw),
            state=str(raw.get("State", "")),
            image=str(raw.get("Image", "")),
        )
        for settings in networks.values():
            network_id = (settings or {}).get("NetworkID")
            if network_id:
                users.setdefault(network_id, []).append(use)
    return users


def _network(raw: dict, users: dict[str, list[ContainerUse]]) -> Network:
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
        containers=tuple(sorted(users.get(network_id, ()), key=lambda u: u.name)),
    )


@engine_call
def list_networks(engine: Engine) -> list[Network]:
    """``docker network ls`` with the containers attached to each, in two concurrent requests."""
    networks, containers = with_containers(engine.api, engine.api.networks)
    users = _users_by_network(containers)
    return [_network(raw, users) for raw in networks]


@engine_call
def network_names(engine: Engine) -> list[tuple[str, str]]:
    """``(name, driver)`` of every network, sorted by name (one request; for pickers)."""
    return sorted((str(raw.get("Name", "")), str(raw.get("Driver", ""))) for raw in engine.api.networks())


@engine_call
def inspect_network(engine: Engine, *, ref: str) -> NetworkDetail:
    """One network and each attached container's addresses, MAC and aliases.

    Raises:
        NotFound: no such network.
    """
    api = engine.api
    raw = api.inspect_network(ref)
    attached = raw.get("Containers") or {}
    attachments = []
    for index, (container_id, info) in enumerate(
        sorted(attached.items(), key=lambda kv: kv[1].get("Name", ""))
    ):
        aliases: tuple[str, ...] = ()
        state = ""
        if index < MAX_INSPECTED_ALIASES:
            try:
                container = api.inspect_container(container_id)
            except Exception as exc:
                if getattr(exc, "status_code", None) != 404:
                    raise
            else:
                state = str((container.get("State") or {}).get("Status", ""))
                settings = ((container.get("NetworkSettings") or {}).get("Networks") or {}).get(
                    raw.get("Name", "")
                )
                aliases = tuple(
                    a for a in (settings or {}).get("Aliases") or () if not container_id.startswith(a)
                )
        attachments.append(
            Attachment(
                container=ContainerUse(id=container_id, name=str(info.get("Name", "")), state=state),
                ipv4=str(info.get("IPv4Address", "")),
                ipv6=str(info.get("IPv6Address", "")),
                mac=str(info.get("MacAddress", "")),
                aliases=aliases,
            )
        )
    users = {raw.get("Id", ""): [a.container for a in attachments]}
    return NetworkDetail(network=_network(raw, users), attachments=tuple(attachments))


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


@engine_call
def connect(
    engine: Engine, *, ref: str, container: str, aliases: tuple[str, ...] = (), ipv4_address: str = ""
) -> None:
    """``docker network connect [--alias A] [--ip IP] NETWORK CONTAINER``.

    Raises:
        NotFound: no such network or container.
        InvalidInput / Conflict: the engine refused (already attached, address taken ...).
    """
    engine.api.connect_container_to_network(
        container, ref, aliases=list(aliases) or None, ipv4_address=ipv4_address or None
    )


@engine_call
def disconnect(engine: Engine, *, ref: str, container: str, force: bool = False) -> None:
    """``docker network disconnect [-f] NETWORK CONTAINER``."""
    engine.api.disconnect_container_from_network(container, ref, force=force)


@engine_call
def remove_network(engine: Engine, *, ref: str) -> None:
    """``docker network rm``: refuses the predefined networks and a network in use (named).

    Raises:
        Conflict: predefined, or containers are attached (their names are in the message).
        NotFound: no such network.
    """
    raw = engine.api.inspect_network(ref)
    if raw.get("Name") in PREDEFINED:
        raise Conflict(
            f"“{raw.get('Name')}” is one of the engine's predefined networks and cannot be removed."
        )
    attached = [str(c.get("Name", "")) for c in (raw.get("Containers") or {}).values()]
    if attached:
        raise Conflict(
            f"Network “{raw.get('Name')}” is in use by {', '.join(sorted(attached))}: disconnect them first."
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
