# The two commands: `make serve` and `make test`. Each creates .venv when missing and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: serve test lint format bench chromium clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip

# torch is pinned to 2.13.0 in pyproject.toml: its CPU wheel is on local disk (no download).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## serve: the app with the shipped models at http://$(HOST):$(PORT)
serve: $(VENV)/.installed
	$(BIN)/recurrent-lens serve --host $(HOST) --port $(PORT)

## chromium: Debian's Chromium for the browser tests (never `playwright install`)
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian chromium for the browser tests"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	fi
	@test -x /usr/bin/chromium || { echo "error: /usr/bin/chromium is missing; browser tests cannot run" >&2; exit 1; }

## test: every test, browser tests included
test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest

## lint: ruff (lint + format check) and mypy on app/
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: the benchmark scripts (ratios against anchors measured in the same run)
bench: $(VENV)/.installed-test chromium
	@for script in bench/[a-z]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
