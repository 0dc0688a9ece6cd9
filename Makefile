# Every target bootstraps what it needs: a fresh clone needs only Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast docs docs-check lint format check bench clean chromium

# The main job on its embedded defaults: SQLite, the built-in sandbox, the dispatcher.
run: $(STAMP)  ## dripsms's main job on its embedded defaults
	$(BIN)/dripsms validate sequences
	$(BIN)/dripsms db upgrade
	$(BIN)/dripsms run

test: lint $(STAMP) chromium  ## lint, type-check and the whole test suite
	$(BIN)/pytest

# Unit, contract, web, sandbox and SQLite tests: no PostgreSQL, no end to end, nothing slow.
test-fast: $(STAMP) chromium  ## the fast tier (well under two minutes)
	$(BIN)/pytest -q -n auto -m "not postgres and not e2e and not slow" -p no:randomly

docs: $(STAMP)  ## regenerate docs/settings.md's table and docs/cli.md's command reference
	$(BIN)/python scripts/gendocs.py

docs-check: $(STAMP)  ## fail when the generated docs are stale
	$(BIN)/python scripts/gendocs.py --check

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)  ## every benchmark; prints the tables, writes nothing (~20 min)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/preview_bench.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/tick_bench.py
	$(BIN)/python bench/handoff_bench.py
	$(BIN)/python bench/rss_bench.py
	$(BIN)/python bench/webhook_bench.py --postgres auto --serve-processes 2
	$(BIN)/python bench/scaleout_bench.py

# Debian's Chromium for tests/browser (apt-get, as root or with sudo), when it is missing.
chromium:
	@scripts/install-chromium.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
