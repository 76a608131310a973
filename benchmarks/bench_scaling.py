"""How the clustering stages grow with the number of images: 15k, 30k, 60k, 120k.

120k is the training set stacked with its mirror images. Stages: the elbow sweep
(k = 1..25, 10 initialisations), raw K-Means (k = 10, 10 initialisations), and K-Means
and a Gaussian mixture on 49-d autoencoder codes (an autoencoder trained 3 epochs: the
cost of clustering does not depend on how good the codes are). Each time is the median
of ``--repeats``; the last column is the time per image relative to 60k (1.0 = linear).

    python benchmarks/bench_scaling.py [--repeats 1] [--sizes 15000,30000,60000,120000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import fashion_train, machine, median, table

from fashion_cluster.autoencoders import DenseAutoencoderNet, encode
from fashion_cluster.clusterers import GMMClusterer, KMeansClusterer
from fashion_cluster.kmeans import kmeans_sweep
from fashion_cluster.training import train_autoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sizes", default="15000,30000,60000,120000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    x60 = fashion_train()
    mirrored = x60.reshape(-1, 28, 28)[:, :, ::-1].reshape(len(x60), -1)
    x_all = np.concatenate([x60, mirrored])
    torch.manual_seed(0)
    model = DenseAutoencoderNet()
    train_autoencoder(model, x60, epochs=3)
    codes_all = encode(model, x_all)
    print(f"# clustering stages against the number of images\n# {machine()}\n", flush=True)

    stages = {
        "elbow sweep": lambda x, c: kmeans_sweep(x, range(1, 26), n_init=10, seed=0),
        "raw K-Means": lambda x, c: KMeansClusterer(10, random_state=0).fit(x),
        "AE + K-Means": lambda x, c: KMeansClusterer(10, random_state=0).fit(c),
        "AE + GMM": lambda x, c: GMMClusterer(10, random_state=0).fit(c),
    }
    results: dict[str, dict[int, float]] = {name: {} for name in stages}
    for n in sizes:
        x, c = x_all[:n], codes_all[:n]
        for name, fn in stages.items():
            times = []
            for _ in range(args.repeats):
                tic = time.perf_counter()
                fn(x, c)
                times.append(time.perf_counter() - tic)
            results[name][n] = median(times)
            print(f"{name}, {n:,} images: {results[name][n]:.1f} s", flush=True)
    rows = []
    for name, by_size in results.items():
        per_image_60k = by_size.get(60000, next(iter(by_size.values()))) / 60000
        for n, seconds in by_size.items():
            rows.append([name, f"{n:,}", f"{seconds:.1f}",
                         f"{seconds / n / per_image_60k:.2f}"])
    print()
    print(table(["stage", "images", "seconds", "time per image vs 60k"], rows))


if __name__ == "__main__":
    main()
