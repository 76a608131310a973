"""Convolutional autoencoder training with glibc's default allocator settings and with
``fashion_cluster.allocator.keep_freed_memory`` (what the command-line tool applies).

Each setting trains in its own fresh process (the settings are process-wide), the two
alternating, from the same seed; prints seconds per epoch, page faults, peak memory and
whether the losses agree.

    python benchmarks/bench_allocator.py [--n-images 15360] [--epochs 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import machine, median, table

CHILD = """
import json, resource, sys
sys.path.insert(0, {bench!r})
if {tuned}:
    from fashion_cluster.allocator import keep_freed_memory
    assert keep_freed_memory(), "the C library is not glibc"
import torch
from common import fashion_train
from fashion_cluster.autoencoders import ConvAutoencoderNet
from fashion_cluster.training import train_autoencoder
x = fashion_train({n})
torch.manual_seed(0)
history = train_autoencoder(ConvAutoencoderNet(), x, epochs={epochs}, batch_size=256)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": history.epoch_seconds, "loss": history.loss,
                  "faults": usage.ru_minflt, "peak_mb": usage.ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=15360)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"# convolutional autoencoder, {args.n_images:,} images, batch 256, "
          f"{args.epochs} epochs a process\n# {machine()}\n", flush=True)
    results: dict[str, list[dict]] = {"glibc defaults": [], "keep_freed_memory": []}
    for _ in range(args.repeats):
        for name in results:
            code = CHILD.format(bench=str(Path(__file__).parent), tuned=name != "glibc defaults",
                                n=args.n_images, epochs=args.epochs)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                  text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{name}: {', '.join(f'{t:.1f}' for t in results[name][-1]['seconds'])} s",
                  flush=True)
    rows = []
    for name, runs in results.items():
        rows.append([name, f"{median([t for r in runs for t in r['seconds']]):.1f}",
                     f"{median([r['faults'] for r in runs]) / 1e6:.2f}",
                     f"{median([r['peak_mb'] for r in runs]):.0f}"])
    print()
    print(table(["allocator", "s / epoch (median)", "page faults (millions)",
                 "peak RSS (MB)"], rows))
    losses = {json.dumps(r["loss"]) for runs in results.values() for r in runs}
    print(f"\nsame losses in every process: {len(losses) == 1}")


if __name__ == "__main__":
    main()
