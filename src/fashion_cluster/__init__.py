"""fashion-cluster: unsupervised cluster analysis of image sets, Fashion-MNIST first.

The scikit-learn estimators and the scoring helpers are importable from here; the study
(command ``fashion-cluster``) lives in :mod:`fashion_cluster.study`.

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
    "ConvAutoencoder": "estimators",
    "ConvAutoencoderGMM": "estimators",
    "ConvAutoencoderKMeans": "estimators",
    "DenseAutoencoder": "estimators",
    "clustering_accuracy": "metrics",
    "matched_confusion_matrix": "metrics",
}

__all__ = [
    "FashionClusterError",
    "AutoencoderGMM",
    "AutoencoderKMeans",
    "AutoencoderUMAPGMM",
    "ConvAutoencoder",
    "ConvAutoencoderGMM",
    "ConvAutoencoderKMeans",
    "DenseAutoencoder",
    "clustering_accuracy",
    "matched_confusion_matrix",
]

if TYPE_CHECKING:
    from .estimators import (
        AutoencoderGMM,
        AutoencoderKMeans,
        AutoencoderUMAPGMM,
        ConvAutoencoder,
        ConvAutoencoderGMM,
        ConvAutoencoderKMeans,
        DenseAutoencoder,
    )
    from .metrics import clustering_accuracy, matched_confusion_matrix


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
