"""A pytest plugin that breaks the methods on purpose, to show that the accuracy tests
catch a broken method. ``benchmarks/bench_thresholds.py`` loads it (``-p sabotage``,
this folder on ``PYTHONPATH``) with ``FASHION_CLUSTER_SABOTAGE`` set to one of:

- ``random``: every clustering returns uniformly random labels;
- ``collapse``: every clustering puts every image into cluster 0;
- ``untrained``: every network (autoencoders, contrastive CNN) trains with a learning
  rate of 1e-12, i.e. stays at its random initialisation.

Only the methods are changed; the scoring (Hungarian accuracy) is left alone.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

MODE = os.environ.get("FASHION_CLUSTER_SABOTAGE", "")


def _broken(n: int, k: int) -> np.ndarray:
    if MODE == "collapse":
        return np.zeros(n, dtype=np.int64)
    return np.random.default_rng(n).integers(0, max(k, 2), n).astype(np.int64)


def _labels_of(fn, k_of):
    """Wrap ``fn`` so that the labels it returns are broken (same shape)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, tuple):  # kmeans.assign: (labels, sse)
            return (_broken(len(out[0]), k_of(args, kwargs, out)), *out[1:])
        return _broken(len(out), k_of(args, kwargs, out))
    return wrapper


def _fit_of(fn):
    """Wrap a fit function whose result has ``labels`` (and maybe ``predict``)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        fit = fn(*args, **kwargs)
        k = int(max(np.max(fit.labels), 1)) + 1
        fit.labels = _broken(len(fit.labels), k)
        if hasattr(fit, "predict") and callable(fit.predict):
            fit.predict = lambda data, k=k: _broken(len(data), k)
        return fit
    return wrapper


def _scan_assign(features, head):
    """SCAN's assignment, broken (a torch tensor, as the real one returns)."""
    import torch

    return torch.from_numpy(_broken(len(features), len(head["bias"])))


def _slow_learner(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        kwargs["learning_rate"] = 1e-12
        return fn(*args, **kwargs)
    return wrapper


@pytest.fixture(scope="session", autouse=True)
def _sabotage():
    """Session-wide, so that it is in place before the session- and module-scoped runs
    (tiny_run, beyond_run) that the accuracy tests share."""
    if not MODE:
        yield
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        _break(monkeypatch)
        yield


def _break(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    from fashion_cluster import (
        clusterers,
        contrastive,
        gmm,
        kmeans,
        representations,
        scan,
        training,
    )

    if MODE in ("random", "collapse"):
        assign = _labels_of(kmeans.assign, lambda a, kw, out: len(a[1]))
        for module in (kmeans, clusterers):
            monkeypatch.setattr(module, "assign", assign)
        for module in (gmm, clusterers):
            monkeypatch.setattr(module, "fit_full_gmm", _fit_of(gmm.fit_full_gmm))
        monkeypatch.setattr(scan, "assign", _scan_assign)
        for cls, k_name in ((GaussianMixture, "n_components"), (KMeans, "n_clusters")):
            for name in ("predict", "fit_predict"):
                monkeypatch.setattr(cls, name, _labels_of(
                    getattr(cls, name), lambda a, kw, out, k_name=k_name: getattr(a[0], k_name)))
    elif MODE == "untrained":
        for module, name in ((training, "train_autoencoder"),
                             (representations, "train_autoencoder"),
                             (contrastive, "train_simclr"), (representations, "train_simclr")):
            monkeypatch.setattr(module, name, _slow_learner(getattr(module, name)))
    else:
        raise ValueError(f"FASHION_CLUSTER_SABOTAGE must be random, collapse or untrained, "
                         f"got {MODE!r}")
