"""The CUDA paths, when a GPU is there: the elbow sweep, autoencoder training, a quick run.

    python benchmarks/bench_gpu.py [--preset quick|paper]

Prints the elbow sweep's time and SSE per k on the GPU (k = 1..25, 10 initialisations,
60,000 images), the seconds per epoch of the dense and convolutional autoencoders, and
runs a preset end to end with ``--device cuda`` (its stage times from metrics.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import fashion_train, median, table

from fashion_cluster.autoencoders import ConvAutoencoderNet, DenseAutoencoderNet
from fashion_cluster.kmeans import kmeans_sweep
from fashion_cluster.training import train_autoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: nothing to measure")
    print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n", flush=True)
    x = fashion_train()
    ks = list(range(1, 26))
    times = []
    for _ in range(3):
        torch.cuda.synchronize()
        tic = time.perf_counter()
        runs = kmeans_sweep(x, ks, n_init=10, seed=0, device="cuda")
        torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    print(f"elbow sweep on the GPU: {', '.join(f'{t:.1f}' for t in times)} s "
          f"(median {median(times):.1f} s; the first includes CUDA start-up)")
    print(table(["k", "SSE"], [[k, f"{runs[k].sse:,.0f}"] for k in ks]))

    rows = []
    for name, model, epochs in (("dense autoencoder", DenseAutoencoderNet(), 5),
                                ("conv. autoencoder", ConvAutoencoderNet(), 3)):
        history = train_autoencoder(model.cuda(), x, epochs=epochs, batch_size=256)
        rows.append([name, f"{median(history.epoch_seconds[1:]):.2f}",
                     f"{history.loss[-1]:.4f}"])
    print()
    print(table(["network (batch 256, 60,000 images)", "s / epoch on the GPU", "loss"], rows))

    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fashion_cluster.cli", "run", "--preset",
                               args.preset, "--device", "cuda", "--out", tmp, "--quiet"],
                              capture_output=True, text=True)
        print(f"\n{args.preset} preset with --device cuda: exit {done.returncode}, "
              f"{time.perf_counter() - tic:.0f} s")
        print(done.stdout[-1500:], done.stderr[-1500:])
        if done.returncode == 0:
            stages = json.loads((Path(tmp) / "metrics.json").read_text())["timing"]["stages"]
            print(table(["stage", "seconds"],
                        [[name, f"{s['seconds']:.1f}"] for name, s in stages.items()]))

if __name__ == "__main__":
    main()
