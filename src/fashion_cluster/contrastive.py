"""A small CNN trained contrastively (SimCLR), whose features cluster far better than pixels.

SimCLR (Chen et al., 2020): two random augmentations of each image go through the
encoder and a projection head; the NT-Xent loss pulls the two views of an image together
and pushes the other images of the batch away. The encoder learns what stays the same
under crops, flips and lighting changes, which is close to what makes a garment a
garment. The head is thrown away after training; the encoder's features are the
representation.

The encoder is sized for a CPU: two strided convolutions and one dense layer, several
times faster a pass than stacks of full-resolution 3x3 convolutions. Augmentations are
batched tensor operations (``affine_grid`` / ``grid_sample``) drawn from an explicit
generator, so training is reproducible and, with a checkpoint after every epoch,
resumable exactly like the autoencoders'.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import ddp
from .training import Checkpoint, History, check_finite

__all__ = ["SimCLRNet", "StepLoss", "StoreRows", "Views", "augment", "colour_matrices", "nt_xent",
           "projection_head", "simclr_loss", "train_simclr"]


# RGB to YIQ (luma and two chroma axes): a hue shift is a rotation of the chroma plane,
# a change of saturation a scaling of it, grey scale its removal.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def colour_matrices(b: int, generator: torch.Generator, hue: float = 0.2,
                    saturation: float = 0.8, p_jitter: float = 0.8, p_grey: float = 0.2
                    ) -> torch.Tensor:
    """SimCLR's colour distortion as one 3x3 matrix an image (B, 3, 3), applied to RGB.

    With probability ``p_jitter`` the hue turns by up to ``hue`` of a full turn either way
    and the saturation is scaled by 1 +- ``saturation``; then, with probability ``p_grey``,
    the image becomes grey (its luma).
    """
    dev = generator.device
    draw = torch.rand(b, 4, generator=generator, device=dev)
    jittered = draw[:, 0] < p_jitter
    angle = torch.where(jittered, (2 * draw[:, 1] - 1) * hue * 2 * math.pi, 0.0)
    scale = torch.where(jittered, 1 + (2 * draw[:, 2] - 1) * saturation, 1.0)
    scale = torch.where(draw[:, 3] < p_grey, 0.0, scale)
    chroma = torch.zeros(b, 3, 3, device=dev)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = scale * angle.cos(), -scale * angle.sin()
    chroma[:, 2, 1], chroma[:, 2, 2] = scale * angle.sin(), scale * angle.cos()
    yiq = _YIQ.to(dev)
    return torch.linalg.inv(yiq) @ chroma @ yiq


def augment(x: torch.Tensor, generator: torch.Generator, crop_min: float = 0.4,
            shift: float = 0.15, jitter: float = 0.4, noise: float = 0.05,
            crop_max: float = 1.0, gamma: float = 1.0) -> torch.Tensor:
    """Random views of a batch of images of shape (B, C, H, W) with values in [0, 1].

    Random resized crop (area ``crop_min``..``crop_max``, aspect 3/4..4/3, plus a shift
    of up to ``shift``), horizontal flip (p = 0.5), brightness / contrast jitter
    (``jitter``), Gaussian noise (``noise``) and, when ``gamma`` > 1, a random gamma
    correction: values raised to a power drawn log-uniformly in 1 / ``gamma``..``gamma``,
    which makes dark details brighter or fainter. Colour images (C = 3) also get
    SimCLR's colour distortion (`colour_matrices`): without it, the colour of an image
    alone tells its two views apart from the others', and the network learns colour
    instead of shape.
    """
    if not (math.isfinite(gamma) and gamma >= 1):
        raise ValueError(f"gamma must be a finite number >= 1, got {gamma!r}")
    if not 0 < crop_min <= crop_max <= 1:
        raise ValueError(f"expected 0 < crop_min <= crop_max <= 1, got crop_min {crop_min!r} "
                         f"and crop_max {crop_max!r}")
    b, dev = len(x), x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape or (b,), generator=generator, device=dev) * (hi - lo) + lo

    scale = uniform(crop_min, crop_max).sqrt()
    aspect = torch.exp(uniform(math.log(3 / 4), math.log(4 / 3)))
    sx = (scale * aspect.sqrt()).clamp(max=1.0)
    sy = (scale / aspect.sqrt()).clamp(max=1.0)
    tx = uniform(-1, 1) * (1 - sx + shift)
    ty = uniform(-1, 1) * (1 - sy + shift)
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False)
    if out.shape[1] == 3:
        out = torch.einsum("bij,bjhw->bihw", colour_matrices(b, generator), out).clamp_(0, 1)
    contrast = 1 + uniform(-jitter, jitter, b, 1, 1, 1)
    brightness = uniform(-jitter / 2, jitter / 2, b, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + brightness * (out > 0.02).float()
    out = out + noise * torch.randn(out.shape, generator=generator, device=dev)
    out = out.clamp_(0, 1)
    if gamma > 1:
        out = out.clamp_min(1e-6) ** gamma ** uniform(-1, 1, b, 1, 1, 1)
    return out


class SimCLRNet(nn.Module):
    """Conv 5x5 (32, stride 2) - Conv 3x3 (64, stride 2) - dense (``feature_dim``),
    each followed by batch norm and ReLU.

    Images larger than ``MAX_SIDE`` pixels a side are first average-pooled by the
    smallest whole factor that brings them to at most ``MAX_SIDE`` (64x64 and 96x96 both
    become 32x32), so a pass costs about the same at any size; augmentations still crop
    at full resolution. Takes flattened images ``(N, H*W*C)`` in [0, 1] (pixel-major, as
    the autoencoders) and returns features ``(N, feature_dim)``.
    """

    MAX_SIDE = 32

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), feature_dim: int = 512):
        super().__init__()
        channels, height, width = (int(v) for v in image_shape)
        self.config = {"image_shape": [channels, height, width], "feature_dim": int(feature_dim)}
        factor = math.ceil(max(height, width) / self.MAX_SIDE)
        self.stem = nn.AvgPool2d(factor, ceil_mode=True) if factor > 1 else nn.Identity()
        height, width = math.ceil(height / factor), math.ceil(width / factor)
        h, w = (height + 1) // 2, (width + 1) // 2  # stride 2, padding 2, kernel 5
        h, w = (h + 1) // 2, (w + 1) // 2  # stride 2, padding 1, kernel 3
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * h * w, feature_dim, bias=False), nn.BatchNorm1d(feature_dim), nn.ReLU(),
        )

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened images as an (N, C, H, W) batch."""
        c, h, w = self.config["image_shape"]
        return x.reshape(len(x), h, w, c).permute(0, 3, 1, 2)

    def forward_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.stem(images))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_images(self.images(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


def projection_head(feature_dim: int = 512) -> nn.Module:
    """The SimCLR projection head (discarded after training): features (N, ``feature_dim``)
    to projections (N, 64), through a hidden layer of 256 with batch norm and ReLU."""
    return nn.Sequential(nn.Linear(feature_dim, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                         nn.Linear(256, 64))


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy for two batches of views."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


class Views:
    """The random views a training step's loss draws (`train_simclr`'s ``loss``):
    ``views(images, **changes)`` is ``augment(images, generator, **settings, **changes)``,
    one view (B, C, H, W) of each image of a batch (B, C, H, W), drawn from the run's
    generator; ``changes`` replace settings for that call (``crop_min=0.15,
    crop_max=0.4``: small crops).

    Attributes
    ----------
    augment : callable
        `augment`, or `train_simclr`'s ``augment``.
    generator : torch.Generator
        The generator of this process's views.
    settings : dict
        The run's keywords of ``augment``: ``crop_min`` and ``gamma``.
    """

    def __init__(self, augment: Callable[..., torch.Tensor], generator: torch.Generator,
                 settings: dict) -> None:
        self.augment, self.generator, self.settings = augment, generator, settings

    def __call__(self, images: torch.Tensor, **changes) -> torch.Tensor:
        return self.augment(images, self.generator, **{**self.settings, **changes})


#: A training step's loss (`train_simclr`'s ``loss``): called as ``loss(model, images,
#: views, temperature, world)`` with the encoder and projection head as one module
#: (views (B, C, H, W) to projections), this process's images of the batch (B, C, H, W),
#: its `Views`, the temperature and the number of processes; returns a scalar tensor.
StepLoss = Callable[[nn.Module, torch.Tensor, Views, float, int], torch.Tensor]


def simclr_loss(model: nn.Module, images: torch.Tensor, views: Views, temperature: float,
                world: int) -> torch.Tensor:
    """SimCLR's loss of a batch (the default `StepLoss`): NT-Xent of two views of each
    image (``views(images)`` twice, one batch after the other, through ``model``), the
    projections of every process gathered when ``world`` > 1 (the negatives are the
    whole batch's)."""
    n = len(images)
    z = model(torch.cat([views(images), views(images)]))
    z1, z2 = z[:n], z[n:]
    if world > 1:
        z1, z2 = ddp.gather(z1), ddp.gather(z2)
    return nt_xent(z1, z2, temperature)


class StoreRows:
    """The images of a chunked on-disk array (zarr) as SimCLR's training set, read a few
    chunks at a time, so that memory does not grow with the number of images.

    An epoch visits the chunks in a random order, ``buffer_rows`` rows at a time (whole
    chunks), shuffles the rows within that buffer and cuts batches from it. The order is
    therefore less random than a full permutation: a store whose rows are sorted (by
    class, say) should be shuffled when it is written. Several processes share the
    chunks out: each reads its own and cuts its share of every batch from them.

    Parameters
    ----------
    array : zarr array of shape (N, ...)
        Rows are images; chunked along the first axis.
    prepare : callable
        Maps raw rows (n, ...) to the network's input, float32 (n, D) in [0, 1].
    buffer_rows : int
        Rows held at a time (at least one chunk).
    """

    def __init__(self, array, prepare: Callable[[np.ndarray], np.ndarray],
                 buffer_rows: int = 20_000):
        self.array, self.prepare, self.buffer_rows = array, prepare, buffer_rows

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def batches(self, order: torch.Generator, batch_size: int, steps: int, rank: int = 0,
                world: int = 1, shuffle: torch.Generator | None = None
                ) -> Iterator[np.ndarray]:
        """``steps`` batches of prepared rows, this process's share of each
        (``batch_size / world`` rows).

        The chunks come in an order drawn from ``order`` (the same on every process);
        process ``rank`` reads every ``world``-th of them, starting at the ``rank``-th,
        and reads its chunks again should it run out. Rows are shuffled within the
        buffer with ``shuffle`` (default ``order``; several processes: one each).
        """
        shuffle = shuffle or order
        rows, n = int(self.array.chunks[0]), len(self)
        chunks = torch.randperm(math.ceil(n / rows), generator=order,
                                device=order.device).tolist()
        mine = chunks[rank::world] or [chunks[rank % len(chunks)]]
        share, per_fill = batch_size // world, max(1, self.buffer_rows // rows)
        left, made = None, 0
        while True:
            for first in range(0, len(mine), per_fill):
                parts = [self.prepare(self.array[c * rows : (c + 1) * rows])
                         for c in mine[first : first + per_fill]]
                block = np.concatenate(parts if left is None else [left, *parts])
                block = block[torch.randperm(len(block), generator=shuffle,
                                             device=shuffle.device).cpu().numpy()]
                usable = len(block) // share * share
                for start in range(0, usable, share):
                    if made == steps:
                        return
                    made += 1
                    yield block[start : start + share]
                left = block[usable:]


def _batches(x: torch.Tensor | StoreRows, generator: torch.Generator, batch_size: int,
             steps: int, rank: int, world: int, local: torch.Generator
             ) -> Iterator[torch.Tensor]:
    """One epoch's batches, this process's share of each: from a permutation of the rows
    in memory (drawn by ``generator``, the same on every process), or from a store (each
    process reading its own chunks, shuffled with its ``local`` generator, which is
    ``generator`` itself when there is one process)."""
    if isinstance(x, StoreRows):
        for batch in x.batches(generator, batch_size, steps, rank, world, local):
            yield torch.from_numpy(batch).to(generator.device)
        return
    order = torch.randperm(len(x), generator=generator, device=x.device)
    for step in range(steps):
        yield x[order[step * batch_size : (step + 1) * batch_size][rank::world]]


class _Pair(nn.ModuleDict):
    """Encoder and projection head as one module (what DistributedDataParallel wraps)."""

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return self["head"](self["encoder"].forward_images(views))


def train_simclr(
    encoder: SimCLRNet,
    x: np.ndarray | StoreRows,
    *,
    epochs: int = 8,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    temperature: float = 0.5,
    crop_min: float = 0.4,
    gamma: float = 1.0,
    seed: int = 0,
    processes: int = 1,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable[[int, int, History], None] | None = None,
    loss: StepLoss | None = None,
    projection_head: Callable[[int], nn.Module] | None = None,
    augment: Callable[..., torch.Tensor] | None = None,
) -> History:
    """Train ``encoder`` (in place) with SimCLR on images ``x`` of shape (N, H*W*C), in
    memory, or read from a chunked store as it goes (`StoreRows`).

    Adam with weight decay 1e-6 and a one-cycle learning-rate schedule (5% warm-up);
    incomplete last batches are dropped (`fashion_cluster.training.schedule` gives the
    settings for small sets). The views are `augment`'s, with ``crop_min`` and ``gamma``.
    The history's ``loss`` is the mean NT-Xent loss per epoch. Checkpointed after every
    epoch (see `fashion_cluster.training.Checkpoint`).

    ``processes`` > 1: train on that many processes (`fashion_cluster.ddp`), started
    here, or, when this process is one of a torch.distributed group of that size
    (``torchrun``), in that group. Each process trains on its share of every batch of
    ``batch_size`` images (rounded down to a multiple of ``processes``); the loss still
    sees the whole batch's negatives. Batch norm normalises each process's share.

    The network and the parts below are extension points (``research/`` in the
    repository uses them); each left at None is SimCLR's, as described above.

    Parameters
    ----------
    encoder : SimCLRNet
        The network trained: a `SimCLRNet`, or any module with its interface
        (``config["feature_dim"]``, ``images`` and ``forward_images``; with
        ``processes`` > 1 started here, rebuilt as ``type(encoder)(**encoder.config)``).
    loss : StepLoss or None
        A step's loss of this process's share of a batch, ``loss(model, images, views,
        temperature, world)`` (see `StepLoss`, `Views`); None: `simclr_loss`.
    projection_head : callable or None
        ``projection_head(feature_dim)``: the head module on the encoder's features
        (N, feature_dim), built seeded with ``seed``, trained with the encoder and then
        dropped; its output is what ``loss`` sees of ``model``. None: `projection_head`
        (outputs (N, 64)).
    augment : callable or None
        ``augment(images, generator, crop_min=..., gamma=...)``: a random view (B, C, H, W)
        of each image of a batch (B, C, H, W) in [0, 1], drawn from ``generator`` (and
        with any other keywords a ``loss`` passes through its `Views`). None: `augment`.

    A checkpoint records the hooks given by their qualified names only: a closure
    resumes from a checkpoint of the same function holding other values.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("processes", processes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    batch_size, steps = _batch_and_steps(len(x), batch_size, processes)
    rank, world, start_here = ddp.placement(processes)
    settings = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    temperature=temperature, crop_min=crop_min, gamma=gamma, seed=seed,
                    checkpoint=checkpoint, loss=loss, projection_head=projection_head,
                    augment=augment)
    if start_here:
        return _train_on_processes(encoder, x, processes, progress, settings)
    device = next(encoder.parameters()).device
    if not isinstance(x, StoreRows):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    state = _TrainingState(encoder, x, steps, rank, world, **settings)
    model = nn.parallel.DistributedDataParallel(state.pair) if world > 1 else state.pair
    state.pair.train()
    history = state.history
    for epoch in range(state.start, epochs):
        tic = time.perf_counter()
        # One process: the views come from the same generator as the order (as always).
        # Several: each draws its own (and shuffles its store rows with it), seeded by
        # (seed, epoch, rank), so a resumed run draws the same.
        generator = state.generator if world == 1 else _view_generator(seed, epoch, rank, device)
        batches = _batches(x, state.generator, batch_size, steps, rank, world, generator)
        total = _epoch(state, model, batches, Views(state.augment, generator, state.view_settings),
                       temperature, world)
        check_finite(total / steps, epoch + 1)
        history.loss.append(total / steps)
        history.val_loss.append(float("nan"))
        history.epoch_seconds.append(time.perf_counter() - tic)
        state.save(epoch + 1)
        if progress is not None:
            progress(epoch + 1, epochs, history)
    if world > 1:  # the batch-norm statistics of the first process, on every process
        for buffer in encoder.buffers():
            dist.broadcast(buffer, src=0)
    encoder.eval()
    return history


def _epoch(state: _TrainingState, model: nn.Module, batches: Iterator[torch.Tensor],
           views: Views, temperature: float, world: int) -> float:
    """One epoch's optimiser steps on ``batches`` (flattened images); the sum of the
    steps' losses."""
    images = state.pair["encoder"].images
    total = 0.0
    for batch in batches:
        value = state.loss(model, images(batch), views, temperature, world)
        state.optimizer.zero_grad(set_to_none=True)
        value.backward()
        state.optimizer.step()
        state.scheduler.step()
        total += float(value.detach())
    return total


def _batch_and_steps(n: int, batch_size: int, processes: int) -> tuple[int, int]:
    """The batch (a multiple of ``processes``, at most ``n``) and the steps an epoch."""
    batch = ddp.shared_batch(min(batch_size, n), processes, 2,
                             f"SimCLR on {n} images with batch_size {batch_size}")
    return batch, n // batch


class _TrainingState:
    """The projection head, optimiser, schedule, batch-order generator and checkpoint of
    one SimCLR run, restored from the checkpoint where there is one (read by the first
    process, sent to the others)."""

    def __init__(self, encoder: SimCLRNet, x: torch.Tensor | StoreRows, steps: int,
                 rank: int, world: int, *, epochs: int, batch_size: int,
                 learning_rate: float, temperature: float, crop_min: float, gamma: float,
                 seed: int, checkpoint, loss: StepLoss | None,
                 projection_head: Callable[[int], nn.Module] | None,
                 augment: Callable[..., torch.Tensor] | None) -> None:
        device = next(encoder.parameters()).device
        hooks = {"loss": loss, "projection_head": projection_head, "augment": augment}
        self.loss, head_of, self.augment = _with_defaults(loss, projection_head, augment)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head = head_of(encoder.config["feature_dim"]).to(device)
        self.view_settings = {"crop_min": crop_min, "gamma": gamma}
        self.pair = _Pair({"encoder": encoder, "head": head})
        self.optimizer = torch.optim.Adam(self.pair.parameters(), lr=learning_rate,
                                          weight_decay=1e-6)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, learning_rate, total_steps=epochs * steps, pct_start=0.05)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        fingerprint = {"model": type(encoder).__name__, "config": encoder.config, "n": len(x),
                       "epochs": epochs, "batch_size": batch_size, "lr": learning_rate,
                       "temperature": temperature, "crop_min": crop_min, "seed": seed,
                       "device": device.type}
        if gamma != 1:  # checkpoints of runs without it stay valid
            fingerprint["gamma"] = gamma
        for name, hook in hooks.items():  # likewise
            if hook is not None:
                fingerprint[name] = _qualified_name(hook)
        if world > 1:
            fingerprint["processes"] = world
        if isinstance(x, StoreRows):  # another batch order than in memory
            fingerprint["store"] = [int(x.array.chunks[0]), x.buffer_rows]
        self.checkpoint = Checkpoint(checkpoint if rank == 0 else None, fingerprint)
        self.start, self.history = self.checkpoint.load(self.pair, self.optimizer,
                                                        self.generator, self.scheduler)
        if world > 1:
            self._from_first_process()

    def save(self, epoch: int) -> None:
        self.checkpoint.save(self.pair, self.optimizer, self.generator, epoch, self.history,
                             self.scheduler)

    def _from_first_process(self) -> None:
        """Every process starts where the first one's checkpoint left off."""
        state = [(self.start, self.history, self.generator.get_state(),
                  self.scheduler.state_dict(), _on_cpu(self.pair.state_dict()),
                  _on_cpu(self.optimizer.state_dict()))]
        dist.broadcast_object_list(state, src=0)
        self.start, self.history, rng, schedule, weights, optimizer = state[0]
        self.generator.set_state(rng)
        self.scheduler.load_state_dict(schedule)
        self.pair.load_state_dict(weights)
        self.optimizer.load_state_dict(optimizer)


def _on_cpu(state):
    """A state dict (nested dicts and lists of tensors) with every tensor on the CPU."""
    if torch.is_tensor(state):
        return state.cpu()
    if isinstance(state, dict):
        return {k: _on_cpu(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_on_cpu(v) for v in state)
    return state


def _with_defaults(loss: StepLoss | None, head: Callable[[int], nn.Module] | None,
                   views: Callable[..., torch.Tensor] | None) -> tuple:
    """`train_simclr`'s extension points, each None replaced by SimCLR's."""
    return (simclr_loss if loss is None else loss, projection_head if head is None else head,
            augment if views is None else views)


def _qualified_name(hook: Callable) -> str:
    """A hook's module and qualified name (of its class, for an instance; of its function
    and keywords, for a ``functools.partial``), for a checkpoint's fingerprint."""
    if isinstance(hook, functools.partial):
        return f"{_qualified_name(hook.func)}{sorted(hook.keywords.items())}"
    named = hook if hasattr(hook, "__qualname__") else type(hook)
    return f"{named.__module__}.{named.__qualname__}"


def _view_generator(seed: int, epoch: int, rank: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0]))
    return generator


def _train_on_processes(encoder: SimCLRNet, x: np.ndarray | StoreRows, processes: int,
                        progress, settings: dict) -> History:
    """`train_simclr` on ``processes`` new processes (`fashion_cluster.ddp.start`); images
    in memory or mapped from a file are shared with them, not copied
    (`fashion_cluster.ddp.shareable`); a store each reads itself."""
    device = next(encoder.parameters()).device
    if not (isinstance(x, StoreRows) or (isinstance(x, np.ndarray) and x.dtype == np.float32)):
        x = np.ascontiguousarray(x, dtype=np.float32)
    shared = x if isinstance(x, StoreRows) else ddp.shareable(x)
    weights, history = ddp.start(_process, processes,
                                 (type(encoder), encoder.config, _on_cpu(encoder.state_dict()),
                                  shared, settings), device, on_report=progress)
    encoder.load_state_dict(weights)
    encoder.eval()
    return history


def _process(device: torch.device, report, network: type[SimCLRNet], config: dict, state: dict,
             x: torch.Tensor | ddp.MappedArray | StoreRows, settings: dict
             ) -> tuple[dict, History]:
    """One process of `_train_on_processes`: a copy of the encoder, trained in the group."""
    encoder = network(**config).to(device)
    encoder.load_state_dict(state)
    rows = x if isinstance(x, StoreRows) else ddp.received(x, torch.device("cpu")).numpy()
    history = train_simclr(encoder, rows, processes=dist.get_world_size(), progress=report,
                           **settings)
    return _on_cpu(encoder.state_dict()), history
