.PHONY: run check test lint bench

run:  ## start the dashboard on http://127.0.0.1:8000 (first run prints the admin login)
	./scripts/run.sh

check:  ## the fast tier, no Docker engine needed: ruff, Django checks, migrations, tests/unit/
	.venv/bin/ruff check .
	DOCKER_HOST=unix:///nonexistent.sock .venv/bin/python manage.py check
	DOCKER_HOST=unix:///nonexistent.sock .venv/bin/python manage.py makemigrations --check --dry-run
	DOCKER_HOST=unix:///nonexistent.sock .venv/bin/python -m pytest tests/unit -q

test:  ## the whole suite against a real engine, registry and chromium (installs them if missing)
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	for b in bench/bench_*.py; do .venv/bin/python $$b || exit 1; done
