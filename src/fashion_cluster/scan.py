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

For classes of unequal size the entropy term may give way to a prior of cluster sizes
(``priors``): ``entropy_weight * KL(sorted mean p || sorted prior)``, which asks for
clusters whose sizes, largest to smallest, follow the prior's, whichever cluster takes
which size (a uniform prior gives the paper's term up to a constant). Given several
priors, a group of heads trains for each and the lowest loss picks a head in each group;
the first group's head (even sizes) is kept unless another's clustering of the training
images is better by two label-free signals at once: its modularity on the neighbour graph
(`modularity`; Newman 2006: a size profile that splits large classes or merges small ones
cuts more neighbour links than a graph of those cluster sizes would by chance), and the
agreement among its group's heads (a profile that does not fit the data leaves each head
to split or merge its own choice of classes). Either alone misleads: modularity also
rewards merging classes that are easily confused.

Clusters of any size come from over-clustering instead (``merge_into``): the heads learn
more clusters than asked for, all of even size, and `merge_clusters` joins them along the
neighbour graph, so that a large class is several of them and a small one a single one.

New images are assigned by the selected head from their (clean) features. All settings
are the paper's defaults except ``views`` and ``epochs``, fixed for the CPU budget.

For sets larger than memory the features may be arrays mapped from files, read a batch
at a time, and the heads may train on several processes (`train_heads`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import ddp
from .training import schedule

__all__ = ["EXACT_SEARCH_LIMIT", "Miner", "assign", "assign_rows", "logits", "merge_clusters",
           "modularity", "nearest_neighbours", "probabilities", "standardisation",
           "train_heads"]


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
    if not 1 <= k < len(features):
        raise ValueError(f"{k} neighbours asked of {len(features)} rows: each row has at "
                         f"most {len(features) - 1} others")
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


#: A neighbour miner (`train_heads`' ``miner``): ``miner(features, count, seed=seed)``,
#: features (N, d) to each row's ``count`` neighbours (N, count), int64, itself excluded.
Miner = Callable[..., torch.Tensor]


def train_heads(features: torch.Tensor | np.ndarray, augmented: torch.Tensor | np.ndarray,
                k: int, *, heads: int, neighbours: int, epochs: int, batch_size: int,
                entropy_weight: float, seed: int, generator: torch.Generator,
                min_steps: int = 0, processes: int = 1,
                priors: torch.Tensor | None = None, merge_into: int | None = None,
                miner: Miner | None = None, all_heads: bool = False) -> dict:
    """Train ``heads`` SCAN heads (for each prior) and keep the one with the lowest final
    loss (of a group chosen by modularity and agreement, with several priors).

    Small sets train with smaller batches and more epochs, for at least ``min_steps``
    steps (`fashion_cluster.training.schedule`).

    Parameters
    ----------
    features : tensor or ndarray of shape (N, d)
        Features of the clean images: in memory, or a whole array mapped from a file
        (``np.load(path, mmap_mode="c")``), whose rows are read as the batches need them.
    augmented : tensor or ndarray of shape (views, N, d)
        Features of augmented copies of the images (views may be 0), likewise.
    generator : torch.Generator
        Draws the batch order, the neighbour and the view of each image in a batch (the
        neighbours themselves are mined with ``seed``). With processes started here it
        is copied to them and not advanced; in a group every process must pass it in the
        same state (the first process's is used).
    processes : int
        Train on this many processes (`fashion_cluster.ddp`), started here, or, when
        this process is one of a torch.distributed group of that size, in that group.
        Every process draws the same batches and takes its share of each (the batch is
        rounded down to a multiple of ``processes``); the entropy term sees the whole
        batch (gathered), so the heads are those of one process up to rounding.
    priors : tensor of shape (P, k) or None
        Cluster-size priors, each sorted from largest to smallest and summing to 1: the
        entropy term becomes ``KL(sorted mean p || prior)`` and ``heads`` heads train
        for each prior; the lowest loss picks one in each group and, when P > 1, the
        first group's is kept unless another's clustering of ``features`` has both a
        higher `modularity` and a higher agreement among its group's heads. None: the
        paper's entropy term.
    merge_into : int or None
        Join the selected head's ``k`` clusters of the training images into this many
        (`merge_clusters`, on the neighbour graph mined here); ``k`` should then be a few
        times ``merge_into``.
    miner : Miner or None
        An extension point (for research): mines the neighbours, called as
        ``miner(features, count, seed=seed)`` with the features (N, d) as a tensor and
        returning each row's ``count`` neighbours (N, count), int64, itself excluded
        (``count`` is ``neighbours``, at most N - 1). None: `nearest_neighbours`.
    all_heads : bool
        Also return every head trained (every group's), ``heads_weight``
        (heads * groups * k, d) and ``heads_bias``: head ``h``'s rows are
        ``h * k .. (h + 1) * k``.

    Returns
    -------
    dict
        ``weight`` (k, d) and ``bias`` (k,) of the selected head, the standardisation
        ``mean`` and ``std`` (d,), ``losses`` (final SCAN loss of every head),
        ``selected``, ``neighbours`` (the count actually mined), ``epochs`` and
        ``batch_size`` (those used); with ``priors``, ``prior`` (the index of the
        selected head's) and, when P > 1, ``modularity`` (of each group's head) and
        ``agreement`` (of each group's heads); with ``merge_into``, ``merge`` (k,): the
        cluster each of the head's joins.
    """
    rank, world, start_here = ddp.placement(processes)
    n = len(features)
    epochs, batch = schedule(n, epochs, batch_size, min_steps)
    batch = ddp.shared_batch(batch, processes, 1, f"SCAN on {n} images")
    if merge_into is not None:
        _check_merge_into(merge_into, k)
    in_group = world > 1 and not start_here
    device = generator.device
    if priors is not None:
        priors = _group_priors(priors, k, heads, device, in_group)
    settings = dict(k=k, heads=heads, epochs=epochs, batch=batch,
                    entropy_weight=entropy_weight, seed=seed, priors=priors)
    neighbour_index, mean, std = _neighbours_and_standardisation(
        _tensor(features), _tensor(augmented), min(neighbours, n - 1), seed, device,
        generator if in_group else None, nearest_neighbours if miner is None else miner)
    if start_here:
        out = ddp.start(_process, processes,
                        (ddp.shareable(features), ddp.shareable(augmented),
                         neighbour_index.cpu().share_memory_(), mean.cpu(), std.cpu(),
                         generator.get_state(), settings), device)
    else:
        out = _train(_tensor(features), _tensor(augmented), neighbour_index, mean, std,
                     generator, rank=rank, world=world, **settings)
    out.update(mean=mean, std=std, neighbours=int(neighbour_index.shape[1]), epochs=epochs,
               batch_size=batch)
    weight, bias = (t.to(device) for t in out.pop("layer"))
    layer = {"weight": weight, "bias": bias, "mean": mean, "std": std}  # every head's
    if all_heads:
        out.update(heads_weight=weight, heads_bias=bias)
    _select_head(out, features, layer, k, neighbour_index, priors is not None, in_group)
    if merge_into is not None:
        out["merge"] = _merge(features, layer, out, k, merge_into, neighbour_index, in_group,
                              device)
    return out


def _group_priors(priors: torch.Tensor, k: int, heads: int, device: torch.device,
                  in_group: bool) -> torch.Tensor:
    """``priors`` checked (`_checked_priors`), on the CPU; in a group, the first
    process's on every process."""
    priors = _checked_priors(priors, k, heads)
    if in_group:  # every process trains toward the first process's priors
        priors = priors.to(device)
        dist.broadcast(priors, src=0)
        priors = priors.cpu()
    return priors


def _select_head(out: dict, features: torch.Tensor | np.ndarray, layer: dict, k: int,
                 neighbour_index: torch.Tensor, with_priors: bool, in_group: bool) -> None:
    """Keep in ``out`` the selected head of the group chosen (`_choose`, when there are
    several; in a group, the first process's choice): its ``weight`` and ``bias`` (rows
    of every head's ``layer``), ``selected`` (its index), with priors ``prior`` (the
    group's) and, with several groups, their ``modularity`` and ``agreement``."""
    chosen = 0
    if len(out["selected"]) > 1:
        chosen, out["modularity"], out["agreement"] = _choose(features, layer, k,
                                                              out["selected"], neighbour_index)
        if in_group:  # every process keeps the first process's choice
            choice = [chosen]
            dist.broadcast_object_list(choice, src=0)
            chosen = choice[0]
    if with_priors:
        out["prior"] = chosen
    out["selected"] = head = out["selected"][chosen]
    rows = slice(head * k, (head + 1) * k)
    out.update(weight=layer["weight"][rows], bias=layer["bias"][rows])


def _merge(features: torch.Tensor | np.ndarray, layer: dict, out: dict, k: int,
           merge_into: int, neighbour_index: torch.Tensor, in_group: bool,
           device: torch.device) -> torch.Tensor:
    """The selected head's `merge_clusters` of the training images (in a group, the first
    process's, on every process)."""
    labels = assign_rows(features, {**layer, "weight": out["weight"], "bias": out["bias"]})
    merge = merge_clusters(labels[:, 0], neighbour_index, k, merge_into)
    if in_group:  # every process keeps the first process's merge
        merge = merge.to(device)
        dist.broadcast(merge, src=0)
        merge = merge.cpu()
    return merge


def merge_clusters(labels: torch.Tensor, neighbour_index: torch.Tensor, k: int,
                   merge_into: int, block: int = 65_536) -> torch.Tensor:
    """The cluster (k,) into which each of ``k`` clusters of the rows (N,) is merged, of
    ``merge_into``: starting from each cluster alone, again and again join the two
    groups that share the most links of the neighbour graph (N, neighbours), counted
    both ways, per row of the smaller one (links are counted ``block`` rows at a time).

    Per row of the smaller group, so that a small class, which links mostly to itself,
    stays apart, while the pieces of a large one, which link much to each other, join.
    Clusters no row is in have no links: they join the largest first (any left over are
    merged clusters of no rows). The merged clusters are numbered in the order of the
    cluster the others of each joined.
    """
    _check_merge_into(merge_into, k)
    if len(labels) != len(neighbour_index):
        raise ValueError(f"labels must have one cluster for each row of neighbour_index "
                         f"({len(neighbour_index)}), got {len(labels)}")
    if len(labels) and not (int(labels.min()) >= 0 and int(labels.max()) < k):
        raise ValueError(f"labels must be clusters 0 to {k - 1}, got "
                         f"{int(labels.min())} to {int(labels.max())}")
    labels = labels.to(neighbour_index.device)
    links = _links(labels, neighbour_index, k, block)
    sizes = torch.bincount(labels, minlength=k).double().cpu()
    group, alive = torch.arange(k), torch.ones(k, dtype=torch.bool)

    def join(a: int, b: int) -> None:
        links[a] += links[b]
        links[:, a] += links[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        group[group == b] = a

    largest = int(sizes.argmax())
    for empty in (sizes == 0).nonzero().flatten().tolist()[: k - merge_into]:
        join(largest, empty)
    while int(alive.sum()) > merge_into:
        share = links / torch.minimum(sizes[:, None], sizes[None, :]).clamp_min(1)
        share[~alive] = share[:, ~alive] = -1
        share.fill_diagonal_(-1)
        a, b = divmod(int(share.argmax()), k)  # a < b: the first maximum of a symmetric matrix
        join(a, b)
    return torch.unique(group, return_inverse=True)[1]


def _check_merge_into(merge_into: int, k: int) -> None:
    if not 1 <= merge_into <= k:
        raise ValueError(f"merge_into must be between 1 and k = {k}, got {merge_into}")


def _links(labels: torch.Tensor, neighbour_index: torch.Tensor, k: int,
           block: int) -> torch.Tensor:
    """Links of the neighbour graph (k, k, float64, on the CPU) between each two of the
    rows' ``k`` clusters, counted both ways, ``block`` rows at a time."""
    links = torch.zeros(k * k, dtype=torch.float64, device=labels.device)
    for start in range(0, len(labels), block):
        rows = slice(start, start + block)
        pairs = labels[rows, None] * k + labels[neighbour_index[rows]]
        links += torch.bincount(pairs.reshape(-1), minlength=k * k)
    links = links.view(k, k).cpu()
    return links + links.T


def modularity(labels: torch.Tensor, neighbour_index: torch.Tensor) -> float:
    """Newman's modularity of a clustering (N,) on the directed graph linking each row
    to its neighbours (N, K): the share of links inside clusters minus the share expected
    of a graph with the same links out of and into each cluster, placed at random."""
    labels = labels.to(neighbour_index.device)
    k = int(labels.max()) + 1
    links = neighbour_index.numel()
    linked = labels[neighbour_index]  # (N, K): the cluster of each row's neighbours
    inside = (linked == labels[:, None]).double().sum() / links
    out_share = torch.bincount(labels, minlength=k).double() / len(labels)
    in_share = torch.bincount(linked.reshape(-1), minlength=k).double() / links
    return float(inside - (out_share * in_share).sum())


def _choose(features: torch.Tensor | np.ndarray, layer: dict, k: int, selected: list[int],
            neighbour_index: torch.Tensor, sample: int = 20_000
            ) -> tuple[int, list[float], list[float]]:
    """Which group to keep of a ``layer`` of groups of heads of ``k`` clusters (in
    `assign`'s form, group after group), whose heads of lowest loss are ``selected`` (one
    a group): the first group, unless another's selected head clusters ``features`` with
    a higher `modularity` and its heads agree better (mean adjusted Rand index of each
    pair of the group's heads, on at most ``sample`` evenly spaced rows). Returns the
    group, and each group's modularity and agreement."""
    groups, heads = len(selected), len(layer["weight"]) // k
    per_group = heads // groups
    best = torch.cat([torch.arange(h * k, (h + 1) * k) for h in selected]).to(
        layer["weight"].device)
    kept = assign_rows(features, {**layer, "weight": layer["weight"][best],
                              "bias": layer["bias"][best]}, groups)  # (N, groups)
    modularities = [modularity(kept[:, g], neighbour_index) for g in range(groups)]
    step = -(-len(features) // sample)  # rounded up: at most `sample` rows
    every = assign_rows(features[::step], layer, heads).cpu().numpy()  # (rows, heads)
    agreement = [_agreement(every[:, g * per_group : (g + 1) * per_group])
                 for g in range(groups)]
    better = [g for g in range(1, groups)
              if modularities[g] > modularities[0] and agreement[g] > agreement[0]]
    return max(better, key=modularities.__getitem__, default=0), modularities, agreement


def _agreement(labels: np.ndarray) -> float:
    """Mean adjusted Rand index of each pair of the clusterings (N, heads)."""
    from sklearn.metrics import adjusted_rand_score

    pairs = itertools.combinations(range(labels.shape[1]), 2)
    return float(np.mean([adjusted_rand_score(labels[:, a], labels[:, b]) for a, b in pairs]))


def assign_rows(features: torch.Tensor | np.ndarray, head: dict, heads: int = 1,
                block: int = 65_536) -> torch.Tensor:
    """Each head's cluster (N, heads) of every row of ``features`` (in memory or mapped,
    read a block at a time), from ``head`` in `assign`'s form holding ``heads`` heads (one,
    with a ``merge``)."""
    device = head["weight"].device
    k = len(head["weight"]) // heads

    def clusters(rows: torch.Tensor) -> torch.Tensor:
        if "merge" in head:  # one head
            return assign(rows, head)[:, None]
        return logits(rows, head).view(-1, heads, k).argmax(2)
    return torch.cat([clusters(_tensor(features[start : start + block]).to(device, torch.float32))
                      for start in range(0, max(len(features), 1), block)])


def _checked_priors(priors: torch.Tensor, k: int, heads: int) -> torch.Tensor:
    """``priors`` as a float32 tensor on the CPU, or a ValueError saying what is wrong."""
    priors = torch.as_tensor(priors, dtype=torch.float32).cpu()
    if (priors.ndim != 2 or priors.shape[1] != k or (priors <= 0).any()
            or not torch.allclose(priors.sum(1), torch.ones(len(priors)), atol=1e-4)
            or (priors.diff(dim=1) > 0).any()):
        raise ValueError(f"priors must be of shape (P, {k}), positive, sorted from largest "
                         f"to smallest, each summing to 1; got {priors!r}")
    if len(priors) > 1 and heads < 2:
        raise ValueError("choosing between priors compares the agreement of each one's "
                         f"heads: heads must be at least 2, got {heads}")
    return priors


def standardisation(features: torch.Tensor, augmented: torch.Tensor,
                    block: int = 65_536) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation + 1e-6 (d,) over the rows of ``features`` (N, d) and
    of every view in ``augmented`` (views, N, d), summed in float64 a block of rows at a
    time (the rows may be mapped from a file)."""
    dim = features.shape[1]
    total = torch.zeros(dim, dtype=torch.float64, device=features.device)
    squares = torch.zeros_like(total)
    for rows in (*augmented, features):
        for start in range(0, len(rows), block):
            part = rows[start : start + block].to(features.device, torch.float64)
            total += part.sum(0)
            squares += part.square().sum(0)
    count = (len(augmented) + 1) * len(features)
    mean = total / count
    variance = ((squares - count * mean.square()) / max(count - 1, 1)).clamp_min(0)
    return mean.float(), variance.sqrt().float() + 1e-6


def _neighbours_and_standardisation(features: torch.Tensor, augmented: torch.Tensor,
                                    neighbours: int, seed: int, device: torch.device,
                                    group_generator: torch.Generator | None, miner: Miner
                                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The neighbour index (N, neighbours) mined by ``miner`` and the standardisation, on
    ``device``. In a group (``group_generator`` given) the first process finds them and
    sends them, with its generator's state, to the others, so that all train on the
    same batches."""
    n, dim = features.shape
    first = group_generator is None or dist.get_rank() == 0
    if first:
        neighbour_index = miner(features, neighbours, seed=seed).to(device)
        if tuple(neighbour_index.shape) != (n, neighbours) or neighbour_index.is_floating_point():
            raise ValueError(f"the miner returned neighbours of shape "
                             f"{tuple(neighbour_index.shape)} ({neighbour_index.dtype}), "
                             f"expected ({n}, {neighbours}) integers")
        mean, std = (t.to(device) for t in standardisation(features, augmented))
    else:
        neighbour_index = torch.empty(n, neighbours, dtype=torch.int64, device=device)
        mean, std = (torch.empty(dim, device=device) for _ in range(2))
    if group_generator is not None:
        for tensor in (neighbour_index, mean, std):
            dist.broadcast(tensor, src=0)
        state = [group_generator.get_state()]
        dist.broadcast_object_list(state, src=0)
        group_generator.set_state(state[0])
    return neighbour_index, mean, std


def _train(features: torch.Tensor, augmented: torch.Tensor, neighbour_index: torch.Tensor,
           mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator, *, k: int,
           heads: int, epochs: int, batch: int, entropy_weight: float, seed: int, rank: int,
           world: int, priors: torch.Tensor | None = None) -> dict:
    """The SCAN heads' training loop (this process's share of every batch when ``world``
    > 1); returns every head's final loss and the head of lowest loss of each group (one
    group, or one per prior)."""
    device = generator.device
    n, dim = features.shape
    neighbour_index, mean, std = (t.to(device) for t in (neighbour_index, mean, std))
    groups = 1
    if priors is not None:  # each prior's group of heads, one row of priors a head
        groups, priors = len(priors), priors.to(device).repeat_interleave(heads, dim=0)
        heads *= groups
    # All heads as one linear layer (heads * k outputs): one matrix product a step instead
    # of one per head; each head's loss and parameters stay independent.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Linear(dim, heads * k).to(device)
    model = nn.parallel.DistributedDataParallel(layer) if world > 1 else layer
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)

    def view_probabilities(index: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """Cluster probabilities (rows, heads, k) of one view of each image."""
        x = _views(features, augmented, index, view, device)
        return F.softmax(model((x - mean) / std).view(len(x), heads, k), dim=2)

    steps = max(1, n // batch)
    share = slice(rank, None, world)
    losses = torch.zeros(heads, dtype=torch.float64, device=device)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=device)
        losses.zero_()
        for step in range(steps):
            # Every process draws the whole batch (the same) and trains on its share.
            anchor = order[step * batch : (step + 1) * batch]
            pick = torch.randint(neighbour_index.shape[1], (len(anchor),), generator=generator,
                                 device=device)
            anchor_view, partner_view = (
                torch.randint(len(augmented) + 1, (len(anchor),), generator=generator,
                              device=device) for _ in range(2))
            partner = neighbour_index[anchor, pick]
            p_anchor = view_probabilities(anchor[share], anchor_view[share])  # (share, heads, k)
            p_partner = view_probabilities(partner[share], partner_view[share])
            loss = _scan_loss(p_anchor, p_partner, entropy_weight, world, priors)  # (heads,)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            losses += loss.detach().double()
    if world > 1:  # each process's loss has its share's consistency term: average them
        dist.all_reduce(losses)
        losses /= world
    losses = (losses / steps).cpu().numpy()
    best = [group * len(losses) // groups + int(np.argmin(part))
            for group, part in enumerate(np.split(losses, groups))]
    return {"layer": (layer.weight.detach().cpu(), layer.bias.detach().cpu()),
            "losses": losses.tolist(), "selected": best}


def _views(features: torch.Tensor, augmented: torch.Tensor, index: torch.Tensor,
           view: torch.Tensor, device: torch.device) -> torch.Tensor:
    """View ``view`` of each image ``index`` (an augmented copy, or the clean image when
    ``view == len(augmented)``), float32 on ``device``: each row read once, from memory
    or from the mapped file."""
    x = torch.empty(len(index), features.shape[1], device=device)
    clean = view == len(augmented)
    x[clean] = features[index[clean].to(features.device)].to(device, torch.float32)
    if not clean.all():
        rows = (view[~clean].to(augmented.device), index[~clean].to(augmented.device))
        x[~clean] = augmented[rows].to(device, torch.float32)
    return x


def _scan_loss(p_anchor: torch.Tensor, p_partner: torch.Tensor, entropy_weight: float,
               world: int, priors: torch.Tensor | None = None) -> torch.Tensor:
    """SCAN's loss (heads,) of anchors' and partners' probabilities (rows, heads, k): the
    consistency of this process's rows, minus the entropy of the mean over the whole
    batch (every process's rows gathered), or plus its sorted values' divergence from
    each head's prior (heads, k)."""
    consistency = -torch.log((p_anchor * p_partner).sum(2).clamp_min(1e-7)).mean(0)
    p_mean = (ddp.gather(p_anchor) if world > 1 else p_anchor).mean(0)  # (heads, k)
    if priors is None:
        entropy = -(p_mean * torch.log(p_mean.clamp_min(1e-8))).sum(1)
        return consistency - entropy_weight * entropy
    sizes = p_mean.sort(dim=1, descending=True).values
    divergence = (sizes * (torch.log(sizes.clamp_min(1e-8)) - torch.log(priors))).sum(1)
    return consistency + entropy_weight * divergence


def _tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A tensor of ``x`` (sharing its memory: a mapped array stays mapped)."""
    return x if torch.is_tensor(x) else torch.from_numpy(x)


def _process(device: torch.device, report, features, augmented, neighbour_index: torch.Tensor,
             mean: torch.Tensor, std: torch.Tensor, generator_state: torch.Tensor,
             settings: dict) -> dict:
    """One process of `train_heads` started by it: the same data (features in memory
    copied to its device, mapped ones read a batch at a time), its share of the batches."""
    features, augmented = (ddp.received(x, device) for x in (features, augmented))
    generator = torch.Generator(device=device)
    generator.set_state(generator_state)
    return _train(features, augmented, neighbour_index, mean, std, generator,
                  rank=dist.get_rank(), world=dist.get_world_size(), **settings)


def logits(features: torch.Tensor, head: dict) -> torch.Tensor:
    """Cluster scores (N, k) of each row of ``features`` (N, d) by a head from
    `train_heads`; softmax gives the cluster probabilities."""
    with torch.no_grad():
        x = (features - head["mean"]) / head["std"]
        return torch.addmm(head["bias"], x, head["weight"].T)


def probabilities(features: torch.Tensor, head: dict) -> torch.Tensor:
    """Probability (N, clusters) of each cluster for each row of ``features`` (N, d) by a
    head from `train_heads`, in float64; with its ``merge``, of each merged cluster (the
    sum of its parts', whose largest need not be that of `assign`'s cluster)."""
    p = torch.softmax(logits(features, head).double(), dim=1)
    if "merge" not in head:
        return p
    merge = head["merge"].to(p.device)
    return p.new_zeros(len(p), int(merge.max()) + 1).index_add_(1, merge, p)


def assign(features: torch.Tensor, head: dict) -> torch.Tensor:
    """Cluster of each row of ``features`` (N, d) by a head from `train_heads`; with its
    ``merge``, the merged cluster of the most probable one (as in `merge_clusters`)."""
    clusters = logits(features, head).argmax(dim=1)
    return head["merge"].to(clusters.device)[clusters] if "merge" in head else clusters
