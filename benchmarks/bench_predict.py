"""Speed and memory of ``fashion-cluster predict``: images a second, and peak memory when
the images are streamed from an ``.npy`` memory map (memory must not grow with their
number).

For each finished run and method given, predicts Fashion-MNIST's 70,000 images and a
stack of N distinct images (Fashion-MNIST shifted by one to a few pixels, default one
million), each in a fresh process, and reports wall time, images per second and the
process's peak resident memory (``ru_maxrss``).

    python benchmarks/bench_predict.py [RUN_DIR:METHOD ...] [--n 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine, table

from fashion_cluster.data import load_fashion_mnist


def shifted_stack(path: Path, n: int) -> Path:
    """``n`` distinct 28x28 images (Fashion-MNIST rolled by 1..k pixels), as .npy."""
    (train, _), (test, _) = load_fashion_mnist("train"), load_fashion_mnist("test")
    base = np.concatenate([train, test])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    for start in range(0, n, len(base)):
        shift = start // len(base)
        rows = min(len(base), n - start)
        out[start : start + rows] = np.roll(base[:rows], (shift % 5, shift // 5 % 5), (1, 2))
    out.flush()
    return path


def predict(run: str, method: str, images: Path, csv: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one ``predict`` in a fresh process."""
    code = ("import resource, sys\nfrom fashion_cluster import cli\nrc = cli.main(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(rc)")
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "predict", run, str(images),
                           "--method", method, "--out", str(csv), "--quiet"],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - tic
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR:METHOD",
                        default=["results/paper:ae_gmm", "results/best:scan"],
                        help="finished runs and a method of each (default: the paper "
                             "preset's AE + GMM and the best preset's SCAN, from make run "
                             "and make run PRESET=best)")
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# predict: images a second and peak memory\n\nMachine: {machine()}.\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small = shifted_stack(Path(tmp) / "70k.npy", 70_000)
        big = shifted_stack(Path(tmp) / "big.npy", args.n)
        for spec in args.runs:
            run, method = spec.rsplit(":", 1)
            for images, n in ((small, 70_000), (big, args.n)):
                wall, peak = predict(run, method, images, Path(tmp) / "out.csv")
                rows.append([method, f"{n:,}", f"{wall:.1f}", f"{n / wall:,.0f}", f"{peak:,.0f}"])
                print(rows[-1], flush=True)
    print(table(["method", "images", "wall s", "images/s", "peak MB"], rows))


if __name__ == "__main__":
    main()
