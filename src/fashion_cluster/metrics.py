"""Scores of a clustering against true labels.

Clusters are anonymous, so a cluster's number means nothing until it is matched to a
class. The matching is one-to-one and maximises the number of correctly clustered items
(the Hungarian algorithm, `scipy.optimize.linear_sum_assignment`). With more
clusters than classes, the clusters left unmatched count as wrong for every item in
them; with fewer, the classes left unmatched are wholly wrong. This is the "clustering
accuracy" of the deep-clustering literature (DEC, IDEC, N2D).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

__all__ = [
    "clustering_accuracy",
    "contingency",
    "doubts",
    "cluster_sums",
    "internal_scores",
    "match_clusters",
    "matched_confusion_matrix",
    "score",
]


def _as_labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{name} must hold integer labels, got dtype {y.dtype}")
        y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold non-negative labels, found {y.min()}")
    return y.astype(np.int64, copy=False)


def contingency(y_true: np.ndarray, y_pred: np.ndarray, n_clusters: int | None = None
                ) -> np.ndarray:
    """Counts of (class, cluster) pairs.

    Returns
    -------
    ndarray of shape (n_classes, n_clusters), int64
        ``n_classes = max(y_true) + 1``; ``n_clusters`` defaults to ``max(y_pred) + 1``
        (give it when some clusters may be empty).
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    n_classes = int(y_true.max()) + 1 if y_true.size else 0
    seen = int(y_pred.max()) + 1 if y_pred.size else 0
    n_clusters = seen if n_clusters is None else max(n_clusters, seen)
    counts = np.zeros((n_classes, n_clusters), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def match_clusters(y_true: np.ndarray, y_pred: np.ndarray, n_clusters: int | None = None
                   ) -> np.ndarray:
    """Class matched to each cluster by the Hungarian algorithm.

    ``n_clusters`` counts clusters that may be empty in ``y_pred``.

    Returns
    -------
    ndarray of shape (n_clusters,), int64
        ``result[c]`` is the class matched to cluster ``c``, or -1 for a cluster left
        unmatched (possible only with more clusters than classes).
    """
    counts = contingency(y_true, y_pred, n_clusters)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    classes = np.full(counts.shape[1], -1, dtype=np.int64)
    classes[cols] = rows
    return classes


def _column_order(counts: np.ndarray) -> np.ndarray:
    rows, cols = linear_sum_assignment(counts, maximize=True)
    matched = cols[np.argsort(rows)]
    taken = set(matched.tolist())
    rest = [c for c in np.argsort(-counts.sum(axis=0), kind="stable") if c not in taken]
    return np.concatenate([matched, np.asarray(rest, dtype=matched.dtype)])


def matched_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Confusion matrix with the clusters reordered by the Hungarian matching.

    Returns
    -------
    ndarray of shape (n_classes, n_clusters), int64
        Row = true class, column = cluster. Columns come in the order of the classes they
        are matched to, so with at least as many clusters as classes, column ``i`` is the
        cluster matched to class ``i`` and the diagonal counts the correctly clustered
        items. Unmatched clusters (more clusters than classes) follow, largest first.
        With fewer clusters than classes, the classes left unmatched have no column.
    """
    counts = contingency(y_true, y_pred)
    return counts[:, _column_order(counts)]


def clustering_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of items whose cluster is matched to their class (Hungarian matching).

    Works for any numbers of classes and clusters; see the module docstring.
    """
    counts = contingency(y_true, y_pred)
    if counts.sum() == 0:
        raise ValueError("clustering_accuracy needs at least one item")
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """All the study's scores of one labelling, as plain JSON-ready values.

    Returns
    -------
    dict
        ``accuracy`` (Hungarian-matched), ``unmatched_accuracy`` (cluster id taken as
        the class, what the study first saw), ``nmi``, ``ari`` and ``confusion`` (the
        matched confusion matrix as nested lists).
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    return {
        "accuracy": clustering_accuracy(y_true, y_pred),
        "unmatched_accuracy": float(np.mean(y_true == y_pred)),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "confusion": matched_confusion_matrix(y_true, y_pred).tolist(),
    }


def internal_scores(x: np.ndarray, labels: np.ndarray, seed: int = 0,
                    sample_size: int = 2000) -> dict:
    """Scores that need no true labels, in the space ``x`` the clustering was done in.

    Returns
    -------
    dict
        ``silhouette`` (on a random sample of ``sample_size`` points; None with fewer than
        two clusters), ``within_sse`` (sum of squared distances to the cluster means,
        per point), and ``cluster_sizes``.
    """
    from sklearn.metrics import silhouette_score

    labels = _as_labels(labels, "labels")
    x = np.asarray(x).reshape(len(x), -1)
    sizes = np.bincount(labels)
    used = int((sizes > 0).sum())
    silhouette = None
    if 2 <= used < len(x):
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(x), min(sample_size, len(x)), replace=False)
        if len(np.unique(labels[pick])) >= 2:
            silhouette = float(silhouette_score(x[pick].astype(np.float64), labels[pick]))
    sums, squares = cluster_sums(x, labels, len(sizes))
    # Within-cluster SSE = sum of squared norms - sum over clusters of n_c * |mean_c|^2.
    between = (np.einsum("kd,kd->k", sums, sums) / np.maximum(sizes, 1)).sum()
    within = float(max(squares - between, 0.0) / len(x))
    return {"silhouette": silhouette, "within_sse": within, "cluster_sizes": sizes.tolist()}


def cluster_sums(x: np.ndarray, labels: np.ndarray, k: int, block: int = 8192
                 ) -> tuple[np.ndarray, float]:
    """Per-cluster sums of the rows of ``x`` (k, d) in float64, and the total squared norm.

    Works block by block through one-hot products, so a float32 ``x`` is never copied
    whole to float64 (60,000 x 784 would be 376 MB).
    """
    sums = np.zeros((k, x.shape[1]))
    squares = 0.0
    for start in range(0, len(x), block):
        xb = np.asarray(x[start : start + block], dtype=np.float64)
        one_hot = np.zeros((len(xb), k))
        one_hot[np.arange(len(xb)), labels[start : start + block]] = 1.0
        sums += one_hot.T @ xb
        squares += float(np.einsum("nd,nd->", xb, xb))
    return sums, squares


def doubts(sizes: list[int] | np.ndarray, k: int) -> list[str]:
    """Label-free signs that a clustering of ``sum(sizes)`` images into ``k`` clusters is
    doubtful, one sentence each (empty when none).

    Empty clusters, clusters of fewer than a tenth of an even share (collapsed), and one
    cluster holding more than half of the images.
    """
    counts = np.asarray(sizes, dtype=np.int64)
    sizes = np.zeros(max(k, len(counts)), dtype=np.int64)
    sizes[: len(counts)] = counts
    n, out = int(sizes.sum()), []
    if n == 0 or k < 2:
        return out
    empty = int((sizes == 0).sum())
    if empty:
        out.append(f"{empty} of the {k} clusters are empty: the method found only "
                   f"{k - empty} groups")
    tiny = int(((sizes > 0) & (sizes < 0.1 * n / k)).sum())
    if tiny:
        out.append(f"{tiny} of the {k} clusters hold fewer than a tenth of an even share "
                   f"({n / k:.0f} images): collapsed clusters")
    if k > 2 and sizes.max() > n / 2:
        out.append(f"one cluster holds {sizes.max() / n:.0%} of the images")
    return out
