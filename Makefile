# The two commands of the quick start: `make run` and `make test`. Everything they need is set up here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench fuzz clean browser dovecot

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

MYPY_PATHS := hub channels agents_ui config

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy $(MYPY_PATHS)

# The console's browser tests drive Debian's Chromium (no browser download). As root it is installed
# when missing; elsewhere the tests skip with a message, and in CI (CI=true) they fail instead.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	@[ -x $(CHROMIUM) ] || echo "note: $(CHROMIUM) is missing (apt-get install chromium): browser tests will skip"

# The IMAP tests start their own Dovecot (Debian's dovecot-imapd) with a config in a temp folder.
# As root it is installed when missing; elsewhere they skip with a message (CI=true: they fail).
DOVECOT := /usr/sbin/dovecot
dovecot:
	@if [ ! -x $(DOVECOT) ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; fi
	@[ -x $(DOVECOT) ] || echo "note: $(DOVECOT) is missing (apt-get install dovecot-imapd): IMAP tests will skip"

test: setup browser dovecot
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy $(MYPY_PATHS)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# Schemathesis over the served OpenAPI schema, on SQLite and PostgreSQL (minutes; not in `make test`).
fuzz: setup
	$(BIN)/pytest -q -m fuzz tests/config/test_openapi_fuzz.py $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.inbound_api

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
