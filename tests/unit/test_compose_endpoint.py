"""How the compose CLI is aimed at an endpoint (environment, TLS flags, its private dir) and how a
failed run or TLS handshake is worded: pure, no engine, no CLI run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import requests

from core import errors
from core.engine._client import EndpointRef, Engine, tls_failure, translate
from core.engine.compose import _docker_cli_tls_args, _private_dir, endpoint_env, failure_summary

URL = "tcp://127.0.0.1:2376"
WITH_CA = EndpointRef(slug="s", name="s", url=URL, tls_ca="CA", tls_cert="CERT", tls_key="KEY")
NO_CA = EndpointRef(slug="s", name="s", url=URL, tls_cert="CERT", tls_key="KEY")
SOCKET = EndpointRef(slug="l", name="l", url="unix:///var/run/docker.sock")

# What docker-compose v1 prints when the daemon refuses its client certificate (its last lines).
V1_REFUSED = """Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/docker/api/client.py", line 214, in _retrieve_server_version
    return self.version(api_version=False)["ApiVersion"]
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
requests.exceptions.SSLError: HTTPSConnectionPool(host='127.0.0.1', port=2376): Max retries exceeded \
with url: /version (Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad \
certificate (_ssl.c:2580)')))"""
V1_PLAIN_ERROR = """Traceback (most recent call last):
  File "/usr/bin/docker-compose", line 33, in <module>
    sys.exit(load_entry_point('docker-compose==1.29.2', 'console_scripts', 'docker-compose')())
docker.errors.DockerException: Error while fetching server API version: ('Connection aborted.')"""


def test_a_tls_endpoint_with_a_ca_sets_verify_and_the_cert_path(tmp_path: Path) -> None:
    env = endpoint_env(WITH_CA, tmp_path)
    assert env["DOCKER_HOST"] == URL
    assert env["DOCKER_TLS_VERIFY"] == "1"
    assert env["DOCKER_CERT_PATH"] == str(tmp_path)


def test_a_tls_endpoint_without_a_ca_sets_the_cert_path_but_not_verify(tmp_path: Path) -> None:
    env = endpoint_env(NO_CA, tmp_path)
    assert env["DOCKER_TLS_VERIFY"] == ""
    assert env["DOCKER_CERT_PATH"] == str(tmp_path)


def test_a_socket_endpoint_still_sets_every_connection_variable_empty(tmp_path: Path) -> None:
    # set, not absent: docker-compose v1 would otherwise take them from the stack's .env
    env = endpoint_env(SOCKET, tmp_path)
    assert env == {
        "DOCKER_HOST": SOCKET.url,
        "DOCKER_TLS_VERIFY": "",
        "DOCKER_CERT_PATH": "",
        "COMPOSE_TLS_VERSION": "",
        "COMPOSE_PARAMIKO_SSH": "0",
    }


def test_the_docker_cli_gets_tls_flags_naming_the_files_in_the_cert_path(tmp_path: Path) -> None:
    assert _docker_cli_tls_args(WITH_CA, tmp_path) == [
        "--tlscert",
        str(tmp_path / "cert.pem"),
        "--tlskey",
        str(tmp_path / "key.pem"),
        "--tlsverify",
        "--tlscacert",
        str(tmp_path / "ca.pem"),
    ]
    assert _docker_cli_tls_args(NO_CA, tmp_path)[-1] == "--tls"
    assert _docker_cli_tls_args(SOCKET, tmp_path) == []


def test_the_private_dir_holds_the_material_the_env_names_and_is_removed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with _private_dir(Engine(WITH_CA)) as (directory, env):
        cert_path = Path(env["DOCKER_CERT_PATH"])
        assert cert_path == directory
        assert (cert_path / "key.pem").read_text() == "KEY"
        assert (cert_path / "key.pem").stat().st_mode & 0o777 == 0o600
        assert directory.stat().st_mode & 0o777 == 0o700
    assert list(tmp_path.iterdir()) == []


def test_the_private_dir_inherits_no_docker_variable_of_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("DOCKER_CERT_PATH", "/root/.docker")
    with _private_dir(Engine(SOCKET)) as (_, env):
        assert env["DOCKER_CERT_PATH"] == ""


def test_a_refused_client_certificate_is_worded_as_such() -> None:
    assert tls_failure(V1_REFUSED) == (
        "it did not accept the endpoint's client certificate (sslv3 alert bad certificate)"
    )


def test_the_docker_clis_wording_of_a_refused_certificate_is_understood() -> None:
    text = "error during connect: Get https://127.0.0.1:2376/v1.41/info: remote error: tls: bad certificate"
    assert "client certificate (bad certificate)" in tls_failure(text)


def test_an_engine_certificate_the_ca_does_not_verify_is_worded_as_such() -> None:
    text = (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"
    )
    assert tls_failure(text).startswith("its certificate was not accepted with the endpoint's CA")


def test_text_without_a_tls_failure_gives_nothing() -> None:
    assert tls_failure(V1_PLAIN_ERROR) == ""


def test_a_failed_tls_handshake_is_a_handshake_failure_naming_the_host() -> None:
    exc = requests.exceptions.SSLError(V1_REFUSED.splitlines()[-1])
    translated = translate(exc, host=URL)
    assert type(translated) is errors.EngineHandshakeFailed
    assert translated.message.startswith(f"The Docker engine at {URL} refused the connection: it did not")
    assert isinstance(translated, errors.EngineUnavailable)


def test_a_failed_run_message_says_the_certificate_was_refused_without_a_traceback() -> None:
    summary = failure_summary(V1_REFUSED.splitlines())
    assert summary.startswith("the engine refused the connection: it did not accept")
    assert "Traceback" not in summary


def test_a_failed_run_message_keeps_only_the_exception_line_of_a_traceback() -> None:
    summary = failure_summary(V1_PLAIN_ERROR.splitlines())
    assert (
        summary
        == "docker.errors.DockerException: Error while fetching server API version: ('Connection aborted.')"
    )


def test_a_failed_run_message_without_a_traceback_keeps_the_last_lines() -> None:
    lines = [f"line {n}" for n in range(20)] + ["", "ERROR: port is already allocated"]
    summary = failure_summary(lines)
    assert summary.splitlines()[-1] == "ERROR: port is already allocated"
    assert "line 12" not in summary
