"""The SCAN-step ideas, on the frozen features of saved encoders: other ways to mine the
neighbours (given to `fashion_cluster.scan.train_heads` as its ``miner``), a self-labelling
step after SCAN, and TEMI's loss in place of SCAN's."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fashion_cluster import scan

#: ``scan --variant``: the SCAN-step variants (see ideas.py's docstring).
VARIANTS = ("base", "avg", "self", "knn", "whiten", "shared", "temi")


def mined_neighbours(variant: str, feats: torch.Tensor, aug: torch.Tensor, neighbours: int,
                     components: int = 64, pool: int = 50) -> torch.Tensor:
    """The neighbour index (N, ``neighbours``) the SCAN step trains on, as ``variant``
    mines it: on features averaged over the augmented views ``aug`` (V, N, d) ("avg"),
    on PCA-whitened features ("whiten", ``components`` axes), re-ranked from ``pool``
    by shared neighbours ("shared"), or as the package does (any other)."""
    exact = scan.nearest_neighbours
    if variant == "avg":
        return exact((feats + aug.sum(0)) / (len(aug) + 1), neighbours)
    if variant == "whiten":
        return exact(whitened(feats, components), neighbours)
    if variant == "shared":
        if pool <= neighbours:
            raise ValueError(f"pool ({pool}) must exceed neighbours ({neighbours}): it is "
                             "re-ranked down to them")
        return by_shared_neighbours(exact(feats, pool), neighbours)
    return exact(feats, neighbours)


def fixed_miner(neighbours: torch.Tensor) -> scan.Miner:
    """A `fashion_cluster.scan.Miner` that returns ``neighbours`` (N, k), mined before."""

    def miner(features: torch.Tensor, count: int, seed: int = 0) -> torch.Tensor:
        if count != neighbours.shape[1] or len(features) != len(neighbours):
            raise ValueError(f"the SCAN step asked for {count} neighbours of {len(features)} "
                             f"rows; {tuple(neighbours.shape)} were mined")
        return neighbours
    return miner


def whitened(feats: torch.Tensor, components: int) -> torch.Tensor:
    """The rows projected on their first ``components`` principal axes, each scaled to
    the same variance (PCA whitening, as retrieval with self-supervised features uses;
    the axes from every fourth row)."""
    centred = feats - feats.mean(0)
    _, values, axes = torch.linalg.svd(centred[::4], full_matrices=False)
    return centred @ axes[:components].T / values[:components]


def by_shared_neighbours(pool: torch.Tensor, k: int, block: int = 2000) -> torch.Tensor:
    """Of each row's ``pool`` (N, P) nearest neighbours, the ``k`` that share the most of
    its P neighbours (ties kept in order of similarity): shared-nearest-neighbour
    re-ranking."""
    n, size = pool.shape
    chosen = torch.empty(n, k, dtype=torch.int64)
    for start in range(0, n, block):
        pooled = pool[start : start + block]  # (B, P) neighbour indices
        member = torch.zeros(len(pooled), n, dtype=torch.bool)
        member.scatter_(1, pooled, True)
        theirs = pool[pooled].reshape(len(pooled), -1)  # each neighbour's P neighbours
        shared = member.gather(1, theirs).reshape(len(pooled), size, size).sum(2)
        score = shared.float() - torch.arange(size) / size  # ties: the more similar first
        chosen[start : start + block] = pooled.gather(1, score.topk(k, dim=1).indices)
    return chosen


def self_label(head: dict, feats: torch.Tensor, aug: torch.Tensor, generator: torch.Generator,
               fraction: float = 0.5, epochs: int = 15) -> dict:
    """Retrain the head with cross entropy on the most confident ``fraction`` of each
    cluster (classes weighted to equal total weight), on random views."""
    confidence, label = scan.logits(feats, head).softmax(1).max(1)
    keep = []
    for c in range(len(head["bias"])):
        members = (label == c).nonzero().squeeze(1)
        order = confidence[members].argsort(descending=True)
        keep.append(members[order[: max(1, int(fraction * len(members)))]])
    chosen = torch.cat(keep)
    weight = torch.bincount(label[chosen], minlength=len(head["bias"])).float().clamp_min(1)
    layer = nn.Linear(feats.shape[1], len(head["bias"]))
    layer.weight.data[:], layer.bias.data[:] = head["weight"], head["bias"]
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        order = chosen[torch.randperm(len(chosen), generator=generator)]
        for start in range(0, len(order), 512):
            i = order[start : start + 512]
            which = torch.randint(len(aug) + 1, (len(i),), generator=generator)
            x, viewed = feats[i].clone(), which < len(aug)
            x[viewed] = aug[which[viewed], i[viewed]].float()
            logits = layer((x - head["mean"]) / head["std"])
            loss = F.cross_entropy(logits, label[i], weight=weight.sum() / weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return dict(head, weight=layer.weight.detach(), bias=layer.bias.detach())


def temi_heads(feats: torch.Tensor, aug: torch.Tensor, neighbours: torch.Tensor,
               generator: torch.Generator, k: int = 10, heads: int = 10, epochs: int = 30,
               batch: int = 512, beta: float = 0.6, lr: float = 1e-3,
               teacher_temperature: float = 0.1, min_steps: int = 1000) -> dict:
    """Linear heads on the standardised features trained with TEMI's loss, as SCAN's
    (same views, neighbours, optimiser and schedule; Adam's rate ``lr``); the head of
    lowest loss in the last epoch, in `scan.assign`'s form. TEMI's settings: student
    temperature 0.1, teacher ``teacher_temperature`` (TEMI's code: 0.1), teacher momentum
    0.996, cluster marginals' momentum 0.9 (updated with the batch before its loss), each
    pair weighted by the teacher's agreement averaged over the heads. The teacher's
    weights are kept, as TEMI's. Not TEMI's: linear heads (its are MLPs), Adam at a
    constant rate (its AdamW warms up)."""
    mean, std = scan.standardisation(feats, aug)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        student = nn.Linear(feats.shape[1], heads * k)
    teacher = nn.Linear(feats.shape[1], heads * k).requires_grad_(False)
    teacher.load_state_dict(student.state_dict())
    optimizer = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=1e-4)
    state = {"marginal": torch.full((heads, k), 1 / k)}

    def viewed(index: torch.Tensor) -> torch.Tensor:
        which = torch.randint(len(aug) + 1, (len(index),), generator=generator)
        x, augmented = feats[index].clone(), which < len(aug)
        x[augmented] = aug[which[augmented], index[augmented]].float()
        return (x - mean) / std

    def probabilities(layer: nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
        return F.softmax(layer(x).view(len(x), heads, k) / temperature, dim=2)

    def pmi_loss(p_student: torch.Tensor, p_teacher: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
        pmi = torch.log(((p_student * p_teacher).clamp_min(1e-20) ** beta
                         / state["marginal"]).sum(2))
        return -(weight * pmi).mean(0)  # (heads,)

    def step(anchor: torch.Tensor) -> torch.Tensor:
        partner = neighbours[anchor, torch.randint(neighbours.shape[1], (len(anchor),),
                                                   generator=generator)]
        x_a, x_p = viewed(anchor), viewed(partner)
        s_a, s_p = probabilities(student, x_a, 0.1), probabilities(student, x_p, 0.1)
        with torch.no_grad():
            t_a = probabilities(teacher, x_a, teacher_temperature)
            t_p = probabilities(teacher, x_p, teacher_temperature)
            weight = (t_a * t_p).sum(2).mean(1, keepdim=True)
            state["marginal"] = 0.9 * state["marginal"] + 0.1 * torch.cat([t_a, t_p]).mean(0)
        loss = (pmi_loss(s_a, t_p, weight) + pmi_loss(s_p, t_a, weight)) / 2
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        with torch.no_grad():
            for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
                t.mul_(0.996).add_(s.detach(), alpha=0.004)
        return loss.detach()

    n, steps = len(feats), max(1, len(feats) // batch)
    for _ in range(max(epochs, math.ceil(min_steps / steps))):
        order, losses = torch.randperm(n, generator=generator), torch.zeros(heads)
        for i in range(steps):
            losses += step(order[i * batch : (i + 1) * batch])
    return _kept_teacher(teacher, losses, feats, mean, std, k, steps)


def _kept_teacher(teacher: nn.Linear, losses: torch.Tensor, feats: torch.Tensor,
                  mean: torch.Tensor, std: torch.Tensor, k: int, steps: int) -> dict:
    """The teacher's head of lowest last-epoch loss, in `scan.assign`'s form (printed
    with every head's loss and its cluster sizes)."""
    best = int(losses.argmin())
    rows = slice(best * k, (best + 1) * k)
    sizes = scan.assign(feats, {"weight": teacher.weight[rows], "bias": teacher.bias[rows],
                                "mean": mean, "std": std}).bincount(minlength=k)
    print(f"TEMI losses {[round(float(v) / steps, 4) for v in losses]}, kept head {best}, "
          f"cluster sizes {sizes.tolist()}")
    return {"weight": teacher.weight[rows].clone(), "bias": teacher.bias[rows].clone(),
            "mean": mean, "std": std}
