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
`bench_ddp.py`'s (written there the first time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

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


def megabytes(pair: tuple[int, int]) -> str:
    return f"{pair[0] / 1e6:,.0f} / {pair[1] / 1e6:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("encoder", type=Path)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--sizes", default="70000,1000000")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--scan-epochs", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    encoder = fc.load(args.encoder)
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
