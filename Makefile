# reinforce: `make run` serves on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# What serving needs only: `make run` installs no test or lint tools.
RUN_STAMP := $(VENV)/.runtime-stamp
# `make run` serves here; PORT=9000 make run (or make run PORT=9000) changes it.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-runtime run test lint format typecheck openapi migrate check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

install-runtime: $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

migrate: install-runtime
	$(BIN)/reinforce migrate

run: migrate
	$(BIN)/reinforce serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/openapi-spec-validator openapi/openapi.json

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

openapi: install
	$(BIN)/reinforce openapi --output openapi/openapi.json

# Models and migrations agree: `alembic check` builds a throw-away SQLite database with the
# migrations and compares the models with it (migrations/env.py).
check: install
	$(BIN)/alembic check

# Throughput, latency, memory and read-side figures; see bench/README.md. Installs the
# bench extra (load generator, rule-engine, psutil, py-spy) on first use.
bench: install
	$(BIN)/python -c 'import aiohttp, psutil, rule_engine' 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
