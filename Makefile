# paper-digest: two commands on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## make demo: poll the bundled real captures, rank, and write digests to var/outbox (no network).
## Each run starts afresh (var/demo.db and var/outbox are the demo's own), so the ranking is never empty.
demo: $(STAMP)
	rm -rf var/outbox var/demo.db var/demo.db-wal var/demo.db-shm
	$(BIN)/digest poll -c config/demo.yaml
	$(BIN)/digest papers -c config/demo.yaml --limit 10
	$(BIN)/digest rank -c config/demo.yaml --subscriber ada@example.org --top 5
	$(BIN)/digest run -c config/demo.yaml --once --force
	$(BIN)/digest status -c config/demo.yaml
	@echo
	@echo "Every digest: $(CURDIR)/var/outbox/index.html"
	@echo "Open Ada's:   $(CURDIR)/$$(ls var/outbox/*-ada@example.org.html | tail -n 1)"

## make test: the whole suite, plus ruff and mypy.
test: $(STAMP)
	$(BIN)/ruff check digest tests bench scripts
	$(BIN)/mypy
	$(BIN)/mypy bench/*.py
	$(BIN)/python -m pytest -q -m "slow or not slow"

## make test-fast: the same without the slow subprocess daemon tests (bare `pytest` does this too).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var build dist .pytest_cache .mypy_cache
