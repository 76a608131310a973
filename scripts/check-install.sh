#!/usr/bin/env bash
# What a user gets without the Makefile: `pip install .` into a fresh virtual
# environment, `python -m fashion_cluster --version`, then the quick preset end to end.
# requirements.lock is passed as constraints only so that pip takes the CPU build of torch
# (an unconstrained torch pulls a CUDA build of several gigabytes).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c requirements.lock . 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
cd "$work"  # away from the source tree: the installed package, not src/
"$work/venv/bin/python" -m fashion_cluster --version
"$work/venv/bin/fashion-cluster" run --preset quick --out "$work/quick" --quiet
test -s "$work/quick/report.html" && test -s "$work/quick/metrics.json"
echo "check-install: pip install . and the quick preset work"
