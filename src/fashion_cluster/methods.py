"""The registry of clustering methods a run can include.

A method clusters one *representation* of the images: ``raw`` (scaled pixels), ``dense``
(the dense autoencoder's code) or ``conv`` (the convolutional autoencoder's code). It is
fitted on the training set and assigns the test set with the fitted model. Adding a
method is adding an entry here; the study, ``metrics.json`` and the report pick it up
by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .clustering import ClusterFit, fit_gmm, fit_kmeans
from .config import ClusteringConfig

__all__ = ["METHODS", "Method"]

FitFn = Callable[[np.ndarray, int, int, ClusteringConfig, str], ClusterFit]


@dataclass(frozen=True)
class Method:
    """One clustering method.

    Attributes
    ----------
    name : str
        Key under ``methods`` in ``metrics.json``.
    title : str
        Human name for figures and the report.
    representation : {"raw", "dense", "conv"}
    fit : callable
        ``fit(x_train, k, seed, clustering_config, device) -> ClusterFit``.
    centers_decodable : bool
        The fitted centres live in the representation's space, so decoding them (or,
        for ``raw``, reshaping them) gives images.
    published : dict or None
        The study's published accuracy, ``{"train": ..., "test": ...}``.
    """

    name: str
    title: str
    representation: str
    fit: FitFn
    centers_decodable: bool = True
    published: dict | None = None


def _kmeans(x: np.ndarray, k: int, seed: int, cfg: ClusteringConfig, device: str) -> ClusterFit:
    return fit_kmeans(x, k, n_init=cfg.n_init, seed=seed, device=device)


def _gmm(x: np.ndarray, k: int, seed: int, cfg: ClusteringConfig, device: str) -> ClusterFit:
    return fit_gmm(x, k, seed=seed, n_init=cfg.gmm_n_init, covariance_type=cfg.gmm_covariance)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("kmeans_raw", "K-Means on raw pixels", "raw", _kmeans,
               published={"train": 0.54, "test": 0.54}),
        Method("ae_kmeans", "Autoencoder + K-Means", "dense", _kmeans,
               published={"train": 0.5283, "test": 0.5296}),
        Method("ae_gmm", "Autoencoder + GMM", "dense", _gmm,
               published={"train": 0.5735, "test": 0.5761}),
        Method("conv_ae_kmeans", "Conv. autoencoder + K-Means", "conv", _kmeans),
    ]
}
