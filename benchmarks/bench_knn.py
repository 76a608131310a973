"""Neighbour mining for SCAN: our exact search against an approximate index (pynndescent).

SCAN mines the 20 nearest neighbours (cosine) of every training image in the contrastive
CNN's features. ``scan.nearest_neighbours`` is an exact, blocked matrix-product search:
time grows with the square of the number of images. pynndescent (already installed with
umap-learn) builds an approximate graph in about linear time. On the features of a saved
encoder, for the first N images of Fashion-MNIST's training set (70,000 = train + test):
wall time of each (pynndescent's compilation excluded: a small index is built first), and
recall@k of pynndescent against the exact neighbours.

    python benchmarks/bench_knn.py ENCODER.safetensors [--sizes 10000,30000,70000]
        [--k 20] [--out benchmarks/results/knn.md]
    python benchmarks/bench_knn.py ENCODER.safetensors --store IMAGES.zarr [--k 20]

With ``--store`` (a zarr array of images, e.g. bench_ddp.py's million): encode it
(``transform`` of the store) and mine the neighbours as SCAN does above its exact-search
limit (pynndescent, single-threaded), with the time and the peak resident memory of each
(exact search is not run: hours at a million).

The encoder: any saved ``ContrastiveEncoder`` (``load_run(dir)``'s, or
``python -m research.ideas run --save``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import machine, peak_rss, reset_peak_rss, table
from pynndescent import NNDescent

from fashion_cluster import load
from fashion_cluster.data import load_fashion_mnist, scale_images
from fashion_cluster.scan import nearest_neighbours


def recall(approximate: np.ndarray, exact: np.ndarray) -> float:
    """The share of the exact neighbours the approximate search found."""
    hits = sum(len(np.intersect1d(a, e)) for a, e in zip(approximate, exact, strict=True))
    return hits / exact.size


def at_scale(encoder, store: str, k: int) -> None:
    import zarr

    images = zarr.open_array(store, mode="r")
    tic = time.perf_counter()
    features = encoder.transform(images)
    encode_s, encode_mb = time.perf_counter() - tic, peak_rss() / 2**20
    nearest_neighbours(torch.from_numpy(features[:2000]), k, search="approximate")  # compiles
    reset_peak_rss()
    before = peak_rss() / 2**20
    tic = time.perf_counter()
    nearest_neighbours(torch.from_numpy(features), k, search="approximate")
    search_s, search_mb = time.perf_counter() - tic, peak_rss() / 2**20
    print(f"Machine: {machine()}\n\n" + table(
        ["images", "encode s", "peak MB after encoding", "pynndescent (1 thread) s",
         "resident MB before the search", "peak MB in the search"],
        [[f"{len(features):,}", f"{encode_s:.0f}", f"{encode_mb:,.0f}", f"{search_s:.0f}",
          f"{before:,.0f}", f"{search_mb:,.0f}"]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("encoder")
    parser.add_argument("--sizes", default="10000,30000,70000")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--store")
    parser.add_argument("--out")
    args = parser.parse_args()
    encoder = load(args.encoder)
    if args.store:
        return at_scale(encoder, args.store, args.k)
    images = np.concatenate([load_fashion_mnist("train")[0], load_fashion_mnist("test")[0]])
    features = encoder.transform(scale_images(images))
    NNDescent(features[:2000], metric="cosine", n_neighbors=args.k + 1)  # numba compiles once
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        x = torch.from_numpy(features[:n])
        tic = time.perf_counter()
        exact = nearest_neighbours(x, args.k).numpy()
        exact_s = time.perf_counter() - tic
        tic = time.perf_counter()
        index = NNDescent(features[:n], metric="cosine", n_neighbors=args.k + 1, random_state=0)
        found = index.neighbor_graph[0][:, 1:]  # the first is the image itself
        approx_s = time.perf_counter() - tic
        rows.append([n, f"{exact_s:.1f}", f"{approx_s:.1f}", f"{recall(found, exact):.3f}"])
        print(rows[-1], flush=True)
    text = (f"Machine: {machine()}\n\n"
            + table(["images", "exact (ours) s", "pynndescent s", f"recall@{args.k}"], rows))
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"`python benchmarks/bench_knn.py ENCODER --sizes {args.sizes} "
                     f"--k {args.k}`\n\n{text}\n")


if __name__ == "__main__":
    main()
