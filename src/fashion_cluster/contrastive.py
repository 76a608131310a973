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

import math
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import ddp
from .training import Checkpoint, History, check_finite

__all__ = ["SimCLRNet", "augment", "colour_matrices", "nt_xent", "train_simclr"]


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
            shift: float = 0.15, jitter: float = 0.4, noise: float = 0.05) -> torch.Tensor:
    """Random views of a batch of images of shape (B, C, H, W) with values in [0, 1].

    Random resized crop (area ``crop_min``..1, aspect 3/4..4/3, plus a shift of up to
    ``shift``), horizontal flip (p = 0.5), brightness / contrast jitter (``jitter``) and
    Gaussian noise (``noise``). Colour images (C = 3) also get SimCLR's colour distortion
    (`colour_matrices`): without it, the colour of an image alone tells its two views
    apart from the others', and the network learns colour instead of shape.
    """
    b, dev = len(x), x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape or (b,), generator=generator, device=dev) * (hi - lo) + lo

    scale = uniform(crop_min, 1.0).sqrt()
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
    return out.clamp_(0, 1)


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
    """The SimCLR projection head (discarded after training)."""
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


class _Pair(nn.ModuleDict):
    """Encoder and projection head as one module (what DistributedDataParallel wraps)."""

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return self["head"](self["encoder"].forward_images(views))


def train_simclr(
    encoder: SimCLRNet,
    x: np.ndarray,
    *,
    epochs: int = 8,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    temperature: float = 0.5,
    crop_min: float = 0.4,
    seed: int = 0,
    processes: int = 1,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable[[int, int, History], None] | None = None,
) -> History:
    """Train ``encoder`` (in place) with SimCLR on images ``x`` of shape (N, H*W*C).

    Adam with weight decay 1e-6 and a one-cycle learning-rate schedule (5% warm-up);
    incomplete last batches are dropped (`fashion_cluster.training.schedule` gives the
    settings for small sets). The history's ``loss`` is the mean NT-Xent loss per epoch.
    Checkpointed after every epoch (see `fashion_cluster.training.Checkpoint`).

    With ``processes`` > 1, or when called in every process of a torch.distributed
    process group (``torchrun``), each process trains on its share of every batch of
    ``batch_size`` images (`fashion_cluster.ddp`); the loss still sees the whole batch's
    negatives. Batch norm then normalises each process's share (no CPU backend has
    synchronised batch norm).
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("processes", processes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if processes > 1 and ddp.world()[1] == 1:
        return _train_on_processes(encoder, x, processes, progress, epochs=epochs,
                                   batch_size=batch_size, learning_rate=learning_rate,
                                   temperature=temperature, crop_min=crop_min, seed=seed,
                                   checkpoint=checkpoint)
    rank, world = ddp.world()
    device = next(encoder.parameters()).device
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    n = len(xt)
    batch_size = min(batch_size, n) // world * world
    steps = n // batch_size if batch_size else 0
    if steps < 1 or batch_size < 2 * world:
        raise ValueError(f"SimCLR needs at least 2 images a batch and process, got {n} "
                         f"images for {world} process(es)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = projection_head(encoder.config["feature_dim"]).to(device)
    pair = _Pair({"encoder": encoder, "head": head})
    optimizer = torch.optim.Adam(pair.parameters(), lr=learning_rate, weight_decay=1e-6)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate,
                                                    total_steps=epochs * steps, pct_start=0.05)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    settings = {"model": "SimCLRNet", "config": encoder.config, "n": n, "epochs": epochs,
                "batch_size": batch_size, "lr": learning_rate, "temperature": temperature,
                "crop_min": crop_min, "seed": seed, "device": device.type}
    ckpt = Checkpoint(checkpoint if rank == 0 else None,
                      settings | ({"processes": world} if world > 1 else {}))
    start, history = ckpt.load(pair, optimizer, generator, scheduler)
    if world > 1:  # every process starts where the first one's checkpoint left off
        start, history = _from_first_process(pair, optimizer, generator, scheduler, start,
                                             history)
    model = nn.parallel.DistributedDataParallel(pair) if world > 1 else pair
    pair.train()
    for epoch in range(start, epochs):
        tic = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=device)
        # One process: the views come from the same generator as the order (as always).
        # Several: each draws its own, seeded by (seed, epoch, rank), so a resumed run
        # draws the same views.
        views = generator if world == 1 else _view_generator(seed, epoch, rank, device)
        total = 0.0
        for step in range(steps):
            rows = order[step * batch_size : (step + 1) * batch_size][rank::world]
            loss = _step_loss(model, encoder.images(xt[rows]), views, crop_min, temperature,
                              world)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach())
        check_finite(total / steps, epoch + 1)
        history.loss.append(total / steps)
        history.val_loss.append(float("nan"))
        history.epoch_seconds.append(time.perf_counter() - tic)
        ckpt.save(pair, optimizer, generator, epoch + 1, history, scheduler)
        if progress is not None:
            progress(epoch + 1, epochs, history)
    if world > 1:  # the batch-norm statistics of the first process, on every process
        for buffer in encoder.buffers():
            dist.broadcast(buffer, src=0)
    encoder.eval()
    return history


def _step_loss(model: nn.Module, batch: torch.Tensor, generator: torch.Generator,
               crop_min: float, temperature: float, world: int) -> torch.Tensor:
    """NT-Xent of two augmented views of ``batch`` (this process's share of the batch)."""
    views = torch.cat([augment(batch, generator, crop_min), augment(batch, generator, crop_min)])
    z = model(views)
    z1, z2 = z[: len(batch)], z[len(batch) :]
    if world > 1:
        z1, z2 = ddp.gather(z1), ddp.gather(z2)
    return nt_xent(z1, z2, temperature)


def _view_generator(seed: int, epoch: int, rank: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0]))
    return generator


def _from_first_process(pair, optimizer, generator, scheduler, start, history):
    """Rank 0's training state (it alone reads the checkpoint), on every process."""
    state = [(start, history, generator.get_state(), scheduler.state_dict(),
              {k: v.cpu() for k, v in pair.state_dict().items()}, optimizer.state_dict())]
    dist.broadcast_object_list(state, src=0)
    start, history, rng, schedule_state, weights, optimizer_state = state[0]
    generator.set_state(rng)
    scheduler.load_state_dict(schedule_state)
    pair.load_state_dict(weights)
    optimizer.load_state_dict(optimizer_state)
    return start, history


def _train_on_processes(encoder: SimCLRNet, x: np.ndarray, processes: int, progress,
                        **settings) -> History:
    """`train_simclr` on ``processes`` new processes (`fashion_cluster.ddp.start`)."""
    device = next(encoder.parameters()).device
    shared = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).share_memory_()
    state = {k: v.cpu() for k, v in encoder.state_dict().items()}
    weights, history = ddp.start(_process, processes, (encoder.config, state, shared, settings),
                                 device, on_report=progress)
    encoder.load_state_dict(weights)
    encoder.eval()
    return history


def _process(device: torch.device, report, config: dict, state: dict, x: torch.Tensor,
             settings: dict) -> tuple[dict, History]:
    """One process of `_train_on_processes`: a copy of the encoder, trained in the group."""
    encoder = SimCLRNet(**config).to(device)
    encoder.load_state_dict(state)
    history = train_simclr(encoder, x.numpy(), progress=report, **settings)
    return {k: v.cpu() for k, v in encoder.state_dict().items()}, history
