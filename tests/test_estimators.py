"""The scikit-learn estimators: scikit-learn's own checks, pipelines, reproducibility."""

import numpy as np
import pytest
from conftest import SEED
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import fashion_cluster as fc
from fashion_cluster.estimators import EXPECTED_FAILED_CHECKS

SMALL = dict(epochs=30, batch_size=16, learning_rate=1e-2, device="cpu", random_state=0)
DENSE = dict(hidden=(16,), code_dim=2)
CONV = dict(filters=(4, 2))

CONTRASTIVE = dict(feature_dim=8, epochs=3, batch_size=16, min_steps=0, device="cpu",
                   random_state=0)
SCAN = dict(epochs=5, heads=2, views=1, neighbours=5, batch_size=16, min_steps=0,
            random_state=0)

ESTIMATORS = [
    # representations
    fc.DenseAutoencoder(**DENSE, **SMALL),
    fc.ConvAutoencoder(**CONV, **SMALL),
    fc.ContrastiveEncoder(**CONTRASTIVE),
    # clusterers of features
    fc.KMeansClusterer(3, n_init=2, device="cpu", random_state=0),
    fc.GMMClusterer(3, device="cpu", random_state=0),
    fc.UMAPGMMClusterer(3, n_neighbors=10, device="cpu", random_state=0),
    fc.SCANClusterer(fc.ContrastiveEncoder(**CONTRASTIVE), 3, **SCAN),
    fc.SCANClusterer(fc.ContrastiveEncoder(**CONTRASTIVE), 3, cluster_sizes="merged", **SCAN),
    # both
    fc.AutoencoderKMeans(n_clusters=3, n_init=2, **DENSE, **SMALL),
    fc.AutoencoderGMM(n_clusters=3, **DENSE, **SMALL),
    fc.AutoencoderUMAPGMM(n_clusters=3, n_neighbors=10, **DENSE, **SMALL),
    fc.ConvAutoencoderKMeans(n_clusters=3, n_init=2, **CONV, **SMALL),
    fc.ConvAutoencoderGMM(n_clusters=3, **CONV, **SMALL),
    fc.ContrastiveSCAN(3, scan_epochs=5, scan_min_steps=0, heads=2, views=1, neighbours=5,
                       **CONTRASTIVE),
]


def estimator_id(est) -> str:
    """The class name, and the cluster sizes where they are not the default."""
    sizes = getattr(est, "cluster_sizes", None)
    default = type(est)().get_params().get("cluster_sizes")
    return type(est).__name__ + (f"-{sizes}" if sizes != default else "")


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=estimator_id)
@pytest.mark.slow
def test_scikit_learn_estimator_checks(estimator):
    expected = EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})
    results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None,
                              on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed
    assert len(results) > 40


def test_exported_from_package_root():
    for name in fc.__all__:
        assert hasattr(fc, name)
    assert {type(e).__name__ for e in ESTIMATORS} <= set(fc.__all__)


@pytest.mark.accuracy
def test_dense_autoencoder_in_a_pipeline(small_real, measured):
    (x, y), (xt, yt) = small_real
    pipe = make_pipeline(fc.DenseAutoencoder(epochs=8, random_state=SEED),
                         KMeans(10, n_init=3, random_state=SEED))
    labels = pipe.fit_predict(x)
    # Thresholds from 20 runs (seeds 0-9, 1 and 2 threads; benchmarks/results/
    # thresholds-2026-11-30.md): accuracy min 0.333, median 0.399 (random labels 0.13,
    # collapsed 0.10); reconstruction error max 0.074 (0.168 when the network did not train).
    assert measured("pipeline_train", fc.clustering_accuracy(y, labels)) > 0.25
    assert pipe.predict(xt).shape == (500,)
    codes = pipe[0].transform(xt)
    assert codes.shape == (500, 49) and codes.dtype == np.float32
    back = pipe[0].inverse_transform(codes)
    assert back.shape == (500, 784)
    assert measured("pipeline_reconstruction_mse", np.mean((back - xt) ** 2)) < 0.1


@pytest.mark.accuracy
def test_uint8_image_stacks_and_reproducibility(fmnist, measured):
    (images, labels), _ = fmnist
    images, labels = images[:1500], labels[:1500]
    est = fc.AutoencoderGMM(epochs=6, random_state=SEED + 1)
    a = est.fit_predict(images)  # (N, 28, 28) uint8: flattened and divided by 255
    b = clone(est).fit_predict(images)
    assert np.array_equal(a, b)
    assert est.n_features_in_ == 784 and est.autoencoder_.data_max_ == 255
    # 20 runs: accuracy min 0.318, median 0.380 (random labels 0.13, collapsed 0.11); loss
    # ratio, last / first epoch, max 0.540 (1.00 when the network did not train).
    assert measured("uint8_ae_gmm_train", fc.clustering_accuracy(labels, a)) > 0.25
    loss = est.autoencoder_.loss_curve_
    assert measured("uint8_ae_gmm_loss_ratio", loss[-1] / loss[0]) < 0.8
    assert est.predict_proba(images[:5]).shape == (5, 10)


@pytest.mark.accuracy
def test_conv_estimator_on_image_stack(fmnist, measured):
    (images, labels), _ = fmnist
    est = fc.ConvAutoencoderKMeans(epochs=2, n_init=2, random_state=SEED)
    pred = est.fit_predict(images[:1000])
    assert est.autoencoder_.image_shape_ == (1, 28, 28)
    assert est.transform(images[:3]).shape == (3, 10)
    # 20 runs: accuracy min 0.424, median 0.526 (random labels 0.14, collapsed 0.12); loss
    # ratio max 0.902 over two epochs (1.00 when the network did not train).
    assert measured("conv_kmeans_train", fc.clustering_accuracy(labels[:1000], pred)) > 0.3
    loss = est.autoencoder_.loss_curve_
    assert measured("conv_kmeans_loss_ratio", loss[-1] / loss[0]) < 0.95


@pytest.mark.parametrize(("params", "message"), [
    (dict(n_clusters=0), "'n_clusters' parameter of AutoencoderKMeans must be an int >= 1"),
    (dict(n_clusters=2.5), "must be an int >= 1. Got 2.5"),
    (dict(epochs=0), "'epochs' parameter of AutoencoderKMeans must be an int >= 1"),
    (dict(learning_rate=-1.0), "'learning_rate' parameter of AutoencoderKMeans must be a float"),
    (dict(hidden=()), "'hidden' parameter of AutoencoderKMeans must be a non-empty sequence"),
    (dict(device="tpu"), "'device' parameter of AutoencoderKMeans must be 'auto'"),
])
def test_bad_parameters_are_reported_in_fit(params, message):
    x = np.random.default_rng(0).random((30, 8))
    est = fc.AutoencoderKMeans(**{"n_clusters": 3, "epochs": 1, **DENSE, **params})
    with pytest.raises(ValueError, match=message):
        est.fit(x)


@pytest.mark.parametrize("est", [fc.ContrastiveEncoder(gamma=0.5),
                                 fc.ContrastiveSCAN(3, gamma=0.5)], ids=lambda e: type(e).__name__)
def test_a_gamma_below_one_is_refused(est):
    x = np.random.default_rng(0).random((30, 64))
    with pytest.raises(ValueError, match=f"'gamma' parameter of {type(est).__name__} must be "
                                         "a float >= 1.0"):
        est.fit(x)


def test_contrastive_scan_hands_its_gamma_to_its_encoder():
    assert fc.ContrastiveSCAN(3, gamma=2.0)._representation(seed=0).gamma == 2.0


@pytest.mark.parametrize(("x", "message"), [
    (np.full((20, 4), np.nan), "NaN"),
    (np.full((20, 4), np.inf), "infinity"),
    (np.zeros((0, 4)), "0 sample"),
    (np.zeros((5, 4)), r"n_samples=5 should be >= n_clusters=10"),
    (np.array([["a", "b"], ["c", "d"]]), "could not convert|dtype"),
])
def test_bad_input_is_reported(x, message):
    with pytest.raises(ValueError, match=message):
        fc.AutoencoderKMeans(epochs=1, **DENSE).fit(x)


def test_wrong_number_of_features_on_predict():
    x = np.random.default_rng(0).random((40, 8))
    est = fc.AutoencoderGMM(n_clusters=2, epochs=2, **DENSE).fit(x)
    with pytest.raises(ValueError, match="X has 5 features, but AutoencoderGMM is expecting 8"):
        est.predict(x[:, :5])


@pytest.mark.parametrize(("params", "message"), [
    (dict(min_dist=-0.1), "'min_dist' parameter of AutoencoderUMAPGMM must be a float >= 0"),
    (dict(n_neighbors=0), "'n_neighbors' parameter of AutoencoderUMAPGMM must be an int >= 1"),
    (dict(n_components=1.5), "'n_components' parameter of AutoencoderUMAPGMM must be an int"),
    (dict(covariance_type="round"), "'covariance_type' parameter of AutoencoderUMAPGMM"),
])
def test_umap_gmm_parameters_are_checked_before_training(params, message):
    # A million epochs: were the check made after training, this test would not end.
    est = fc.AutoencoderUMAPGMM(n_clusters=3, epochs=10**6, **DENSE, **params)
    with pytest.raises(ValueError, match=message):
        est.fit(np.random.default_rng(0).random((30, 8)))


@pytest.mark.accuracy
def test_umap_gmm_on_real_images_places_new_images_without_refitting(small_real, measured):
    (x, y), (xt, yt) = small_real
    est = fc.AutoencoderUMAPGMM(n_clusters=10, epochs=10, random_state=SEED).fit(x)
    fitted = est.umap_.embedding_.copy()
    labels = est.predict(xt)
    assert np.array_equal(est.umap_.embedding_, fitted)
    # 20 runs: accuracy min 0.386, median 0.442 (random labels 0.16, collapsed 0.10); loss
    # ratio max 0.441 (1.00 when the network did not train).
    assert measured("umap_gmm_test", fc.clustering_accuracy(yt, labels)) > 0.3
    loss = est.autoencoder_.loss_curve_
    assert measured("umap_gmm_loss_ratio", loss[-1] / loss[0]) < 0.7
    assert est.predict_proba(xt).shape == (len(xt), 10)


@pytest.mark.parametrize("cls", [fc.AutoencoderKMeans, fc.AutoencoderGMM])
@pytest.mark.slow
def test_n_clusters_auto_picks_the_number_of_blobs(cls):
    """``n_clusters="auto"``: the k in 2..20 whose K-Means partition of the codes has the
    highest silhouette, chosen without labels; here four well-separated blobs."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (4, 16))
    x = np.concatenate([rng.normal(c, 1.0, (60, 16)) for c in centres]).astype(np.float32)
    est = cls("auto", hidden=(16,), code_dim=4, epochs=60, batch_size=16,
              learning_rate=1e-2, device="cpu", random_state=0).fit(x)
    assert est.n_clusters_ == 4 and sorted(est.silhouette_) == list(range(2, 21))
    assert max(est.silhouette_, key=est.silhouette_.get) == 4
    assert fc.clustering_accuracy(np.repeat(np.arange(4), 60), est.labels_) == 1.0
    with pytest.raises(ValueError, match="'n_clusters' parameter of .* must be an int"):
        cls("many").fit(x)
