.PHONY: run test lint bench

run:  ## start the dashboard on http://127.0.0.1:8000 (first run prints the admin login)
	./scripts/run.sh

test:  ## the whole suite against a real engine, registry and chromium (installs them if missing)
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	for b in bench/bench_*.py; do .venv/bin/python $$b || exit 1; done
