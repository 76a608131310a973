"""The registry of clustering methods a run can include.

A method clusters one *representation* of the images: ``raw`` (scaled pixels), ``dense``
(the dense autoencoder's code), ``conv`` (the convolutional autoencoder's code) or
``simclr`` (the features of a contrastively trained CNN). It is fitted on the training
set and assigns the test set with the fitted model. Adding a method is adding an entry
here; the study, ``metrics.json`` and the report pick it up by name.

Importing this module is light (no torch, no scikit-learn): the configuration checks
method names against it, and each fit function imports what it needs when called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .clustering import ClusterFit
    from .config import StudyConfig

__all__ = ["METHODS", "REPRESENTATIONS", "FitInput", "Method", "Representation", "SeedResult"]


@dataclass(frozen=True)
class Representation:
    """A network whose features a method clusters.

    Attributes
    ----------
    kind : {"dense", "conv", "simclr"}
        Key of ``representation`` in :class:`Method` and in ``metrics.json``.
    title : str
        Human name, lower case (``Title`` capitalises it).
    artifact : str
        Stem of its files: ``models/<artifact>.safetensors``, ``codes/<artifact>.npz``,
        ``figures/<artifact>_loss.png``. It is also the preset section of its settings.
    decodes : bool
        An autoencoder: its codes decode back into images.
    """

    kind: str
    title: str
    artifact: str
    decodes: bool = True

    @property
    def Title(self) -> str:  # noqa: N802 - the capitalised form of ``title``
        return self.title[0].upper() + self.title[1:]


REPRESENTATIONS: dict[str, Representation] = {
    r.kind: r
    for r in [
        Representation("dense", "dense autoencoder", "dense_ae"),
        Representation("conv", "convolutional autoencoder", "conv_ae"),
        Representation("simclr", "contrastive CNN (SimCLR)", "simclr", decodes=False),
    ]
}


@dataclass(frozen=True)
class FitInput:
    """What a method is fitted on.

    Attributes
    ----------
    x : ndarray of shape (n_train, n_features)
        The representation of the training images.
    k : int
        Number of clusters.
    seed : int
    config : StudyConfig
        Methods read their own section of it.
    device : str
    images : ndarray of shape (n_train, n_pixels), optional
        The scaled training images, for methods that look at pixels.
    image_shape : tuple
        Shape of one image: (H, W) or (H, W, C).
    model : torch.nn.Module, optional
        The network that produced the representation.
    """

    x: np.ndarray
    k: int
    seed: int
    config: StudyConfig
    device: str
    images: np.ndarray | None = None
    image_shape: tuple = ()
    model: object = None


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
    fit : callable
        ``fit(FitInput) -> ClusterFit``; the fit's ``predict`` takes the representation
        of new images.
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
    fit: Callable[[FitInput], ClusterFit]
    centers_decodable: bool = True
    published: dict | None = None


def _kmeans(inp: FitInput) -> ClusterFit:
    from .clustering import fit_kmeans

    return fit_kmeans(inp.x, inp.k, n_init=inp.config.clustering.n_init, seed=inp.seed,
                      device=inp.device)


def _gmm(inp: FitInput) -> ClusterFit:
    from .clustering import fit_gmm

    cfg = inp.config.clustering
    return fit_gmm(inp.x, inp.k, seed=inp.seed, n_init=cfg.gmm_n_init,
                   covariance_type=cfg.gmm_covariance, device=inp.device)


def _n2d(inp: FitInput) -> ClusterFit:
    from .clustering import fit_umap_gmm

    cfg = inp.config.n2d
    return fit_umap_gmm(inp.x, inp.k, seed=inp.seed, n_neighbors=cfg.n_neighbors,
                        min_dist=cfg.min_dist, n_components=cfg.n_components or None,
                        covariance_type=inp.config.clustering.gmm_covariance)


def _normalised_kmeans(inp: FitInput) -> ClusterFit:
    """K-Means on L2-normalised features (the usual way to cluster contrastive features)."""
    from .clustering import ClusterFit

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    fit = _kmeans(dataclasses.replace(inp, x=unit(inp.x)))
    inner = fit.predict
    return ClusterFit(fit.centers, lambda data: inner(unit(data)), fit.labels,
                      fit.fit_seconds, fit.info)


def _scan(inp: FitInput) -> ClusterFit:
    from .scan import fit_scan

    return fit_scan(inp)


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
        Method("n2d", "Autoencoder + UMAP + GMM (N2D)", "dense", _n2d,
               centers_decodable=False),
        Method("simclr_kmeans", "Contrastive CNN + K-Means", "simclr", _normalised_kmeans,
               centers_decodable=False),
        Method("scan", "Contrastive CNN + SCAN", "simclr", _scan, centers_decodable=False),
    ]
}
