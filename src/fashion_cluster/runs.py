"""A finished run, opened in Python: its metrics, its labels and its fitted methods.

    run = fashion_cluster.load_run("results/best")
    run.metrics["methods"]["scan"]["test"]["accuracy"]
    labels, confidence = run.method("scan").assign(run.scale(images))

Every method of a run is a fitted representation (``models/<name>.safetensors``, none for
raw pixels) and a fitted clusterer (``methods/<method>.safetensors``), both loaded with
`fashion_cluster.load`; nothing is refitted. `RunResult.scale` turns new
images into the run's input (same size, channels and value range, or an error saying
what differs), so that the run's own images get the clusters the run gave them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import ArtifactError, read_arrays
from .data import DatasetError, scale_images
from .estimators import load as load_estimator
from .layout import RunFolder
from .manifest import verify
from .methods import METHODS, REPRESENTATIONS, Method
from .schema import read_metrics

__all__ = ["FittedMethod", "RunResult", "load_run"]


@dataclass
class FittedMethod:
    """One method of a run, ready to assign new images.

    Attributes
    ----------
    name, title : str
    method : Method
        Its registry entry.
    representation : transformer or None
        The fitted representation (None: the method clusters raw pixels).
    clusterer : estimator
        The fitted clusterer of the representation's features.
    cluster_classes : list of str or None
        The class name each cluster was matched to (runs on labelled data), or None.
    """

    name: str
    title: str
    method: Method
    representation: Any
    clusterer: Any
    cluster_classes: list[str] | None = None

    def assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Clusters of scaled images ``x`` (n, H*W*C), and the probability of each
        assigned cluster where the clusterer has one (mixtures, SCAN), else None."""
        features = x if self.representation is None else self.representation.transform(x)
        if not hasattr(self.clusterer, "predict_proba"):
            return self.method.predict(self.clusterer, features, x), None
        if self.method.on_images:
            # SCAN: its head is cheap to run twice, and merged clusters (cluster_sizes
            # "merged") are not always those of the largest summed probability.
            labels = self.method.predict(self.clusterer, features, x)
            proba = self.clusterer.predict_proba(x, features=features)
        else:
            # The most probable cluster is the prediction: one pass (UMAP's transform,
            # the mixture) gives both.
            proba = self.clusterer.predict_proba(features)
            labels = proba.argmax(axis=1)
        return labels, proba[np.arange(len(labels)), labels]


@dataclass
class RunResult:
    """A finished run (see `load_run`).

    Attributes
    ----------
    path : Path
    metrics : dict
        ``metrics.json``.
    labels : dict
        ``labels[method]["train" | "test"]``: the clusters the run gave its images.
    """

    path: Path
    metrics: dict
    labels: dict[str, dict[str, np.ndarray]]
    _fitted: dict[str, FittedMethod] = field(default_factory=dict, repr=False)

    @property
    def methods(self) -> list[str]:
        return list(self.metrics["methods"])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image of the run: (H, W) or (H, W, C)."""
        return tuple(self.metrics["dataset"]["image_shape"])

    def best_method(self) -> str:
        """The method with the highest silhouette on the test split (label-free; each
        method in its own feature space), or the only one."""
        def silhouette(name: str) -> float:
            value = self.metrics["methods"][name]["label_free"]["test"].get("silhouette")
            return -np.inf if value is None else value

        return max(self.methods, key=silhouette)

    def method(self, name: str | None = None) -> FittedMethod:
        """A fitted method of the run (default: `best_method`), loaded once."""
        name = name or self.best_method()
        if name not in self.metrics["methods"]:
            raise ArtifactError(f"{self.path}: the run has no method {name!r} (it has "
                                f"{', '.join(self.methods)})")
        if name not in self._fitted:
            self._fitted[name] = self._load_method(name)
        return self._fitted[name]

    def _load_method(self, name: str) -> FittedMethod:
        entry, method = self.metrics["methods"][name], METHODS.get(name)
        if method is None:
            raise ArtifactError(f"{self.path}: method {name!r} is not one this version knows")
        representation = None
        if method.representation != "raw":
            artifact = REPRESENTATIONS[method.representation].artifact
            representation = load_estimator(RunFolder(self.path).model(artifact))
        clusterer = load_estimator(RunFolder(self.path).method(name, ".safetensors"))
        names = self.metrics["dataset"].get("class_names") or []
        matched = entry.get("cluster_classes")
        classes = [names[c] if 0 <= c < len(names) else "" for c in matched] \
            if matched is not None and names else None
        return FittedMethod(name, entry["title"], method, representation, clusterer, classes)

    def scale(self, images: np.ndarray) -> np.ndarray:
        """Images (n, H, W[, C]), or flattened rows (n, H*W*C), as the run's input:
        float32 (n, H*W*C) in the run's value range.

        Raises
        ------
        DatasetError
            The images' size or channel count differs from the run's, or their values
            cannot be read in its range (`fashion_cluster.datasets.check_values`: NaN,
            infinite, complex or non-numeric values; for a run on 8-bit images, values
            outside 0..255 or float values all within [0, 1]).
        """
        from .datasets import check_values

        images = np.asarray(images)
        shape = self.image_shape
        if images.ndim == 2 and images.shape[1] == np.prod(shape):
            images = images.reshape(len(images), *shape)
        squeezed = images.shape[1:-1] if images.ndim == 4 and images.shape[-1] == 1 else None
        if tuple(images.shape[1:]) != shape and squeezed != shape:
            raise DatasetError(f"images of shape {_shape_text(images.shape[1:])}, but the run "
                               f"at {self.path} was fitted on {_shape_text(shape)}")
        low, high = self.metrics["dataset"].get("value_range", (0.0, 255.0))
        check_values(images, f"images for the run at {self.path}", (low, high))
        return scale_images(images, low, high)


def _shape_text(shape: tuple) -> str:
    return "x".join(str(v) for v in shape[:2]) + (
        f" with {shape[2]} channels" if len(shape) == 3 else " (grey)")


def load_run(path: str | os.PathLike) -> RunResult:
    """Open the run written by ``fashion-cluster run`` into ``path``.

    Raises
    ------
    ArtifactError
        ``path`` is not a finished run, its files differ from those its manifest lists
        (an interrupted or modified run), or they are damaged (the message says which).
    """
    path = Path(path)
    folder = RunFolder(path)
    if not folder.metrics.is_file():
        if folder.manifest.is_file():
            verify(path)  # an unfinished run: say so, and how to finish it
        raise ArtifactError(f"{path}: not a finished fashion-cluster run (no metrics.json)")
    verify(path)
    metrics = read_metrics(folder.metrics)
    data = metrics["dataset"]
    labels = {name: read_arrays(folder.method(name, ".npz"), {
        "train_labels": (data["n_train"],), "test_labels": (data["n_test"],)})
        for name in metrics["methods"]}
    return RunResult(path, metrics, {
        name: {"train": arrays["train_labels"], "test": arrays["test_labels"]}
        for name, arrays in labels.items()})
