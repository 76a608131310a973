"""The allowed values of the settings, stated once: the presets' checks
(`fashion_cluster.config`) and the estimators' validation read them from here.

This module imports nothing of the package, so that any layer may read it.
"""

from __future__ import annotations

__all__ = ["CHOICES", "CLUSTER_SIZES", "COVARIANCE_TYPES", "RANGES"]

CLUSTER_SIZES = ("equal", "estimated", "auto", "merged")  # what SCAN asks of cluster sizes
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")  # scikit-learn's GaussianMixture

# (minimum, maximum or None) of numeric settings, by key (the same key in every section).
RANGES = {
    "n_train": (0, None), "n_test": (0, None), "k_min": (1, None), "k_max": (1, None),
    "n_init": (1, None), "k": (0, None), "gmm_n_init": (1, None), "epochs": (1, None),
    "batch_size": (1, None), "map_points": (10, None), "channels": (0, 3),
    "n_neighbors": (2, None), "n_components": (0, None), "min_dist": (0, None),
    "feature_dim": (1, None), "neighbours": (1, None), "heads": (1, None), "views": (0, None),
    "entropy_weight": (0, None), "crop_min": (0.01, 1.0), "gamma": (1.0, None),
    "processes": (1, None), "min_steps": (0, None),
    "gallery_per_cluster": (1, 50), "seed": (0, 2**32 - 1), "subset_seed": (0, 2**32 - 1),
}

# The allowed values of settings that take one of a few names, by key.
CHOICES = {
    "gmm_covariance": COVARIANCE_TYPES,
    "map_method": ("umap", "tsne"),
    "step": ("autograd", "compile"),
    "k_choice": ("knee", "silhouette"),
    "cluster_sizes": CLUSTER_SIZES,
}
