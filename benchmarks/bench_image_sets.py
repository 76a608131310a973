"""The best preset against K-Means on raw pixels, on image sets unlike Fashion-MNIST.

For each set of ``image_sets.py`` (colour, 64x64, unbalanced, small, digits 32x32) and
each seed: ``fashion-cluster run --preset best --dataset SET.npz --seed S``, and
scikit-learn's ``KMeans(k, n_init=10, random_state=S)`` on the raw pixels of the same
training split, assigning the same test split. Test accuracy after Hungarian matching,
the run's wall time and any warning it raised about its own result.

    python benchmarks/bench_image_sets.py [--sets colour,small] [--seeds 0,1,2]
        [--preset best] [--out benchmarks/results/image-sets.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import image_sets
from common import machine, table
from sklearn.cluster import KMeans

from fashion_cluster.datasets import load_dataset
from fashion_cluster.metrics import clustering_accuracy


def kmeans_raw(path: Path, seed: int) -> float:
    data = load_dataset(path)
    k = len(data.class_names)
    model = KMeans(k, n_init=10, random_state=seed).fit(data.x_train)
    return clustering_accuracy(data.test_labels, model.predict(data.x_test))


def best(path: Path, seed: int, preset: str, out: Path) -> dict:
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", preset,
                           "--dataset", str(path), "--seed", str(seed), "--out", str(out),
                           "-q"], capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode:
        raise RuntimeError(f"{path.name} seed {seed}: exit {done.returncode}\n{done.stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    name, method = next(iter(metrics["methods"].items()))
    return {"acc": method["test"]["accuracy"], "wall": wall, "method": name,
            "warnings": method.get("warnings", [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(image_sets.RECIPES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--preset", default="best")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, lines = [], [f"Machine: {machine()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            path = image_sets.write(name, Path(tmp))
            ours, base, walls = [], [], []
            for seed in seeds:
                run = best(path, seed, args.preset, Path(tmp) / f"{name}-{seed}")
                ours.append(run["acc"])
                walls.append(run["wall"])
                base.append(kmeans_raw(path, seed))
                line = (f"{name} seed {seed}: {run['method']} {run['acc']:.4f}, K-Means "
                        f"{base[-1]:.4f}, {run['wall']:.0f} s"
                        + (f"; warnings: {run['warnings']}" if run["warnings"] else ""))
                print(line, flush=True)
                lines.append(line)
            rows.append([name, " / ".join(f"{a:.1%}" for a in ours),
                         f"{statistics.mean(ours):.1%}", " / ".join(f"{a:.1%}" for a in base),
                         f"{statistics.mean(base):.1%}",
                         f"{100 * (statistics.mean(ours) - statistics.mean(base)):+.1f}",
                         f"{statistics.median(walls):.0f}"])
    text = "\n".join(lines + ["", table(
        ["set", f"{args.preset} test acc. (seeds {args.seeds})", "mean",
         "K-Means raw pixels", "mean", "points", "median wall s"], rows)])
    print(text)
    if args.out:
        args.out.write_text(f"`python benchmarks/bench_image_sets.py --sets {args.sets} "
                            f"--seeds {args.seeds} --preset {args.preset}`\n\n{text}\n")


if __name__ == "__main__":
    main()
