"""compose.yaml and its proxy, validated with a real compose parser (Debian's docker-compose)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose(*args: str) -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is missing: apt-get install docker-compose (make test does it).", pytrace=False
        )
    result = subprocess.run(
        [binary, "-f", str(ROOT / "compose.yaml"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _config(*profile: str) -> dict:
    return yaml.safe_load(_compose(*profile, "config"))


def _default_services(config: dict) -> set[str]:
    return {name for name, service in config["services"].items() if not service.get("profiles")}


def test_compose_default_services_are_the_dashboard_and_its_registry():
    config = _config()
    assert _default_services(config) == {"dashboard", "registry"}
    dashboard = config["services"]["dashboard"]
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in dashboard["volumes"]
    assert dashboard["environment"]["REGISTRY_URL"] == "http://registry:5000"
    assert "healthz" in " ".join(dashboard["healthcheck"]["test"])
    assert dashboard["ports"] == ["127.0.0.1:8000:8000/tcp"]
    assert config["services"]["registry"]["image"] == "registry:2"


def test_compose_scale_profile_adds_redis_postgres_two_replicas_and_a_proxy():
    services = _config("--profile", "scale")["services"]
    scale = {name for name, service in services.items() if service.get("profiles") == ["scale"]}
    assert scale == {"redis", "postgres", "dashboard-a", "dashboard-b", "dashboard-proxy"}
    for replica in ("dashboard-a", "dashboard-b"):
        env = services[replica]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert services["dashboard-proxy"]["ports"] == ["127.0.0.1:8080:8080/tcp"]


def test_proxy_passes_websockets_to_both_replicas():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server dashboard-a:8000;" in conf and "server dashboard-b:8000;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_buffering off;" in conf


def test_dockerfile_runs_daphne_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER dashboard" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "daphne" in dockerfile
