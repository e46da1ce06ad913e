#!/usr/bin/env bash
# Start the dashboard on http://127.0.0.1:8000 (SQLite, in-memory channel layer, local engine socket).
# First run: creates .venv, installs requirements, migrates, creates an admin and prints its login.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed-runtime ] || [ requirements.txt -nt .venv/.installed-runtime ]; then
  echo "== installing requirements"
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed-runtime
fi
.venv/bin/python manage.py migrate --no-input
.venv/bin/python manage.py collectstatic --no-input --verbosity 0
.venv/bin/python manage.py bootstrap
if ! .venv/bin/python - <<'PY'
import docker, os, sys
try:
    docker.DockerClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), timeout=5).ping()
except Exception as exc:  # noqa: BLE001
    print(f"!! The Docker engine does not answer ({exc}). The dashboard starts anyway and shows a 503 page until it does.")
    sys.exit(1)
PY
then :; fi
echo "== serving on http://$HOST:$PORT (daphne; Ctrl-C stops)"
exec .venv/bin/daphne -b "$HOST" -p "$PORT" dashboard.asgi:application
