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
