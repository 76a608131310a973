"""Hungarian-matched accuracy and the matched confusion matrix."""

import numpy as np
import pytest

from fashion_cluster.metrics import (
    clustering_accuracy,
    match_clusters,
    matched_confusion_matrix,
    score,
)


def test_permuted_labelling_scores_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    assert clustering_accuracy(y, perm[y]) == 1.0
    result = score(y, perm[y])
    assert result["nmi"] == pytest.approx(1.0) and result["ari"] == pytest.approx(1.0)
    cm = np.array(result["confusion"])
    assert np.array_equal(np.diag(cm), np.bincount(y, minlength=10))
    assert cm.sum() == 500


def test_known_confusion_gives_known_accuracy():
    # Contingency (rows: classes 0..2, columns: clusters 0..2):
    #   [[0, 8, 2],
    #    [5, 0, 5],
    #    [1, 1, 8]]   best one-to-one: 0->1 (8), 1->0 (5), 2->2 (8) = 21 of 30
    counts = np.array([[0, 8, 2], [5, 0, 5], [1, 1, 8]])
    y_true, y_pred = [], []
    for c in range(3):
        for k in range(3):
            y_true += [c] * counts[c, k]
            y_pred += [k] * counts[c, k]
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(21 / 30)
    assert np.array_equal(matched_confusion_matrix(y_true, y_pred),
                          [[8, 0, 2], [0, 5, 5], [1, 1, 8]])
    assert list(match_clusters(y_true, y_pred)) == [1, 0, 2]
    assert score(y_true, y_pred)["unmatched_accuracy"] == pytest.approx(8 / 30)


def test_more_clusters_than_classes():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 0, 2, 1, 1, 3])
    # Class 0 -> cluster 0 (2), class 1 -> cluster 1 (2); clusters 2 and 3 unmatched.
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    cm = matched_confusion_matrix(y_true, y_pred)
    assert cm.shape == (2, 4) and list(np.diag(cm[:, :2])) == [2, 2]
    assert list(match_clusters(y_true, y_pred)) == [0, 1, -1, -1]


def test_fewer_clusters_than_classes():
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(3 / 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="non-negative"):
        clustering_accuracy([0, 1], [0, -1])
    with pytest.raises(ValueError, match="integer labels"):
        clustering_accuracy([0, 1], [0.5, 1])
    with pytest.raises(ValueError, match="1-D"):
        clustering_accuracy([[0, 1]], [[0, 1]])
