"""The SCAN step on a zarr store of images, on 1 and on 2 processes, back to back.

For each set size and process count: wall time of ``SCANClusterer(encoder).fit(store)``
(the features of the images and of 4 augmented views written to files in a temporary
folder and mapped, the neighbour index, the heads), and the peak memory of the driver and
of each training process, polled from /proc every 0.2 s: resident (which counts the pages
of the mapped feature files a process has read) and anonymous (what it allocated
itself). The heads train ``--scan-epochs`` epochs (at least 1,000 steps), not the
presets' 30, to keep a million images in minutes: memory does not depend on the epochs.

    python benchmarks/bench_scan_store.py ENCODER --store DIR [--sizes 70000,1000000]
        [--processes 1,2] [--scan-epochs 2] [--out benchmarks/results/scan-store.md]

ENCODER is a saved `ContrastiveEncoder` of 28x28 images (``fc.save``); the stores are
`bench_ddp.py`'s (written there the first time). Two more measurements:

    python benchmarks/bench_scan_store.py ENCODER --compare     # 1 vs 2 processes
    python benchmarks/bench_scan_store.py ENCODER --heads-rate 1000000

``--compare``: the SCAN step (the presets' settings) on Fashion-MNIST's 60,000 training
images in memory, on 1 and on 2 processes: seconds, test accuracy, how far apart the
selected heads' weights are and the share of images in the same cluster.
``--heads-rate N``: the heads' steps alone (one epoch, batch 512) on N random feature
rows and 4 views written to files and mapped, twice (both with the files in the page
cache, which a set much larger than memory would not have).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_ddp import store
from common import PeakMemory, machine, reset_peak_rss, table

import fashion_cluster as fc


def run(encoder, images, processes: int, epochs: int) -> dict:
    reset_peak_rss()
    with PeakMemory() as memory:
        tic = time.perf_counter()
        model = fc.SCANClusterer(encoder, 10, epochs=epochs, random_state=0,
                                 processes=processes).fit(images)
        seconds = time.perf_counter() - tic
    left = list(Path(tempfile.gettempdir()).glob("fashion-cluster-scan-*"))
    assert not left, f"the feature files were left: {left}"
    me = os.getpid()
    workers = sorted((pid for pid in memory.peaks if pid != me),
                     key=lambda pid: -memory.peaks[pid])[:processes] if processes > 1 else []
    return {"seconds": seconds, "loss": min(model.info_["scan_loss"]),
            "steps": model.info_["epochs"] * (len(model.labels_) // model.info_["batch_size"]),
            "driver": (memory.peaks[me], memory.anonymous[me]),
            "workers": [(memory.peaks[p], memory.anonymous[p]) for p in workers]}


def compare(encoder) -> str:
    from fashion_cluster.datasets import load_dataset

    data = load_dataset("fashion-mnist")
    fits, lines = {}, []
    for p in (1, 2):
        tic = time.perf_counter()
        fits[p] = fc.SCANClusterer(encoder, 10, random_state=0, processes=p).fit(data.x_train)
        accuracy = fc.clustering_accuracy(data.test_labels, fits[p].predict(data.x_test))
        lines.append(f"{p} process(es): {time.perf_counter() - tic:.0f} s, test accuracy "
                     f"{accuracy:.4f}")
        print(lines[-1], flush=True)
    apart = np.abs(fits[1].head_["weight"] - fits[2].head_["weight"]).max()
    same = (fits[1].labels_ == fits[2].labels_).mean()
    lines.append(f"selected heads' weights at most {apart:.1e} apart; {same:.2%} of the "
                 f"{len(fits[1].labels_):,} images in the same cluster")
    return "\n".join(lines)


def heads_rate(n: int, views: int = 4, dim: int = 512) -> str:
    from numpy.lib.format import open_memmap

    from fashion_cluster import scan

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        features = open_memmap(Path(folder, "f.npy"), "w+", np.float32, (n, dim))
        augmented = open_memmap(Path(folder, "v.npy"), "w+", np.float16, (views, n, dim))
        for start in range(0, n, 100_000):
            rows = rng.random((min(100_000, n - start), dim), dtype=np.float32)
            features[start : start + len(rows)] = rows
            augmented[:, start : start + len(rows)] = rows
        lines = []
        for label in ("first pass", "second pass"):
            tic = time.perf_counter()
            scan._train(torch.from_numpy(features), torch.from_numpy(augmented),
                        torch.from_numpy(rng.integers(0, n, (n, 20))), torch.zeros(dim),
                        torch.ones(dim), torch.Generator().manual_seed(0), k=10, heads=10,
                        epochs=1, batch=512, entropy_weight=5.0, seed=0, rank=0, world=1)
            seconds = time.perf_counter() - tic
            lines.append(f"{n:,} rows, {label}: {n // 512:,} steps in {seconds:.1f} s, "
                         f"{1000 * seconds / (n // 512):.1f} ms a step")
            print(lines[-1], flush=True)
        del features, augmented
    return "\n".join(lines)


def megabytes(pair: tuple[int, int]) -> str:
    return f"{pair[0] / 1e6:,.0f} / {pair[1] / 1e6:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("encoder", type=Path)
    parser.add_argument("--store", type=Path)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--heads-rate", type=int)
    parser.add_argument("--sizes", default="70000,1000000")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--scan-epochs", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    encoder = fc.load(args.encoder)
    if args.compare or args.heads_rate:
        text = compare(encoder) if args.compare else heads_rate(args.heads_rate)
        print(text)
        if args.out:
            with open(args.out, "a") as fh:
                flag = "--compare" if args.compare else f"--heads-rate {args.heads_rate}"
                fh.write(f"\n`python benchmarks/bench_scan_store.py ENCODER {flag}`\n\n"
                         f"Machine: {machine()}\n\n{text}\n")
        return
    if args.store is None:
        parser.error("--store DIR is needed to measure the SCAN step on stores")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        images = store(n, args.store).array
        for p in (int(p) for p in args.processes.split(",")):
            result = run(encoder, images, p, args.scan_epochs)
            print(n, p, result, flush=True)
            rows.append([f"{n:,}", p, result["steps"], f"{result['seconds']:.0f}",
                         f"{result['loss']:.3f}", megabytes(result["driver"]),
                         ", ".join(megabytes(w) for w in result["workers"]) or "-"])
    text = (f"Machine: {machine()}\n\nSCANClusterer.fit(zarr store), 4 views, 10 heads, "
            f"batch 512, {args.scan_epochs} epochs or 1,000 steps; memory in MB as "
            "resident peak / anonymous peak\n\n"
            + table(["images", "processes", "head steps", "s", "lowest SCAN loss",
                     "driver MB", "training processes' MB"], rows))
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"`python benchmarks/bench_scan_store.py ENCODER --store {args.store} "
                     f"--sizes {args.sizes} --processes {args.processes} --scan-epochs "
                     f"{args.scan_epochs}` (ENCODER: a `ContrastiveEncoder` of the `best` "
                     f"preset's settings trained on Fashion-MNIST's 60,000 training images, "
                     f"seed 0)\n\n{text}\n")


if __name__ == "__main__":
    main()
