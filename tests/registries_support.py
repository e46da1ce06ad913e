"""Registries test helpers: a scripted fake HTTP server, a JWT token issuer, a token-auth docker-registry,
and a tiny pusher that writes blobs and manifests through the Registry API (no engine needed)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import secrets
import shutil
import ssl
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support import free_port, wait_for_http

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


# --------------------------------------------------------------------------- a scripted HTTP server


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Reply = tuple[int, dict[str, str], bytes]


class FakeServer:
    """An HTTP(S) server on 127.0.0.1 answering with ``handler(method, path, headers) -> Reply``.

    Every request is recorded in ``seen`` (method, path with query, headers) for assertions.
    """

    def __init__(
        self, handler: Callable[[str, str, dict[str, str]], Reply], *, tls: tuple[Path, Path] | None = None
    ):
        self.handler = handler
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {key: value for key, value in self.headers.items()}
                outer.seen.append(Seen(self.command, self.path, headers))
                status, reply_headers, body = outer.handler(self.command, self.path, headers)
                self.send_response(status)
                for key, value in reply_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_reply(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


# --------------------------------------------------------------------------- keys and certificates


def self_signed(directory: Path, common_name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed RSA certificate and key (PEM files) for a test TLS server or token issuer."""
    from ipaddress import ip_address

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """A Docker token service (RS256 JWTs with an ``x5c`` header) for docker-registry's token auth.

    docker-registry 2.8 verifies the ``x5c`` chain against its ``rootcertbundle`` (here: the issuer's
    own self-signed certificate), then the signature, issuer, audience and expiry. Any scope asked
    for is granted to the right username/password (or to anyone when ``anonymous`` is set).
    """

    issuer = "dashboard-test-issuer"
    service = "dashboard-test-registry"

    def __init__(self, directory: Path, *, username: str, password: str, host: str = "127.0.0.1"):
        self.cert_path, self.key_path = self_signed(directory / "issuer")
        self.key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        der = x509.load_pem_x509_certificate(self.cert_path.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        self.x5c = base64.b64encode(der).decode()
        self.username, self.password = username, password
        self.anonymous = False
        self.server = FakeServer(self._handle)
        self.realm = f"{self.server.url(host)}/token"

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.issuer,
            "sub": self.username,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handle(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        query = parse_qs(urlsplit(path).query)
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if not self.anonymous and headers.get("Authorization") != expected:
            return json_reply({"errors": [{"code": "UNAUTHORIZED"}]}, 401)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        token = self.token(scopes)
        return json_reply({"token": token, "access_token": token, "expires_in": 300})

    def close(self) -> None:
        self.server.close()


@dataclass
class TokenRegistry:
    """A real docker-registry with token auth pointing at a :class:`TokenIssuer`."""

    port: int
    issuer: TokenIssuer
    process: subprocess.Popen
    root: Path
    log_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def bearer(self, scopes: list[str]) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.issuer.token(scopes)}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.issuer.close()


def start_token_registry(root: Path, *, username: str, password: str) -> TokenRegistry:
    """Start docker-registry configured with ``auth: token`` and its token issuer."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise AssertionError("docker-registry is missing: apt-get install docker-registry")
    issuer = TokenIssuer(root, username=username, password=password)
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        "auth:\n  token:\n"
        f"    realm: {issuer.realm}\n    service: {issuer.service}\n    issuer: {issuer.issuer}\n"
        f"    rootcertbundle: {issuer.cert_path}\n"
    )
    log_path = root / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
    registry = TokenRegistry(port=port, issuer=issuer, process=process, root=root, log_path=log_path)
    try:
        wait_for_http(f"{registry.url}/v2/", timeout=20)
    except AssertionError:
        process.kill()
        issuer.close()
        raise AssertionError(f"token docker-registry did not start: {log_path.read_text()[-2000:]}") from None
    return registry


def start_plain_registry(root: Path) -> tuple[subprocess.Popen, str]:
    """Start an auth-less docker-registry on filesystem storage (benchmarks); returns (process, url)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise AssertionError("docker-registry is missing: apt-get install docker-registry")
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/v2/", timeout=20)
    return process, url


# --------------------------------------------------------------------------- writing images by API


@dataclass
class PushedImage:
    name: str
    tag: str
    digest: str
    manifest: bytes
    config_digest: str
    layer_digest: str
    layer_size: int
    extra: dict = field(default_factory=dict)


def tiny_layer(text: str) -> bytes:
    """A gzipped tar with one file (a real, if tiny, image layer)."""
    import gzip

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(url: str, name: str, data: bytes, headers: dict[str, str]) -> str:
    digest = _digest(data)
    if requests.head(f"{url}/v2/{name}/blobs/{digest}", headers=headers, timeout=10).status_code == 200:
        return digest
    started = requests.post(f"{url}/v2/{name}/blobs/uploads/", headers=headers, timeout=10)
    assert started.status_code == 202, (started.status_code, started.text)
    location = started.headers["Location"]
    if location.startswith("/"):
        location = url + location
    separator = "&" if "?" in location else "?"
    done = requests.put(
        f"{location}{separator}digest={digest}",
        data=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert done.status_code == 201, (done.status_code, done.text)
    return digest


def put_manifest(
    url: str, name: str, reference: str, body: bytes, media_type: str, headers: dict[str, str]
) -> str:
    response = requests.put(
        f"{url}/v2/{name}/manifests/{reference}",
        data=body,
        headers={**headers, "Content-Type": media_type},
        timeout=30,
    )
    assert response.status_code == 201, (response.status_code, response.text)
    return response.headers.get("Docker-Content-Digest") or _digest(body)


def push_tiny_image(
    url: str,
    name: str,
    tag: str,
    *,
    headers: dict[str, str] | None = None,
    text: str = "hello",
    env: list[str] | None = None,
    architecture: str = "amd64",
) -> PushedImage:
    """Write a one-layer image (config + layer + schema 2 manifest) through the Registry API."""
    headers = headers or {}
    layer = tiny_layer(text)
    diff_id = _digest(__import__("gzip").decompress(layer))
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "created": "2026-01-02T03:04:05Z",
            "config": {"Env": env or ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"org.test": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2026-01-02T03:04:05Z", "created_by": f"ADD hello.txt ({text})"}],
        },
        sort_keys=True,
    ).encode()
    layer_digest = upload_blob(url, name, layer, headers)
    config_digest = upload_blob(url, name, config, headers)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": DOCKER_LAYER, "size": len(layer), "digest": layer_digest}],
        },
        indent=3,
    ).encode()
    digest = put_manifest(url, name, tag, manifest, DOCKER_MANIFEST, headers)
    return PushedImage(name, tag, digest, manifest, config_digest, layer_digest, len(layer))


def push_index(url: str, name: str, tag: str, images: list[tuple[PushedImage, str]], *, headers=None) -> str:
    """Write an OCI image index whose entries are already pushed manifests, with their platforms."""
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": image.digest,
                    "size": len(image.manifest),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for image, arch in images
            ],
        }
    ).encode()
    return put_manifest(url, name, tag, body, OCI_INDEX, headers or {})
