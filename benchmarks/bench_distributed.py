"""Dask: speed-up of the elbow sweep from 1 to 2 local workers, and K-Means on a zarr array
several times larger than the workers' memory.

1. The elbow sweep (k = 1..25, 10 initialisations, 60,000 images), one task per k, on a
   LocalCluster of 1 and of 2 single-threaded workers (``task_threads=1``), next to the
   same sweep in this process with 1 and 2 torch threads.
2. A synthetic set of ``--big-images`` 28x28 images (Fashion-MNIST, shifted and noised,
   uint8) written to a zarr array chunk by chunk, then K-Means (dask-ml, k-means||) on 2
   workers limited to ``--memory-limit`` each; the workers' peak memory is reported.

    python benchmarks/bench_distributed.py [--big-images 1500000] [--memory-limit 300MB]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import fashion_train, machine, table

from fashion_cluster.distributed import DaskRunner, connect, fit_kmeans_out_of_core
from fashion_cluster.kmeans import kmeans_sweep


def sweep_locally(x: np.ndarray, ks: list[int], threads: int) -> float:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        tic = time.perf_counter()
        kmeans_sweep(x, ks, n_init=10, seed=0)
        return time.perf_counter() - tic
    finally:
        torch.set_num_threads(before)


def sweep_on_workers(x: np.ndarray, ks: list[int], workers: int) -> float:
    client = connect(workers=workers)
    try:
        runner = DaskRunner(client, task_threads=1)
        runner.elbow(x[:2000], [2], n_init=1, seed=0)  # start-up and imports, not timed
        tic = time.perf_counter()
        runner.elbow(x, ks, n_init=10, seed=0)
        return time.perf_counter() - tic
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def write_big(path: Path, n: int, chunk: int, base: np.ndarray) -> None:
    """Shifted, noised copies of the training images, written chunk by chunk."""
    import zarr

    rng = np.random.default_rng(0)
    store = zarr.open_array(str(path), mode="w", shape=(n, 784), dtype=np.uint8,
                            chunks=(chunk, 784))
    images = (base.reshape(-1, 28, 28) * 255).astype(np.uint8)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        pick = images[rng.integers(0, len(images), stop - start)]
        dy, dx = rng.integers(-2, 3, 2)
        shifted = np.roll(pick, (dy, dx), axis=(1, 2)).astype(np.int16)
        noisy = shifted + rng.integers(-8, 9, shifted.shape)
        store[start:stop] = np.clip(noisy, 0, 255).astype(np.uint8).reshape(-1, 784)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-images", type=int, default=1_500_000)
    parser.add_argument("--memory-limit", default="300MB")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-out-of-core", action="store_true",
                        help="only the sweep (the out-of-core part does not finish yet: README)")
    args = parser.parse_args()
    x = fashion_train()
    ks = list(range(1, 26))
    print(f"# Dask\n# {machine()}\n", flush=True)

    if not args.skip_sweep:
        times = {"in process, 1 torch thread": sweep_locally(x, ks, 1),
                 "in process, 2 torch threads": sweep_locally(x, ks, 2)}
        for workers in (1, 2):
            times[f"LocalCluster, {workers} worker(s) x 1 thread"] = sweep_on_workers(
                x, ks, workers)
            print(f"{workers} worker(s): {times[list(times)[-1]]:.1f} s", flush=True)
        one = times["LocalCluster, 1 worker(s) x 1 thread"]
        print(table(["elbow sweep (k = 1..25, n_init = 10)", "seconds", "speed-up vs 1 worker"],
                    [[name, f"{t:.1f}", f"{one / t:.2f}"] for name, t in times.items()]))

    if args.skip_out_of_core:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.zarr"
        tic = time.perf_counter()
        write_big(path, args.big_images, 20000, x)
        size_gb = args.big_images * 784 / 1e9
        print(f"\nwrote {args.big_images:,} images ({size_gb:.2f} GB) in "
              f"{time.perf_counter() - tic:.0f} s", flush=True)
        client = connect(workers=2, memory_limit=args.memory_limit)
        try:
            result = fit_kmeans_out_of_core(client, path, 10, seed=0, max_iter=10)
            peaks = client.run(lambda: __import__("psutil").Process().memory_info().rss)
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        print(table(["", "value"], [
            ["images (uint8, on disk)", f"{result['n_samples']:,} ({size_gb:.2f} GB)"],
            ["chunks", result["chunks"]],
            ["worker memory limit", f"2 x {args.memory_limit}"],
            ["worker RSS after the fit (MB)",
             ", ".join(f"{v / 1e6:.0f}" for v in peaks.values())],
            ["Lloyd iterations", result["n_iter"]],
            ["seconds", f"{result['seconds']:.0f}"],
            ["SSE per image", f"{result['sse'] / result['n_samples']:.2f}"],
        ]))


if __name__ == "__main__":
    main()
