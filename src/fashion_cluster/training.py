"""Training an autoencoder: a plain loop, checkpointed every epoch, resumable.

The loop keeps the whole training set as one tensor on the device and cuts shuffled
batches from it with ``index_select``: no ``DataLoader``, no per-batch Python objects.
Adam uses torch's fused kernel. Both matter on a CPU, where the per-step overhead is a
large share of an epoch (``benchmarks/bench_training.py``); a hand-written step gained
nothing on the whole paper preset (``benchmarks/results/step-2026-11-30.md``).

After every epoch the weights, the optimiser state, the shuffling generator, the epoch
and the loss history go into one safetensors checkpoint, written atomically. A run that
is interrupted and restarted with the same settings continues from the last finished
epoch and ends with the same weights (on CPU) as one that was never interrupted.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .artifacts import ArtifactError, read_tensors, write_tensors
from .data import scale_images
from .errors import FashionClusterError

__all__ = ["Checkpoint", "History", "TrainingError", "check_finite", "schedule",
           "train_autoencoder"]


class TrainingError(FashionClusterError, RuntimeError):
    """Training cannot go on (for instance the loss became NaN)."""


@dataclass
class History:
    """Per-epoch record of a training run (JSON-ready via ``asdict``)."""

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def train_seconds(self) -> float:
        return float(sum(self.epoch_seconds))


def _as_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return torch.from_numpy(scale_images(x)).to(device)
    flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    return torch.from_numpy(flat).to(device)


# Images per forward pass when encoding, decoding or scoring, unless the model says
# (``eval_batch``): memory for one batch, not the set.
EVAL_BATCH = 512


def eval_batch(model: nn.Module) -> int:
    """Images per forward pass that suit ``model`` when it is not training."""
    return int(getattr(model, "eval_batch", EVAL_BATCH))


@torch.no_grad()
def _mean_loss(model: nn.Module, x: torch.Tensor) -> float:
    batch_size = eval_batch(model)
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        total += float(nn.functional.mse_loss(model(xb), xb, reduction="sum"))
    model.train()
    return total / x.numel()


class Checkpoint:
    """One training run's checkpoint: a safetensors file rewritten after every epoch.

    It holds the weights (and buffers) of ``module``, the optimiser's state tensors and
    hyperparameters, the batch-order generator, and, as metadata, the epoch, the loss
    history, the scheduler state and a fingerprint of the run's settings. `load`
    restores all of it, so the
    run continues exactly where it stopped; a checkpoint of other settings is ignored,
    a damaged one is reported (as a warning) and training starts over.
    """

    def __init__(self, path: str | os.PathLike | None, fingerprint: dict):
        self.path = Path(path) if path is not None else None
        self.fingerprint = json.dumps(fingerprint, sort_keys=True, default=str)

    def save(self, module: nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator, epoch: int, history: History,
             scheduler: object | None = None) -> None:
        if self.path is None:
            return
        tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
        for i, param in enumerate(module.parameters()):
            for key, value in optimizer.state.get(param, {}).items():
                tensors[f"optim.{i}.{key}"] = (value if torch.is_tensor(value)
                                               else torch.tensor(value))
        tensors["rng.shuffle"] = generator.get_state()
        # The hyperparameters a scheduler changes as it goes (learning rate, Adam's betas).
        groups = [{k: v for k, v in group.items() if k != "params"}
                  for group in optimizer.param_groups]
        meta = {"fingerprint": self.fingerprint, "epoch": str(epoch),
                "history": json.dumps(asdict(history)), "param_groups": json.dumps(groups)}
        if scheduler is not None:
            meta["scheduler"] = json.dumps(scheduler.state_dict())
        write_tensors(self.path, tensors, metadata=meta)

    def load(self, module: nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator, scheduler: object | None = None
             ) -> tuple[int, History]:
        """Restore a matching checkpoint; ``(0, History())`` when there is none."""
        if self.path is None or not self.path.is_file():
            return 0, History()
        try:
            return self._load(module, optimizer, generator, scheduler)
        except ArtifactError as exc:
            warnings.warn(f"{exc}; training starts from the first epoch", stacklevel=3)
            return 0, History()

    def _load(self, module, optimizer, generator, scheduler) -> tuple[int, History]:
        from safetensors import safe_open

        try:
            with safe_open(str(self.path), "pt") as fh:
                meta = fh.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise ArtifactError(f"{self.path}: damaged checkpoint ({exc})") from None
        if meta.get("fingerprint") != self.fingerprint:
            return 0, History()
        tensors = read_tensors(self.path)
        device = next(module.parameters()).device
        try:
            module.load_state_dict({k[6:]: v for k, v in tensors.items()
                                    if k.startswith("model.")})
            for i, param in enumerate(module.parameters()):
                state = {k.split(".", 2)[2]: v.to(device) for k, v in tensors.items()
                         if k.startswith(f"optim.{i}.")}
                if state:
                    optimizer.state[param] = state
            for group, saved in zip(optimizer.param_groups,
                                    json.loads(meta.get("param_groups", "[]")), strict=False):
                group.update({k: tuple(v) if isinstance(v, list) else v
                              for k, v in saved.items()})
            generator.set_state(tensors["rng.shuffle"])
            if scheduler is not None:
                scheduler.load_state_dict(json.loads(meta["scheduler"]))
            return int(meta["epoch"]), History(**json.loads(meta["history"]))
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ArtifactError(f"{self.path}: checkpoint does not fit this model ({exc})"
                                ) from None


def check_finite(loss: float, epoch: int) -> None:
    """Stop training with an explanation when the loss is no longer a finite number."""
    if not math.isfinite(loss):
        raise TrainingError(
            f"training loss became {loss} at epoch {epoch}: try a lower learning rate, "
            "or check the input for NaN or huge values")


STEPS = ("autograd", "compile")


def train_autoencoder(
    model: nn.Module,
    x_train: np.ndarray,
    x_val: np.ndarray | None = None,
    *,
    epochs: int = 100,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable[[int, int, History], None] | None = None,
    step: str = "autograd",
) -> History:
    """Train ``model`` to reconstruct ``x_train`` (MSE, Adam), on the model's device.

    Parameters
    ----------
    model : nn.Module
        Maps ``(N, D)`` to ``(N, D)``; trained in place.
    x_train : ndarray of shape (N, D), float in [0, 1] or uint8
    x_val : ndarray of shape (M, D), optional
        Its loss is recorded after every epoch (the study used the test set).
    epochs, batch_size, learning_rate : training settings (the study: 100, 256, 1e-3).
    seed : int
        Seeds the batch order. (Weights are initialised when the model is built: seed
        torch before building it.)
    checkpoint : path, optional
        Written after every epoch; when it exists and was written for the same model,
        data size and settings, training continues from it.
    progress : callable, optional
        Called as ``progress(epoch, epochs, history)`` after every epoch.
    step : {"autograd", "compile"}
        How a training step runs: plain autograd, or autograd through
        ``torch.compile(model)`` (no faster here; see ``benchmarks/results/step-*.md``).

    Returns
    -------
    History

    Raises
    ------
    TrainingError
        The loss became NaN or infinite.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, got {step!r}")
    device = next(model.parameters()).device
    xt = _as_tensor(x_train, device)
    xv = _as_tensor(x_val, device) if x_val is not None and len(x_val) else None
    if len(xt) == 0:
        raise ValueError("x_train is empty")

    # Keras' Adam epsilon (1e-7), as in the study. The fused kernel is torch's fastest.
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=1e-7,
                                 fused=device.type in ("cpu", "cuda"))
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    ckpt = Checkpoint(checkpoint, {
        "model": type(model).__name__, "config": getattr(model, "config", None),
        "n": len(xt), "epochs": epochs, "batch_size": batch_size, "lr": learning_rate,
        "seed": seed, "device": device.type,
    })
    start, history = ckpt.load(model, optimizer, generator)

    model.train()
    n = len(xt)
    forward = torch.compile(model) if step == "compile" else model
    for epoch in range(start, epochs):
        tic = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=device)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for begin in range(0, n, batch_size):
            xb = xt.index_select(0, order[begin : begin + batch_size])
            loss = nn.functional.mse_loss(forward(xb), xb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total.add_(loss.detach(), alpha=len(xb))
        train_loss = float(total) / n
        check_finite(train_loss, epoch + 1)
        history.loss.append(train_loss)
        history.val_loss.append(_mean_loss(model, xv) if xv is not None else float("nan"))
        history.epoch_seconds.append(time.perf_counter() - tic)
        ckpt.save(model, optimizer, generator, epoch + 1, history)
        if progress is not None:
            progress(epoch + 1, epochs, history)
    model.eval()
    return history


def schedule(n: int, epochs: int, batch_size: int, min_steps: int) -> tuple[int, int]:
    """The epochs and batch size ``n`` items train with: batches of at most a quarter of
    them (so that every epoch has several steps; at least 2 items a batch), and at least
    ``min_steps`` optimiser steps in all, however few the items. Large sets keep
    ``epochs`` and ``batch_size`` as given."""
    batch_size = max(2, min(batch_size, n // 4))
    steps = max(1, n // batch_size)
    return max(epochs, math.ceil(min_steps / steps)), batch_size
