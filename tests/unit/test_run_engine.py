"""``make run``'s engine step (scripts/engine.sh) where no engine answers: it says what it does and
prints the exact command to run. Run against a socket path that does not exist (never the real
engine's), with PATH limited to what the case needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_sh_engine_lines() -> str:
    """scripts/run.sh's own lines that set up the engine step, as it runs them (under set -u: a PY
    that does not outlive the ``.`` line once ended make run without a word)."""
    lines = (ROOT / "scripts/run.sh").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("export PY="))
    end = next(i for i, line in enumerate(lines) if line.strip() == "ensure_engine")
    return "; ".join(line for line in lines[start:end] if line.strip() and not line.startswith("#"))


def _run(tmp_path: Path, tools: dict[str, str], **env: str) -> str:
    """Source engine.sh and call ensure_engine with a PATH of ``tools`` (name -> script body, or "" to
    link the system's command)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("cat", "mktemp", "rm", "seq", "sleep", "tail"):
        (bin_dir / name).symlink_to(
            subprocess.check_output(["bash", "-c", f"command -v {name}"], text=True).strip()
        )
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = f'set -euo pipefail; cd "{ROOT}"; {_run_sh_engine_lines()}; ensure_engine'
    result = subprocess.run(
        ["/bin/bash", "-c", script],
        env={
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "ENGINE_SOCKET": str(tmp_path / "none.sock"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_no_engine_and_no_dockerd_prints_where_to_get_it(tmp_path):
    out = _run(tmp_path, {"id": "echo 1000"})
    assert f"no Docker engine answers at {tmp_path / 'none.sock'}" in out
    assert "dockerd is not installed" in out
    assert "https://docs.docker.com/engine/install/" in out


def test_no_engine_on_debian_as_a_user_prints_the_apt_command(tmp_path):
    out = _run(tmp_path, {"id": "echo 1000", "apt-get": "echo apt-get must not run >&2; exit 9"})
    assert "sudo apt-get install docker.io && sudo systemctl start docker" in out


def test_dockerd_installed_but_not_root_prints_the_start_command(tmp_path):
    out = _run(tmp_path, {"id": "echo 1000", "dockerd": "echo dockerd must not run >&2; exit 9"})
    assert "starting it needs root" in out
    assert "sudo dockerd &" in out


def test_a_docker_host_elsewhere_is_only_reported(tmp_path):
    host = f"unix://{tmp_path / 'other.sock'}"
    out = _run(
        tmp_path, {"id": "echo 0", "dockerd": "echo dockerd must not run >&2; exit 9"}, DOCKER_HOST=host
    )
    assert f"DOCKER_HOST={host} does not answer" in out
    assert "starting dockerd" not in out
    assert os.path.exists(tmp_path / "other.sock") is False
