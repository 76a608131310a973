#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine (no network there): the CUDA
# tests, the Gaussian mixture on the GPU against scikit-learn, and bench_gpu.py with a
# preset. Python packages the machine lacks travel as wheels in .whl/ and the data in
# .gpudata/ (both git-ignored). Logs go to $OUT (or ./gpu-logs).
#
#   bash benchmarks/gpu_check.sh [preset]
set -u
out=${OUT:-gpu-logs}; mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src FASHION_MNIST_DIR=$PWD/.gpudata PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, sklearn, numba; print('torch', torch.__version__, 'sklearn', sklearn.__version__, 'numba', numba.__version__)"
timeout 150 python3 -m pytest -q -p no:cacheprovider -k cuda \
    tests/test_gmm.py tests/test_kmeans.py tests/test_autoencoders.py 2>&1 | tee "$out/tests.log" | tail -25
timeout 120 python3 benchmarks/bench_gmm.py --device cuda --repeats 3 2>&1 | tee "$out/gmm.log"
timeout 280 python3 benchmarks/bench_gpu.py --preset "${1:-quick}" 2>&1 | tee "$out/gpu.log"
