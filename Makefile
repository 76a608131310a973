# `make run` and `make test` each set everything up on a fresh machine: a virtual
# environment with the pinned dependencies, the package, and the Fashion-MNIST files.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# This machine's pip config names local indexes that may be absent: drop that noise.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
PRESET ?= paper
OUT    ?= results/$(PRESET)
RUN_ARGS ?=

.PHONY: all setup setup-dev data browser run quick test test-fast lint docs check-install bench clean

all: test

# The runtime (requirements.lock) for `make run`; the development tools
# (requirements-dev.lock: Dask, pytest, ruff, selenium, mkdocs) on top for the rest.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing requirements.lock into $(VENV) (a few minutes the first time)"
	$(PIP) -r requirements.lock 2>&1 | $(QUIET_PIP)
	$(PIP) --no-deps -e . 2>&1 | $(QUIET_PIP)
	@touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	@echo "installing requirements-dev.lock into $(VENV)"
	$(PIP) -r requirements.lock -r requirements-dev.lock 2>&1 | $(QUIET_PIP)
	@touch $@

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

data: setup
	@bash scripts/ensure-data.sh $(BIN)/fashion-cluster

browser:
	@bash scripts/ensure-browser.sh

run: setup data
	$(BIN)/fashion-cluster run --preset $(PRESET) --out $(OUT) $(RUN_ARGS)

quick:
	$(MAKE) run PRESET=quick

test: setup-dev data browser
	$(BIN)/python -m pytest -q

# The unit tests, in under 3 minutes on 2 cores: between changes. Leaves out the markers
# of pyproject.toml's [tool.pytest.ini_options] (long accuracy, soak, multi-process and
# Dask, browser, other slow tests), which `make test` runs with the rest before a push.
FAST_TESTS := not slow and not accuracy and not soak and not distributed and not browser

test-fast: setup-dev data
	$(BIN)/python -m pytest -q -m "$(FAST_TESTS)"

lint: setup-dev
	$(BIN)/ruff check src tests benchmarks examples research

# The user documentation and the API reference (from the docstrings) into site/, offline.
docs: setup-dev
	$(BIN)/mkdocs build --strict --quiet
	@echo "site/index.html"

# `pip install .` into a fresh virtual environment, without this Makefile, then the quick
# preset: what a user who does not clone the repository gets. The lock is a constraints
# file only so that pip picks the CPU build of torch already on this machine.
check-install: data
	bash scripts/check-install.sh

# bench_predict.py assigns new images with the paper and best presets' runs.
results/%/metrics.json:
	$(MAKE) run PRESET=$*

bench: setup-dev data results/paper/metrics.json results/best/metrics.json
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache test-artifacts site
