"""What ``--k auto`` picks, without labels, on image sets whose number of classes is known.

Runs ``fashion-cluster run --k auto`` (K-Means on raw pixels, elbow sweep k = 2..25 with
the silhouette of each partition) on Fashion-MNIST (10 classes) and on scikit-learn's
handwritten digits (10 classes, 1,797 images of 8x8, stored as an ``.npz``), and
reports the k picked, the knee of the SSE curve, and the test accuracy at the k picked
(Hungarian matching; with fewer clusters than classes, some classes have no cluster).

    python benchmarks/bench_k_auto.py [--n-train 60000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import machine, table

PRESET = """name = "k-auto"
methods = ["kmeans_raw"]
[data]
n_train = {n_train}
[elbow]
k_min = 1
k_max = 25
n_init = 3
[clustering]
n_init = 10
sweep_seeds = [0]
[report]
map_points = 500
"""


def digits(path: Path) -> Path:
    """scikit-learn's digits as uint8 images (values 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    np.savez(path, images=images, labels=data.target.astype(np.int64))
    return path


def run(dataset: str, folder: Path, n_train: int) -> dict:
    preset = folder / "k_auto.toml"
    preset.write_text(PRESET.format(n_train=n_train))
    out = folder / Path(dataset).stem
    subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", str(preset),
                    "--dataset", dataset, "--k", "auto", "--out", str(out), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=60000)
    args = parser.parse_args()
    print(f"# --k auto (highest silhouette)\n\nMachine: {machine()}.\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in ("fashion-mnist", str(digits(Path(tmp) / "digits.npz"))):
            m = run(dataset, Path(tmp), args.n_train)
            e, method = m["elbow"], m["methods"]["kmeans_raw"]
            best = max(s for s in e["silhouette"] if s is not None)
            rows.append([m["dataset"]["name"], m["dataset"]["n_train"],
                         len(m["dataset"]["class_names"]), m["k"], f"{best:.3f}", e["best_k"],
                         f"{method['test']['accuracy']:.3f}"])
            print(rows[-1], flush=True)
            print("silhouette by k:", {k: None if s is None else round(s, 3)
                                       for k, s in zip(e["k"], e["silhouette"], strict=True)})
    print(table(["data", "training images", "classes", "k picked", "silhouette", "knee",
                 "test accuracy at k picked"], rows))


if __name__ == "__main__":
    main()
