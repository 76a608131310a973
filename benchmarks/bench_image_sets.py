"""The best preset against K-Means on raw pixels, on image sets unlike Fashion-MNIST.

For each set of ``tests/helpers/image_sets.py`` (colour, 64x64, 96x96, unbalanced, small,
digits 32x32) and each seed: ``fashion-cluster run --preset best --dataset SET.npz --seed S``, and
scikit-learn's ``KMeans(k, n_init=10, random_state=S)`` on the raw pixels of the same
training split, assigning the same test split. Test accuracy after Hungarian matching,
the run's wall time and any warning it raised about its own result.

    python benchmarks/bench_image_sets.py [--sets colour,small] [--seeds 0,1,2]
        [--preset best] [--cluster-sizes merged] [--out benchmarks/results/image-sets.md]
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

from common import machine, table
from sklearn.cluster import KMeans

from fashion_cluster.settings import CLUSTER_SIZES
from fashion_cluster.datasets import load_dataset
from fashion_cluster.metrics import clustering_accuracy

# The image-set recipes are test infrastructure, shared with tests/test_image_sets.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
import image_sets  # noqa: E402


def kmeans_raw(path: Path, seed: int) -> float:
    data = load_dataset(path)
    k = len(data.class_names)
    model = KMeans(k, n_init=10, random_state=seed).fit(data.x_train)
    return clustering_accuracy(data.test_labels, model.predict(data.x_test))


def ours(path: Path, seed: int, preset: str, out: Path, options: list[str]) -> dict:
    """Run the preset (with more command-line ``options``); test accuracy and warnings of
    each of its methods, and wall time."""
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", preset,
                           "--dataset", str(path), "--seed", str(seed), "--out", str(out),
                           "-q", *options], capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode:
        raise RuntimeError(f"{path.name} seed {seed}: exit {done.returncode}\n{done.stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "methods": {name: (m["test"]["accuracy"], m.get("warnings") or [],
                                             _sizes(m["info"]))
                                      for name, m in metrics["methods"].items()}}


def _sizes(info: dict) -> str:
    """The SCAN step's choice of cluster sizes, when it made one."""
    if "over_clusters" in info:
        return f"; sizes merged from {info['over_clusters']} clusters"
    if "sizes_kept" not in info:
        return ""
    signals = [f"{name} " + " / ".join(f"{v:.3f}" for v in info[name].values())
               for name in ("modularity", "agreement") if name in info]
    return f"; sizes {info['sizes_kept']}" + (f" ({', '.join(signals)})" if signals else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(image_sets.RECIPES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--preset", default="best")
    parser.add_argument("--cluster-sizes", choices=CLUSTER_SIZES, default=None,
                        help="as fashion-cluster run's")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    options = ["--cluster-sizes", args.cluster_sizes] if args.cluster_sizes else []
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, lines = [], [f"Machine: {machine()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            path = image_sets.write(name, Path(tmp))
            accs, base, walls = {}, [], []
            for seed in seeds:
                run = ours(path, seed, args.preset, Path(tmp) / f"{name}-{seed}", options)
                walls.append(run["wall"])
                base.append(kmeans_raw(path, seed))
                for method, (acc, warnings, sizes) in run["methods"].items():
                    accs.setdefault(method, []).append(acc)
                    line = (f"{name} seed {seed}: {method} {acc:.4f}, K-Means {base[-1]:.4f}, "
                            f"run {run['wall']:.0f} s{sizes}"
                            + (f"; doubtful: {'; '.join(warnings)}" if warnings else ""))
                    print(line, flush=True)
                    lines.append(line)
            for method, values in accs.items():
                rows.append([name, method, " / ".join(f"{a:.1%}" for a in values),
                             f"{statistics.mean(values):.1%}",
                             " / ".join(f"{a:.1%}" for a in base), f"{statistics.mean(base):.1%}",
                             f"{100 * (statistics.mean(values) - statistics.mean(base)):+.1f}",
                             f"{statistics.median(walls):.0f}"])
    text = "\n".join(lines + ["", table(
        ["set", "method", f"test acc., seeds {args.seeds}", "mean", "K-Means on raw pixels",
         "mean", "points", "median run s"], rows)])
    print(text)
    if args.out:
        command = " ".join(["python benchmarks/bench_image_sets.py", "--sets", args.sets,
                            "--seeds", args.seeds, "--preset", args.preset, *options])
        args.out.write_text(f"`{command}`\n\n{text}\n")


if __name__ == "__main__":
    main()
