"""The worked example runs, on a small subset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cluster_and_predict_example_runs(tmp_path, real_dir):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cluster_and_predict.py"), "--n-images",
         "800", "--epochs", "2", "--min-steps", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "FASHION_MNIST_DIR": str(real_dir)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "800 images in" in done.stdout and "1,000 new images assigned" in done.stdout
    assert (tmp_path / "scan.safetensors").is_file()


@pytest.mark.distributed
def test_torchrun_example_trains_on_two_processes(tmp_path, real_dir):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", str(ROOT / "examples" / "train_with_torchrun.py"), "--n-images", "800",
         "--epochs", "2", "--min-steps", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "FASHION_MNIST_DIR": str(real_dir)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 processes: 800 images" in done.stdout
    assert (tmp_path / "scan.safetensors").is_file()
