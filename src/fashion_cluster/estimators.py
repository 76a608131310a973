"""scikit-learn estimators: the study's methods on any image set, in a few lines.

    from fashion_cluster import AutoencoderGMM
    labels = AutoencoderGMM(n_clusters=10, random_state=0).fit_predict(images)

Transformers:
    :class:`DenseAutoencoder`, :class:`ConvAutoencoder` (``fit`` / ``transform`` /
    ``inverse_transform``): an autoencoder whose codes can feed any scikit-learn model.
Clusterers (``fit`` / ``predict`` / ``fit_predict``, ``labels_``):
    :class:`AutoencoderKMeans`, :class:`AutoencoderGMM` (the study's two deep methods),
    :class:`AutoencoderUMAPGMM` (N2D, beyond the study),
    :class:`ConvAutoencoderKMeans`, :class:`ConvAutoencoderGMM`.

All follow scikit-learn's conventions: parameters are stored as given in ``__init__``
and validated in ``fit``; fitted attributes end with ``_``; ``random_state`` makes a fit
reproducible (same seed, same CPU: same labels); ``n_features_in_`` is checked on every
later call. Defaults are the study's (784-512-256-128-49 encoder, 100 epochs, batch 256,
Adam 1e-3), but the input dimension is taken from the data.

Input: an array of shape (n_samples, n_features), or an image stack (n_samples, H, W) or
(n_samples, H, W, C), which is flattened. Values are min-max scaled with the minimum and
maximum seen in ``fit`` (so uint8 images are divided by 255, as in the study).

The convolutional estimators need an image shape: ``image_shape=(C, H, W)``, or an image
stack, or square single-channel images (n_features = s*s). Other vectors are laid out row
by row in the smallest s x s image with s a multiple of 4, zero-padded, so the estimators
accept any 2-D input (the estimator checks use such data).

All of them pass scikit-learn's ``check_estimator`` (``tests/test_estimators.py`` runs it
with small networks), with the expected failures listed, with their reasons, in
:data:`EXPECTED_FAILED_CHECKS`.
Sparse input is refused with a ``TypeError`` (dense images only), as scikit-learn's own
dense-only estimators do.
"""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import autoencoders as nets
from .clustering import fit_gmm, fit_umap
from .data import scale_images
from .devices import resolve_device
from .kmeans import assign, kmeans
from .training import train_autoencoder

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "AutoencoderGMM",
    "AutoencoderKMeans",
    "AutoencoderUMAPGMM",
    "ConvAutoencoder",
    "ConvAutoencoderGMM",
    "ConvAutoencoderKMeans",
    "DenseAutoencoder",
]


# scikit-learn estimator checks that are expected to fail, with the reason.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "AutoencoderUMAPGMM": {
        "check_methods_sample_order_invariance": (
            "UMAP's transform places new samples by a short stochastic optimisation whose "
            "random draws follow the samples' order, so a shuffled batch gets slightly "
            "different coordinates (probabilities differ in the 4th decimal)"
        ),
    },
    "ConvAutoencoderGMM": {
        "check_clustering": (
            "the check clusters 2-feature blobs; laid out as a 4x4 image, the convolutional "
            "autoencoder has a 1x1 code, nearly constant after a short training, and a "
            "Gaussian mixture on it finds one component (K-Means still splits it)"
        ),
    },
}


# ------------------------------------------------------------------ validation


def _check_int(est: BaseEstimator, name: str, low: int = 1) -> int:
    value = getattr(est, name)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be an int "
                         f">= {low}. Got {value!r} instead.")
    return int(value)


def _check_real(est: BaseEstimator, name: str) -> float:
    value = getattr(est, name)
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be a float "
                         f"> 0. Got {value!r} instead.")
    return float(value)


def _check_choice(est: BaseEstimator, name: str, choices: tuple) -> str:
    value = getattr(est, name)
    if value not in choices:
        raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be one of "
                         f"{', '.join(map(repr, choices))}. Got {value!r} instead.")
    return value


def _check_sizes(est: BaseEstimator, name: str, length: int | None = None) -> tuple[int, ...]:
    value = getattr(est, name)
    try:
        sizes = tuple(value)
    except TypeError:
        sizes = ()
    ok = all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in sizes)
    if not ok or (length is not None and len(sizes) != length) or (length is None and not sizes):
        what = f"{length} positive ints" if length else "a non-empty sequence of positive ints"
        raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be {what}. "
                         f"Got {value!r} instead.")
    return tuple(int(v) for v in sizes)


def _in_float64(model: torch.nn.Module, fn, x: np.ndarray) -> np.ndarray:
    """``fn(model, x)`` computed in float64, returned as float32.

    In float32, BLAS kernels round a row's result differently depending on where the row
    falls in the matrix, so a sample's code could change in the last bit with the order
    or the company of the other samples. In float64 those differences stay far below
    float32 resolution: transform and predict do not depend on the batch.
    """
    double = copy.deepcopy(model).double()
    return fn(double, x.astype(np.float64)).astype(np.float32)


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _flatten_images(X) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """Flatten an image stack (N, H, W[, C]) to (N, H*W*C); return its (C, H, W)."""
    if hasattr(X, "ndim") and X.ndim in (3, 4) and not hasattr(X, "tocsr"):
        arr = np.asarray(X)
        channels = arr.shape[3] if arr.ndim == 4 else 1
        return arr.reshape(len(arr), -1), (channels, arr.shape[1], arr.shape[2])
    return X, None


# ---------------------------------------------------------------- transformers


def _validate_training(est: BaseEstimator) -> None:
    """Check the autoencoder parameters an estimator holds (messages name ``est``)."""
    _check_int(est, "epochs")
    _check_int(est, "batch_size")
    _check_real(est, "learning_rate")
    device = str(est.device)
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"The 'device' parameter of {type(est).__name__} must be 'auto', "
                         f"'cpu' or 'cuda'. Got {est.device!r} instead.")
    for name, length in (("hidden", None), ("filters", 2)):
        if hasattr(est, name):
            _check_sizes(est, name, length)
    if hasattr(est, "code_dim"):
        _check_int(est, "code_dim")
    if hasattr(est, "covariance_type"):
        _check_choice(est, "covariance_type", ("full", "tied", "diag", "spherical"))


class _Autoencoder(TransformerMixin, BaseEstimator):
    """Shared fit / transform / inverse_transform of the two autoencoder transformers."""

    def _build(self, n_features: int, image_shape: tuple[int, ...] | None) -> torch.nn.Module:
        raise NotImplementedError

    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, H, W[, C])
        y : ignored

        Returns
        -------
        self
        """
        _validate_training(self)
        X, image_shape = _flatten_images(X)
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
        self.data_min_ = float(X.min())
        self.data_max_ = float(X.max())
        seed = _seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build(X.shape[1], image_shape)
        model.to(resolve_device(self.device))
        progress = None
        if self.verbose:
            def progress(epoch, epochs, history):
                print(f"[{type(self).__name__}] epoch {epoch}/{epochs} "
                      f"loss {history.loss[-1]:.5f}")
        history = train_autoencoder(model, self._prepare(X), epochs=self.epochs,
                                    batch_size=self.batch_size,
                                    learning_rate=self.learning_rate, seed=seed,
                                    progress=progress)
        self.model_ = model.eval()
        self.loss_curve_ = list(history.loss)
        self.n_iter_ = history.epochs
        spread = float(self.transform(X[:2000]).std(axis=0).mean()) if len(X) > 1 else 1.0
        if spread < 1e-3:
            warnings.warn(
                f"{type(self).__name__}: the codes of the training data are nearly constant "
                f"(mean standard deviation {spread:.1e}): the autoencoder collapsed to the mean "
                "image. Try more epochs, a smaller batch_size or another random_state.",
                ConvergenceWarning, stacklevel=2)
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Min-max scale with the range seen in fit (a constant input maps to zero)."""
        return scale_images(X, self.data_min_, self.data_max_)

    def _restore(self, Z: np.ndarray) -> np.ndarray:
        span = self.data_max_ - self.data_min_
        return Z * (span if span > 0 else 1.0) + self.data_min_

    def transform(self, X):
        """Codes of ``X``.

        Returns
        -------
        ndarray of shape (n_samples, n_codes), float32
        """
        check_is_fitted(self)
        X, _ = _flatten_images(X)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return _in_float64(self.model_, nets.encode, self._prepare(X))

    def inverse_transform(self, X):
        """Reconstructed inputs from codes of shape (n_samples, n_codes).

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_), float32
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=np.float32)
        if Z.shape[1] != self._n_codes():
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__}."
                             f"inverse_transform is expecting {self._n_codes()} features "
                             "(the code size) as input.")
        return self._restore(_in_float64(self.model_, nets.decode, Z))

    def _n_codes(self) -> int:
        return int(np.prod(self.model_.code_shape))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags


class DenseAutoencoder(_Autoencoder):
    """The study's dense autoencoder as a scikit-learn transformer.

    Parameters
    ----------
    hidden : sequence of int, default (512, 256, 128)
        Widths of the encoder's hidden layers; the decoder mirrors ``hidden[1:]``.
    code_dim : int, default 49
    epochs : int, default 100
    batch_size : int, default 256
    learning_rate : float, default 1e-3
    device : {"auto", "cpu", "cuda"}, default "auto"
    random_state : int, RandomState or None
        Seeds the weights and the batch order.
    verbose : bool, default False
        Print the loss after every epoch.

    Attributes
    ----------
    model_ : torch.nn.Module
    loss_curve_ : list of float
        Training loss per epoch.
    n_features_in_ : int
    data_min_, data_max_ : float
        Range used for min-max scaling.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.cluster import KMeans
    >>> pipe = make_pipeline(DenseAutoencoder(epochs=20), KMeans(10))  # doctest: +SKIP
    >>> labels = pipe.fit_predict(images)  # doctest: +SKIP
    """

    def __init__(self, hidden=(512, 256, 128), code_dim=49, epochs=100, batch_size=256,
                 learning_rate=1e-3, device="auto", random_state=None, verbose=False):
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int, image_shape) -> torch.nn.Module:
        hidden = _check_sizes(self, "hidden")
        code_dim = _check_int(self, "code_dim")
        return nets.DenseAutoencoder(input_dim=n_features, hidden=hidden, code_dim=code_dim)


def _square_layout(n_features: int) -> tuple[int, int, int]:
    side = 4 * math.ceil(math.sqrt(n_features) / 4)
    return (1, side, side)


class ConvAutoencoder(_Autoencoder):
    """The study's convolutional autoencoder as a scikit-learn transformer.

    Parameters
    ----------
    image_shape : (C, H, W) or None, default None
        Shape of one image, H and W multiples of 4. None: taken from an image stack, or
        square single-channel images, or else the zero-padded layout described in the
        module docstring.
    filters : (int, int), default (64, 32)
    epochs, batch_size, learning_rate, device, random_state, verbose
        As :class:`DenseAutoencoder`.

    Attributes
    ----------
    image_shape_ : (C, H, W)
        The shape the network works on.
    """

    def __init__(self, image_shape=None, filters=(64, 32), epochs=100, batch_size=256,
                 learning_rate=1e-3, device="auto", random_state=None, verbose=False):
        self.image_shape = image_shape
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int, image_shape) -> torch.nn.Module:
        filters = _check_sizes(self, "filters", length=2)
        if self.image_shape is not None:
            shape = _check_sizes(self, "image_shape", length=3)
            if shape[1] % 4 or shape[2] % 4:
                raise ValueError(f"image_shape {shape}: height and width must be multiples "
                                 "of 4 (the network pools twice)")
            if int(np.prod(shape)) != n_features:
                raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} values but "
                                 f"X has {n_features} features")
        elif image_shape is not None and image_shape[1] % 4 == 0 and image_shape[2] % 4 == 0:
            shape = image_shape
        else:
            side = math.isqrt(n_features)
            shape = (1, side, side) if side * side == n_features and side % 4 == 0 \
                else _square_layout(n_features)
        self.image_shape_ = tuple(int(v) for v in shape)
        self.pad_ = int(np.prod(shape)) - n_features
        return nets.ConvAutoencoder(image_shape=shape, filters=filters)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        scaled = super()._prepare(X)
        if self.pad_:
            scaled = np.pad(scaled, ((0, 0), (0, self.pad_)))
        return scaled

    def _restore(self, Z: np.ndarray) -> np.ndarray:
        out = super()._restore(Z)
        return out[:, : out.shape[1] - self.pad_] if self.pad_ else out


# ------------------------------------------------------------------ clusterers


class _EncodedClusterer(ClusterMixin, BaseEstimator):
    """An autoencoder fitted on X, then a clustering of its codes."""

    def _autoencoder(self, seed: int) -> _Autoencoder:
        raise NotImplementedError

    def _fit_codes(self, codes: np.ndarray, seed: int) -> None:
        raise NotImplementedError

    def _check_clustering(self) -> None:
        """Validate the clustering's own parameters, before any training."""

    def fit(self, X, y=None):
        """Train the autoencoder on ``X``, then cluster the codes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, H, W[, C])
        y : ignored

        Returns
        -------
        self
        """
        n_clusters = _check_int(self, "n_clusters")
        _check_int(self, "n_init")
        self._check_clustering()
        _validate_training(self)
        flat, image_shape = _flatten_images(X)
        flat = validate_data(self, flat, dtype=np.float32, ensure_min_samples=2)
        if len(flat) < n_clusters:
            raise ValueError(f"n_samples={len(flat)} should be >= n_clusters={n_clusters}.")
        seed = _seed(self.random_state)
        encoder = self._autoencoder(seed)
        # An image stack goes to the autoencoder as such, so that it sees the image shape.
        images = flat if image_shape is None else flat.reshape(
            len(flat), image_shape[1], image_shape[2], image_shape[0])
        codes = encoder.fit(images).transform(images)
        self.autoencoder_ = encoder
        self._fit_codes(codes, seed)
        return self

    def _codes(self, X) -> np.ndarray:
        check_is_fitted(self)
        X, _ = _flatten_images(X)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.autoencoder_.transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class _KMeansOnCodes(TransformerMixin, _EncodedClusterer):
    def _fit_codes(self, codes: np.ndarray, seed: int) -> None:
        n_init = _check_int(self, "n_init")
        run = kmeans(codes, self.n_clusters, n_init=n_init, seed=seed,
                     device=resolve_device(self.device))
        self.cluster_centers_ = run.centroids
        self.labels_, self.inertia_ = assign(codes, run.centroids)

    def predict(self, X):
        """Nearest cluster centre of each sample's code.

        Returns
        -------
        ndarray of shape (n_samples,), int64
        """
        return assign(self._codes(X), self.cluster_centers_)[0]

    def transform(self, X):
        """Distances of each sample's code to every cluster centre.

        Returns
        -------
        ndarray of shape (n_samples, n_clusters)
        """
        codes = self._codes(X)
        diff = codes[:, None, :] - self.cluster_centers_[None, :, :]
        return np.sqrt((diff * diff).sum(axis=2)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class _GMMOnCodes(_EncodedClusterer):
    def _check_clustering(self) -> None:
        _check_choice(self, "covariance_type", ("full", "tied", "diag", "spherical"))

    def _fit_codes(self, codes: np.ndarray, seed: int) -> None:
        fit = fit_gmm(codes, self.n_clusters, seed=seed, n_init=self.n_init,
                      covariance_type=self.covariance_type,
                      device=resolve_device(self.device))
        self.gmm_ = fit.model
        self.means_ = fit.centers
        self.converged_ = fit.info["converged"]
        self.labels_ = np.asarray(fit.labels, dtype=np.int64)

    def predict(self, X):
        """Most probable mixture component of each sample's code.

        Returns
        -------
        ndarray of shape (n_samples,), int64
        """
        codes = self._codes(X)
        return self.gmm_.predict(codes).astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_clusters)."""
        codes = self._codes(X)
        return self.gmm_.predict_proba(codes)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of the codes of ``X`` under the mixture."""
        codes = self._codes(X)
        return float(self.gmm_.score(codes))


class _DenseCodes:
    """Clusterers of the codes of a :class:`DenseAutoencoder` built from their parameters."""

    def _autoencoder(self, seed: int) -> _Autoencoder:
        return DenseAutoencoder(self.hidden, self.code_dim, self.epochs, self.batch_size,
                                self.learning_rate, self.device, seed, self.verbose)


class _ConvCodes:
    """Clusterers of the codes of a :class:`ConvAutoencoder` built from their parameters."""

    def _autoencoder(self, seed: int) -> _Autoencoder:
        return ConvAutoencoder(self.image_shape, self.filters, self.epochs, self.batch_size,
                               self.learning_rate, self.device, seed, self.verbose)


_SHARED_DOC = """
    epochs : int, default 100
    batch_size : int, default 256
    learning_rate : float, default 1e-3
    device : {"auto", "cpu", "cuda"}, default "auto"
    random_state : int, RandomState or None
        Seeds the autoencoder (weights, batch order) and the clustering.
    verbose : bool, default False
"""


class AutoencoderKMeans(_DenseCodes, _KMeansOnCodes):
    """Dense autoencoder, then K-Means on its codes (the study's "AE + K-Means").

    Parameters
    ----------
    n_clusters : int, default 10
    n_init : int, default 10
        K-Means initialisations (k-means++); the best is kept.
    hidden : sequence of int, default (512, 256, 128)
    code_dim : int, default 49
    """ + _SHARED_DOC + """
    Attributes
    ----------
    autoencoder_ : DenseAutoencoder
    cluster_centers_ : ndarray of shape (n_clusters, code_dim)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of squared distances of the codes to their centres.
    n_features_in_ : int
    """

    def __init__(self, n_clusters=10, n_init=10, hidden=(512, 256, 128), code_dim=49,
                 epochs=100, batch_size=256, learning_rate=1e-3, device="auto",
                 random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class AutoencoderGMM(_DenseCodes, _GMMOnCodes):
    """Dense autoencoder, then a Gaussian mixture on its codes (the study's "AE + GMM").

    Parameters
    ----------
    n_clusters : int, default 10
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 1
        EM initialisations (scikit-learn's GaussianMixture default).
    hidden : sequence of int, default (512, 256, 128)
    code_dim : int, default 49
    """ + _SHARED_DOC + """
    Attributes
    ----------
    autoencoder_ : DenseAutoencoder
    gmm_ : sklearn.mixture.GaussianMixture
    means_ : ndarray of shape (n_clusters, code_dim)
    converged_ : bool
    labels_ : ndarray of shape (n_samples,)
    n_features_in_ : int
    """

    def __init__(self, n_clusters=10, covariance_type="full", n_init=1,
                 hidden=(512, 256, 128), code_dim=49, epochs=100, batch_size=256,
                 learning_rate=1e-3, device="auto", random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class AutoencoderUMAPGMM(_DenseCodes, _GMMOnCodes):
    """N2D: dense autoencoder, UMAP of its codes, then a Gaussian mixture.

    After McConville et al., *N2D: (Not Too) Deep Clustering* (2019), whose settings are
    the defaults: UMAP to as many dimensions as clusters, 20 neighbours, ``min_dist`` 0.
    New samples are placed with the fitted UMAP's ``transform``, never a refit. UMAP's
    neighbour graph is built with exact nearest neighbours.

    Parameters
    ----------
    n_clusters : int, default 10
    n_components : int or None, default None
        Dimensions of the UMAP embedding; None means ``n_clusters``.
    n_neighbors : int, default 20
        UMAP's neighbourhood size (at most n_samples - 1 is used).
    min_dist : float, default 0.0
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 1
    hidden : sequence of int, default (512, 256, 128)
    code_dim : int, default 49
    """ + _SHARED_DOC + """
    Attributes
    ----------
    autoencoder_ : DenseAutoencoder
    umap_ : umap.UMAP
    gmm_ : sklearn.mixture.GaussianMixture
    means_ : ndarray of shape (n_clusters, n_components)
        Component means, in the UMAP embedding.
    converged_ : bool
    labels_ : ndarray of shape (n_samples,)
    n_features_in_ : int
    """

    def __init__(self, n_clusters=10, n_components=None, n_neighbors=20, min_dist=0.0,
                 covariance_type="full", n_init=1, hidden=(512, 256, 128), code_dim=49,
                 epochs=100, batch_size=256, learning_rate=1e-3, device="auto",
                 random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_clustering(self) -> None:
        super()._check_clustering()
        _check_int(self, "n_neighbors")
        if self.n_components is not None:
            _check_int(self, "n_components")
        if (isinstance(self.min_dist, bool) or not isinstance(self.min_dist, Real)
                or not self.min_dist >= 0):
            raise ValueError(f"The 'min_dist' parameter of {type(self).__name__} must be a "
                             f"float >= 0. Got {self.min_dist!r} instead.")

    def _fit_codes(self, codes: np.ndarray, seed: int) -> None:
        self.umap_, embedding = fit_umap(codes, self.n_components or self.n_clusters,
                                         seed=seed, n_neighbors=self.n_neighbors,
                                         min_dist=float(self.min_dist))
        super()._fit_codes(embedding, seed)

    def _codes(self, X) -> np.ndarray:
        codes = super()._codes(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UMAP's notes about its own internals
            return self.umap_.transform(codes).astype(np.float32)


class ConvAutoencoderKMeans(_ConvCodes, _KMeansOnCodes):
    """Convolutional autoencoder, then K-Means on its codes (H/4 x W/4 per image).

    Parameters
    ----------
    n_clusters : int, default 10
    n_init : int, default 10
    image_shape : (C, H, W) or None, default None
        See :class:`ConvAutoencoder`.
    filters : (int, int), default (64, 32)
    """ + _SHARED_DOC

    def __init__(self, n_clusters=10, n_init=10, image_shape=None, filters=(64, 32),
                 epochs=100, batch_size=256, learning_rate=1e-3, device="auto",
                 random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.image_shape = image_shape
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class ConvAutoencoderGMM(_ConvCodes, _GMMOnCodes):
    """Convolutional autoencoder, then a Gaussian mixture on its codes.

    Parameters
    ----------
    n_clusters : int, default 10
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 1
    image_shape : (C, H, W) or None, default None
    filters : (int, int), default (64, 32)
    """ + _SHARED_DOC

    def __init__(self, n_clusters=10, covariance_type="full", n_init=1, image_shape=None,
                 filters=(64, 32), epochs=100, batch_size=256, learning_rate=1e-3,
                 device="auto", random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.image_shape = image_shape
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
