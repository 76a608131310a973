"""SCAN: clustering by learning that an image and its nearest neighbours belong together.

Van Gansbeke et al., *SCAN: Learning to Classify Images without Labels* (ECCV 2020), the
clustering step, on the frozen features of a contrastive encoder:

1. Mine the ``neighbours`` nearest neighbours of every training image (cosine similarity
   of its features).
2. Train ``heads`` linear softmax heads on standardised features with the SCAN loss
   ``-log <p(anchor), p(neighbour)> - entropy_weight * H(mean p)``: an image and a random
   neighbour should get the same cluster, and clusters should be used evenly. Anchors
   and neighbours are shown as random augmented views (features of ``views`` augmented
   copies of each image, computed once with the frozen encoder) or as themselves.
3. Keep the head with the lowest final SCAN loss (the paper's unsupervised selection
   rule; no label is looked at).

New images are assigned by the selected head from their (clean) features. All settings
are the paper's defaults except ``views`` and ``epochs``, fixed for the CPU budget.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .clustering import ClusterFit
from .contrastive import augment

__all__ = ["fit_scan", "nearest_neighbours"]


def nearest_neighbours(features: torch.Tensor, k: int, block: int = 512) -> torch.Tensor:
    """Indices (N, k) of each row's k most cosine-similar other rows (exact search)."""
    unit = F.normalize(features, dim=1)
    out = torch.empty(len(unit), k, dtype=torch.int64, device=unit.device)
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        rows = torch.arange(start, min(start + block, len(unit)), device=unit.device)
        sims[rows - start, rows] = float("-inf")  # not its own neighbour
        out[start : start + block] = sims.topk(k, dim=1).indices
    return out


def _view_features(encoder: nn.Module, images: torch.Tensor, views: int, crop_min: float,
                   generator: torch.Generator, block: int = 2048) -> torch.Tensor:
    """Features of ``views`` augmented copies of every image, as float16 (views, N, d)."""
    out = []
    with torch.no_grad():
        for _ in range(views):
            parts = [encoder.forward_images(augment(encoder.images(images[s : s + block]),
                                                    generator, crop_min)).half()
                     for s in range(0, len(images), block)]
            out.append(torch.cat(parts))
    return torch.stack(out) if out else torch.empty(0, len(images), 1)


def fit_scan(inp) -> ClusterFit:
    """Fit SCAN heads on the encoder features ``inp.x`` (see the module docstring).

    ``inp`` is a :class:`fashion_cluster.methods.FitInput` whose ``model`` is the trained
    :class:`~fashion_cluster.contrastive.SimCLREncoder` and ``images`` the scaled images.
    """
    cfg, k, seed = inp.config.scan, inp.k, inp.seed
    tic = time.perf_counter()
    encoder = inp.model.eval()
    device = next(encoder.parameters()).device
    features = torch.from_numpy(np.ascontiguousarray(inp.x, dtype=np.float32)).to(device)
    n, dim = features.shape
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    images = torch.from_numpy(np.ascontiguousarray(inp.images, dtype=np.float32)).to(device)
    augmented = _view_features(encoder, images, cfg.views, inp.config.simclr.crop_min, generator)
    del images
    neighbours = nearest_neighbours(features, min(cfg.neighbours, n - 1))
    all_views = torch.cat([augmented.float(), features[None]]) if cfg.views else features[None]
    mean = all_views.mean(dim=(0, 1))
    std = all_views.std(dim=(0, 1)) + 1e-6
    del all_views

    # All heads as one linear layer (heads * k outputs): one matrix product a step instead
    # of one per head; each head's loss and parameters stay independent.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads = nn.Linear(dim, cfg.heads * k).to(device)
    optimizer = torch.optim.Adam(heads.parameters(), lr=1e-3, weight_decay=1e-4)

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        return F.softmax(heads(x).view(len(x), cfg.heads, k), dim=2)
    batch = min(cfg.batch_size, n)
    steps = max(1, n // batch)
    n_views = cfg.views + 1

    def view_of(index: torch.Tensor) -> torch.Tensor:
        """A random view (one of the augmented copies or the clean image) of each index."""
        which = torch.randint(n_views, (len(index),), generator=generator, device=device)
        out = features[index].clone()
        augmented_rows = which < cfg.views
        if augmented_rows.any():
            out[augmented_rows] = augmented[which[augmented_rows], index[augmented_rows]].float()
        return (out - mean) / std

    losses = np.zeros(cfg.heads)
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator, device=device)
        losses[:] = 0
        for step in range(steps):
            anchor = order[step * batch : (step + 1) * batch]
            pick = torch.randint(neighbours.shape[1], (len(anchor),), generator=generator,
                                 device=device)
            p_anchor = probabilities(view_of(anchor))  # (batch, heads, k)
            p_partner = probabilities(view_of(neighbours[anchor, pick]))
            consistency = -torch.log((p_anchor * p_partner).sum(2).clamp_min(1e-7)).mean(0)
            p_mean = p_anchor.mean(0)  # (heads, k)
            entropy = -(p_mean * torch.log(p_mean.clamp_min(1e-8))).sum(1)
            loss = consistency - cfg.entropy_weight * entropy  # (heads,)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            losses += loss.detach().cpu().numpy()
    losses /= steps
    best = int(np.argmin(losses))
    weight = heads.weight.detach()[best * k : (best + 1) * k]
    bias = heads.bias.detach()[best * k : (best + 1) * k]

    def predict(data: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(device)
        with torch.no_grad():
            return torch.addmm(bias, (x - mean) / std, weight.T).argmax(dim=1).cpu().numpy()

    labels = predict(inp.x)
    centers = np.stack([inp.x[labels == c].mean(axis=0) if (labels == c).any()
                        else np.zeros(dim, np.float32) for c in range(k)]).astype(np.float32)
    info = {"scan_loss": losses.tolist(), "selected_head": best, "views": cfg.views,
            "neighbours": int(neighbours.shape[1]), "heads": cfg.heads, "epochs": cfg.epochs,
            "entropy_weight": cfg.entropy_weight}
    return ClusterFit(centers, predict, labels, time.perf_counter() - tic, info)
