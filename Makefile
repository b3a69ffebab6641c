# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-quick lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest -q

test-quick: venv
	$(BIN)/python -m pytest -q -m "not slow" -x

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .meltano output .pytest_cache
