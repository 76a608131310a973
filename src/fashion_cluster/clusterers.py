"""Clusterers of feature vectors, as scikit-learn estimators that save and load.

    labels = GMMClusterer(n_clusters=10, random_state=0).fit(codes).predict(new_codes)

`KMeansClusterer` (K-Means, optionally on unit-length rows),
`GMMClusterer` (a Gaussian mixture), `UMAPGMMClusterer` (UMAP, then a
Gaussian mixture: the N2D recipe) and `SCANClusterer` (SCAN heads on the features
of a `fashion_cluster.representations.ContrastiveEncoder`, which it holds).
Each is fitted on a representation's features, ``fit`` / ``predict`` / ``fit_predict``,
with ``labels_`` and ``info_`` (JSON-ready facts about the fit: SSE, likelihood,
convergence, losses) and ``save`` (`fashion_cluster.persistence`). The study and
the composite estimators of `fashion_cluster.estimators` are made of these.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data

from . import scan
from .clustering import fit_umap, unit_rows
from .devices import resolve_device
from .gmm import fit_full_gmm
from .kmeans import assign, kmeans
from .persistence import Saveable
from .representations import check_store, flatten_images, is_store, store_blocks
from .settings import CLUSTER_SIZES, COVARIANCE_TYPES
from .validation import check_choice, check_device, check_int, check_real, seed_of

__all__ = ["GMMClusterer", "KMeansClusterer", "SCANClusterer", "UMAPGMMClusterer"]

# cluster_sizes="merged" over-clusters into this many times n_clusters: 2, 3 and 5 gave
# 59.2, 61.6 and 62.0 % on the unbalanced set, 5 seeds (benchmarks/results/
# cluster-sizes-merged-2026-12-01.md); 3 is within the spread of 5, and its clusters
# stay larger on small sets.
OVER_CLUSTERING = 3


class _Clusterer(Saveable, ClusterMixin, BaseEstimator):
    def _check_input(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float32, reset=reset,
                          ensure_min_samples=2 if reset else 1)
        if reset and len(X) < self.n_clusters:
            raise ValueError(f"n_samples={len(X)} should be >= n_clusters={self.n_clusters}.")
        return X

    def _rows(self, X: np.ndarray) -> np.ndarray:
        """The rows scaled to unit length when the clusterer has ``normalize=True``."""
        return unit_rows(X) if getattr(self, "normalize", False) else X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class KMeansClusterer(TransformerMixin, _Clusterer):
    """K-Means, the best of ``n_init`` k-means++ runs (`fashion_cluster.kmeans`).

    Parameters
    ----------
    n_clusters : int, default 10
    n_init : int, default 10
    normalize : bool, default False
        Cluster the rows scaled to unit length (the usual way for contrastive features).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
    random_state : int, RandomState or None

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of squared distances to the nearest centre.
    n_iter_ : int
    info_ : dict
    """

    def __init__(self, n_clusters=10, n_init=10, normalize=False, device="auto",
                 random_state=None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.normalize = normalize
        self.device = device
        self.random_state = random_state

    def _validate(self) -> None:
        check_int(self, "n_clusters")
        check_int(self, "n_init")
        check_device(self)

    def fit(self, X, y=None):
        """Fit on features ``X`` of shape (n_samples, n_features); returns self."""
        self._validate()
        x = self._rows(self._check_input(X, reset=True))
        device = resolve_device(self.device)
        run = kmeans(x, self.n_clusters, n_init=self.n_init, seed=seed_of(self.random_state),
                     device=device)
        self.cluster_centers_ = run.centroids
        self.labels_, self.inertia_ = assign(x, run.centroids, device)
        self.n_iter_ = int(run.n_iter)
        self.info_ = {"sse": float(self.inertia_), "n_iter": self.n_iter_,
                      "n_init": self.n_init}
        return self

    def predict(self, X):
        """Nearest centre of each sample, shape (n_samples,), int64."""
        check_is_fitted(self)
        x = self._rows(self._check_input(X, reset=False))
        return assign(x, self.cluster_centers_, resolve_device(self.device))[0]

    def transform(self, X):
        """Distances to every centre, shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        x = self._rows(self._check_input(X, reset=False))
        diff = x[:, None, :] - self.cluster_centers_[None, :, :]
        return np.sqrt((diff * diff).sum(axis=2)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class GMMClusterer(_Clusterer):
    """A Gaussian mixture; non-convergence is recorded in ``info_``, not hidden.

    Full covariances are fitted by `fashion_cluster.gmm.fit_full_gmm` (scikit-learn's
    EM, several times faster, on ``device``); the other types by scikit-learn's
    ``GaussianMixture``. Either way ``gmm_`` is a fitted ``GaussianMixture``.

    Parameters
    ----------
    n_clusters : int, default 10
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 1
    max_iter : int, default 100
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
    random_state : int, RandomState or None

    Attributes
    ----------
    gmm_ : sklearn.mixture.GaussianMixture
    means_ : ndarray of shape (n_clusters, n_features)
    converged_ : bool
    n_iter_ : int
        EM steps of the best initialisation.
    labels_ : ndarray of shape (n_samples,)
    info_ : dict
    """

    def __init__(self, n_clusters=10, covariance_type="full", n_init=1, max_iter=100,
                 device="auto", random_state=None):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.device = device
        self.random_state = random_state

    def _validate(self) -> None:
        check_int(self, "n_clusters")
        check_int(self, "n_init")
        check_int(self, "max_iter")
        check_choice(self, "covariance_type", COVARIANCE_TYPES)
        check_device(self)

    def fit(self, X, y=None):
        """Fit on features ``X`` of shape (n_samples, n_features); returns self."""
        self._validate()
        x = self._check_input(X, reset=True)
        seed = seed_of(self.random_state)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if self.covariance_type == "full":
                fit = fit_full_gmm(x, self.n_clusters, seed=seed, n_init=self.n_init,
                                   max_iter=self.max_iter, device=resolve_device(self.device))
                gmm, labels = fit.model, fit.labels
                log_likelihood, bic = fit.mean_log_likelihood, fit.bic
            else:
                gmm = GaussianMixture(self.n_clusters, covariance_type=self.covariance_type,
                                      n_init=self.n_init, max_iter=self.max_iter,
                                      random_state=seed).fit(x)
                labels = gmm.predict(x)
                log_likelihood, bic = float(gmm.score(x)), float(gmm.bic(x))
        self.gmm_ = gmm
        self.means_ = gmm.means_.astype(np.float32)
        self.converged_ = bool(gmm.converged_)
        self.n_iter_ = int(gmm.n_iter_)
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.info_ = {
            "converged": self.converged_, "n_iter": int(gmm.n_iter_),
            "mean_log_likelihood": float(log_likelihood), "bic": float(bic),
            "covariance_type": self.covariance_type, "n_init": self.n_init,
            "warnings": sorted({str(w.message) for w in caught
                                if issubclass(w.category, ConvergenceWarning)}),
        }
        return self

    def predict(self, X):
        """Most probable component of each sample, shape (n_samples,), int64."""
        check_is_fitted(self)
        return self.gmm_.predict(self._check_input(X, reset=False)).astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        return self.gmm_.predict_proba(self._check_input(X, reset=False))

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of ``X`` under the mixture."""
        check_is_fitted(self)
        return float(self.gmm_.score(self._check_input(X, reset=False)))

    _GMM_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_",
                       "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_",
                       "n_features_in_")

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        gmm = state.pop("gmm_")
        state["gmm_params_"] = gmm.get_params()
        state["gmm_state_"] = {name: getattr(gmm, name) for name in self._GMM_ATTRIBUTES}
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        gmm = GaussianMixture(**state.pop("gmm_params_"))
        for name, value in state.pop("gmm_state_").items():
            setattr(gmm, name, value)
        super()._set_state(state)
        self.gmm_ = gmm


class UMAPGMMClusterer(_Clusterer):
    """UMAP to ``n_components`` dimensions, then a Gaussian mixture (N2D's recipe).

    After McConville et al., *N2D: (Not Too) Deep Clustering* (2019), whose settings are
    the defaults: as many dimensions as clusters, 20 neighbours, ``min_dist`` 0. UMAP's
    neighbour graph is built with exact nearest neighbours. New samples are placed with
    the fitted UMAP's ``transform``, never a refit.

    Saving keeps the training features and the embedding; loading rebuilds the UMAP
    model from them (its neighbour graph is recomputed, the embedding is restored), so
    a loaded clusterer places new samples exactly as the saved one did.

    Parameters
    ----------
    n_clusters : int, default 10
    n_components : int or None, default None
        Dimensions of the embedding; None means ``n_clusters``.
    n_neighbors : int, default 20
        UMAP's neighbourhood size (at most n_samples - 1 is used).
    min_dist : float, default 0.0
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 1
    normalize : bool, default False
        Embed the rows scaled to unit length (for contrastive features).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
        Where the mixture is fitted (UMAP runs on the CPU).
    random_state : int, RandomState or None

    Attributes
    ----------
    umap_ : umap.UMAP
    train_features_ : ndarray of shape (n_samples, n_features)
        The features UMAP was fitted on (kept so that a saved clusterer can be loaded).
    mixture_ : GMMClusterer
        The mixture, fitted on the embedding.
    means_ : ndarray of shape (n_clusters, n_components)
    labels_ : ndarray of shape (n_samples,)
    info_ : dict
    """

    def __init__(self, n_clusters=10, n_components=None, n_neighbors=20, min_dist=0.0,
                 covariance_type="full", n_init=1, normalize=False, device="auto",
                 random_state=None):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.normalize = normalize
        self.device = device
        self.random_state = random_state

    def _validate(self) -> None:
        check_int(self, "n_clusters")
        check_int(self, "n_neighbors")
        if self.n_components is not None:
            check_int(self, "n_components")
        check_real(self, "min_dist", strict=False)
        check_choice(self, "covariance_type", COVARIANCE_TYPES)
        check_int(self, "n_init")
        check_device(self)

    def fit(self, X, y=None):
        """Fit on features ``X`` of shape (n_samples, n_features); returns self."""
        self._validate()
        x = self._rows(self._check_input(X, reset=True))
        seed = seed_of(self.random_state)
        self.umap_, embedding = self._fit_umap(x, seed)
        self.train_features_ = x
        self.mixture_ = GMMClusterer(self.n_clusters, self.covariance_type, self.n_init,
                                     device=self.device, random_state=seed).fit(embedding)
        self.means_ = self.mixture_.means_
        self.labels_ = self.mixture_.labels_
        self.info_ = {**self.mixture_.info_, "umap": {
            "n_components": self.n_components or self.n_clusters,
            "n_neighbors": int(self.umap_.n_neighbors), "min_dist": float(self.min_dist)}}
        return self

    def _fit_umap(self, x: np.ndarray, seed: int):
        return fit_umap(x, self.n_components or self.n_clusters, seed=seed,
                        n_neighbors=self.n_neighbors, min_dist=float(self.min_dist))

    def embed(self, X) -> np.ndarray:
        """UMAP coordinates of ``X``, shape (n_samples, n_components)."""
        check_is_fitted(self)
        x = self._rows(self._check_input(X, reset=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UMAP's notes about its own internals
            return self.umap_.transform(x).astype(np.float32)

    def predict(self, X):
        """Most probable component of each sample's embedding, shape (n_samples,)."""
        embedding = self.embed(X)
        return self.mixture_.predict(embedding)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_clusters)."""
        embedding = self.embed(X)
        return self.mixture_.predict_proba(embedding)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of the embedding of ``X`` under the mixture."""
        embedding = self.embed(X)
        return self.mixture_.score(embedding)

    @property
    def gmm_(self):
        return self.mixture_.gmm_

    @property
    def converged_(self) -> bool:
        return self.mixture_.converged_

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state["umap_embedding_"] = state.pop("umap_").embedding_
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        embedding = state.pop("umap_embedding_")
        super()._set_state(state)
        self.umap_, _ = self._fit_umap(self.train_features_, seed_of(self.random_state))
        self.umap_.embedding_ = embedding


class SCANClusterer(_Clusterer):
    """SCAN heads on the features of a contrastive encoder (`fashion_cluster.scan`).

    Fitted on images: the encoder gives their features and those of ``views`` augmented
    copies; ``heads`` softmax heads learn that an image and its nearest neighbours belong
    to the same cluster; the head with the lowest final SCAN loss is kept (no label).
    With ``cluster_sizes="auto"`` a second group of ``heads`` heads trains for estimated
    sizes, and the group is chosen first (``info_["scan_loss"]`` and ``selected_head``
    then count both groups' heads). With ``cluster_sizes="merged"`` the heads learn 3
    (``OVER_CLUSTERING``) times as many clusters, which are then merged into
    ``n_clusters``.

    Parameters
    ----------
    encoder : ContrastiveEncoder or None, default None
        Used as it is when fitted (the study passes the encoder it trained); otherwise
        a copy is fitted on the images first (None: ``ContrastiveEncoder()``).
    n_clusters : int, default 10
    heads : int, default 10
    epochs : int, default 30
    batch_size : int, default 512
    min_steps : int, default 1000
        Small sets train for more epochs, with batches of at most a quarter of the set,
        until they take at least this many steps (30 epochs of 60,000 images at batch 512
        take 3,510).
    neighbours : int, default 20
    views : int, default 4
        Augmented copies of each image whose features anchors and neighbours are drawn
        from, besides the clean image.
    entropy_weight : float, default 5.0
    cluster_sizes : {"equal", "estimated", "auto", "merged"}, default "equal"
        What the heads are asked of the clusters' sizes. "equal": the SCAN paper's
        entropy term, even sizes. "estimated": sizes, largest to smallest, like those
        of K-Means' clusters of the features (at most 20,000 of them). "auto": heads
        for both; the estimated sizes are kept only when their clustering has both the
        higher modularity on the neighbour graph and the higher agreement among its
        heads (`fashion_cluster.scan`); for image sets whose classes may differ much in
        size. "merged": any sizes: 3 * ``n_clusters`` clusters of even size, merged
        along the neighbour graph (`fashion_cluster.scan.merge_clusters`); for sets
        whose classes are known to differ much in size (on classes of one size it
        merges some that are easily confused).
    random_state : int, RandomState or None
    processes : int, default 1
        Train the heads on this many processes (torch.distributed, see
        `fashion_cluster.scan.train_heads`); the encoder's own ``processes`` sets its.

    Attributes
    ----------
    encoder_ : ContrastiveEncoder
        The fitted encoder used.
    head_ : dict of ndarray
        ``weight`` (n_clusters, d), ``bias``, ``mean`` and ``std`` of the selected head;
        with ``cluster_sizes="merged"``, ``weight`` (3 * n_clusters, d) and ``merge``,
        the cluster each of its clusters is merged into.
    labels_ : ndarray of shape (n_samples,)
    info_ : dict
        Final SCAN loss of every head, the selected head, the settings used; with
        ``cluster_sizes`` "estimated" or "auto", the estimated ``size_prior`` and which
        one was kept (``sizes_kept``; when "auto", the ``modularity`` and ``agreement``
        of each); with "merged", ``over_clusters`` (the number before merging).
    """

    def __init__(self, encoder=None, n_clusters=10, heads=10, epochs=30, batch_size=512,
                 min_steps=1000, neighbours=20, views=4, entropy_weight=5.0,
                 random_state=None, processes=1, cluster_sizes="equal"):
        self.encoder = encoder
        self.n_clusters = n_clusters
        self.heads = heads
        self.epochs = epochs
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.neighbours = neighbours
        self.views = views
        self.entropy_weight = entropy_weight
        self.random_state = random_state
        self.processes = processes
        self.cluster_sizes = cluster_sizes

    def _validate(self) -> None:
        for name, low in (("n_clusters", 1), ("heads", 1), ("epochs", 1), ("batch_size", 1),
                          ("neighbours", 1), ("processes", 1), ("views", 0), ("min_steps", 0)):
            check_int(self, name, low=low)
        check_real(self, "entropy_weight", strict=False)
        check_choice(self, "cluster_sizes", CLUSTER_SIZES)

    def _features(self, X, features) -> torch.Tensor:
        features = self.encoder_.transform(X) if features is None else features
        return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(
            self._device())

    def fit(self, X, y=None, *, features=None):
        """Fit on images ``X`` (as the encoder takes them); returns self.

        ``X`` may be a zarr array of images (N, H, W[, C]) or rows: see `_fit_store`.
        ``features``: the encoder's features of ``X``, when already computed.
        """
        self._validate()
        if is_store(X):
            _refuse_features_with_store(features)
            return self._fit_store(X)
        x = self._check_input(flatten(X), reset=True)
        seed = seed_of(self.random_state)
        self.encoder_ = _fitted_encoder(self.encoder, x, seed)
        feats = self._features(x, features)
        generator = self._generator(seed)
        augmented = self.encoder_.view_features(x, self.views, generator)
        self._train(feats, augmented, seed, generator)
        return self

    def _fit_store(self, store):
        """Fit on a zarr array: the encoder (fitted on the store if it is not) writes the
        features of the images and of their augmented views to files in a temporary
        folder (``tempfile``'s: ``TMPDIR``), which the heads read through memory maps,
        so that memory does not grow with the number of images (the neighbour index,
        N x ``neighbours`` integers, does)."""
        check_store(store, max(2, self.n_clusters))
        seed = seed_of(self.random_state)
        self.encoder_ = _fitted_encoder(self.encoder, store, seed)
        self.n_features_in_ = self.encoder_.n_features_in_
        shape = (store.shape[0], self.encoder_.feature_dim)
        with tempfile.TemporaryDirectory(prefix="fashion-cluster-scan-") as scratch:
            feats = self.encoder_.transform(store, out=open_memmap(
                Path(scratch, "features.npy"), "w+", np.float32, shape))
            generator = self._generator(seed)
            augmented = self.encoder_.view_features(store, self.views, generator,
                                                    out=open_memmap(
                                                        Path(scratch, "views.npy"), "w+",
                                                        np.float16, (self.views, *shape)))
            self._train(feats, augmented, seed, generator)
            del feats, augmented  # the maps, before their files go
        return self

    def _device(self) -> torch.device:
        """Where the encoder's network is, and the heads and their data with it."""
        return next(self.encoder_.model_.parameters()).device

    def _generator(self, seed: int) -> torch.Generator:
        """The generator of the views and of the heads' batches, on the encoder's device."""
        generator = torch.Generator(device=self._device())
        generator.manual_seed(seed)
        return generator

    def _train(self, feats, augmented, seed: int, generator: torch.Generator) -> None:
        """Train the heads on features in memory or mapped; set ``head_``, ``labels_``,
        ``info_``."""
        names, priors = _size_priors(feats, self.cluster_sizes, self.n_clusters, seed,
                                     self._device())
        merged = self.cluster_sizes == "merged"
        k = self.n_clusters * (OVER_CLUSTERING if merged else 1)
        head = scan.train_heads(feats, augmented, k, heads=self.heads,
                                neighbours=self.neighbours, epochs=self.epochs,
                                batch_size=self.batch_size, entropy_weight=self.entropy_weight,
                                seed=seed, generator=generator, min_steps=self.min_steps,
                                processes=self.processes, priors=priors,
                                merge_into=self.n_clusters if merged else None)
        self.head_ = {name: head[name].cpu().numpy()
                      for name in ("weight", "bias", "mean", "std", "merge") if name in head}
        self.labels_ = self._assign(feats)
        self.info_ = _scan_info(self, head, names, priors, k if merged else None)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        if state["encoder_"] is self.encoder:  # saved once, as the parameter
            state["encoder_"] = "encoder"
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        if isinstance(self.encoder_, str):
            self.encoder_ = self.encoder

    def _head(self, device) -> dict:
        return {k: torch.from_numpy(v).to(device) for k, v in self.head_.items()}

    def _assign(self, feats, block: int = 65_536) -> np.ndarray:
        """Cluster of each row of ``feats`` (tensor or array, in memory or mapped),
        ``block`` rows at a time."""
        return scan.assign_rows(feats, self._head(self._device()), block=block)[:, 0].cpu().numpy()

    def predict(self, X, *, features=None):
        """Cluster of each image, shape (n_samples,); ``features`` as in ``fit``. A zarr
        array is read a few chunks at a time."""
        check_is_fitted(self)
        if is_store(X):
            return _by_blocks(X, features, self.predict)
        x = self._check_input(flatten(X), reset=False)
        return self._assign(self._features(x, features))

    def predict_proba(self, X, *, features=None):
        """The selected head's probability of each cluster, shape (n_samples, n_clusters)
        (of merged clusters: the sum of their parts', while ``predict`` takes the merged
        cluster of the most probable part); a zarr array is read a few chunks at a time."""
        check_is_fitted(self)
        if is_store(X):
            return _by_blocks(X, features, self.predict_proba)
        feats = self._features(self._check_input(flatten(X), reset=False), features)
        return scan.probabilities(feats, self._head(feats.device)).cpu().numpy()

    def fit_predict(self, X, y=None, *, features=None):  # features: as in ``fit``
        return self.fit(X, features=features).labels_



def _by_blocks(store, features, method) -> np.ndarray:
    """``method`` of a zarr array's blocks, concatenated."""
    _refuse_features_with_store(features)
    return np.concatenate([method(block) for _, block in store_blocks(store)])


def _fitted_encoder(encoder, x: np.ndarray, seed: int):
    """``encoder`` itself when it is fitted, else a copy of it fitted on ``x`` (None: a
    default ``ContrastiveEncoder``)."""
    from .representations import ContrastiveEncoder

    if encoder is None:
        encoder = ContrastiveEncoder()
    if not isinstance(encoder, ContrastiveEncoder):
        raise ValueError("The 'encoder' parameter of SCANClusterer must be a "
                         f"ContrastiveEncoder or None. Got {encoder!r} instead.")
    try:
        check_is_fitted(encoder)
        return encoder
    except NotFittedError:
        return clone(encoder).set_params(random_state=seed).fit(x)


def _size_priors(feats, cluster_sizes: str, k: int, seed: int, device: torch.device
                 ) -> tuple[tuple[str, ...], torch.Tensor | None]:
    """The names and the cluster-size priors ``cluster_sizes`` asks for
    (`scan.train_heads`): the sorted sizes (+1) of K-Means' clusters of at most
    20,000 rows of the features, after an even prior for "auto"; None for "equal"
    and "merged"."""
    if cluster_sizes in ("equal", "merged"):
        return (), None
    x = torch.as_tensor(feats)  # a mapped array stays mapped: only the sample is read
    rows = np.sort(np.random.default_rng(seed).permutation(len(x))[:20_000])
    sample = x[torch.from_numpy(rows).to(x.device)].float().cpu().numpy()
    labels = KMeansClusterer(k, normalize=True, device=str(device),
                             random_state=seed).fit(sample).labels_
    counts = np.sort(np.bincount(labels, minlength=k))[::-1] + 1.0
    estimated = torch.tensor(counts / counts.sum(), dtype=torch.float32)
    if cluster_sizes == "estimated":
        return ("estimated",), estimated[None]
    return ("equal", "estimated"), torch.stack([torch.full((k,), 1 / k), estimated])


def _scan_info(est: SCANClusterer, head: dict, names: tuple[str, ...],
               priors: torch.Tensor | None, over_clusters: int | None) -> dict:
    """``info_`` of a fitted `SCANClusterer`: its settings and what its heads found."""
    info = {"scan_loss": head["losses"], "selected_head": head["selected"],
            "views": est.views, "neighbours": head["neighbours"], "heads": est.heads,
            "epochs": head["epochs"], "batch_size": head["batch_size"],
            "entropy_weight": est.entropy_weight, "processes": est.processes,
            "cluster_sizes": est.cluster_sizes}
    if over_clusters is not None:
        info["over_clusters"] = over_clusters
    if priors is not None:
        info.update(size_prior=priors[-1].tolist(), sizes_kept=names[head["prior"]])
        if "modularity" in head:
            for signal in ("modularity", "agreement"):
                info[signal] = dict(zip(names, head[signal], strict=True))
    return info


def _refuse_features_with_store(features) -> None:
    if features is not None:
        raise ValueError("features cannot be given with a store: they are computed from it "
                         "a few chunks at a time")


def flatten(X):
    """An image stack (N, H, W[, C]) as (N, H*W*C); other input unchanged."""
    return flatten_images(X)[0]


