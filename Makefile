# reinforce: `make run` serves on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format typecheck openapi migrate check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(BIN)/reinforce migrate

run: migrate
	$(BIN)/reinforce serve --host 127.0.0.1 --port 8000

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

# Models and migrations agree, checked on a throw-away SQLite database.
check: install
	rm -f var/check.db*
	REINFORCE_DATABASE_URL=sqlite+aiosqlite:///var/check.db $(BIN)/reinforce migrate
	REINFORCE_DATABASE_URL=sqlite+aiosqlite:///var/check.db $(BIN)/alembic check
	rm -f var/check.db*

# Throughput, latency, memory and read-side figures; see bench/README.md. Installs the
# bench extra (load generator, rule-engine, psutil, py-spy) on first use.
bench: install
	$(BIN)/python -c 'import aiohttp, psutil, rule_engine' 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
