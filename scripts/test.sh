#!/usr/bin/env bash
# Run the whole test suite against a real Docker engine, a real registry and Debian's chromium.
# Installs and starts what is missing (as root on Debian): dockerd, docker-registry, busybox-static,
# chromium, redis-server, postgresql, docker-compose (to validate compose.yaml).
# Point it at an existing engine with DOCKER_HOST=...; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx sh || need_apt+=(busybox-static)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v redis-server >/dev/null || need_apt+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
engine_up() { docker -H "$DOCKER_HOST" version >/dev/null 2>&1; }
if ! command -v docker >/dev/null || ! engine_up; then
  command -v dockerd >/dev/null || need_apt+=(docker.io)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "!! missing: ${need_apt[*]}; install them (Debian: apt-get install ${need_apt[*]}) and re-run." >&2
    exit 2
  fi
  echo "== installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! engine_up; then
  if [ "$DOCKER_HOST" != "unix:///var/run/docker.sock" ]; then
    echo "!! DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST." >&2
    exit 2
  fi
  echo "== starting dockerd (log: /tmp/dashboard-dockerd.log)"
  nohup dockerd >/tmp/dashboard-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || { echo "!! dockerd did not start; see /tmp/dashboard-dockerd.log" >&2; tail -20 /tmp/dashboard-dockerd.log >&2; exit 2; }
fi
echo "== engine: $(docker -H "$DOCKER_HOST" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
if [ ! -f .venv/.installed-dev ] || [ requirements-dev.txt -nt .venv/.installed-dev ] || [ requirements.txt -nt .venv/.installed-dev ]; then
  echo "== installing test requirements"
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  touch .venv/.installed-dev
fi

echo "== lint and checks"
.venv/bin/ruff check .
.venv/bin/python manage.py check
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null

echo "== pytest"
exec .venv/bin/python -m pytest "$@"
