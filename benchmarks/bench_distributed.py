"""Dask: speed-up of the elbow sweep from 1 to 2 local workers, and K-Means on a zarr array
several times larger than the workers' memory.

1. The elbow sweep (k = 1..25, 10 initialisations, 60,000 images), one task per k, on a
   LocalCluster of 1 and of 2 single-threaded workers (``task_threads=1``), next to the
   same sweep in this process with 1 and 2 torch threads.
2. A synthetic set of ``--big-images`` 28x28 images (Fashion-MNIST, shifted and noised,
   uint8) written to a zarr array chunk by chunk, then K-Means (dask-ml, k-means||) on 2
   workers limited to ``--memory-limit`` each; the workers' peak memory is reported.

    python benchmarks/bench_distributed.py [--big-images 4000000] [--memory-limit 500MB]

torch is imported inside the functions, not at the top: each worker process re-imports
this script as its main module, and torch there would cost every worker ~190 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cloudpickle
import common
import numpy as np
from common import fashion_train, machine, peak_rss, table

from fashion_cluster.distributed import DaskRunner, connect, fit_kmeans_out_of_core

# The workers cannot import benchmarks/common.py: its functions travel by value.
cloudpickle.register_pickle_by_value(common)


def sweep_locally(x: np.ndarray, ks: list[int], threads: int) -> float:
    import torch

    from fashion_cluster.kmeans import kmeans_sweep

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


def _mb(values: dict) -> str:
    return ", ".join(f"{v / 1e6:.0f}" for v in values.values())


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
    parser.add_argument("--big-images", type=int, default=4_000_000)
    parser.add_argument("--memory-limit", default="500MB")
    parser.add_argument("--chunk-rows", type=int, default=5_000)
    parser.add_argument("--max-iter", type=int, default=5, help="Lloyd iterations")
    parser.add_argument("--init-max-iter", type=int, default=5,
                        help="k-means|| rounds (each reads the array twice)")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-out-of-core", action="store_true",
                        help="only the sweep")
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
        write_big(path, args.big_images, args.chunk_rows, x)
        size_gb = args.big_images * 784 / 1e9
        print(f"\nwrote {args.big_images:,} images ({size_gb:.2f} GB) in "
              f"{time.perf_counter() - tic:.0f} s", flush=True)
        disk_gb = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9
        client = connect(workers=2, memory_limit=args.memory_limit)
        try:
            before = client.run(peak_rss)
            result = fit_kmeans_out_of_core(client, path, 10, seed=0, max_iter=args.max_iter,
                                            init_max_iter=args.init_max_iter)
            peaks = client.run(peak_rss)
            torch_loaded = client.run(lambda: "torch" in __import__("sys").modules)
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        print(table(["", "value"], [
            ["images (uint8)", f"{result['n_samples']:,} ({size_gb:.2f} GB; "
                               f"{4 * size_gb:.1f} GB as float32)"],
            ["zarr on disk (compressed)", f"{disk_gb:.2f} GB"],
            ["chunks", f"{result['chunks']} x {args.chunk_rows:,} rows"],
            ["worker memory limit", f"2 x {args.memory_limit}"],
            ["worker peak RSS before the fit (MB)", _mb(before)],
            ["worker peak RSS, whole run (MB)", _mb(peaks)],
            ["torch loaded on a worker", any(torch_loaded.values())],
            ["k-means|| rounds, Lloyd iterations",
             f"{args.init_max_iter}, {result['n_iter']}"],
            ["seconds", f"{result['seconds']:.0f}"],
            ["SSE per image", f"{result['sse'] / result['n_samples']:.2f}"],
        ]))


if __name__ == "__main__":
    main()
