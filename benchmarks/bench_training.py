"""Dense autoencoder training: our loop against the matrix-multiply bound and a plain loop.

- bound: the same matrix products as one epoch of training (forward, and backward for
  weights and inputs, batch 256, 60,000 images) timed alone on preallocated tensors;
- ours: ``fashion_cluster.training.train_autoencoder`` (tensor batches, hand-written
  step, fused Adam);
- plain: a straightforward torch script (TensorDataset + DataLoader(shuffle=True),
  torch.optim.Adam defaults, nn.MSELoss).

Same architecture, batch size, optimiser. Prints seconds per epoch (median of
``--epochs`` interleaved rounds, one epoch of each, after one warm-up epoch each), the
ratios of those medians, and the median of each round's own ratio (less affected by the
machine's speed drifting between rounds).

    python benchmarks/bench_training.py [--epochs 3] [--n-images 60000]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import fashion_train, machine, median, table
from torch import nn

from fashion_cluster.allocator import keep_freed_memory
from fashion_cluster.autoencoders import DenseAutoencoderNet
from fashion_cluster.training import train_autoencoder

BATCH = 256


class Bound:
    """The epoch's matrix products alone, on preallocated tensors."""

    def __init__(self, n: int, model: nn.Module):
        self.epoch = _gemm_epoch(n, model)


def _gemm_epoch(n: int, model: nn.Module):
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

    return epoch


class Ours:
    """One epoch at a time of ``train_autoencoder`` (a fresh optimiser each call: the
    first Adam step costs what any other does)."""

    def __init__(self, x):
        torch.manual_seed(0)
        self.model, self.x = DenseAutoencoderNet(), x

    def epoch(self) -> float:
        return train_autoencoder(self.model, self.x, epochs=1, batch_size=BATCH).epoch_seconds[0]


class Plain:
    """The straightforward script: TensorDataset + DataLoader, Adam defaults, MSELoss."""

    def __init__(self, x):
        torch.manual_seed(0)
        self.model = DenseAutoencoderNet()
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=BATCH, shuffle=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.MSELoss()

    def epoch(self) -> float:
        tic = time.perf_counter()
        for (xb,) in self.loader:
            loss = self.loss_fn(self.model(xb), xb)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-images", type=int, default=60000)
    args = parser.parse_args()
    keep_freed_memory()  # as the command-line tool does; the same for all three loops
    x = fashion_train(args.n_images)
    print(f"# dense autoencoder training, {len(x):,} images, batch {BATCH}\n# {machine()}\n")
    # Epochs of the three interleaved, after one warm-up epoch each, so that the machine's
    # drifting speed affects them alike; medians.
    runners = {"bound": Bound(len(x), DenseAutoencoderNet()), "ours": Ours(x), "plain": Plain(x)}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        runner.epoch()
    for _ in range(args.epochs):
        for name, runner in runners.items():
            times[name].append(runner.epoch())
    bound, t_ours, t_plain = (median(times[k]) for k in ("bound", "ours", "plain"))

    def paired(name: str) -> float:  # each round's epoch against that round's bound
        return median([t / b for t, b in zip(times[name], times["bound"], strict=True)])

    print(table(["", "s / epoch", "x bound", "x bound, median of rounds"], [
        ["matrix products alone (bound)", f"{bound:.2f}", "1.00", "1.00"],
        ["fashion-cluster loop", f"{t_ours:.2f}", f"{t_ours / bound:.2f}",
         f"{paired('ours'):.2f}"],
        ["plain torch loop (DataLoader)", f"{t_plain:.2f}", f"{t_plain / bound:.2f}",
         f"{paired('plain'):.2f}"],
    ]))
    for name, values in times.items():
        print(f"{name}: {', '.join(f'{t:.2f}' for t in values)}")
    print(f"\nours vs plain: {t_plain / t_ours:.2f}x faster; "
          f"100 epochs: ours {100 * t_ours / 60:.1f} min, plain {100 * t_plain / 60:.1f} min")


if __name__ == "__main__":
    main()
