"""Clustering steps of the study: the elbow sweep, K-Means and Gaussian mixtures.

Each step takes plain arrays (raw pixels or autoencoder codes) and returns plain
results, so the same functions serve the study, the estimators and the benchmarks.
K-Means is :mod:`fashion_cluster.kmeans` (the batched implementation); Gaussian mixtures
are scikit-learn's ``GaussianMixture``, fitted by :mod:`fashion_cluster.gmm` when the
covariances are full.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from . import kmeans as km
from .gmm import fit_full_gmm

__all__ = [
    "ClusterFit",
    "ElbowResult",
    "elbow_sweep",
    "find_knee",
    "fit_gmm",
    "fit_kmeans",
    "fit_umap",
    "fit_umap_gmm",
]


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
    """

    k: list[int]
    sse: list[float]
    n_init: int
    best_k: int | None
    seconds: float
    centroids: dict[int, np.ndarray] = field(repr=False, default_factory=dict)

    def to_json(self) -> dict:
        return {"k": self.k, "sse": self.sse, "n_init": self.n_init, "best_k": self.best_k,
                "seconds": self.seconds, "knee_method": "kneed.KneeLocator(convex, decreasing)"}


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
    **kmeans_options,
) -> ElbowResult:
    """K-Means for every k in ``ks`` (best of ``n_init``), and the knee of the curve.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features), float32
    ks : sequence of int
    progress : callable, optional
        Passed to :func:`fashion_cluster.kmeans.kmeans_sweep`.
    sweep : callable, optional
        Replaces :func:`fashion_cluster.kmeans.kmeans_sweep` (same signature), e.g. to run
        it on a cluster (:meth:`fashion_cluster.distributed.DaskRunner.elbow`).
    """
    tic = time.perf_counter()
    runs = (sweep or km.kmeans_sweep)(x, ks, n_init=n_init, seed=seed, device=device,
                                      progress=progress, **kmeans_options)
    seconds = time.perf_counter() - tic
    k_values = sorted(runs)
    sse = [runs[k].sse for k in k_values]
    return ElbowResult(k_values, sse, n_init, find_knee(k_values, sse), seconds,
                       {k: runs[k].centroids for k in k_values})


@dataclass
class ClusterFit:
    """A fitted clustering of one representation.

    Attributes
    ----------
    centers : ndarray of shape (k, n_features)
        Centroids (K-Means) or component means (GMM), in the representation's space.
    predict : callable
        Maps an array of shape (n, n_features) to cluster labels of shape (n,).
    labels : ndarray of shape (n_samples,)
        Labels of the data it was fitted on.
    fit_seconds : float
    info : dict
        JSON-ready facts (SSE, log-likelihood, convergence...).
    model : object, optional
        The fitted library model, where there is one (e.g. ``GaussianMixture``).
    """

    centers: np.ndarray
    predict: Callable[[np.ndarray], np.ndarray]
    labels: np.ndarray
    fit_seconds: float
    info: dict = field(default_factory=dict)
    model: object = None


def fit_kmeans(x: np.ndarray, k: int, n_init: int = 10, seed: int = 0, device: str = "cpu",
               **kmeans_options) -> ClusterFit:
    """K-Means with ``k`` clusters (best of ``n_init`` k-means++ runs)."""
    tic = time.perf_counter()
    run = km.kmeans(x, k, n_init=n_init, seed=seed, device=device, **kmeans_options)
    labels, sse = km.assign(x, run.centroids, device)
    seconds = time.perf_counter() - tic
    centroids = run.centroids

    def predict(data: np.ndarray) -> np.ndarray:
        return km.assign(data, centroids, device)[0]

    return ClusterFit(centroids, predict, labels, seconds,
                      {"sse": sse, "n_iter": run.n_iter, "n_init": n_init})


def fit_gmm(x: np.ndarray, n_components: int, seed: int = 0, n_init: int = 1,
            covariance_type: str = "full", max_iter: int = 100,
            device: str = "cpu") -> ClusterFit:
    """A Gaussian mixture; non-convergence is recorded, not hidden.

    Full covariances are fitted by :func:`fashion_cluster.gmm.fit_full_gmm` (scikit-learn's
    EM, several times faster, on ``device``); the other covariance types, which
    scikit-learn already does in a few matrix products, by ``GaussianMixture`` itself.
    Either way ``ClusterFit.model`` is a fitted ``GaussianMixture``.
    """
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if covariance_type == "full":
            fit = fit_full_gmm(x, n_components, seed=seed, n_init=n_init, max_iter=max_iter,
                               device=device)
            gmm, labels = fit.model, fit.labels
            log_likelihood, bic = fit.mean_log_likelihood, fit.bic
        else:
            gmm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                                  n_init=n_init, max_iter=max_iter, random_state=seed).fit(x)
            labels = gmm.predict(x)
            log_likelihood, bic = float(gmm.score(x)), float(gmm.bic(x))
    seconds = time.perf_counter() - tic
    info = {
        "converged": bool(gmm.converged_),
        "n_iter": int(gmm.n_iter_),
        "mean_log_likelihood": log_likelihood,
        "bic": bic,
        "covariance_type": covariance_type,
        "n_init": n_init,
        "warnings": sorted({str(w.message) for w in caught
                            if issubclass(w.category, ConvergenceWarning)}),
    }
    return ClusterFit(gmm.means_.astype(np.float32), gmm.predict, labels, seconds, info, gmm)


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
             min_dist: float = 0.0):
    """UMAP of ``x`` to ``n_components`` dimensions on exact nearest neighbours.

    Returns the fitted ``umap.UMAP`` (its ``transform`` places new data without
    refitting) and the embedding of ``x``, shape (n_samples, n_components).
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
                            min_dist=min_dist, random_state=seed,
                            precomputed_knn=(indices, distances, _ExactNeighbours(neighbours)))
        embedding = reducer.fit_transform(x)
    return reducer, embedding


def fit_umap_gmm(x: np.ndarray, k: int, seed: int = 0, n_neighbors: int = 20,
                 min_dist: float = 0.0, n_components: int | None = None,
                 covariance_type: str = "full") -> ClusterFit:
    """N2D-style manifold clustering: UMAP of ``x`` to ``n_components`` (default k)
    dimensions, then a Gaussian mixture with ``k`` components.

    New data are placed with the fitted UMAP's ``transform`` (never refitted) and
    assigned by the mixture. After McConville et al., *N2D* (2019): ``min_dist = 0`` and
    ``n_components`` = number of clusters are their settings.
    """
    tic = time.perf_counter()
    reducer, embedding = fit_umap(x, n_components or k, seed=seed, n_neighbors=n_neighbors,
                                  min_dist=min_dist)
    n_neighbors = reducer.n_neighbors
    gmm = fit_gmm(embedding, k, seed=seed, covariance_type=covariance_type)
    seconds = time.perf_counter() - tic

    def predict(data: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gmm.predict(reducer.transform(np.asarray(data, dtype=np.float32)))

    info = {**gmm.info, "umap": {"n_components": n_components or k, "n_neighbors": n_neighbors,
                                 "min_dist": min_dist}}
    return ClusterFit(gmm.centers, predict, gmm.labels, seconds, info, reducer)
