"""The elbow sweep (K-Means SSE over k, and its knee) and UMAP on exact neighbours.

Both take plain arrays (raw pixels or features) and return plain results. The fitted
clusterers themselves are the estimators of `fashion_cluster.clusterers`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import kmeans as km

__all__ = ["SILHOUETTE_SAMPLE", "ElbowResult", "choose_k", "elbow_sweep", "find_knee",
           "fit_umap", "partition_silhouette", "unit_rows"]

# Points the silhouette of a partition is computed on (its cost grows with the square).
SILHOUETTE_SAMPLE = 5000


@dataclass
class ElbowResult:
    """SSE of the best of ``n_init`` K-Means runs for each k.

    Attributes
    ----------
    k : list of int
    sse : list of float
        In the full feature space, same order as ``k``.
    n_init : int
    best_k : int or None
        The knee of the curve (None when there is none, e.g. fewer than 3 points).
    seconds : float
        Wall time of the sweep alone.
    centroids : dict of int to ndarray of shape (k, n_features)
    silhouette : list of float or None
        Silhouette of each k's partition (None for k = 1), when asked for.
    silhouette_k : int or None
        The k with the highest silhouette.
    """

    k: list[int]
    sse: list[float]
    n_init: int
    best_k: int | None
    seconds: float
    centroids: dict[int, np.ndarray] = field(repr=False, default_factory=dict)
    silhouette: list[float | None] = field(default_factory=list)
    silhouette_k: int | None = None

    def to_json(self) -> dict:
        out = {"k": self.k, "sse": self.sse, "n_init": self.n_init, "best_k": self.best_k,
               "seconds": self.seconds, "knee_method": "kneed.KneeLocator(convex, decreasing)"}
        if self.silhouette:
            out.update(silhouette=self.silhouette, silhouette_k=self.silhouette_k,
                       silhouette_sample=SILHOUETTE_SAMPLE)
        return out


def find_knee(ks: Sequence[int], sse: Sequence[float]) -> int | None:
    """The elbow of a decreasing SSE curve, by the Kneedle algorithm (``kneed``)."""
    from kneed import KneeLocator

    if len(ks) < 3:
        return None
    knee = KneeLocator(list(ks), list(sse), curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def elbow_sweep(
    x: np.ndarray,
    ks: Sequence[int],
    n_init: int = 10,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    sweep: Callable[..., dict] | None = None,
    silhouette: bool = False,
    **kmeans_options,
) -> ElbowResult:
    """K-Means for every k in ``ks`` (best of ``n_init``), and the knee of the curve.

    With ``silhouette``, also the silhouette of each k's partition (on a random sample of
    `SILHOUETTE_SAMPLE` points) and the k where it is highest: a label-free way to
    choose k that, unlike the knee, looks at how well separated the clusters are.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features), float32
    ks : sequence of int
    progress : callable, optional
        Passed to `fashion_cluster.kmeans.kmeans_sweep`.
    sweep : callable, optional
        Replaces `fashion_cluster.kmeans.kmeans_sweep` (same signature), e.g. to run
        it on a cluster (`fashion_cluster.distributed.DaskRunner.elbow`).
    """
    tic = time.perf_counter()
    runs = (sweep or km.kmeans_sweep)(x, ks, n_init=n_init, seed=seed, device=device,
                                      progress=progress, **kmeans_options)
    seconds = time.perf_counter() - tic
    k_values = sorted(runs)
    sse = [runs[k].sse for k in k_values]
    result = ElbowResult(k_values, sse, n_init, find_knee(k_values, sse), seconds,
                         {k: runs[k].centroids for k in k_values})
    if silhouette:
        result.silhouette = [partition_silhouette(x, result.centroids[k], seed)
                             for k in k_values]
        scored = [(s, k) for s, k in zip(result.silhouette, k_values, strict=True)
                  if s is not None]
        result.silhouette_k = max(scored)[1] if scored else None
    return result


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (how contrastive features are clustered)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def choose_k(x: np.ndarray, seed: int, ks: Sequence[int] = range(2, 21),
             normalize: bool = False, n_init: int = 3) -> tuple[int, dict[int, float | None]]:
    """The k whose K-Means partition of ``x`` has the highest silhouette, and the
    silhouette of every k tried (``n_clusters="auto"``; ks of at least n_samples are
    skipped). ``normalize``: cluster the rows scaled to unit length."""
    ks = [k for k in ks if 2 <= k < len(x)]
    result = elbow_sweep(unit_rows(x) if normalize else x, ks, n_init=n_init, seed=seed,
                         silhouette=True)
    return result.silhouette_k or ks[0], dict(zip(result.k, result.silhouette, strict=True))


def partition_silhouette(x: np.ndarray, centroids: np.ndarray, seed: int) -> float | None:
    """Silhouette of the nearest-centroid partition of ``x`` (None for one cluster), on
    a random sample of `SILHOUETTE_SAMPLE` points."""
    from sklearn.metrics import silhouette_score

    labels, _ = km.assign(x, centroids)
    if len(np.unique(labels)) < 2:
        return None
    return float(silhouette_score(x, labels, sample_size=min(SILHOUETTE_SAMPLE, len(x)),
                                  random_state=seed))


class _ExactNeighbours:
    """UMAP's search-index interface over scikit-learn's exact nearest neighbours.

    UMAP builds an approximate NN-descent index by default; in a fresh process its numba
    compilation alone takes about a minute here, more than an exact search over 60,000
    codes of 49 dimensions (a few seconds). UMAP's ``transform`` needs only ``query``.
    """

    _angular_trees = False

    def __init__(self, neighbours):
        self.neighbours = neighbours

    def query(self, x: np.ndarray, k: int, epsilon: float | None = None):
        distances, indices = self.neighbours.kneighbors(x, k)
        return indices, distances.astype(np.float32)


def fit_umap(x: np.ndarray, n_components: int, seed: int = 0, n_neighbors: int = 20,
             min_dist: float = 0.0, n_epochs: int | None = None):
    """UMAP of ``x`` to ``n_components`` dimensions on exact nearest neighbours: the
    package's one UMAP (the N2D methods, and the 2-D maps of `fashion_cluster.embedding`).

    Returns the fitted ``umap.UMAP`` (its ``transform`` places new data without
    refitting) and the embedding of ``x``, shape (n_samples, n_components).
    ``n_epochs`` None: UMAP's own choice.
    """
    import umap
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float32)
    n_neighbors = max(1, min(n_neighbors, len(x) - 1))
    neighbours = NearestNeighbors(n_neighbors=n_neighbors).fit(x)
    distances, indices = neighbours.kneighbors(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", etc.
        reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors,
                            min_dist=min_dist, random_state=seed, n_epochs=n_epochs,
                            precomputed_knn=(indices, distances, _ExactNeighbours(neighbours)))
        embedding = reducer.fit_transform(x)
    return reducer, embedding
