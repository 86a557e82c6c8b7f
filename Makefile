# coldpledge: `make demo` to try it, `make test` to check it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: demo test test-sqlite test-postgres lint bench lock messages screenshots clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "coldpledge needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

# Installs exactly what the lock files pin (with hashes), then the project itself.
$(VENV)/.runtime: requirements/runtime.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/runtime.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.dev: requirements/dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@ $(VENV)/.runtime

## demo: install, migrate and seed a demo on SQLite, then serve it on http://127.0.0.1:8000
demo: $(VENV)/.runtime
	$(BIN)/coldpledge demo

## test: lint, then the whole suite on SQLite and on PostgreSQL
test: lint test-sqlite test-postgres

test-sqlite: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

# The PostgreSQL pass needs the server; under CI=true its absence is a failure, never a skip.
test-postgres: $(VENV)/.dev
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(subst +psycopg,,$(PG_URL))', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== PostgreSQL pass ($(PG_URL))"; \
		COLDPLEDGE_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(PG_URL) and CI=true: failing"; exit 1; \
	else \
		echo "WARNING: PostgreSQL is not reachable at $(PG_URL): the PostgreSQL pass was NOT run"; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## screenshots: run the browser tests and save their screenshots under docs/screenshots/
screenshots: $(VENV)/.dev
	COLDPLEDGE_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser

## bench: run the benchmarks; each prints JSON
bench: $(VENV)/.dev
	@for script in benchmarks/bench_*.py benchmarks/ingest.py; do $(BIN)/python -m benchmarks.$$(basename $$script .py); done

## lock: re-resolve the lock files after changing dependencies in pyproject.toml
lock: $(VENV)/.dev
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --build-deps-for editable \
		--output-file requirements/runtime.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --build-deps-for editable \
		--extra dev --output-file requirements/dev.lock pyproject.toml

## messages: extract translatable strings, update the catalogues, compile them (commit the .mo files)
messages: $(VENV)/.dev
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -o src/coldpledge/locale/messages.pot src/coldpledge
	$(BIN)/pybabel -q update -i src/coldpledge/locale/messages.pot -d src/coldpledge/locale -l zh_Hans_CN
	$(BIN)/pybabel -q compile -d src/coldpledge/locale -l zh_Hans_CN

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
