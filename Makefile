# `make run` and `make test` each set everything up on a fresh machine: a virtual
# environment with the pinned dependencies, the package, and the Fashion-MNIST files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRESET ?= paper
OUT    ?= results/$(PRESET)
RUN_ARGS ?=

.PHONY: all setup data browser run quick test lint bench clean

all: test

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

data: setup
	@bash scripts/ensure-data.sh $(BIN)/fashion-cluster

browser:
	@bash scripts/ensure-browser.sh

run: setup data
	$(BIN)/fashion-cluster run --preset $(PRESET) --out $(OUT) $(RUN_ARGS)

quick:
	$(MAKE) run PRESET=quick

test: setup data browser
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

bench: setup data
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache test-artifacts
