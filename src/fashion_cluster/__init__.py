"""fashion-cluster: unsupervised cluster analysis of image sets, Fashion-MNIST first.

The scikit-learn estimators and the scoring helpers are importable from here; the study
(command ``fashion-cluster``) lives in :mod:`fashion_cluster.study`.
"""

__version__ = "0.1.0"

from .estimators import (  # noqa: E402
    AutoencoderGMM,
    AutoencoderKMeans,
    AutoencoderUMAPGMM,
    ConvAutoencoder,
    ConvAutoencoderGMM,
    ConvAutoencoderKMeans,
    DenseAutoencoder,
)
from .metrics import clustering_accuracy, matched_confusion_matrix  # noqa: E402

__all__ = [
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
