# sfsync: every target sets up what it needs, so on a fresh machine `make demo` and `make test` are
# the whole installation.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv postgres chromium jsforce clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# PostgreSQL for the source tests: installed from the machine's package manager when missing;
# the tests start their own throwaway cluster on loopback.
postgres:
	@bash scripts/ensure-postgres.sh

# Debian's Chromium for the web UI's browser tests (Playwright drives it; no browser downloads).
chromium:
	@bash scripts/ensure-chromium.sh

# jsforce (from the npm registry) for the real-client test against the emulator; skipped without node.
jsforce:
	@bash scripts/ensure-jsforce.sh .cache/jsforce

# make demo [DIR=path] [PORT=8642]: the demo project goes to DIR (default: a temporary directory)
demo: $(STAMP)
	$(BIN)/sfsync demo $(DIR) $(if $(PORT),--port $(PORT))

test: $(STAMP) postgres chromium jsforce
	SFSYNC_JSFORCE_DIR=$(CURDIR)/.cache/jsforce $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
