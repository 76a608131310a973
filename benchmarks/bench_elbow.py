"""The elbow sweep: fashion-cluster's batched K-Means against scikit-learn, side by side.

Baseline: ``sklearn.cluster.KMeans(n_clusters=k, n_init=10)`` for every k on the same
float32 matrix (60,000 x 784 by default). Ours: ``fashion_cluster.kmeans.kmeans_sweep``.
Every SSE is evaluated the same way, in the full 784-d space. The two are run back to
back ``--repeats`` times (ours first, then the baseline, alternating) and the medians
are compared.

    python benchmarks/bench_elbow.py [--k-max 25] [--n-init 10] [--repeats 3]
                                     [--baseline-repeats 1] [--n-images 60000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import fashion_train, machine, median, table
from sklearn.cluster import KMeans

from fashion_cluster.kmeans import assign, kmeans_sweep


def baseline(x: np.ndarray, ks: list[int], n_init: int, seed: int) -> tuple[float, dict]:
    tic = time.perf_counter()
    centroids = {k: KMeans(k, n_init=n_init, random_state=seed).fit(x).cluster_centers_
                 for k in ks}
    return time.perf_counter() - tic, centroids


def ours(x: np.ndarray, ks: list[int], n_init: int, seed: int) -> tuple[float, dict]:
    tic = time.perf_counter()
    runs = kmeans_sweep(x, ks, n_init=n_init, seed=seed)
    return time.perf_counter() - tic, {k: r.centroids for k, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k-min", type=int, default=1)
    parser.add_argument("--k-max", type=int, default=25)
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1)
    parser.add_argument("--n-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    x = fashion_train(args.n_images)
    ks = list(range(args.k_min, args.k_max + 1))
    print(f"# elbow sweep, k = {ks[0]}..{ks[-1]}, n_init = {args.n_init}, "
          f"{x.shape[0]:,} x {x.shape[1]} float32\n# {machine()}\n")

    times = {"ours": [], "baseline": []}
    sse = {}
    for rep in range(max(args.repeats, args.baseline_repeats)):
        if rep < args.repeats:
            seconds, centroids = ours(x, ks, args.n_init, args.seed)
            times["ours"].append(seconds)
            sse["ours"] = {k: assign(x, c)[1] for k, c in centroids.items()}
            print(f"ours, repeat {rep + 1}: {seconds:.1f} s", flush=True)
        if rep < args.baseline_repeats:
            seconds, centroids = baseline(x, ks, args.n_init, args.seed)
            times["baseline"].append(seconds)
            sse["baseline"] = {k: assign(x, c)[1] for k, c in centroids.items()}
            print(f"scikit-learn, repeat {rep + 1}: {seconds:.1f} s", flush=True)

    t_ours, t_base = median(times["ours"]), median(times["baseline"])
    rows = [[k, f"{sse['ours'][k]:,.0f}", f"{sse['baseline'][k]:,.0f}",
             f"{100 * (sse['ours'][k] / sse['baseline'][k] - 1):+.3f}%"] for k in ks]
    print()
    print(table(["k", "SSE ours", "SSE scikit-learn", "difference"], rows))
    worst = max(100 * (sse["ours"][k] / sse["baseline"][k] - 1) for k in ks)
    print()
    print(table(["", "seconds (median)", "runs"], [
        ["fashion-cluster kmeans_sweep", f"{t_ours:.1f}", len(times["ours"])],
        ["scikit-learn KMeans per k", f"{t_base:.1f}", len(times["baseline"])],
    ]))
    print(f"\nspeed-up: {t_base / t_ours:.1f}x; worst SSE difference: {worst:+.3f}% "
          "(positive = ours higher)")
    if args.json:
        args.json.write_text(json.dumps({"ks": ks, "times": times, "sse": sse,
                                         "machine": machine()}, indent=1))


if __name__ == "__main__":
    main()
