"""The contrastive CNN trained on 1 and on 2 processes (torch.distributed), back to back.

For each set size and process count: wall time of ``--epochs`` SimCLR epochs (batch 512,
the presets' settings), images per second, the loss, and the peak resident memory of the
driver and of each training process (polled from /proc every 0.2 s). One process uses
all of this machine's torch threads; N processes share them out.

    python benchmarks/bench_ddp.py [--sizes 70000] [--processes 1,2] [--epochs 1]
        [--repeats 1] [--store DIR] [--out benchmarks/results/ddp.md]

Sizes above 70,000 are Fashion-MNIST's images shifted by up to 2 pixels and noised
(`bench_distributed.write_big`'s recipe). They are held in memory, or with ``--store
DIR`` written once (by a separate process) to DIR/N.zarr as uint8 in chunks of 10,000
rows, and read from there as training goes (`fashion_cluster.contrastive.StoreRows`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import PeakMemory, machine, median, reset_peak_rss, table

from fashion_cluster.contrastive import SimCLRNet, StoreRows, train_simclr
from fashion_cluster.data import load_fashion_mnist, scale_images


def images(n: int) -> np.ndarray:
    """``n`` uint8 images (n, 784): Fashion-MNIST's 70,000, then shifted, noised copies."""
    base = np.concatenate([load_fashion_mnist("train")[0], load_fashion_mnist("test")[0]])
    if n <= len(base):
        return base[:n].reshape(n, 784)
    rng = np.random.default_rng(0)
    out = np.empty((n, 784), dtype=np.uint8)
    for start in range(0, n, 50_000):
        stop = min(start + 50_000, n)
        pick = base[rng.integers(0, len(base), stop - start)]
        dy, dx = rng.integers(-2, 3, 2)
        noisy = np.roll(pick, (dy, dx), axis=(1, 2)).astype(np.int16)
        noisy += rng.integers(-8, 9, noisy.shape).astype(np.int16)
        out[start:stop] = np.clip(noisy, 0, 255).astype(np.uint8).reshape(-1, 784)
    return out


def store(n: int, folder: Path):
    """The zarr store of ``n`` images, written by a child process the first time (so
    that this process's peak memory is the training's alone)."""
    import zarr

    path = folder / f"{n}.zarr"
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--write", str(path), "--sizes", str(n)],
                       check=True)
    return StoreRows(zarr.open_array(str(path), mode="r"), scale_images)


def run(x: np.ndarray | StoreRows, processes: int, epochs: int) -> dict:
    reset_peak_rss()
    torch.manual_seed(0)
    encoder = SimCLRNet()
    with PeakMemory() as memory:
        tic = time.perf_counter()
        history = train_simclr(encoder, x, epochs=epochs, batch_size=512, seed=0,
                               processes=processes)
        seconds = time.perf_counter() - tic
    driver = memory.peaks.pop(os.getpid(), 0)
    workers = sorted(memory.peaks.values(), reverse=True)[:processes] if processes > 1 else []
    return {"seconds": seconds, "loss": history.loss[-1], "driver": driver,
            "workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="70000")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--store", type=Path)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.write:
        from fashion_cluster.distributed import write_zarr

        write_zarr(images(int(args.sizes)), args.write)
        return
    counts = [int(p) for p in args.processes.split(",")]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        x = store(n, args.store) if args.store else scale_images(images(n))
        results: dict[int, list] = {p: [] for p in counts}
        for _ in range(args.repeats):
            for p in counts:  # back to back, alternating
                results[p].append(run(x, p, args.epochs))
                print(n, p, results[p][-1], flush=True)
        for p in counts:
            seconds = median([r["seconds"] for r in results[p]])
            last = results[p][-1]
            rows.append([f"{n:,}", p, f"{seconds:.0f}", f"{n * args.epochs / seconds:,.0f}",
                         f"{last['loss']:.3f}", f"{last['driver'] / 1e6:,.0f}",
                         ", ".join(f"{w / 1e6:,.0f}" for w in last["workers"]) or "-"])
        del x
    where = f"read from zarr stores in {args.store}" if args.store else "in memory"
    text = (f"Machine: {machine()}\n\n{args.epochs} epoch(s), batch 512, median of "
            f"{args.repeats}, images {where}\n\n"
            + table(["images", "processes", "s", "images/s", "loss", "driver peak MB",
                     "training processes' peak MB"], rows))
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"`python benchmarks/bench_ddp.py --sizes {args.sizes} --processes "
                     f"{args.processes} --epochs {args.epochs} --repeats {args.repeats}"
                     + (f" --store {args.store}" if args.store else "") + "`"
                     f"\n\n{text}\n")


if __name__ == "__main__":
    main()
