# The two commands of the quick start: `make run` and `make test`. Everything they need is set up here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/hub db upgrade
	$(BIN)/hub admin ensure
	$(BIN)/hub serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.inbound_api

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
