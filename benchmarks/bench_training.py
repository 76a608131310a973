"""Dense autoencoder training: our loop against the matrix-multiply bound and a plain loop.

- bound: the same matrix products as one epoch of training (forward, and backward for
  weights and inputs, batch 256, 60,000 images) timed alone on preallocated tensors;
- ours: ``fashion_cluster.training.train_autoencoder`` (tensor batches, fused Adam);
- plain: a straightforward torch script (TensorDataset + DataLoader(shuffle=True),
  torch.optim.Adam defaults, nn.MSELoss).

Same architecture, batch size, optimiser. Prints seconds per epoch (median of
``--epochs`` epochs after one warm-up epoch) and the ratios.

    python benchmarks/bench_training.py [--epochs 3] [--n-images 60000]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import fashion_train, machine, median, table
from torch import nn

from fashion_cluster.autoencoders import DenseAutoencoder
from fashion_cluster.training import train_autoencoder

BATCH = 256


def gemm_bound(n: int, model: nn.Module, repeats: int) -> float:
    """Seconds for the epoch's matrix products alone (median of ``repeats``)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    steps = -(-n // BATCH)
    acts = [torch.rand(BATCH, layers[0].in_features)] + [torch.rand(BATCH, m.out_features)
                                                         for m in layers]
    grads_w = [torch.empty_like(m.weight) for m in layers]
    grads_x = [torch.empty(BATCH, m.in_features) for m in layers]
    weights = [m.weight.detach() for m in layers]

    def epoch() -> float:
        tic = time.perf_counter()
        for _ in range(steps):
            for i, w in enumerate(weights):  # forward: y = x W^T + b
                torch.addmm(layers[i].bias.detach(), acts[i], w.T, out=acts[i + 1])
            for i in reversed(range(len(weights))):  # backward
                torch.mm(acts[i + 1].T, acts[i], out=grads_w[i])  # dW = dY^T X
                if i > 0:  # the input needs no gradient
                    torch.mm(acts[i + 1], weights[i], out=grads_x[i])  # dX = dY W
        return time.perf_counter() - tic

    epoch()
    return median([epoch() for _ in range(repeats)])


def ours(x, epochs: int) -> float:
    torch.manual_seed(0)
    model = DenseAutoencoder()
    history = train_autoencoder(model, x, epochs=epochs + 1, batch_size=BATCH)
    return median(history.epoch_seconds[1:])


def plain(x, epochs: int) -> float:
    torch.manual_seed(0)
    model = DenseAutoencoder()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)),
                                         batch_size=BATCH, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    times = []
    for _ in range(epochs + 1):
        tic = time.perf_counter()
        for (xb,) in loader:
            loss = loss_fn(model(xb), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - tic)
    return median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-images", type=int, default=60000)
    args = parser.parse_args()
    x = fashion_train(args.n_images)
    print(f"# dense autoencoder training, {len(x):,} images, batch {BATCH}\n# {machine()}\n")
    bound = gemm_bound(len(x), DenseAutoencoder(), args.epochs)
    t_ours = ours(x, args.epochs)
    t_plain = plain(x, args.epochs)
    print(table(["", "s / epoch", "x bound"], [
        ["matrix products alone (bound)", f"{bound:.2f}", "1.00"],
        ["fashion-cluster loop", f"{t_ours:.2f}", f"{t_ours / bound:.2f}"],
        ["plain torch loop (DataLoader)", f"{t_plain:.2f}", f"{t_plain / bound:.2f}"],
    ]))
    print(f"\nours vs plain: {t_plain / t_ours:.2f}x faster; "
          f"100 epochs: ours {100 * t_ours / 60:.1f} min, plain {100 * t_plain / 60:.1f} min")


if __name__ == "__main__":
    main()
