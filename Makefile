# `make run` and `make test` do all set-up themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= supervisor.yaml
PYTEST_ARGS ?=

.PHONY: run test soak bench check lint chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

chromium: | $(BIN)/python $(VENV)/.installed
	@bash scripts/ensure-chromium $(BIN)/python

run: $(VENV)/.installed chromium
	$(BIN)/warden run -c $(CONFIG)

check: $(VENV)/.installed
	$(BIN)/warden check -c $(CONFIG)

test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest -m "not soak" $(PYTEST_ARGS)

soak: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest -m soak -s $(PYTEST_ARGS)

bench: $(VENV)/.installed-test chromium
	$(BIN)/python -m bench

lint: $(VENV)/.installed-test
	$(BIN)/ruff check runtime httpkit actors simulator warden tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache
