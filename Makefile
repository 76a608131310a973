# `make run` and `make test` each set everything up on a fresh machine: a virtual
# environment with the pinned dependencies, the package, and the Fashion-MNIST files.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
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
	@echo "installing requirements.lock into $(VENV) (a few minutes the first time)"
	@# This machine's pip config names local indexes that may be absent: drop that noise.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
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
	$(BIN)/ruff check src tests benchmarks examples

# bench_predict.py assigns new images with the paper and best presets' runs.
results/%/metrics.json:
	$(MAKE) run PRESET=$*

bench: setup data results/paper/metrics.json results/best/metrics.json
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache test-artifacts
