"""Shared fixtures: generated IDX files, the real Fashion-MNIST files, small subsets."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

# The repository root, for the research harness (``import research``, tests/test_research.py)
# under bare ``pytest`` too; tests/ (``helpers``, ``conftest``) is on the path already.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parents[1]))

# Before torch is imported anywhere: one thread count for this process and the CLI
# subprocesses the tests start (results are bit-identical only at equal thread counts).
os.environ.setdefault("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fashion_cluster import data  # noqa: E402

# The seed of every test marked ``accuracy``. benchmarks/bench_thresholds.py runs those
# tests over many seeds and thread counts; their thresholds come from that distribution.
SEED = int(os.environ.get("FASHION_CLUSTER_TEST_SEED", "0"))

REAL_DIR = next((d for d in data.candidate_dirs() if (d / "train-images-idx3-ubyte.gz").is_file()
                 or (d / "train-images-idx3-ubyte").is_file()), None)

needs_real_data = pytest.mark.skipif(
    REAL_DIR is None,
    reason="the real Fashion-MNIST files are not installed (make test installs them: "
           "apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR)",
)


def idx_bytes(array: np.ndarray, type_code: int = 0x08, magic_zero: bytes = b"\x00\x00") -> bytes:
    """An IDX payload for ``array`` (big-endian), with a settable type code and magic."""
    header = magic_zero + bytes([type_code, array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True, **kwargs) -> Path:
    payload = idx_bytes(array, **kwargs)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's real cache, and see no FASHION_MNIST_DIR."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("FASHION_MNIST_MIRROR", raising=False)


NO_GPU = "no CUDA device: this variant runs the GPU path"


_SKIPPED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    """Only GPU variants may skip: under CI=true any other skip fails the run, so that a
    missing dependency or data file cannot pass as green."""
    if os.environ.get("CI") == "true" and exitstatus == 0 and any(
            reason != NO_GPU for _, reason in _SKIPPED):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """Name every skipped test (pytest's own summary groups them by line)."""
    if _SKIPPED:
        terminalreporter.section("skipped tests")
        for nodeid, reason in _SKIPPED:
            flag = "" if reason == NO_GPU else "  <- not a GPU variant"
            terminalreporter.line(f"{nodeid}: {reason}{flag}")
        if os.environ.get("CI") == "true" and any(r != NO_GPU for _, r in _SKIPPED):
            terminalreporter.line("CI=true: only GPU variants may skip; failing the run",
                                  red=True)


@pytest.fixture
def measured(record_property):
    """``measured(name, value)`` records a score that a test sets a threshold on (for
    benchmarks/bench_thresholds.py, through --junitxml) and returns the value."""
    def record(name: str, value: float) -> float:
        record_property(name, float(value))
        return value

    return record


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> str:
    """The devices a torch path must agree on; "cuda" is skipped where there is no GPU."""
    import torch

    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip(NO_GPU)
    return request.param


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if REAL_DIR is None:
        pytest.skip("the real Fashion-MNIST files are not installed")
    return REAL_DIR


@pytest.fixture(scope="session")
def fmnist(real_dir):
    """The real train and test splits (uint8 images, labels)."""
    return data.load_fashion_mnist("train", root=real_dir), data.load_fashion_mnist(
        "test", root=real_dir)


@pytest.fixture(scope="session")
def small_real(fmnist):
    """A stratified 2,000 / 500 subset of the real data, scaled to float32 (N, 784)."""
    (xtr, ytr), (xte, yte) = fmnist
    tr = data.stratified_subset(ytr, 2000, 0)
    te = data.stratified_subset(yte, 500, 0)
    return (data.scale_images(xtr[tr]), ytr[tr]), (data.scale_images(xte[te]), yte[te])


TINY_PRESET = """
name = "tiny"
seed = 0
[data]
n_train = 1500
n_test = 500
[elbow]
k_min = 1
k_max = 6
n_init = 2
[clustering]
k = 10
n_init = 2
sweep_seeds = [0, 1]
[dense_ae]
epochs = 4
[conv_ae]
epochs = 1
[report]
map_points = 300
"""


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, real_dir):
    """A whole small study run through the CLI: (preset path, output folder, CLI args).
    A minute or so on 2 cores: the tests that use it are marked ``soak`` (or
    ``distributed``), out of ``make test-fast``."""
    from fashion_cluster import cli

    folder = tmp_path_factory.mktemp("study")
    preset = folder / "tiny.toml"
    preset.write_text(TINY_PRESET)
    out = folder / "out"
    args = ["run", "--preset", str(preset), "--out", str(out), "--device", "cpu",
            "--data-dir", str(real_dir), "--seed", str(SEED), "--quiet"]
    assert cli.main(args) == 0
    return preset, out, args



RAW_ONLY = """
name = "raw-only"
methods = ["kmeans_raw"]
[elbow]
enabled = false
[clustering]
k = 3
n_init = 2
sweep_seeds = [0]
[report]
map_points = 10
map_method = "tsne"
"""


def three_kinds(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise images (28x28 uint8) with a bright bar at one of three heights: three clear
    classes, no real data needed."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 4 + 7 * c : 11 + 7 * c, 4:24] = 220
    return images, labels


@pytest.fixture(scope="session")
def raw_run(tmp_path_factory) -> dict:
    """A finished K-Means run on 150 generated images (a few seconds), and its inputs:
    ``run``, ``npz`` (the data set), ``npy`` (20 of its images), ``preset``, ``args``
    (the run's command line). Tests must not change it: copy it first."""
    from fashion_cluster import cli

    folder = tmp_path_factory.mktemp("raw_run")
    images, labels = three_kinds()
    np.savez(folder / "set.npz", images=images, labels=labels)
    np.save(folder / "new.npy", images[:20])
    (folder / "raw.toml").write_text(RAW_ONLY)
    args = ["run", "--preset", str(folder / "raw.toml"), "--dataset", str(folder / "set.npz"),
            "--out", str(folder / "run"), "--device", "cpu", "--quiet"]
    assert cli.main(args) == 0
    return {"run": folder / "run", "npy": folder / "new.npy", "npz": folder / "set.npz",
            "preset": folder / "raw.toml", "args": args}
