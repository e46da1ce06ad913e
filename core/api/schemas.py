"""The API's shapes. Inputs forbid unknown fields (422 naming them); outputs read the engine
package's frozen dataclasses by attribute."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from ninja import Schema
from pydantic import ConfigDict, Field

T = TypeVar("T")


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class Page(Schema, Generic[T]):
    count: int = Field(description="Rows matching the filter, on every page")
    page: int
    per_page: int
    pages: int
    results: list[T]


class Message(Schema):
    detail: str


# --------------------------------------------------------------------------- containers


class PortOut(Schema):
    container_port: int
    protocol: str
    host_ip: str
    host_port: int | None


class ContainerOut(Schema):
    id: str
    name: str
    image: str
    image_id: str
    command: str
    state: str
    status: str
    health: str
    created: int
    ports: list[PortOut]
    labels: dict[str, str]
    compose_project: str


class MountOut(Schema):
    type: str
    source: str
    destination: str
    mode: str
    read_write: bool


class NetworkAttachmentOut(Schema):
    name: str
    ip_address: str
    gateway: str
    mac_address: str


class ContainerDetailOut(Schema):
    id: str
    name: str
    image: str
    image_id: str
    state: str
    running: bool
    paused: bool
    health: str
    created: str
    started_at: str
    finished_at: str
    command: str
    entrypoint: str
    restart_policy: str
    restart_count: int
    exit_code: int
    error: str
    tty: bool
    privileged: bool
    env: list[str] = Field(
        description="KEY=value; values masked (***) unless reveal=true (operators, audited)"
    )
    labels: dict[str, str]
    ports: list[PortOut]
    mounts: list[MountOut]
    networks: list[NetworkAttachmentOut]


class ContainerCreateIn(In):
    image: str = Field(max_length=512)
    name: str = Field("", max_length=128)
    command: str = Field("", max_length=4096, description="Shell words")
    entrypoint: str = Field("", max_length=4096)
    env: list[str] = Field(default_factory=list, max_length=500, description="KEY=VALUE items")
    ports: list[str] = Field(
        default_factory=list, max_length=200, description="e.g. 8080:80, 127.0.0.1:8443:443/tcp"
    )
    volumes: list[str] = Field(
        default_factory=list, max_length=100, description="NAME:/path[:ro] or /path (anonymous)"
    )
    labels: list[str] = Field(default_factory=list, max_length=500, description="KEY=VALUE items")
    restart: str = Field("no", max_length=32)
    network: str = Field("", max_length=256)
    workdir: str = Field("", max_length=1024)
    user: str = Field("", max_length=256)
    tty: bool = False
    interactive: bool = False
    start: bool = Field(True, description="Start it after creating (docker run -d)")
    privileged: bool = Field(False, description="Admins only (the non-admin policy refuses it)")
    cap_add: list[str] = Field(default_factory=list, max_length=50, description="Admins only")
    pid: str = Field("", max_length=128, description="host (admins only), container:NAME, or empty")


class CreatedOut(Schema):
    id: str
    name: str
    started: bool
    warnings: list[str]


class StopIn(In):
    timeout: int = Field(10, ge=0, le=600)


class KillIn(In):
    signal: str = Field("SIGKILL", max_length=16)


class RenameIn(In):
    name: str = Field(max_length=128)


class ProcessTableOut(Schema):
    titles: list[str]
    processes: list[list[str]]


class StatsOut(Schema):
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    memory_percent: float
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


# --------------------------------------------------------------------------- images


class ImageOut(Schema):
    id: str
    short_id: str
    repository: str
    tag: str
    size: int
    created: int
    containers: int
    dangling: bool


class TagIn(In):
    repository: str = Field(max_length=512)
    tag: str = Field("latest", max_length=128)


class UntagIn(In):
    reference: str = Field(max_length=640)


class PullIn(In):
    reference: str = Field(max_length=640, description="e.g. busybox:latest or host:5000/app:1")
    registry: int | None = Field(
        None, ge=1, le=2**31 - 1, description="A linked registry's id: its credentials"
    )


class PushIn(In):
    reference: str = Field(max_length=640, description="Where to push (tagged first if needed)")
    registry: int | None = Field(
        None, ge=1, le=2**31 - 1, description="A linked registry's id: its credentials"
    )


class BuildIn(In):
    dockerfile: str = Field(min_length=1, max_length=100_000)
    tag: str = Field("", max_length=640)


class PruneIn(In):
    all: bool = Field(False, description="Unused images too, not only dangling ones")
    label: str = Field("", max_length=256)


class PruneCandidateOut(Schema):
    id: str
    short_id: str
    tags: list[str]
    size: int


class PrunePreviewOut(Schema):
    images: list[PruneCandidateOut]
    bytes: int


class ContainerRefOut(Schema):
    id: str
    short_id: str
    name: str
    state: str


class HistoryOut(Schema):
    id: str
    created: int
    created_by: str
    size: int
    comment: str
    tags: list[str]


class ImageDetailOut(Schema):
    id: str
    short_id: str
    tags: list[str]
    digests: list[str]
    size: int
    created: str
    os: str
    architecture: str
    entrypoint: list[str]
    cmd: list[str]
    env: list[str] = Field(description="KEY=value, values masked")
    exposed_ports: list[str]
    labels: dict[str, str]
    history: list[HistoryOut]
    containers: list[ContainerRefOut]


class PruneOut(Schema):
    deleted: list[str]
    untagged: list[str]
    reclaimed: int


class JobOut(Schema):
    id: str
    kind: str
    target: str
    status: Literal["running", "success", "error", "interrupted"]
    message: str
    result: str
    lines: list[str] = Field(description="The last progress lines (at most 2,000)")


# --------------------------------------------------------------------------- volumes and networks


class ContainerUseOut(Schema):
    id: str
    name: str
    state: str
    image: str
    read_only: bool


class VolumeOut(Schema):
    name: str
    driver: str
    scope: str
    created: str
    mountpoint: str
    labels: dict[str, str]
    options: dict[str, str]
    used_by: list[ContainerUseOut]


class VolumeCreateIn(In):
    name: str = Field("", max_length=255)
    driver: str = Field("local", max_length=128)
    driver_opts: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class SubnetOut(Schema):
    subnet: str
    gateway: str
    ip_range: str


class NetworkOut(Schema):
    id: str
    name: str
    driver: str
    scope: str
    created: str
    internal: bool
    attachable: bool
    ipv6: bool
    subnets: list[SubnetOut]
    labels: dict[str, str]
    options: dict[str, str]
    containers: list[ContainerUseOut]


class NetworkCreateIn(In):
    name: str = Field(max_length=255)
    driver: Literal["bridge", "overlay", "macvlan", "ipvlan"] = "bridge"
    subnet: str = Field("", max_length=64)
    gateway: str = Field("", max_length=64)
    ip_range: str = Field("", max_length=64)
    internal: bool = False
    attachable: bool = False
    ipv6: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    options: dict[str, str] = Field(default_factory=dict)


class ConnectIn(In):
    container: str = Field(max_length=255)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    ipv4_address: str = Field("", max_length=64)


class DisconnectIn(In):
    container: str = Field(max_length=255)
    force: bool = False


# --------------------------------------------------------------------------- the rest


class RegistryOut(Schema):
    id: int
    name: str
    url: str
    host: str
    username: str


class CatalogOut(Schema):
    repositories: list[str]
    next: str | None = Field(description="Pass as `last` for the next page; null on the last one")


class TagsOut(Schema):
    tags: list[str]
    next: str | None


class LayerOut(Schema):
    digest: str
    size: int
    media_type: str


class PlatformManifestOut(LayerOut):
    platform: str


class ManifestOut(Schema):
    digest: str
    media_type: str
    kind: str
    size: int
    layers: list[LayerOut]
    manifests: list[PlatformManifestOut]


class AuditOut(Schema):
    id: int
    created_at: datetime
    username: str
    role: str
    action: str
    target: str
    parameters: dict
    outcome: str
    message: str
    client_address: str | None
    endpoint: str
    token_id: int | None
    token_name: str


class OverviewOut(Schema):
    endpoint: str
    name: str
    version: str
    api_version: str
    os: str
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
    warnings: list[str]
