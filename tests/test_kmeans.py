"""The batched K-Means against scikit-learn."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from fashion_cluster import kmeans as km
from fashion_cluster.clustering import elbow_sweep, find_knee
from fashion_cluster.metrics import clustering_accuracy


def test_same_labels_up_to_permutation_on_separable_data(device):
    x, y = make_blobs(3000, n_features=20, centers=6, cluster_std=0.5, random_state=0)
    run = km.kmeans(x.astype(np.float32), 6, n_init=3, seed=0, n_components=8, subsample=1000,
                    device=device)
    labels, _ = km.assign(x, run.centroids)
    assert clustering_accuracy(y, labels) == 1.0


@pytest.mark.parametrize("k", [3, pytest.param(8, marks=pytest.mark.slow)])
def test_sse_matches_scikit_learn_on_real_images(small_real, k, device):
    (x, _), _ = small_real
    ours = km.kmeans_sweep(x, [k], n_init=10, seed=0, subsample=1000, device=device)[k]
    theirs = KMeans(k, n_init=10, random_state=0).fit(x)
    _, their_sse = km.assign(x, theirs.cluster_centers_)
    # Best-of-10 runs land in slightly different local minima; within 1% either way.
    assert ours.sse == pytest.approx(their_sse, rel=0.01)
    assert ours.centroids.shape == (k, 784)


@pytest.mark.slow
def test_sweep_sse_decreases_with_k_and_k1_is_total_variance(small_real):
    (x, _), _ = small_real
    runs = km.kmeans_sweep(x, range(1, 7), n_init=2, seed=1, subsample=1000)
    sse = [runs[k].sse for k in range(1, 7)]
    assert all(a > b for a, b in zip(sse, sse[1:], strict=False))
    total = float(((x - x.mean(0)) ** 2).sum(dtype=np.float64))
    assert sse[0] == pytest.approx(total, rel=1e-4)


def test_full_space_path_without_projection():
    x, y = make_blobs(800, n_features=5, centers=4, random_state=1)
    run = km.kmeans(x, 4, n_init=2, n_components=None, subsample=None)
    assert clustering_accuracy(y, km.assign(x, run.centroids)[0]) == 1.0


def test_same_seed_same_result(small_real):
    (x, _), _ = small_real
    a = km.kmeans(x, 5, n_init=2, seed=3, subsample=1000)
    b = km.kmeans(x, 5, n_init=2, seed=3, subsample=1000)
    assert np.array_equal(a.centroids, b.centroids) and a.sse == b.sse


def test_bad_arguments():
    x = np.random.default_rng(0).random((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="more than the number of samples"):
        km.kmeans(x, 11)
    with pytest.raises(ValueError, match="integer >= 1"):
        km.kmeans(x, 0)
    with pytest.raises(ValueError, match="integer >= 1"):
        km.kmeans_sweep(x, [2.5])
    with pytest.raises(ValueError, match="n_init must be a positive integer"):
        km.kmeans(x, 2, n_init=0)
    with pytest.raises(ValueError, match="2-D"):
        km.kmeans(x.ravel(), 2)


def test_knee_of_a_clear_elbow():
    ks = list(range(1, 11))
    sse = [100, 70, 40, 10, 9, 8, 7, 6, 5, 4]  # steep, then flat from k = 4
    assert find_knee(ks, sse) == 4
    assert find_knee([1, 2], [3.0, 1.0]) is None


@pytest.mark.slow
def test_elbow_sweep_result(small_real):
    (x, _), _ = small_real
    result = elbow_sweep(x, range(1, 9), n_init=2, seed=0, subsample=1000)
    assert result.k == list(range(1, 9)) and len(result.sse) == 8
    assert result.best_k in result.k and result.seconds > 0
    assert set(result.to_json()) >= {"k", "sse", "n_init", "best_k", "seconds"}


@pytest.mark.slow
def test_result_for_a_k_does_not_depend_on_the_other_ks(small_real):
    # So that a sweep split into tasks (one k a task) gives the same numbers.
    (x, _), _ = small_real
    together = km.kmeans_sweep(x, [3, 5, 8], n_init=3, seed=4, subsample=1000)
    alone = km.kmeans_sweep(x, [5], n_init=3, seed=4, subsample=1000)
    assert np.array_equal(together[5].centroids, alone[5].centroids)
    assert together[5].sse == alone[5].sse
