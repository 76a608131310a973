"""Command-line conventions: --version, ``python -m fashion_cluster``, one version."""

import importlib.metadata
import subprocess
import sys

import fashion_cluster


def test_version_is_written_once_and_printed_by_python_m():
    assert importlib.metadata.version("fashion-cluster") == fashion_cluster.__version__
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"fashion-cluster {fashion_cluster.__version__}"


def test_device_takes_a_cuda_index_and_refuses_others():
    from fashion_cluster import cli

    parser = cli._parser()
    assert parser.parse_args(["run", "--device", "cuda:1"]).device == "cuda:1"
    assert parser.parse_args(["run"]).device == "auto"
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--device", "cuda:x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice: 'cuda:x'" in done.stderr
