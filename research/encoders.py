"""The encoder-side ideas: other networks, losses, projection heads and views for the
contrastive CNN, given to the package through its public extension points
(`fashion_cluster.contrastive.train_simclr`'s ``loss``, ``projection_head`` and
``augment``; `fashion_cluster.ContrastiveEncoder.simclr_hooks`, which also takes the
``network``).

`IdeaEncoder` is a `ContrastiveEncoder` whose extra parameters (``arch``,
``view_keywords``, ``view_extras``) pick the idea; with their defaults it is the
package's encoder, bit for bit. Its parameters are JSON, so it saves and loads like the
package's estimators (in a process that has imported this module).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fashion_cluster import ContrastiveEncoder
from fashion_cluster.contrastive import SimCLRNet, Views, augment, nt_xent, projection_head

# ------------------------------------------------------------------------------ networks


class DeepSimCLRNet(SimCLRNet):
    """Four 3x3 convolutions (32-64-64-128 channels, two of stride 2) before the dense
    layer: about 6x the base network's time an epoch on 28x28 images."""

    def __init__(self, image_shape=(1, 28, 28), feature_dim=512):
        super().__init__(image_shape, feature_dim)
        c, h, w = self.config["image_shape"]
        layers, widths = [], [(c, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)]
        for cin, cout, stride in widths:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        size = 128 * ((h + 3) // 4) * ((w + 3) // 4)
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(size, feature_dim, bias=False),
                                 nn.BatchNorm1d(feature_dim), nn.ReLU())


class WideSimCLRNet(SimCLRNet):
    """The base network with twice the channels (64 and 128): about 3x its time an epoch."""

    def __init__(self, image_shape=(1, 28, 28), feature_dim=512):
        super().__init__(image_shape, feature_dim)
        c, h, w = self.config["image_shape"]
        self.net = nn.Sequential(
            nn.Conv2d(c, 64, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128),
            nn.ReLU(), nn.Flatten(),
            nn.Linear(128 * ((h + 3) // 4) * ((w + 3) // 4), feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim), nn.ReLU())


# ------------------------------------------------------------------- heads and losses
# Each loss is a `fashion_cluster.contrastive.StepLoss`: (model, images, views,
# temperature, world) -> scalar, on one process (world is 1).


def two_views(images: torch.Tensor, views: Views) -> torch.Tensor:
    """Two random views of each image of ``images``, one batch after the other."""
    return torch.cat([views(images), views(images)])


class ClusterPair(nn.Module):
    """SimCLR's projection head and Contrastive Clustering's cluster head, side by side:
    64 projection outputs, then ``k`` cluster probabilities."""

    def __init__(self, feature_dim: int = 512, k: int = 10):
        super().__init__()
        self.instance = projection_head(feature_dim)
        self.cluster = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(),
                                     nn.Linear(feature_dim, k), nn.Softmax(dim=1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.instance(h), self.cluster(h)], 1)


def cluster_loss(model, images, views, temperature, world):
    """Contrastive Clustering's loss of two views of ``images`` (Li et al., AAAI 2021):
    SimCLR's on the projections, plus the cluster head's columns contrasted between the
    views (temperature 1), minus the entropy of its mean assignment."""
    out = model(two_views(images, views))
    n = len(images)
    z, y = out[:, :64], out[:, 64:]
    z1, z2, y1, y2 = z[:n], z[n:], y[:n], y[n:]
    entropy = sum(-(p * p.log()).sum() for p in (y1.mean(0), y2.mean(0)))
    return nt_xent(z1, z2, temperature) + nt_xent(y1.T, y2.T, 1.0) - entropy


class NearestNeighbourLoss:
    """NNCLR's loss (Dwibedi et al., ICCV 2021): each view's projection replaced by its
    nearest neighbour in a queue of the last ``size`` first-view projections, contrasted
    with the other view of the same image. Holds its queue: one instance a run."""

    def __init__(self, size: int = 8192):
        self.size, self.queue = size, None

    def __call__(self, model, images, views, temperature, world):
        z = F.normalize(model(two_views(images, views)), dim=1)
        z1, z2 = z[: len(images)], z[len(images) :]
        support = z1.detach() if self.queue is None else self.queue
        targets = torch.arange(len(images), device=z.device)
        loss = 0.0
        for a, b in ((z1, z2), (z2, z1)):
            nearest = support[(a.detach() @ support.T).argmax(1)]
            loss = loss + F.cross_entropy(nearest @ b.T / temperature, targets) / 2
        older = () if self.queue is None else (self.queue,)
        self.queue = torch.cat([z1.detach(), *older])[: self.size]
        return loss


def decorrelated_loss(model, images, views, temperature, world):
    """SimCLR's loss plus IDFD's feature decorrelation (Tao et al., ICLR 2021): each of the
    projection's dimensions, as a vector over both views' batch, is told apart from the
    others by a softmax over their cosine similarities (temperature 2)."""
    z = model(two_views(images, views))
    columns = F.normalize(z.T, dim=1)
    decorrelation = F.cross_entropy(columns @ columns.T / 2.0,
                                    torch.arange(len(columns), device=z.device))
    return nt_xent(z[: len(images)], z[len(images) :], temperature) + decorrelation


def barlow_head(feature_dim: int = 512) -> nn.Module:
    """Barlow Twins' projector, scaled to this CNN: two 512-wide layers."""
    return nn.Sequential(nn.Linear(feature_dim, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
                         nn.Linear(512, 512))


def barlow_loss(model, images, views, temperature, world):
    """Barlow Twins' loss (Zbontar et al., ICML 2021): the two views' cross-correlation
    matrix of standardised projections pulled towards the identity (off-diagonal weight
    1 / its width)."""
    z = model(two_views(images, views))
    z1, z2 = z[: len(images)], z[len(images) :]
    c = ((z1 - z1.mean(0)) / z1.std(0)).T @ ((z2 - z2.mean(0)) / z2.std(0)) / len(images)
    diagonal = torch.diagonal(c)
    return ((1 - diagonal) ** 2).sum() + ((c**2).sum() - (diagonal**2).sum()) / len(c)


def debiased_loss(model, images, views, temperature, world, prior=0.1):
    """The debiased contrastive loss (Chuang et al., NeurIPS 2020): the negatives' sum
    corrected for the share ``prior`` (1 / k) of them expected to be of the anchor's
    class."""
    z = F.normalize(model(two_views(images, views)), dim=1)
    n = len(images)
    similarity = torch.exp(z @ z.T / temperature)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    positive = similarity[torch.arange(2 * n), partner]
    negatives = similarity.sum(1) - similarity.diagonal() - positive
    count = 2 * n - 2
    corrected = ((negatives - prior * count * positive) / (1 - prior)).clamp_min(
        count * math.exp(-1 / temperature))
    return -torch.log(positive / (positive + corrected)).mean()


def multi_crop_loss(model, images, views, temperature, world, small=4):
    """SwAV's multi-crop (Caron et al., NeurIPS 2020) with SimCLR's loss: two global
    views (area ``crop_min``..1) contrasted with each other, and ``small`` local crops
    (area 0.15..``crop_min``, resized to the full size) each contrasted with both."""
    n = len(images)
    local = [views(images, crop_min=0.15, crop_max=views.settings["crop_min"])
             for _ in range(small)]
    z = model(torch.cat([two_views(images, views), *local]))
    g1, g2 = z[:n], z[n : 2 * n]
    loss = nt_xent(g1, g2, temperature)
    for j in range(small):
        s = z[(2 + j) * n : (3 + j) * n]
        loss = loss + (nt_xent(s, g1, temperature) + nt_xent(s, g2, temperature)) / 2
    return loss / (1 + small)


#: ``--arch``: each idea's extension points (`ContrastiveEncoder.simclr_hooks`' keys);
#: ``loss`` is a factory, called once a training run (NNCLR's loss holds a queue).
ARCHS: dict[str, dict[str, Callable]] = {
    "base": {},
    "deep": {"network": DeepSimCLRNet},
    "wide": {"network": WideSimCLRNet},
    "cc": {"projection_head": ClusterPair, "loss": lambda: cluster_loss},
    "nnclr": {"loss": NearestNeighbourLoss},
    "fd": {"loss": lambda: decorrelated_loss},
    "barlow": {"projection_head": barlow_head, "loss": lambda: barlow_loss},
    "dcl": {"loss": lambda: debiased_loss},
    "multicrop": {"loss": lambda: multi_crop_loss},
}


# ------------------------------------------------------------------------------- views
# Each wraps an ``augment`` (`fashion_cluster.contrastive.augment`'s signature): its
# views, then one more random change drawn from the same generator.


def rotated(augment, degrees: float):
    """``augment``, then a rotation of each view by up to ``degrees`` either way."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        angle = (torch.rand(len(out), generator=generator) * 2 - 1) * degrees * torch.pi / 180
        theta = torch.zeros(len(out), 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = angle.cos(), -angle.sin()
        theta[:, 1, 0], theta[:, 1, 1] = angle.sin(), angle.cos()
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        return F.grid_sample(out, grid, align_corners=False)
    return views


def erased(augment, p: float):
    """``augment``, then Random Erasing (Zhong et al., AAAI 2020) with probability ``p``:
    a rectangle of 2-20 % of the area (aspect 0.3-3.3) set to zero."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, _, h, w = out.shape
        draw = torch.rand(b, 5, generator=generator)
        area = (0.02 + 0.18 * draw[:, 0]) * h * w
        aspect = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * draw[:, 1])
        eh = (area * aspect).sqrt().clamp(max=h)
        ew = (area / aspect).sqrt().clamp(max=w)
        top, left = draw[:, 2] * (h - eh), draw[:, 3] * (w - ew)
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        inside = ((rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
                  & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1)))
        inside &= (draw[:, 4] < p).view(b, 1, 1)
        return out.masked_fill(inside.unsqueeze(1), 0.0)
    return views


def blurred(augment, p: float):
    """``augment``, then, with probability ``p``, SimCLR's Gaussian blur (sigma 0.1-2.0,
    here in pixels of the 28x28 image; a 5x5 kernel)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, c = out.shape[:2]
        draw = torch.rand(b, 2, generator=generator)
        sigma = 0.1 + 1.9 * draw[:, 0]
        taps = torch.exp(-(torch.arange(-2.0, 3.0).view(1, 5) ** 2) / (2 * sigma.view(b, 1) ** 2))
        taps = taps / taps.sum(1, keepdim=True)
        kernel = (taps.view(b, 5, 1) * taps.view(b, 1, 5)).repeat_interleave(c, 0).unsqueeze(1)
        smooth = F.conv2d(out.reshape(1, b * c, *out.shape[2:]), kernel, padding=2,
                          groups=b * c).reshape(out.shape)
        return torch.where((draw[:, 1] < p).view(b, 1, 1, 1), smooth, out)
    return views


def solarized(augment, p: float):
    """``augment``, then, with probability ``p``, BYOL's solarisation: values of 0.5 and
    above become 1 - value."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        chosen = (torch.rand(len(out), generator=generator) < p).view(-1, 1, 1, 1)
        return torch.where(chosen & (out >= 0.5), 1 - out, out)
    return views


def inverted(augment, p: float):
    """``augment``, then, with probability ``p``, the view's values inverted (1 - value)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        chosen = (torch.rand(len(out), generator=generator) < p).view(-1, 1, 1, 1)
        return torch.where(chosen, 1 - out, out)
    return views


def toned(augment, p: float, knots: int = 4):
    """``augment``, then, with probability ``p``, a random monotone tone curve: the
    values mapped through a piecewise-linear curve from 0 to 1 over ``knots`` equal
    steps, each step's rise drawn uniformly in 0.1..1.1 before the curve is scaled to
    end at 1 (a wider family than the gamma's powers)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b = len(out)
        draw = torch.rand(b, knots + 1, generator=generator)
        rises = draw[:, :knots] + 0.1
        curve = torch.cat([torch.zeros(b, 1), rises.cumsum(1)], 1)
        curve = curve / curve[:, -1:]
        position = out.clamp(0, 1).reshape(b, -1) * knots
        low = position.floor().clamp(max=knots - 1).long()
        weight = position - low
        mapped = (curve.gather(1, low) * (1 - weight) + curve.gather(1, low + 1) * weight)
        chosen = (draw[:, knots] < p).view(-1, 1, 1, 1)
        return torch.where(chosen, mapped.reshape(out.shape), out)
    return views


def deformed(augment, pixels: float, coarse: int = 4):
    """``augment``, then an elastic deformation: every pixel moved by a smooth random
    field (drawn on a ``coarse`` x ``coarse`` grid, interpolated) of up to about
    ``pixels`` pixels."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, _, h, w = out.shape
        field = torch.rand(b, 2, coarse, coarse, generator=generator) * 2 - 1
        field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
        field = field.permute(0, 2, 3, 1) * torch.tensor([2 * pixels / w, 2 * pixels / h])
        identity = torch.eye(2, 3).expand(b, 2, 3)
        grid = F.affine_grid(identity, list(out.shape), align_corners=False) + field
        return F.grid_sample(out, grid, align_corners=False)
    return views


#: ``view_extras``' keys (the CLI's options of the same names), in the order they wrap
#: the views: each ``name: value`` applies ``wrapper(views, value)`` when value is not 0.
VIEW_EXTRAS: dict[str, Callable] = {
    "rotate": rotated, "erase": erased, "blur": blurred, "solarize": solarized,
    "invert": inverted, "tone": toned, "elastic": deformed,
}


def idea_views(view_keywords: dict | None = None, view_extras: dict | None = None
               ) -> Callable[..., torch.Tensor] | None:
    """The ``augment`` of an idea: `augment` with ``view_keywords`` (its keywords, such
    as ``noise`` or ``jitter``; not ``crop_min`` and ``gamma``, the encoder's own), then
    each of ``view_extras`` (`VIEW_EXTRAS`); None when both are empty (the package's)."""
    view_keywords, view_extras = dict(view_keywords or {}), dict(view_extras or {})
    if {"crop_min", "gamma"} & set(view_keywords):
        raise ValueError("crop_min and gamma are the encoder's parameters, not view keywords")
    unknown = set(view_extras) - set(VIEW_EXTRAS)
    if unknown:
        raise ValueError(f"unknown view extras {sorted(unknown)}: expected some of "
                         f"{list(VIEW_EXTRAS)}")
    views = functools.partial(augment, **view_keywords) if view_keywords else augment
    for name, wrap in VIEW_EXTRAS.items():
        if view_extras.get(name):
            views = wrap(views, view_extras[name])
    return None if views is augment else views


# ---------------------------------------------------------------------------- encoder


class IdeaEncoder(ContrastiveEncoder):
    """A `ContrastiveEncoder` trained with one idea: its network, loss and projection head
    (``arch``, a key of `ARCHS`) and its views (`idea_views`), for training and SCAN's
    augmented views alike; with the defaults, the package's encoder.

    Parameters
    ----------
    image_shape ... gamma
        As `ContrastiveEncoder` (same defaults).
    arch : str, default "base"
    view_keywords : dict or None, default None
        Keywords of `fashion_cluster.contrastive.augment` (``noise``, ``jitter``, ...).
    view_extras : dict or None, default None
        Changes after `augment`'s: ``{"rotate": 15, "erase": 0.5, ...}`` (`VIEW_EXTRAS`).
    """

    def __init__(self, image_shape=None, feature_dim=512, epochs=8, batch_size=512,
                 min_steps=300, learning_rate=1e-3, temperature=0.5, crop_min=0.4,
                 value_range=None, device="auto", random_state=None, verbose=False,
                 processes=1, gamma=1.0, arch="base", view_keywords=None, view_extras=None):
        super().__init__(image_shape, feature_dim, epochs, batch_size, min_steps,
                         learning_rate, temperature, crop_min, value_range, device,
                         random_state, verbose, processes, gamma)
        self.arch = arch
        self.view_keywords = view_keywords
        self.view_extras = view_extras

    def simclr_hooks(self) -> dict:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {list(ARCHS)}, got {self.arch!r}")
        hooks = dict(ARCHS[self.arch])
        if "loss" in hooks:
            hooks["loss"] = hooks["loss"]()
        views = idea_views(self.view_keywords, self.view_extras)
        if views is not None:
            hooks["augment"] = views
        return hooks
