"""Training an autoencoder: a plain loop, checkpointed every epoch, resumable.

The loop keeps the whole training set as one tensor on the device and cuts shuffled
batches from it with ``index_select``: no ``DataLoader``, no per-batch Python objects.
Adam uses torch's fused kernel. Both matter on a 2-core CPU, where the model's matrix
products take about 3 s an epoch (see ``benchmarks/bench_training.py``).

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .artifacts import ArtifactError, read_tensors, write_tensors

__all__ = ["History", "TrainingError", "train_autoencoder"]


class TrainingError(RuntimeError):
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
        return torch.from_numpy(x.reshape(len(x), -1)).to(device).float().div_(255)
    flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    return torch.from_numpy(flat).to(device)


@torch.no_grad()
def _mean_loss(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        total += float(nn.functional.mse_loss(model(xb), xb, reduction="sum"))
    model.train()
    return total / x.numel()


def _checkpoint_state(model: nn.Module, optimizer: torch.optim.Optimizer,
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, param in enumerate(model.parameters()):
        for key, value in optimizer.state.get(param, {}).items():
            tensors[f"adam.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.shuffle"] = generator.get_state()
    return tensors


def _restore(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator, fingerprint: str) -> tuple[int, History] | None:
    """Load a checkpoint written for the same run; None if it is for another run."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise ArtifactError(f"{path}: damaged checkpoint ({exc})") from None
    if meta.get("fingerprint") != fingerprint:
        return None
    tensors = read_tensors(path)
    device = next(model.parameters()).device
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        for i, param in enumerate(model.parameters()):
            state = {k.split(".", 2)[2]: v.to(device) for k, v in tensors.items()
                     if k.startswith(f"adam.{i}.")}
            if state:
                optimizer.state[param] = state
        generator.set_state(tensors["rng.shuffle"])
        history = History(**json.loads(meta["history"]))
        epoch = int(meta["epoch"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{path}: checkpoint does not fit this model ({exc})") from None
    return epoch, history


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
    history, start = History(), 0
    fingerprint = json.dumps({
        "model": type(model).__name__, "config": getattr(model, "config", None),
        "n": len(xt), "epochs": epochs, "batch_size": batch_size, "lr": learning_rate,
        "seed": seed, "device": device.type,
    }, sort_keys=True)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.is_file():
        restored = _restore(ckpt, model, optimizer, generator, fingerprint)
        if restored is not None:
            start, history = restored

    model.train()
    n = len(xt)
    for epoch in range(start, epochs):
        tic = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=device)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for begin in range(0, n, batch_size):
            xb = xt.index_select(0, order[begin : begin + batch_size])
            loss = nn.functional.mse_loss(model(xb), xb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(xb)
        train_loss = float(total) / n
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"training loss became {train_loss} at epoch {epoch + 1}: "
                "try a lower learning rate, or check the input for NaN or huge values"
            )
        history.loss.append(train_loss)
        history.val_loss.append(_mean_loss(model, xv) if xv is not None else float("nan"))
        history.epoch_seconds.append(time.perf_counter() - tic)
        if ckpt is not None:
            write_tensors(ckpt, _checkpoint_state(model, optimizer, generator), metadata={
                "fingerprint": fingerprint, "epoch": str(epoch + 1),
                "history": json.dumps(asdict(history)),
            })
        if progress is not None:
            progress(epoch + 1, epochs, history)
    model.eval()
    return history
