# shellcheck shell=bash
# ensure_engine: make sure a Docker engine answers before the dashboard starts (sourced by run.sh).
# At the default socket (ENGINE_SOCKET, /var/run/docker.sock): start dockerd when it is installed
# (root), install docker.io first as root on Debian (like scripts/test.sh), else print the exact
# command to run. A DOCKER_HOST elsewhere is only reported. Never fails: the dashboard shows a 503
# page until an engine answers. Needs PY (a python with the docker SDK).
engine_up() {
  "$PY" - <<'PY'
import docker, os, sys
try:
    default = "unix://" + os.environ.get("ENGINE_SOCKET", "/var/run/docker.sock")
    docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or default, timeout=5).ping()
except Exception as exc:  # noqa: BLE001
    print(f"   ({exc})")
    sys.exit(1)
PY
}
ensure_engine() {
  local DEFAULT_SOCKET=unix://${ENGINE_SOCKET:-/var/run/docker.sock} check
  check=$(mktemp)
  if ! engine_up >"$check" 2>&1; then
    if [ "${DOCKER_HOST:-$DEFAULT_SOCKET}" != "$DEFAULT_SOCKET" ]; then
      echo "!! DOCKER_HOST=$DOCKER_HOST does not answer $(cat "$check")."
      echo "   The dashboard starts anyway and shows a 503 page until it does; start that engine, or unset DOCKER_HOST."
    else
      echo "== no Docker engine answers at ${DEFAULT_SOCKET#unix://}"
      if ! command -v dockerd >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
          echo "== installing docker.io (Debian's Docker engine): apt-get install docker.io"
          DEBIAN_FRONTEND=noninteractive apt-get update -qq
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
        else
          echo "!! dockerd is not installed. Install the engine, then run make run again:"
          if command -v apt-get >/dev/null; then echo "     sudo apt-get install docker.io && sudo systemctl start docker"
          else echo "     see https://docs.docker.com/engine/install/ (then: sudo systemctl start docker)"; fi
          echo "   The dashboard starts anyway and shows a 503 page until an engine answers."
        fi
      fi
      if command -v dockerd >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
          echo "== starting dockerd (log: /tmp/dashboard-dockerd.log)"
          nohup dockerd -H "$DEFAULT_SOCKET" >/tmp/dashboard-dockerd.log 2>&1 &
          for _ in $(seq 1 60); do engine_up >/dev/null 2>&1 && break; sleep 1; done
          if engine_up >/dev/null 2>&1; then echo "== dockerd is up"
          else echo "!! dockerd did not answer within 60 s; see /tmp/dashboard-dockerd.log"; tail -5 /tmp/dashboard-dockerd.log; fi
        else
          echo "!! dockerd is installed but not running, and starting it needs root. Run:"
          if command -v systemctl >/dev/null; then echo "     sudo systemctl start docker"
          else echo "     sudo dockerd &"; fi
          echo "   (or add yourself to the docker group if it runs and only the socket is refused). The dashboard"
          echo "   starts anyway and shows a 503 page until the engine answers."
        fi
      fi
    fi
  fi
  rm -f "$check"
}
