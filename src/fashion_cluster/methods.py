"""The registry: which representation and which clusterer each method of a run is made of.

A method clusters one *representation* of the images: ``raw`` (scaled pixels), ``dense``
(the dense autoencoder's code), ``conv`` (the convolutional autoencoder's code) or
``simclr`` (the features of a contrastively trained CNN). Representations are the
transformers of `fashion_cluster.representations`, clusterers those of
`fashion_cluster.clusterers`; each is built here from its own section of the preset.
Adding a method is adding an entry here; the study, ``metrics.json``, the figures and
the report pick it up by name.

Importing this module is light (no torch, no scikit-learn): the configuration checks
method names against it, and each factory imports what it needs when called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["METHODS", "REPRESENTATIONS", "Method", "Representation", "SeedResult", "refit"]

Estimator = Any  # a fitted scikit-learn estimator of this package


@dataclass(frozen=True)
class Representation:
    """A network whose features methods cluster.

    Attributes
    ----------
    kind : {"dense", "conv", "simclr"}
        Key of ``representation`` in `Method` and in ``metrics.json``.
    title : str
        Human name, lower case (``Title`` capitalises it).
    artifact : str
        Stem of its files: ``models/<artifact>.safetensors``, ``codes/<artifact>.npz``,
        ``figures/<artifact>_loss.png``. It is also the preset section of its settings.
    build : callable
        ``build(section, image_shape, seed, device)`` -> an unfitted transformer, for
        scaled images of shape (C, H, W).
    decodes : bool
        An autoencoder: its codes decode back into images.
    """

    kind: str
    title: str
    artifact: str
    build: Callable[..., Estimator]
    decodes: bool = True

    @property
    def Title(self) -> str:  # noqa: N802 - the capitalised form of ``title``
        return self.title[0].upper() + self.title[1:]


def _dense(cfg, image_shape: tuple, seed: int, device: str) -> Estimator:
    from .representations import DenseAutoencoder

    return DenseAutoencoder(epochs=cfg.epochs, batch_size=cfg.batch_size,
                            learning_rate=cfg.learning_rate, step=cfg.step,
                            value_range=(0.0, 1.0), device=device, random_state=seed)


def _conv(cfg, image_shape: tuple, seed: int, device: str) -> Estimator:
    from .representations import ConvAutoencoder

    return ConvAutoencoder(image_shape=image_shape, epochs=cfg.epochs,
                           batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                           step=cfg.step, value_range=(0.0, 1.0), device=device,
                           random_state=seed)


def _simclr(cfg, image_shape: tuple, seed: int, device: str) -> Estimator:
    from .representations import ContrastiveEncoder

    return ContrastiveEncoder(image_shape=image_shape, feature_dim=cfg.feature_dim,
                              epochs=cfg.epochs, batch_size=cfg.batch_size,
                              min_steps=cfg.min_steps,
                              learning_rate=cfg.learning_rate, temperature=cfg.temperature,
                              crop_min=cfg.crop_min, value_range=(0.0, 1.0), device=device,
                              random_state=seed, processes=cfg.processes, gamma=cfg.gamma)


REPRESENTATIONS: dict[str, Representation] = {
    r.kind: r
    for r in [
        Representation("dense", "dense autoencoder", "dense_ae", _dense),
        Representation("conv", "convolutional autoencoder", "conv_ae", _conv),
        Representation("simclr", "contrastive CNN (SimCLR)", "simclr", _simclr,
                       decodes=False),
    ]
}


@dataclass
class SeedResult:
    """The labels one fit of a method gave, for the seed sweep (no fitted model inside,
    so that it travels cheaply from a cluster's worker)."""

    seed: int
    train_labels: np.ndarray
    test_labels: np.ndarray
    fit_seconds: float
    info: dict


@dataclass(frozen=True)
class Method:
    """One clustering method.

    Attributes
    ----------
    name : str
        Key under ``methods`` in ``metrics.json``.
    title : str
        Human name for figures and the report.
    representation : {"raw", "dense", "conv", "simclr"}
    section : str
        The preset section its clusterer is built from.
    build : callable
        ``build(section, k, seed, device, encoder)`` -> an unfitted clusterer;
        ``encoder`` is the fitted representation (None for ``raw``).
    on_images : bool
        The clusterer is fitted on the images (with their features passed along as
        ``features=``) rather than on the features alone: SCAN, which looks at augmented
        copies of the images through its encoder.
    centers_decodable : bool
        The fitted centres live in the representation's space, so decoding them (or,
        for ``raw``, reshaping them) gives images. Otherwise figures show the mean image
        of each cluster's members.
    published : dict or None
        The study's published accuracy, ``{"train": ..., "test": ...}``.
    """

    name: str
    title: str
    representation: str
    section: str
    build: Callable[..., Estimator]
    on_images: bool = False
    centers_decodable: bool = True
    published: dict | None = None

    def fit(self, section, k: int, seed: int, device: str, features: np.ndarray,
            images: np.ndarray | None = None, encoder: Estimator = None) -> Estimator:
        """A clusterer built from ``section`` and fitted on the training set."""
        clusterer = self.build(section, k, seed, device, encoder)
        if self.on_images:
            return clusterer.fit(images, features=features)
        return clusterer.fit(features)

    def predict(self, clusterer: Estimator, features: np.ndarray,
                images: np.ndarray | None = None) -> np.ndarray:
        """Clusters of new images, given their features (and the images themselves)."""
        if self.on_images:
            return clusterer.predict(images, features=features)
        return clusterer.predict(features)


def _kmeans(cfg, k: int, seed: int, device: str, encoder=None, normalize: bool = False):
    from .clusterers import KMeansClusterer

    return KMeansClusterer(k, n_init=cfg.n_init, normalize=normalize, device=device,
                           random_state=seed)


def _normalised_kmeans(cfg, k: int, seed: int, device: str, encoder=None):
    """K-Means on L2-normalised features (the usual way to cluster contrastive features)."""
    return _kmeans(cfg, k, seed, device, normalize=True)


def _gmm(cfg, k: int, seed: int, device: str, encoder=None):
    from .clusterers import GMMClusterer

    return GMMClusterer(k, covariance_type=cfg.gmm_covariance, n_init=cfg.gmm_n_init,
                        device=device, random_state=seed)


def _n2d(cfg, k: int, seed: int, device: str, encoder=None, normalize: bool = False):
    from .clusterers import UMAPGMMClusterer

    return UMAPGMMClusterer(k, n_components=cfg.n_components or None,
                            n_neighbors=cfg.n_neighbors, min_dist=cfg.min_dist,
                            covariance_type=cfg.gmm_covariance, normalize=normalize,
                            device=device, random_state=seed)


def _normalised_n2d(cfg, k: int, seed: int, device: str, encoder=None):
    """UMAP + GMM of L2-normalised features: the mixture's weights are free, so classes
    of unequal size keep clusters of unequal size (SCAN evens them out)."""
    return _n2d(cfg, k, seed, device, normalize=True)


def _scan(cfg, k: int, seed: int, device: str, encoder=None):
    from .clusterers import SCANClusterer

    return SCANClusterer(encoder, k, heads=cfg.heads, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, min_steps=cfg.min_steps,
                         neighbours=cfg.neighbours, views=cfg.views,
                         entropy_weight=cfg.entropy_weight, random_state=seed,
                         processes=cfg.processes, cluster_sizes=cfg.cluster_sizes)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("kmeans_raw", "K-Means on raw pixels", "raw", "clustering", _kmeans,
               published={"train": 0.54, "test": 0.54}),
        Method("ae_kmeans", "Autoencoder + K-Means", "dense", "clustering", _kmeans,
               published={"train": 0.5283, "test": 0.5296}),
        Method("ae_gmm", "Autoencoder + GMM", "dense", "clustering", _gmm,
               published={"train": 0.5735, "test": 0.5761}),
        Method("conv_ae_kmeans", "Conv. autoencoder + K-Means", "conv", "clustering",
               _kmeans),
        Method("n2d", "Autoencoder + UMAP + GMM (N2D)", "dense", "n2d", _n2d,
               centers_decodable=False),
        Method("simclr_kmeans", "Contrastive CNN + K-Means", "simclr", "clustering",
               _normalised_kmeans, centers_decodable=False),
        Method("scan", "Contrastive CNN + SCAN", "simclr", "scan", _scan, on_images=True,
               centers_decodable=False),
        Method("simclr_n2d", "Contrastive CNN + UMAP + GMM", "simclr", "n2d", _normalised_n2d,
               centers_decodable=False),
    ]
}


def refit(m: Method, section, k: int, seed: int, device: str,
          features: tuple[np.ndarray, np.ndarray], images: tuple, encoder) -> SeedResult:
    """One fit of the seed sweep (here or in a cluster's worker): ``features`` and
    ``images`` are (train, test) pairs; images are needed only by ``on_images`` methods."""
    tic = time.perf_counter()
    clusterer = m.fit(section, k, seed, device, features[0], images[0], encoder)
    seconds = time.perf_counter() - tic
    return SeedResult(seed, clusterer.labels_, m.predict(clusterer, features[1], images[1]),
                      seconds, clusterer.info_)
