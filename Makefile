# Tasklane: `make up` runs the stack, `make test` runs the whole suite. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV_HOME := .tasklane/uv
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install up down test lint bench clean

$(UV):
	@mkdir -p .tasklane
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.synced

up: install
	$(BIN)/tasklane up

down:
	@if [ -x $(BIN)/tasklane ]; then $(BIN)/tasklane down; fi

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run_now

clean: down
	rm -rf $(VENV) .tasklane
