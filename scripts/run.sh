#!/usr/bin/env bash
# Start the dashboard on http://127.0.0.1:8000 (SQLite, in-memory channel layer, local engine socket).
# First run: creates .venv, installs requirements, migrates, creates an admin and prints its login.
# No engine at the default socket: starts dockerd when installed (as root; on Debian, as root, installs
# docker.io first, like scripts/test.sh), else prints the exact command to run.
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
# engine.sh's functions run $PY later: exported on its own line (an assignment in front of "." lasts
# only while the file is read, and set -u then ends this script without a word).
export PY="$PWD/.venv/bin/python"
. scripts/engine.sh
ensure_engine
echo "== serving on http://$HOST:$PORT (daphne; Ctrl-C stops)"
exec .venv/bin/daphne -b "$HOST" -p "$PORT" dashboard.asgi:application
