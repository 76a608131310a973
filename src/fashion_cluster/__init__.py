"""fashion-cluster: unsupervised cluster analysis of image sets, Fashion-MNIST first.

The scikit-learn estimators (representations, clusterers of features, and the two put
together), ``load`` for a saved estimator, and the scoring helpers are importable from
here; the study (command ``fashion-cluster``) lives in `fashion_cluster.study`.

The names below are imported on first use (PEP 562), so ``import fashion_cluster`` and
its light submodules (``data``, ``distributed``, ``cli``) do not load torch. That matters
on a Dask cluster: each worker process re-imports the driver's main module, and torch
alone adds about 190 MB to every worker before it runs a task.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import FashionClusterError

__version__ = "0.1.0"

_EXPORTS = {
    "AutoencoderGMM": "estimators",
    "AutoencoderKMeans": "estimators",
    "AutoencoderUMAPGMM": "estimators",
    "ContrastiveSCAN": "estimators",
    "ConvAutoencoderGMM": "estimators",
    "ConvAutoencoderKMeans": "estimators",
    "ContrastiveEncoder": "representations",
    "ConvAutoencoder": "representations",
    "DenseAutoencoder": "representations",
    "GMMClusterer": "clusterers",
    "KMeansClusterer": "clusterers",
    "SCANClusterer": "clusterers",
    "UMAPGMMClusterer": "clusterers",
    "load": "estimators",  # imports every estimator class that a file may name
    "load_run": "runs",
    "clustering_accuracy": "metrics",
    "matched_confusion_matrix": "metrics",
}

__all__ = [
    "AutoencoderGMM",
    "AutoencoderKMeans",
    "AutoencoderUMAPGMM",
    "ContrastiveEncoder",
    "ContrastiveSCAN",
    "ConvAutoencoder",
    "ConvAutoencoderGMM",
    "ConvAutoencoderKMeans",
    "DenseAutoencoder",
    "FashionClusterError",
    "GMMClusterer",
    "KMeansClusterer",
    "SCANClusterer",
    "UMAPGMMClusterer",
    "clustering_accuracy",
    "load",
    "load_run",
    "matched_confusion_matrix",
]

if TYPE_CHECKING:
    from .clusterers import GMMClusterer, KMeansClusterer, SCANClusterer, UMAPGMMClusterer
    from .estimators import (
        AutoencoderGMM,
        AutoencoderKMeans,
        AutoencoderUMAPGMM,
        ContrastiveSCAN,
        ConvAutoencoderGMM,
        ConvAutoencoderKMeans,
        load,
    )
    from .metrics import clustering_accuracy, matched_confusion_matrix
    from .representations import ContrastiveEncoder, ConvAutoencoder, DenseAutoencoder
    from .runs import load_run


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
