# Tasklane: `make up` runs the stack, `make test` runs the whole suite. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV_HOME := .tasklane/uv
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install up down test test-postgres test-reliability lint bench clean

$(UV):
	@mkdir -p .tasklane
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on these machines), Python never
# caches bytecode, and every flow-run process would compile Prefect from source (2 CPU-s -> 1).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	$(BIN)/python -m compileall -q flows deployments integrations blocks tasklane
	@touch $@

install: $(VENV)/.synced

# `make up DB=postgres` runs the server on a local PostgreSQL (installed if missing, data under
# .tasklane/postgres/); DB=sqlite or a postgresql+asyncpg:// URL also work. Unset: server.database.
DB ?=

up: install
	$(if $(DB),TASKLANE_SERVER__DATABASE='$(DB)' )$(BIN)/tasklane up

down:
	@if [ -x $(BIN)/tasklane ]; then $(BIN)/tasklane down; fi

# ruff; the layers and no import circles (import-linter, contracts in .importlinter); types
# (mypy, settings in pyproject.toml) over the catalog mapping, the integrations and the flows.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy deployments integrations flows

# The main suite on SQLite with tests/reliability beside it, on SQLite then PostgreSQL (scripts/test).
test: lint
	BIN=$(BIN) PYTEST_ARGS='$(PYTEST_ARGS)' scripts/test

# The reliability tests again, with the Prefect server on a fresh local PostgreSQL database,
# one pytest per file side by side (skipped, with the reason printed, where PostgreSQL cannot
# be installed). `make test-postgres` alone runs just this pass.
test-postgres: install
	BIN=$(BIN) scripts/test-reliability postgres

# All of tests/reliability (the two-worker test included) on SQLite, then on PostgreSQL.
test-reliability: install
	BIN=$(BIN) scripts/test-reliability sqlite && BIN=$(BIN) scripts/test-reliability postgres

bench: install
	$(BIN)/python -m bench.run_now

clean: down
	rm -rf $(VENV) .tasklane
