"""Train the best method on several processes or machines, started by torchrun.

One machine, two processes:

    torchrun --standalone --nproc-per-node 2 examples/train_with_torchrun.py [--out DIR]

Two machines (run on each; HOST is the first machine's address, reachable from both):

    torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29500 examples/train_with_torchrun.py

Every process runs this script. The contrastive CNN and then the SCAN heads train on all
of them together (each process takes its share of every batch; `fashion_cluster.ddp`),
and the first process saves the model. On one machine, ``fashion-cluster run
--nproc N`` or ``ContrastiveSCAN(processes=N)`` start the processes themselves.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist

import fashion_cluster as fc
from fashion_cluster.data import load_fashion_mnist


def main(n_images: int, epochs: int, min_steps: int, out: Path) -> None:
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        images, labels = load_fashion_mnist("train")
        images, labels = images[:n_images], labels[:n_images]
        # processes = the group's size: train in the group torchrun started.
        model = fc.ContrastiveSCAN(n_clusters=10, epochs=epochs, min_steps=min_steps,
                                   processes=dist.get_world_size(), random_state=0).fit(images)
        if dist.get_rank() == 0:
            accuracy = fc.clustering_accuracy(labels, model.labels_)
            model.save(out / "scan.safetensors")
            print(f"{dist.get_world_size()} processes: {len(images):,} images, accuracy "
                  f"{accuracy:.3f} (labels used only for this score); saved to {out}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--min-steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    main(args.n_images, args.epochs, args.min_steps, args.out)
