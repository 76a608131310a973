"""SCAN: clustering by learning that an image and its nearest neighbours belong together.

Van Gansbeke et al., *SCAN: Learning to Classify Images without Labels* (ECCV 2020), the
clustering step, on the frozen features of a contrastive encoder:

1. Mine the ``neighbours`` nearest neighbours of every training image (cosine similarity
   of its features; exact, or from an approximate index on large sets).
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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .training import schedule

__all__ = ["EXACT_SEARCH_LIMIT", "assign", "logits", "nearest_neighbours", "train_heads"]


# Above this many images the neighbours come from an approximate index (pynndescent):
# exact search grows with the square of N (33 s at 70,000 on 2 cores, about 2 h at a
# million) and pynndescent's recall@20 was 0.998 at 70,000, but its first call in a process
# compiles for about 20 s (benchmarks/results/knn-2026-11-30.md).
EXACT_SEARCH_LIMIT = 100_000


def nearest_neighbours(features: torch.Tensor, k: int, block: int = 512, *,
                       search: str = "auto", seed: int = 0) -> torch.Tensor:
    """Indices (N, k) of each row's k most cosine-similar other rows.

    ``search`` is ``"exact"`` (blocked matrix products, memory of one block), ``"approximate"``
    (a pynndescent graph, single-threaded so that it is the same on every machine for a
    ``seed``) or ``"auto"``: exact up to `EXACT_SEARCH_LIMIT` rows.
    """
    if search not in ("auto", "exact", "approximate"):
        raise ValueError(f"search must be 'auto', 'exact' or 'approximate', got {search!r}")
    if search == "approximate" or (search == "auto" and len(features) > EXACT_SEARCH_LIMIT):
        return _approximate_neighbours(features, k, seed)
    unit = F.normalize(features, dim=1)
    out = torch.empty(len(unit), k, dtype=torch.int64, device=unit.device)
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        rows = torch.arange(start, min(start + block, len(unit)), device=unit.device)
        sims[rows - start, rows] = float("-inf")  # not its own neighbour
        out[start : start + block] = sims.topk(k, dim=1).indices
    return out


def _approximate_neighbours(features: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    from pynndescent import NNDescent

    if k + 1 > len(features):
        raise ValueError(f"{k} neighbours asked of {len(features)} rows")
    points = features.detach().float().cpu().numpy()
    graph = NNDescent(points, metric="cosine", n_neighbors=k + 1, random_state=seed,
                      n_jobs=1).neighbor_graph[0]
    if (graph < 0).any():  # pynndescent's mark for a neighbour it could not find
        raise RuntimeError("the approximate neighbour search left some rows with fewer "
                           f"than {k} neighbours; use search='exact'")
    # Each row's own index is normally first; drop it wherever it is (duplicates tie).
    rows = np.arange(len(graph))[:, None]
    own = graph == rows
    own[~own.any(axis=1), -1] = True  # not found: drop the farthest instead
    keep = graph[~own].reshape(len(graph), k)
    return torch.from_numpy(keep.astype(np.int64)).to(features.device)


def train_heads(features: torch.Tensor, augmented: torch.Tensor, k: int, *, heads: int,
                neighbours: int, epochs: int, batch_size: int, entropy_weight: float,
                seed: int, generator: torch.Generator, min_steps: int = 0) -> dict:
    """Train ``heads`` SCAN heads and keep the one with the lowest final loss.

    Small sets train with smaller batches and more epochs, for at least ``min_steps``
    steps (`fashion_cluster.training.schedule`).

    Parameters
    ----------
    features : tensor of shape (N, d)
        Features of the clean images.
    augmented : tensor of shape (views, N, d)
        Features of augmented copies of the images (views may be 0).
    generator : torch.Generator
        Draws the batch order, the neighbours and the views.

    Returns
    -------
    dict
        ``weight`` (k, d) and ``bias`` (k,) of the selected head, the standardisation
        ``mean`` and ``std`` (d,), ``losses`` (final SCAN loss of every head),
        ``selected``, ``neighbours`` (the count actually mined), ``epochs`` and
        ``batch_size`` (those used).
    """
    device = features.device
    n, dim = features.shape
    views = len(augmented)
    neighbour_index = nearest_neighbours(features, min(neighbours, n - 1), seed=seed)
    all_views = torch.cat([augmented.float(), features[None]]) if views else features[None]
    mean = all_views.mean(dim=(0, 1))
    std = all_views.std(dim=(0, 1)) + 1e-6
    del all_views

    # All heads as one linear layer (heads * k outputs): one matrix product a step instead
    # of one per head; each head's loss and parameters stay independent.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Linear(dim, heads * k).to(device)
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        return F.softmax(layer(x).view(len(x), heads, k), dim=2)
    epochs, batch = schedule(n, epochs, batch_size, min_steps)
    steps = max(1, n // batch)

    def view_of(index: torch.Tensor) -> torch.Tensor:
        """A random view (one of the augmented copies or the clean image) of each index."""
        which = torch.randint(views + 1, (len(index),), generator=generator, device=device)
        out = features[index].clone()
        augmented_rows = which < views
        if augmented_rows.any():
            out[augmented_rows] = augmented[which[augmented_rows], index[augmented_rows]].float()
        return (out - mean) / std

    losses = np.zeros(heads)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=device)
        losses[:] = 0
        for step in range(steps):
            anchor = order[step * batch : (step + 1) * batch]
            pick = torch.randint(neighbour_index.shape[1], (len(anchor),), generator=generator,
                                 device=device)
            p_anchor = probabilities(view_of(anchor))  # (batch, heads, k)
            p_partner = probabilities(view_of(neighbour_index[anchor, pick]))
            consistency = -torch.log((p_anchor * p_partner).sum(2).clamp_min(1e-7)).mean(0)
            p_mean = p_anchor.mean(0)  # (heads, k)
            entropy = -(p_mean * torch.log(p_mean.clamp_min(1e-8))).sum(1)
            loss = consistency - entropy_weight * entropy  # (heads,)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            losses += loss.detach().cpu().numpy()
    losses /= steps
    best = int(np.argmin(losses))
    rows = slice(best * k, (best + 1) * k)
    return {"weight": layer.weight.detach()[rows], "bias": layer.bias.detach()[rows],
            "mean": mean, "std": std, "losses": losses.tolist(), "selected": best,
            "neighbours": int(neighbour_index.shape[1]), "epochs": epochs, "batch_size": batch}


def logits(features: torch.Tensor, head: dict) -> torch.Tensor:
    """Cluster scores (N, k) of each row of ``features`` (N, d) by a head from
    `train_heads`; softmax gives the cluster probabilities."""
    with torch.no_grad():
        x = (features - head["mean"]) / head["std"]
        return torch.addmm(head["bias"], x, head["weight"].T)


def assign(features: torch.Tensor, head: dict) -> torch.Tensor:
    """Cluster of each row of ``features`` (N, d) by a head from `train_heads`."""
    return logits(features, head).argmax(dim=1)
