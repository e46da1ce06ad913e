"""Extra real Docker engines for the scale-out tests: a plain one, a TLS one, and Swarm mode on one.

Each extra engine is its own ``dockerd`` with its own socket, data-root, exec-root, pidfile, config
file and (managed) containerd, so it never touches the main engine at /var/run/docker.sock that the
other suites use at the same time:

- ``--bridge=<its own bridge> --iptables=false --ip-forward=false --ip-masq=false``: no firewall or
  sysctl changes on the host. NOT ``--bridge=none``: a daemon started with it deletes the host's
  ``docker0`` (dockerd's removeDefaultBridgeInterface), which breaks the main engine's containers.
  Each extra daemon gets a bridge interface of its own instead, removed at teardown;
- ``--config-file`` points at an empty JSON file, so /etc/docker/daemon.json (the main daemon's
  settings, e.g. its ``hosts``) is never read;
- dockerd 20.10 starts its own containerd under ``<exec-root>/containerd`` unless ``--containerd`` is
  given (checked: a second ``containerd --config <exec-root>/containerd/containerd.toml`` appears);
- ``DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1``: Swarm tasks use the local image instead of trying Docker
  Hub first (there is no internet here).

Swarm mode (``swarm_mode``) works with that configuration, ingress network included (it lives in the
engine's own network namespaces). What needed care: Swarm creates a host bridge ``docker_gwbridge``
that outlives the daemon and whose name would collide between two swarm engines, so the bridge is
created beforehand under a unique interface name and removed at teardown; the control plane listens on
``127.0.0.1:<free port>`` and VXLAN uses a free ``--data-path-port``.

The context managers are usable outside pytest; the test modules wrap them in fixtures.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import docker

from tests.support import RUN_ID, TEST_LABEL, busybox_rootfs_tar, free_port

START_TIMEOUT = 40.0
STOP_TIMEOUT = 20.0


class EngineStartError(RuntimeError):
    """An extra dockerd could not be started; the message says why and where its log is."""


@dataclass
class ExtraEngine:
    """A running extra dockerd: its URL, working directory, process and log."""

    url: str
    root: Path
    process: subprocess.Popen
    log_path: Path
    tls: docker.tls.TLSConfig | None = None
    extra: dict = field(default_factory=dict)

    def client(self, *, timeout: int = 60) -> docker.DockerClient:
        """A new SDK client on this engine (for setting up and checking effects)."""
        if self.tls is None:
            return docker.DockerClient(base_url=self.url, timeout=timeout, version="auto")
        return tls_client(self.url, self.tls, timeout=timeout)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class TlsEngine(NamedTuple):
    """``(url, ca_pem, cert_pem, key_pem)``: a dockerd on tcp://127.0.0.1:<port> with client-cert auth."""

    url: str
    ca_pem: str
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class SwarmInfo:
    """A swarm made on an extra engine: the manager's node id and its control-plane address."""

    node_id: str
    listen_addr: str
    data_path_port: int
    gateway_bridge: str


def _dockerd() -> str:
    binary = shutil.which("dockerd")
    if binary is None:
        raise EngineStartError(
            "dockerd is missing: the scale-out tests start extra Docker engines on this machine. "
            "Install it (apt-get install docker.io) and run the suite as root (make test does both)."
        )
    if os.geteuid() != 0:
        raise EngineStartError("the scale-out tests start extra dockerd processes and must run as root")
    return binary


def free_udp_port(low: int = 20000, high: int = 49151) -> int:
    """A free UDP port in ``[low, high]`` (Swarm's data-path port must be below 49152)."""
    for _ in range(200):
        port = secrets.randbelow(high - low) + low
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise EngineStartError(f"no free UDP port between {low} and {high}")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM dockerd if the test process dies without tearing down."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_until_up(engine: ExtraEngine) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise EngineStartError(
                f"the extra dockerd exited with {engine.process.returncode}; its log "
                f"({engine.log_path}):\n{engine.log_tail()}"
            )
        try:
            probe = engine.client(timeout=5)
            try:
                probe.ping()
            finally:
                probe.close()
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
            time.sleep(0.2)
    raise EngineStartError(
        f"the extra dockerd at {engine.url} did not answer within {START_TIMEOUT:.0f}s ({last!r}); "
        f"its log ({engine.log_path}):\n{engine.log_tail()}"
    )


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _stop(engine: ExtraEngine) -> None:
    process = engine.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    # A daemon killed hard can leave its containerd and mounts behind: end and unmount only ours.
    pidfile = engine.root / "exec" / "containerd" / "containerd.pid"
    with suppress(OSError, ValueError, ProcessLookupError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
    for point in _mounts_under(engine.root):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(engine.root, ignore_errors=True)


def _own_bridge() -> str:
    """A fresh bridge interface with a private /24 for one extra daemon (never the host's docker0)."""
    name = f"ddb{secrets.token_hex(4)}"  # interface names: at most 15 bytes
    subnet = f"10.231.{secrets.randbelow(250) + 2}.1/24"
    for command in (
        ["ip", "link", "add", name, "type", "bridge"],
        ["ip", "addr", "add", subnet, "dev", name],
        ["ip", "link", "set", name, "up"],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return name


@contextmanager
def _dockerd_process(*, hosts: list[str], extra_args: list[str], url: str, tls=None) -> Iterator[ExtraEngine]:
    binary = _dockerd()
    # Short paths: unix socket paths (containerd's too) must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="dde-", dir="/tmp"))
    (root / "daemon.json").write_text("{}\n")
    log_path = root / "dockerd.log"
    bridge = _own_bridge()
    args = [
        binary,
        *(f"--host={h}" for h in hosts),
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'exec'}",
        f"--pidfile={root / 'docker.pid'}",
        f"--config-file={root / 'daemon.json'}",
        f"--bridge={bridge}",
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--shutdown-timeout=2",
        *extra_args,
    ]
    env = {**os.environ, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}
    env.pop("DOCKER_HOST", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only prctl between fork and exec
        )
    engine = ExtraEngine(url=url, root=root, process=process, log_path=log_path, tls=tls)
    try:
        _wait_until_up(engine)
        yield engine
    finally:
        _stop(engine)
        subprocess.run(["ip", "link", "delete", bridge], check=False, capture_output=True)


@contextmanager
def extra_engine() -> Iterator[ExtraEngine]:
    """A second dockerd on ``unix://<tmp>/docker.sock``; stopped and its directories removed at the end.

    Yields:
        The running :class:`ExtraEngine` (``engine.url`` is its ``unix://`` URL).

    Raises:
        EngineStartError: dockerd is missing, we are not root, or it did not come up (log included).
    """
    sock_dir = Path(tempfile.mkdtemp(prefix="dds-", dir="/tmp"))
    url = f"unix://{sock_dir / 'docker.sock'}"
    try:
        with _dockerd_process(hosts=[url], extra_args=[], url=url) as engine:
            yield engine
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)


# --------------------------------------------------------------------------- TLS


def _pem_key(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_certificates() -> dict[str, str]:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM).

    Returns:
        ``{"ca": ..., "server_cert": ..., "server_key": ..., "client_cert": ..., "client_key": ...}``.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"dashboard test CA {RUN_ID}")
    ca = (
        builder(f"dashboard test CA {RUN_ID}", ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common: str, usage, san: list | None) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = builder(common, ca_name, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        cert = cert.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if san:
            cert = cert.add_extension(x509.SubjectAlternativeName(san), critical=False)
        signed = cert.sign(ca_key, hashes.SHA256())
        return signed.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)

    server_cert, server_key = leaf(
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_cert, client_key = leaf("dashboard", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return {
        "ca": ca.public_bytes(serialization.Encoding.PEM).decode(),
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


def write_client_files(directory: Path, tls: TlsEngine) -> docker.tls.TLSConfig:
    """Write the client's PEMs (mode 0600) and return a docker-py TLS config that uses them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, text in (("ca", tls.ca_pem), ("cert", tls.cert_pem), ("key", tls.key_pem)):
        path = directory / f"{kind}.pem"
        path.write_text(text)
        path.chmod(0o600)
        paths[kind] = str(path)
    return docker.tls.TLSConfig(client_cert=(paths["cert"], paths["key"]), ca_cert=paths["ca"], verify=True)


def tls_client(url: str, tls: docker.tls.TLSConfig, *, timeout: int = 60) -> docker.DockerClient:
    """A docker client over TLS that really uses ``tls``'s CA.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on this machine and many CI images)
    override a session's ``verify`` path, so docker-py's ``TLSConfig(ca_cert=...)`` is silently
    replaced by the system bundle and a private CA fails with "unable to get local issuer
    certificate". ``trust_env = False`` stops that; it must be set before the first request, so the
    API version is pinned instead of negotiated.
    """
    created = docker.DockerClient(base_url=url, tls=tls, timeout=timeout, version="1.41")
    created.api.trust_env = False
    return created


@contextmanager
def tls_engine() -> Iterator[TlsEngine]:
    """One more dockerd on ``tcp://127.0.0.1:<free port>`` with ``--tlsverify`` (client certs required).

    Yields:
        ``TlsEngine(url, ca_pem, cert_pem, key_pem)``: ``url`` is ``tcp://127.0.0.1:<port>``; the PEMs
        are the CA and the client certificate/key a dashboard endpoint needs.
    """
    pems = make_certificates()
    tls_dir = Path(tempfile.mkdtemp(prefix="ddt-", dir="/tmp"))
    try:
        for name in ("ca", "server_cert", "server_key"):
            (tls_dir / f"{name}.pem").write_text(pems[name])
            (tls_dir / f"{name}.pem").chmod(0o600)
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        result = TlsEngine(url, pems["ca"], pems["client_cert"], pems["client_key"])
        client_tls = write_client_files(tls_dir / "client", result)
        with _dockerd_process(
            hosts=[url],
            extra_args=[
                "--tlsverify",
                f"--tlscacert={tls_dir / 'ca.pem'}",
                f"--tlscert={tls_dir / 'server_cert.pem'}",
                f"--tlskey={tls_dir / 'server_key.pem'}",
            ],
            url=url,
            tls=client_tls,
        ):
            yield result
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)


def add_tls_endpoint(admin_client, tls: TlsEngine, *, slug: str = "secure") -> int:
    """Add ``tls`` as a dashboard endpoint named ``slug`` through the form; the response's status."""
    return admin_client.post(
        "/endpoints/new/",
        {
            "name": slug,
            "slug": slug,
            "url": tls.url,
            "tls_ca": tls.ca_pem,
            "tls_cert": tls.cert_pem,
            "tls_key": tls.key_pem,
        },
    ).status_code


# --------------------------------------------------------------------------- images and Swarm


def import_busybox(client: docker.DockerClient, repository: str | None = None, tag: str = "latest") -> str:
    """``docker import`` the busybox rootfs into an extra engine (it has no images and no internet).

    Returns:
        The reference, e.g. ``<run id>-extra:latest``.
    """
    repository = repository or f"{RUN_ID}-extra"  # not the main engine's base image name
    client.api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=repository,
        tag=tag,
        changes=[f'LABEL {TEST_LABEL}="{RUN_ID}"', 'CMD ["sh"]', "ENV PATH=/bin"],
    )
    client.images.get(f"{repository}:{tag}")
    return f"{repository}:{tag}"


def _own_gateway_bridge(client: docker.DockerClient) -> str:
    """Create ``docker_gwbridge`` before Swarm does, on a unique host interface name."""
    bridge = f"dgw{secrets.token_hex(4)}"  # interface names: at most 15 bytes
    client.networks.create(
        "docker_gwbridge",
        driver="bridge",
        options={
            "com.docker.network.bridge.name": bridge,
            "com.docker.network.bridge.enable_ip_masquerade": "false",
            "com.docker.network.bridge.enable_icc": "false",
        },
        labels={TEST_LABEL: RUN_ID},
    )
    return bridge


def _leave(client: docker.DockerClient, bridge: str) -> None:
    with suppress(docker.errors.APIError):
        client.api.leave_swarm(force=True)
    with suppress(docker.errors.APIError):
        client.api.remove_network("docker_gwbridge")
    client.close()
    subprocess.run(["ip", "link", "delete", bridge], check=False, capture_output=True)


@contextmanager
def swarm_mode(engine: ExtraEngine) -> Iterator[SwarmInfo]:
    """``docker swarm init --advertise-addr 127.0.0.1`` on an EXTRA engine; left (forced) at the end.

    Never call it on the main engine. The host bridge Swarm needs (``docker_gwbridge``) is made first
    under a unique interface name, so two swarm engines on one machine do not collide, and removed
    after leaving.

    Yields:
        A :class:`SwarmInfo` with the manager's node id.
    """
    client = engine.client()
    bridge = _own_gateway_bridge(client)
    try:
        listen = f"127.0.0.1:{free_port()}"
        data_port = free_udp_port()
        client.api.init_swarm(advertise_addr="127.0.0.1", listen_addr=listen, data_path_port=data_port)
        info = client.info()["Swarm"]
        if not info.get("ControlAvailable"):
            raise EngineStartError(f"swarm init did not make a manager: {json.dumps(info)[:500]}")
        yield SwarmInfo(
            node_id=info["NodeID"], listen_addr=listen, data_path_port=data_port, gateway_bridge=bridge
        )
    finally:
        _leave(client, bridge)


@contextmanager
def swarm_worker(manager: ExtraEngine, swarm: SwarmInfo, engine: ExtraEngine) -> Iterator[str]:
    """Join another extra engine to the swarm as a worker (its own 127.0.0.1 port); leave at the end.

    Yields:
        The worker's node id.
    """
    manager_client = manager.client()
    client = engine.client()
    bridge = _own_gateway_bridge(client)
    node_id = ""
    try:
        token = manager_client.api.inspect_swarm()["JoinTokens"]["Worker"]
        address = f"127.0.0.1:{free_port()}"
        client.api.join_swarm([swarm.listen_addr], token, listen_addr=address, advertise_addr=address)
        node_id = client.info()["Swarm"]["NodeID"]

        def ready() -> bool:
            return manager_client.api.inspect_node(node_id)["Status"]["State"] == "ready"

        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if time.monotonic() > deadline:
                raise EngineStartError(f"the worker {node_id} did not become ready")
            time.sleep(0.2)
        yield node_id
    finally:
        _leave(client, bridge)
        if node_id:
            with suppress(docker.errors.APIError):
                manager_client.api.remove_node(node_id, force=True)
        manager_client.close()
