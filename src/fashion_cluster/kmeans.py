"""K-Means for many k and many initialisations at once, on CPU or GPU (torch).

scikit-learn's ``KMeans`` runs one initialisation at a time, and each Lloyd iteration
reads the whole data matrix to do a little arithmetic per element: on Fashion-MNIST
(60,000 x 784 float32, 188 MB) an iteration costs about 33 ms whatever k is, so the study's
elbow sweep (k = 1..25, 10 initialisations each) is memory-bound and takes many minutes.

Here the sweep is done in three steps, each turning that memory traffic into matrix
products:

1. **Project** the data on its leading principal components (``n_components``, 64 by
   default). Squared distances between points and centroids inside that subspace are
   exact; what is lost is only the part of each point outside it, which the final
   step puts back.
2. **Lloyd iterations for every (k, initialisation) pair together.** All centroids of all
   runs form one matrix, so one iteration is two matrix products over the projected
   data (distances, then per-cluster sums via a one-hot matrix) instead of hundreds of
   passes over the full data. On large data the starts (3 per requested
   initialisation) are seeded and screened on a 16,384-point sample for at most 30
   iterations; the best 3 per k then continue on all points until they converge
   (scikit-learn's tolerance rule).
3. **Polish in the full space.** For each k, the best of those runs is moved back to
   784 dimensions (centroids = means of their members) and Lloyd iterations continue
   there, again for all k in one batch, until they converge. The SSE reported is
   computed in the full space.

Accuracy and speed against scikit-learn are measured by ``benchmarks/bench_elbow.py``;
``tests/test_kmeans.py`` checks the SSE against scikit-learn on small data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .devices import resolve_device

__all__ = ["KMeansRun", "assign", "kmeans", "kmeans_sweep"]


@dataclass
class KMeansRun:
    """Result of one K-Means fit (the best of its initialisations).

    Attributes
    ----------
    centroids : ndarray of shape (k, n_features), float32
    sse : float
        Sum of squared distances of every point to its nearest centroid, in the full
        feature space (scikit-learn's ``inertia_``).
    n_iter : int
        Lloyd iterations in the projected space plus in the full space.
    """

    centroids: np.ndarray
    sse: float
    n_iter: int

    @property
    def k(self) -> int:
        return len(self.centroids)


def _chunk_rows(n_cols: int, device: torch.device) -> int:
    """Rows per block so that a (rows x n_cols) distance block stays about 8 MB on a CPU
    (in cache, and few enough blocks that Python overhead stays small) and is large on
    a GPU, where bigger products run closer to peak."""
    budget = 2**21 if device.type == "cpu" else 2**27
    # At most 16,384 rows: a block is also copied to float64 (100 MB at 784 features).
    most = 16384 if device.type == "cpu" else 65536
    return max(1024, min(most, budget // max(n_cols, 1)))


def _row_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def _principal_projection(
    x: torch.Tensor, n_components: int | None, generator: torch.Generator, rows: int = 16384
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """Projected centred data, the basis used (None = no projection), mean variance.

    Mean and covariance are estimated on at most ``rows`` random points: the leading
    components of Fashion-MNIST are stable at that size, and the full 60,000-row float64
    covariance cost more than the whole Lloyd stage for one k.
    """
    sample = x
    if len(x) > rows:
        sample = x[torch.randperm(len(x), generator=generator, device=x.device)[:rows]]
    mean = sample.mean(dim=0)
    centred = sample - mean
    mean_var = float((centred * centred).sum() / max(len(sample) - 1, 1) / x.shape[1])
    if n_components is None or n_components >= x.shape[1]:
        return x - mean, None, mean_var
    cov = (centred.T @ centred).double()
    _, vectors = torch.linalg.eigh(cov)
    basis = vectors[:, -n_components:].flip(1).to(x.dtype).contiguous()
    z = torch.empty(len(x), n_components, dtype=x.dtype, device=x.device)
    for start in range(0, len(x), 8192):
        z[start : start + 8192] = (x[start : start + 8192] - mean) @ basis
    return z, basis, mean_var


def _kmeans_plus_plus(
    z: torch.Tensor, n_runs: int, k: int, generator: torch.Generator
) -> torch.Tensor:
    """Greedy k-means++ (as scikit-learn: 2 + log k candidates a step, the one that
    lowers the potential most is kept) for ``n_runs`` independent runs at once.

    Returns
    -------
    Tensor of shape (n_runs, k, n_features)
    """
    n = len(z)
    trials = 2 + int(math.log(k))
    z_norm = _row_norms(z)
    first = torch.randint(n, (n_runs,), generator=generator, device=z.device)
    centres = torch.empty(n_runs, k, z.shape[1], dtype=z.dtype, device=z.device)
    centres[:, 0] = z[first]
    closest = (z_norm[None, :] - 2 * centres[:, 0] @ z.T + z_norm[first][:, None]).clamp_(min=0)
    for j in range(1, k):
        cumulative = closest.double().cumsum(dim=1)
        draws = torch.rand(n_runs, trials, generator=generator, device=z.device,
                           dtype=torch.float64)
        picks = torch.searchsorted(cumulative, draws * cumulative[:, -1:]).clamp_(max=n - 1)
        candidates = z[picks]  # (runs, trials, d)
        dist = (
            z_norm[None, None, :]
            - 2 * torch.einsum("rtd,nd->rtn", candidates, z)
            + z_norm[picks][:, :, None]
        ).clamp_(min=0)
        dist = torch.minimum(dist, closest[:, None, :])
        best = dist.sum(dim=2).argmin(dim=1)
        rows = torch.arange(n_runs, device=z.device)
        centres[:, j] = candidates[rows, best]
        closest = dist[rows, best]
    return centres


_SCREEN_TOL = 10.0
_KEEP = 3
# k-means++ starts screened per requested initialisation, and the screening's cap on
# Lloyd iterations: one start per init can miss scikit-learn's best basin by about 1 %;
# three per init, capped at 30 iterations, match it at every k for half the time of an
# uncapped screen (benchmarks/results/elbow-2026-11-27.md).
_SCREEN_PER_INIT = 3
_SCREEN_ITER = 30


@dataclass
class _Batch:
    """The runs of one k, advanced together: centroids of shape (n_runs, k, d)."""

    k: int
    centroids: torch.Tensor
    converged: torch.Tensor  # (n_runs,) bool
    sse: torch.Tensor | None = None  # (n_runs,) float64, of the last assignment
    n_iter: int = 0

    @classmethod
    def start(cls, k: int, centroids: torch.Tensor) -> _Batch:
        runs = centroids.shape[0]
        return cls(k, centroids, torch.zeros(runs, dtype=torch.bool, device=centroids.device))

    @property
    def done(self) -> bool:
        return bool(self.converged.all())


def _lloyd(x: torch.Tensor, batches: list[_Batch], tol: float, max_iter: int,
           progress: Callable[[int], None] | None = None) -> None:
    """Lloyd iterations for each batch of runs, in place, until it converges.

    For a batch, one iteration is, per block of rows, one matrix product (distances to
    all centroids of all its runs) and a reduction over k. Cluster sums are updated only
    for the points whose cluster changed (after the first iteration, a few percent of
    them), in float64 so that the running updates do not drift. Each batch is computed
    on its own, with blocks sized by its own width, so its result does not depend on
    which other k are in the sweep (a sweep split into tasks gives the same numbers).
    """
    x_norm = _row_norms(x)
    for b in batches:
        if not b.done:
            _lloyd_batch(x, x_norm, b, tol, max_iter)
        if progress is not None:
            progress(1)


def _lloyd_batch(x: torch.Tensor, x_norm: torch.Tensor, b: _Batch, tol: float,
                 max_iter: int) -> None:
    runs, k, d = b.centroids.shape
    rows = _chunk_rows(runs * k, x.device)
    offsets = torch.arange(runs, device=x.device) * k  # run r's clusters: r*k .. r*k+k-1
    labels = torch.empty(len(x), runs, dtype=torch.int64, device=x.device)
    sums = torch.zeros(runs * k, d, dtype=torch.float64, device=x.device)
    counts = torch.zeros(runs * k, dtype=torch.float64, device=x.device)
    for iteration in range(max_iter):
        sse = torch.zeros(runs, dtype=torch.float64, device=x.device)
        changed = 0
        flat = b.centroids.reshape(-1, d)
        c_norm = _row_norms(flat)
        for start in range(0, len(x), rows):
            xb = x[start : start + rows]
            dist = torch.addmm(c_norm, xb, flat.T, alpha=-2)
            best, label = dist.view(len(xb), runs, k).min(dim=2)
            sse += (best + x_norm[start : start + rows, None]).clamp_(min=0).sum(0).double()
            label += offsets
            old = labels[start : start + rows]
            if iteration == 0:
                xb64 = xb.double()
                for r in range(runs):
                    sums.index_add_(0, label[:, r], xb64)
                counts += torch.bincount(label.reshape(-1), minlength=runs * k)
            else:
                moved = (label != old).nonzero()
                if len(moved):
                    changed += len(moved)
                    pts = xb[moved[:, 0]].double()
                    new_ids = label[moved[:, 0], moved[:, 1]]
                    old_ids = old[moved[:, 0], moved[:, 1]]
                    sums.index_add_(0, new_ids, pts).index_add_(0, old_ids, -pts)
                    ones = torch.ones_like(pts[:, 0])
                    counts.index_add_(0, new_ids, ones).index_add_(0, old_ids, -ones)
            labels[start : start + rows] = label
        b.sse = sse
        b.n_iter += 1
        # An empty cluster keeps its centroid (rare after k-means++).
        means = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None],
                            flat.double()).to(x.dtype).view(runs, k, d)
        shift = ((means - b.centroids) ** 2).sum(dim=(1, 2))
        b.centroids = torch.where(b.converged[:, None, None], b.centroids, means)
        b.converged |= shift <= tol
        if iteration > 0 and changed == 0:
            b.converged[:] = True
        if b.done:
            break


def _full_space_means(x: torch.Tensor, z: torch.Tensor, centroids: list[torch.Tensor]
                      ) -> list[torch.Tensor]:
    """Means in the full space ``x`` of the clusters of ``centroids`` found in ``z``."""
    sums = [torch.zeros(len(c), x.shape[1], dtype=torch.float64, device=x.device)
            for c in centroids]
    counts = [torch.zeros(len(c), dtype=torch.float64, device=x.device) for c in centroids]
    for c, s, n in zip(centroids, sums, counts, strict=True):
        c_norm = _row_norms(c)
        rows = _chunk_rows(len(c), x.device)
        for start in range(0, len(x), rows):
            label = torch.addmm(c_norm, z[start : start + rows], c.T, alpha=-2).argmin(dim=1)
            s.index_add_(0, label, x[start : start + rows].double())
            n += torch.bincount(label, minlength=len(c))
    return [torch.where(n[:, None] > 0, s / n.clamp(min=1)[:, None], 0).to(x.dtype)
            for s, n in zip(sums, counts, strict=True)]


def _assign_tensor(x: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, float]:
    c_norm = _row_norms(centroids)
    labels = torch.empty(len(x), dtype=torch.int64, device=x.device)
    sse = torch.zeros((), dtype=torch.float64, device=x.device)
    rows = _chunk_rows(len(centroids), x.device)
    for start in range(0, len(x), rows):
        xb = x[start : start + rows]
        best, label = torch.addmm(c_norm, xb, centroids.T, alpha=-2).min(dim=1)
        labels[start : start + rows] = label
        sse += (best + _row_norms(xb)).clamp_(min=0).double().sum()
    return labels, float(sse)


def assign(
    x: np.ndarray | torch.Tensor,
    centroids: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, float]:
    """Nearest centroid of each point, and the SSE of that assignment.

    Parameters
    ----------
    x : array of shape (n_samples, n_features)
    centroids : array of shape (k, n_features)

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    sse : float
        Accumulated in float64 from float32 distances.
    """
    dev = resolve_device(device)
    labels, sse = _assign_tensor(_to_tensor(x, dev), _to_tensor(centroids, dev))
    return labels.cpu().numpy(), sse


def _to_tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return x.to(device=device, dtype=torch.float32)


def kmeans_sweep(
    x: np.ndarray | torch.Tensor,
    ks: Sequence[int],
    n_init: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    n_components: int | None = 64,
    subsample: int | None = 16384,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Callable[[int], None] | None = None,
) -> dict[int, KMeansRun]:
    """Fit K-Means for every k in ``ks``, keeping the best of ``n_init`` runs per k.

    Parameters
    ----------
    x : array of shape (n_samples, n_features)
        Converted to float32.
    ks : sequence of int
        Numbers of clusters, each at least 1 and at most ``n_samples``.
    n_init : int, default 10
        k-means++ initialisations per k; the run with the lowest SSE is kept. When the
        runs are screened on a subsample, ``3 * n_init`` starts are screened there and
        the best 3 go on (see ``_SCREEN_PER_INIT``).
    seed : int
        Seeds the initialisations; same seed, same device: same result.
    device : "cpu", "cuda" or "auto"
    n_components : int or None, default 64
        Dimension of the principal subspace the runs start in; ``None`` runs them in the
        full space. The result is polished in the full space either way.
    subsample : int or None, default 16384
        The runs first converge on this many randomly chosen points, then go on with
        all of them; ``None`` uses all points from the start.
    max_iter : int
        Most Lloyd iterations per stage.
    tol : float
        Relative tolerance as in scikit-learn: a run has converged when the sum of
        squared centroid shifts is at most ``tol`` times the mean per-feature variance.
    progress : callable, optional
        Called with a count of work done (out of ``3 * len(ks)``) as it advances.

    Returns
    -------
    dict mapping k to `KMeansRun`
    """
    ks = _check_ks(ks)
    if isinstance(n_init, bool) or not isinstance(n_init, int | np.integer) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, got {n_init!r}")
    dev = resolve_device(device)
    xt = _to_tensor(x, dev)
    if xt.ndim != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got shape {tuple(xt.shape)}")
    if ks[-1] > len(xt):
        raise ValueError(f"k = {ks[-1]} is more than the number of samples ({len(xt)})")
    done = _Progress(progress)

    # Separate random streams for the shared sample and for each k, so that the result
    # for a k does not depend on which other k are swept with it.
    z, basis, mean_var = _principal_projection(xt, n_components, _generator(seed, 0, dev))
    abs_tol = tol * mean_var
    screening = subsample is not None and subsample < len(z)
    points, starts = z, n_init
    if screening:
        pick = torch.randperm(len(z), generator=_generator(seed, -1, dev), device=dev)
        # Seeded on the sample the starts are screened on: k-means++ costs a pass over
        # its points per centroid and start; with 30 starts per k, seeding on all
        # 60,000 points made the whole sweep 8 s slower (132 s against 124 s, uncapped).
        points, starts = z[pick[:subsample]], n_init * _SCREEN_PER_INIT
    batches = [_Batch.start(k, _kmeans_plus_plus(points, starts, k, _generator(seed, k, dev)))
               for k in ks]
    if screening:
        # Stage 1: every start, in the subspace, on the sample.
        _lloyd(points, batches, abs_tol * _SCREEN_TOL, min(max_iter, _SCREEN_ITER), done)
        for i, b in enumerate(batches):
            keep = b.sse.argsort()[:_KEEP]
            batches[i] = _Batch.start(b.k, b.centroids[keep])
            batches[i].n_iter = b.n_iter
    else:
        done(len(batches))
    # Stage 2: the best runs, in the subspace, on all points.
    _lloyd(z, batches, abs_tol * _SCREEN_TOL, max_iter, done)
    # Stage 3: the best run of each k, in the full space.
    best = [b.centroids[int(b.sse.argmin())] for b in batches]
    starts = _full_space_means(xt, z, best)
    polished = [_Batch.start(b.k, c[None].clone()) for b, c in zip(batches, starts, strict=True)]
    _lloyd(xt, polished, abs_tol, max_iter, done)

    results = {}
    for b, p in zip(batches, polished, strict=True):
        _, sse = _assign_tensor(xt, p.centroids[0])
        results[b.k] = KMeansRun(p.centroids[0].cpu().numpy(), sse, b.n_iter + p.n_iter)
    return results


def _generator(seed: int, stream: int, device: torch.device) -> torch.Generator:
    """A generator for one independent stream of a seed (NumPy's SeedSequence mixing)."""
    state = np.random.SeedSequence([int(seed), stream % 2**32]).generate_state(1)[0]
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state))
    return generator


class _Progress:
    """Accumulates 'n more finished' calls into a running total for a callback."""

    def __init__(self, callback: Callable[[int], None] | None):
        self.callback, self.total = callback, 0

    def __call__(self, n: int) -> None:
        self.total += n
        if self.callback is not None:
            self.callback(self.total)


def kmeans(
    x: np.ndarray | torch.Tensor,
    k: int,
    n_init: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **options,
) -> KMeansRun:
    """Fit K-Means with ``k`` clusters, best of ``n_init`` runs. See `kmeans_sweep`."""
    return kmeans_sweep(x, [k], n_init, seed, device, **options)[k]


def _check_ks(ks: Sequence[int]) -> list[int]:
    values = list(ks)
    if not values:
        raise ValueError("ks must hold at least one number of clusters")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"every k must be an integer >= 1, got {k!r}")
    return sorted({int(k) for k in values})
