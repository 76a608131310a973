"""The torch EM for full-covariance Gaussian mixtures against scikit-learn's."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

from fashion_cluster.clusterers import GMMClusterer
from fashion_cluster.gmm import fit_full_gmm
from fashion_cluster.metrics import clustering_accuracy


def _stretched_blobs(n=3000, seed=0):
    """Blobs with correlated, unequal spreads: what full covariances are for."""
    x, y = make_blobs(n, n_features=6, centers=4, cluster_std=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    x = x @ rng.normal(size=(6, 6)) + 50  # far from the origin, to test the centring
    return x.astype(np.float32), y


@pytest.mark.parametrize("seed", [0, 1])
def test_same_em_as_scikit_learn(small_real, seed, device):
    (x, _), _ = small_real
    codes = x[:, ::16]  # 49 pixel columns: real, correlated, not separable
    theirs = GaussianMixture(5, covariance_type="full", random_state=seed).fit(codes)
    ours = fit_full_gmm(codes, 5, seed=seed, device=device)
    # Same initialisation and steps: the same number of iterations, the same optimum.
    assert ours.model.n_iter_ == theirs.n_iter_
    assert ours.model.lower_bound_ == pytest.approx(theirs.lower_bound_, abs=1e-3)
    assert np.abs(ours.model.means_ - theirs.means_).max() < 1e-3
    assert (ours.labels == theirs.predict(codes)).mean() > 0.995
    # The returned model is a fitted scikit-learn mixture whose methods agree with the fit.
    assert np.array_equal(ours.model.predict(codes), ours.labels)
    assert ours.model.score(codes) == pytest.approx(ours.mean_log_likelihood, rel=1e-5)
    assert ours.model.bic(codes) == pytest.approx(ours.bic, rel=1e-5)
    assert np.allclose(ours.model.predict_proba(codes[:50]).sum(1), 1)


def test_separable_data_and_n_init():
    x, y = _stretched_blobs()
    one = fit_full_gmm(x, 4, seed=0)
    assert clustering_accuracy(y, one.labels) > 0.99 and one.model.converged_
    best = fit_full_gmm(x, 4, seed=0, n_init=3)
    assert best.model.lower_bound_ >= one.model.lower_bound_ - 1e-6


def test_gmm_clusterer_records_convergence_and_uses_the_torch_em():
    x, _ = _stretched_blobs()
    fit = GMMClusterer(4, max_iter=1, random_state=0).fit(x)  # one step cannot converge
    assert fit.info_["converged"] is False and fit.info_["n_iter"] == 1
    assert any("did not converge" in w for w in fit.info_["warnings"])
    assert np.isfinite(fit.info_["bic"])
    diag = GMMClusterer(4, covariance_type="diag", random_state=0).fit(x)  # scikit-learn's EM
    assert isinstance(diag.gmm_, GaussianMixture) and diag.info_["covariance_type"] == "diag"


def test_bad_input():
    x, _ = _stretched_blobs(200)
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        fit_full_gmm(x, 0)
    with pytest.raises(ValueError, match="at least"):
        fit_full_gmm(x[:3], 4)
    with pytest.raises(ValueError, match="NaN"):
        fit_full_gmm(np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), 2)
    with pytest.raises(ValueError, match="reg_covar must be a number"):
        fit_full_gmm(x, 2, reg_covar=-1)
    # Two identical points in 6-d cannot have a positive-definite covariance.
    flat = np.repeat(x[:2], 10, axis=0)
    with pytest.raises(ValueError, match="not positive definite"):
        fit_full_gmm(flat, 2, reg_covar=0)
