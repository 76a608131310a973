"""Representations as scikit-learn transformers: images in, feature vectors out.

    codes = DenseAutoencoder(epochs=20, random_state=0).fit_transform(images)

`DenseAutoencoder`, `ConvAutoencoder` (``fit`` / ``transform`` /
``inverse_transform``) and `ContrastiveEncoder` (a small CNN trained with SimCLR;
``fit`` / ``transform``). The study trains its representations through these classes,
and the clusterers of `fashion_cluster.estimators` are built on them.

Input: an array of shape (n_samples, n_features), or an image stack (n_samples, H, W) or
(n_samples, H, W, C), which is flattened pixel by pixel. Values are mapped to [0, 1] with
``value_range``, or with the minimum and maximum seen in ``fit`` when it is None (so
uint8 images are divided by 255, as in the study). ``random_state`` as an int seeds the
weights and the batch order exactly as a study run with that seed does.
`ContrastiveEncoder` also fits and transforms a zarr array, read a few chunks at a time.

``transform`` gives a sample the same features alone, in any order and in any subset:
the networks always see full, zero-padded batches.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import autoencoders as nets
from . import ddp
from .contrastive import SimCLRNet, StoreRows, augment, train_simclr
from .data import scale_images
from .devices import resolve_device
from .persistence import Saveable
from .training import History, schedule, train_autoencoder
from .validation import (
    check_choice,
    check_device,
    check_int,
    check_range,
    check_real,
    check_sizes,
    seed_of,
)

__all__ = ["ContrastiveEncoder", "ConvAutoencoder", "DenseAutoencoder", "flatten_images"]

Progress = Callable[[int, int, History], None]


def flatten_images(X) -> tuple[Any, tuple[int, int, int] | None]:
    """Flatten an image stack (N, H, W[, C]) to (N, H*W*C) and return its (C, H, W);
    other input is returned as it is, with None."""
    if hasattr(X, "ndim") and X.ndim in (3, 4) and not hasattr(X, "tocsr"):
        arr = np.asarray(X)
        channels = arr.shape[3] if arr.ndim == 4 else 1
        return arr.reshape(len(arr), -1), (channels, arr.shape[1], arr.shape[2])
    return X, None


def is_store(X) -> bool:
    """Whether ``X`` is a chunked on-disk array (zarr), read a chunk at a time."""
    return type(X).__module__.split(".")[0] == "zarr" and hasattr(X, "chunks")


def check_store(store, min_images: int = 2) -> None:
    """Refuse a store that is not images (N, H, W[, C]) or rows (N, pixels), or that holds
    fewer than ``min_images``."""
    if store.ndim not in (2, 3, 4):
        raise ValueError(f"expected a store of images (N, H, W[, C]) or rows (N, pixels), "
                         f"got shape {store.shape}")
    if store.shape[0] < min_images:
        raise ValueError(f"the store holds {store.shape[0]} images, at least {min_images} "
                         "are needed")


def store_blocks(store, rows: int = 4096) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, block)`` of a zarr array, whole chunks and at least ``rows`` rows a
    block (one empty block for an empty array)."""
    step = int(store.chunks[0]) * max(1, rows // int(store.chunks[0]))
    for start in range(0, max(store.shape[0], 1), step):
        yield start, np.asarray(store[start : start + step])


def _square_layout(n_features: int, multiple: int) -> tuple[int, int, int]:
    """The smallest single-channel s x s image (s a multiple of ``multiple``) holding
    ``n_features`` values."""
    side = math.isqrt(n_features)
    if side * side == n_features and side % multiple == 0:
        return (1, side, side)
    side = multiple * math.ceil(math.sqrt(n_features) / multiple)
    return (1, side, side)


class _Network(Saveable, TransformerMixin, BaseEstimator):
    """What the three representations share: validation, scaling, seeding, the fitted
    network (``model_``), transform, and saving the network's weights."""

    _multiple = 1  # image height and width must be multiples of this (pooling)

    def _build(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError

    def _train(self, model: torch.nn.Module, x: np.ndarray, x_val: np.ndarray | None,
               seed: int, checkpoint, progress: Progress | None) -> History:
        raise NotImplementedError

    def fit_schedule(self, n_samples: int) -> tuple[int, int]:
        """The epochs and batch size a fit on ``n_samples`` images trains with."""
        return self.epochs, self.batch_size

    def _validate(self) -> None:
        check_int(self, "epochs")
        check_int(self, "batch_size")
        check_real(self, "learning_rate")
        check_device(self)
        check_range(self, "value_range")

    def fit(self, X, y=None, *, X_val=None, checkpoint=None, progress: Progress | None = None):
        """Train the network on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, H, W[, C])
            `ContrastiveEncoder` also takes a zarr array, read a few chunks at a time.
        y : ignored
        X_val : array-like like ``X``, optional
            Its loss is recorded after every epoch (``val_loss_curve_``).
        checkpoint : path, optional
            Written after every epoch; a later fit with the same settings and data
            resumes from it.
        progress : callable, optional
            Called as ``progress(epoch, epochs, history)`` after every epoch.

        Returns
        -------
        self
        """
        self._validate()
        if is_store(X):
            return self._fit_store(X, checkpoint, progress)
        X, image_shape = flatten_images(X)
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
        self._set_input(check_range(self, "value_range") or (float(X.min()), float(X.max())),
                        X.shape[1], image_shape)
        x_val = None if X_val is None else self._prepare(flatten_images(X_val)[0])
        self._fit_network(self._prepare(X), x_val, checkpoint, progress)
        self._warn_if_collapsed(X)
        return self

    def _fit_store(self, store, checkpoint, progress: Progress | None):
        raise ValueError(f"{type(self).__name__} trains on images in memory: pass "
                         "np.asarray(store), or use ContrastiveEncoder, which reads a store "
                         "as it trains")

    def _set_input(self, value_range: tuple[float, float], n_features: int,
                   stack_shape: tuple[int, int, int] | None) -> None:
        self.data_min_, self.data_max_ = value_range
        self.image_shape_ = self._image_shape(n_features, stack_shape)

    def _fit_network(self, x, x_val: np.ndarray | None, checkpoint,
                     progress: Progress | None) -> None:
        """Build the network (seeded) and train it on prepared images ``x``."""
        seed = seed_of(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build(self.n_features_in_)
        model.to(resolve_device(self.device))
        if progress is None and self.verbose:
            def progress(epoch: int, epochs: int, history: History) -> None:
                print(f"[{type(self).__name__}] epoch {epoch}/{epochs} "
                      f"loss {history.loss[-1]:.5f}")
        history = self._train(model, x, x_val, seed, checkpoint, progress)
        self.model_ = model.eval()
        self.history_ = {"loss": list(history.loss), "val_loss": list(history.val_loss),
                         "epoch_seconds": list(history.epoch_seconds)}
        self.n_iter_ = history.epochs

    @property
    def loss_curve_(self) -> list[float]:
        """Training loss per epoch."""
        return self.history_["loss"]

    def _image_shape(self, n_features: int, stack_shape) -> tuple[int, int, int]:
        """The (C, H, W) the network works on: ``image_shape``, or an image stack's, or
        a square layout of the features (zero-padded)."""
        m = self._multiple
        if getattr(self, "image_shape", None) is not None:
            shape = check_sizes(self, "image_shape", length=3)
            if shape[1] % m or shape[2] % m:
                raise ValueError(f"image_shape {shape}: height and width must be multiples "
                                 f"of {m} (the network pools twice)")
            if int(np.prod(shape)) != n_features:
                raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} values but "
                                 f"X has {n_features} features")
            return shape
        if stack_shape is not None and stack_shape[1] % m == 0 and stack_shape[2] % m == 0:
            return tuple(int(v) for v in stack_shape)
        return _square_layout(n_features, m)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Scaled to [0, 1] with the fitted range, zero-padded to the network's layout."""
        scaled = scale_images(X, self.data_min_, self.data_max_)
        pad = int(np.prod(self.image_shape_)) - scaled.shape[1]
        return np.pad(scaled, ((0, 0), (0, pad))) if pad > 0 else scaled

    def transform(self, X, *, out: np.ndarray | None = None):
        """Features of ``X``.

        Parameters
        ----------
        X : array-like like in ``fit``, or a zarr array (read a few chunks at a time)
        out : ndarray of shape (n_samples, n_features_out), optional
            Written into and returned: an array mapped from a file
            (``np.lib.format.open_memmap``) keeps memory flat for a large store.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out), float32
        """
        check_is_fitted(self)
        if is_store(X):
            return self._transform_store(X, out)
        X, _ = flatten_images(X)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        features = nets.encode(self.model_, self._prepare(X))
        if out is None:
            return features
        out[...] = features
        return out

    def _transform_store(self, store, out: np.ndarray | None) -> np.ndarray:
        """Features of a zarr array, a few chunks at a time, into ``out`` or one new
        array (no second copy of the features)."""
        for start, block in store_blocks(store):
            part = self.transform(block)
            if out is None:
                out = np.empty((store.shape[0], part.shape[1]), dtype=part.dtype)
            out[start : start + len(part)] = part
        return out

    def _warn_if_collapsed(self, X: np.ndarray) -> None:
        spread = float(self.transform(X[:2000]).std(axis=0).mean())
        if spread < 1e-3:
            warnings.warn(
                f"{type(self).__name__}: the features of the training data are nearly "
                f"constant (mean standard deviation {spread:.1e}): the network collapsed. "
                "Try more epochs, a smaller batch_size or another random_state.",
                ConvergenceWarning, stacklevel=3)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        if "model_" not in state:  # not fitted (a parameter of another estimator)
            return state
        model = state.pop("model_")
        state["model_config_"] = model.config
        state["model_weights_"] = {k: v.detach().cpu().numpy()
                                   for k, v in model.state_dict().items()}
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "model_config_" not in state:
            return
        config, weights = state.pop("model_config_"), state.pop("model_weights_")
        super()._set_state(state)
        model = self._net_class()(**config)
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        self.model_ = model.to(resolve_device(self.device)).eval()

    def _net_class(self) -> type[torch.nn.Module]:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags


class _Autoencoder(_Network):
    """An autoencoder: trained to reconstruct its input; its codes decode back."""

    def _train(self, model, x, x_val, seed, checkpoint, progress) -> History:
        return train_autoencoder(model, x, x_val, epochs=self.epochs,
                                 batch_size=self.batch_size, learning_rate=self.learning_rate,
                                 seed=seed, checkpoint=checkpoint, progress=progress,
                                 step=self.step)

    def _validate(self) -> None:
        super()._validate()
        check_choice(self, "step", ("autograd", "compile"))

    def inverse_transform(self, X):
        """Reconstructed inputs from codes of shape (n_samples, n_codes).

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_), float32, in the input's range
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=np.float32)
        n_codes = int(np.prod(self.model_.code_shape))
        if Z.shape[1] != n_codes:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__}."
                             f"inverse_transform is expecting {n_codes} features "
                             "(the code size) as input.")
        out = nets.decode(self.model_, Z)[:, : self.n_features_in_]
        span = self.data_max_ - self.data_min_
        return out * (span if span > 0 else 1.0) + self.data_min_


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
    step : {"autograd", "compile"}, default "autograd"
        How a training step computes gradients
        (`fashion_cluster.training.train_autoencoder`).
    value_range : (low, high) or None, default None
        Input values mapped to [0, 1]; None: the minimum and maximum seen in ``fit``.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
    random_state : int, RandomState or None
        Seeds the weights and the batch order.
    verbose : bool, default False
        Print the loss after every epoch.

    Attributes
    ----------
    model_ : torch.nn.Module
    history_ : dict
        ``loss``, ``val_loss`` and ``epoch_seconds`` per epoch.
    loss_curve_ : list of float
    n_features_in_ : int
    data_min_, data_max_ : float
        The range mapped to [0, 1].

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.cluster import KMeans
    >>> pipe = make_pipeline(DenseAutoencoder(epochs=20), KMeans(10))  # doctest: +SKIP
    >>> labels = pipe.fit_predict(images)  # doctest: +SKIP
    """

    def __init__(self, hidden=(512, 256, 128), code_dim=49, epochs=100, batch_size=256,
                 learning_rate=1e-3, step="autograd", value_range=None, device="auto",
                 random_state=None, verbose=False):
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.step = step
        self.value_range = value_range
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _image_shape(self, n_features: int, stack_shape) -> tuple[int, int, int]:
        return stack_shape or (1, 1, n_features)

    def _build(self, n_features: int) -> torch.nn.Module:
        return nets.DenseAutoencoderNet(input_dim=n_features,
                                        hidden=check_sizes(self, "hidden"),
                                        code_dim=check_int(self, "code_dim"))

    def _net_class(self):
        return nets.DenseAutoencoderNet


class ConvAutoencoder(_Autoencoder):
    """The study's convolutional autoencoder as a scikit-learn transformer.

    Parameters
    ----------
    image_shape : (C, H, W) or None, default None
        Shape of one image, H and W multiples of 4. None: taken from an image stack, or
        square single-channel images; other vectors are laid out row by row in the
        smallest s x s image with s a multiple of 4, zero-padded.
    filters : (int, int), default (64, 32)
    epochs, batch_size, learning_rate, step, value_range, device, random_state, verbose
        As `DenseAutoencoder`.

    Attributes
    ----------
    image_shape_ : (C, H, W)
        The shape the network works on.
    """

    _multiple = 4

    def __init__(self, image_shape=None, filters=(64, 32), epochs=100, batch_size=256,
                 learning_rate=1e-3, step="autograd", value_range=None, device="auto",
                 random_state=None, verbose=False):
        self.image_shape = image_shape
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.step = step
        self.value_range = value_range
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int) -> torch.nn.Module:
        return nets.ConvAutoencoderNet(image_shape=self.image_shape_,
                                       filters=check_sizes(self, "filters", length=2))

    def _net_class(self):
        return nets.ConvAutoencoderNet


class ContrastiveEncoder(_Network):
    """A small CNN trained with SimCLR (Chen et al. 2020), as a scikit-learn transformer.

    Two augmented views of each image (random crop and resize, flip, contrast,
    brightness, noise, optionally a random gamma) are pulled together and pushed away
    from the other images of the batch (NT-Xent loss, through a projection head that is
    discarded after training).
    ``transform`` gives the CNN's features of the clean images.

    Parameters
    ----------
    image_shape : (C, H, W) or None, default None
        As `ConvAutoencoder` (any H and W).
    feature_dim : int, default 512
    epochs : int, default 8
    batch_size : int, default 512
    min_steps : int, default 300
        Small sets train for more epochs, with batches of at most a quarter of the set,
        until they take at least this many optimiser steps (8 epochs of 60,000 images at
        batch 512 take 936); see `fashion_cluster.training.schedule`.
    learning_rate : float, default 1e-3
        Peak of a one-cycle schedule (Adam).
    temperature : float, default 0.5
    crop_min : float, default 0.4
        Smallest crop, as a fraction of the image's area.
    value_range, device, random_state, verbose
        As `DenseAutoencoder`.
    processes : int, default 1
        Train on this many processes (torch.distributed, `fashion_cluster.ddp`), each
        taking its share of every batch: new processes of this machine (CPU processes, or
        one a GPU), or, when fit runs in each process of a group of that size started by
        ``torchrun``, that group. ``fit`` also takes a zarr array: uint8 images are
        scaled by 1/255 (not by the range seen, which would take a pass over the store),
        others need ``value_range``.
    gamma : float, default 1.0
        Largest power of a random gamma correction of the views (a power between
        1 / ``gamma`` and ``gamma``; 1: none); see `fashion_cluster.contrastive.augment`.

    Attributes
    ----------
    model_ : torch.nn.Module
    history_ : dict
    image_shape_ : (C, H, W)
    epochs_, batch_size_ : int
        The epochs and batch size used (more epochs and smaller batches on small sets).
    """

    def __init__(self, image_shape=None, feature_dim=512, epochs=8, batch_size=512,
                 min_steps=300, learning_rate=1e-3, temperature=0.5, crop_min=0.4,
                 value_range=None, device="auto", random_state=None, verbose=False,
                 processes=1, gamma=1.0):
        self.image_shape = image_shape
        self.feature_dim = feature_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.crop_min = crop_min
        self.value_range = value_range
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.processes = processes
        self.gamma = gamma

    def _validate(self) -> None:
        super()._validate()
        check_int(self, "feature_dim")
        check_int(self, "processes")
        check_int(self, "batch_size", low=2)
        check_int(self, "min_steps", low=0)
        check_real(self, "temperature")
        check_real(self, "crop_min")
        check_real(self, "gamma", low=1.0, strict=False)

    #: The keys `simclr_hooks` may return, besides ``network``.
    TRAINING_HOOKS = ("loss", "projection_head", "augment")

    def simclr_hooks(self) -> dict[str, Any]:
        """The network and parts of its training that replace SimCLR's: none here.
        An extension point for research (``research/`` in the repository): a subclass
        returns some of them, made from its parameters, so that `load` makes the same.

        Returns
        -------
        dict
            Any of ``network``: the class or factory that `fit` builds and `load`
            rebuilds, called with the network's ``config`` as keywords
            (``image_shape``, ``feature_dim`` and whatever else it records), returning a
            module with `SimCLRNet`'s interface (default `SimCLRNet`); ``loss``,
            ``projection_head`` and ``augment``: passed to
            `fashion_cluster.contrastive.train_simclr` (default: SimCLR's), ``augment``
            also making `view_features`' views (called as ``augment(images, generator,
            crop_min=..., gamma=...)``).
        """
        return {}

    def _hooks(self) -> dict[str, Any]:
        hooks = self.simclr_hooks()
        unknown = set(hooks) - {"network", *self.TRAINING_HOOKS}
        if unknown:
            raise ValueError(f"simclr_hooks returned unknown keys {sorted(unknown)}: expected "
                             f"some of {['network', *self.TRAINING_HOOKS]}")
        return hooks

    def _build(self, n_features: int) -> torch.nn.Module:
        return self._net_class()(image_shape=self.image_shape_, feature_dim=self.feature_dim)

    def _net_class(self):
        return self._hooks().get("network", SimCLRNet)

    def _fit_store(self, store, checkpoint, progress: Progress | None):
        """Train on a zarr array of images, (N, H, W[, C]) or rows (N, pixels), read a
        few chunks at a time (`fashion_cluster.contrastive.StoreRows`)."""
        check_store(store)
        value_range = check_range(self, "value_range") or (
            (0.0, 255.0) if store.dtype == np.uint8 else None)
        if value_range is None:
            raise ValueError(f"a store of {store.dtype} values needs value_range=(low, high): "
                             "finding its minimum and maximum would take a pass over it")
        shape = store.shape
        stack = None if len(shape) == 2 else (shape[3] if len(shape) == 4 else 1, *shape[1:3])
        self.n_features_in_ = int(np.prod(shape[1:]))
        self._set_input(value_range, self.n_features_in_, stack)
        self._fit_network(StoreRows(store, self._prepare_rows), None, checkpoint, progress)
        self._warn_if_collapsed(np.asarray(store[:2000]))
        return self

    def _prepare_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._prepare(np.asarray(rows).reshape(len(rows), -1))

    def fit_schedule(self, n_samples: int) -> tuple[int, int]:
        """Small sets train more epochs with smaller batches (`training.schedule`); on
        several processes the batch is a multiple of their number (`ddp.shared_batch`).

        Raises
        ------
        ValueError
            Too few images for 2 a batch on each process (batches hold at most a
            quarter of the images).
        """
        epochs, batch = schedule(n_samples, self.epochs, self.batch_size, self.min_steps)
        what = f"SimCLR on {n_samples} images (batches of at most a quarter of them)"
        return epochs, ddp.shared_batch(batch, self.processes, 2, what)

    def _train(self, model, x, x_val, seed, checkpoint, progress) -> History:
        self.epochs_, self.batch_size_ = self.fit_schedule(len(x))
        hooks = {k: v for k, v in self._hooks().items() if k in self.TRAINING_HOOKS}
        return train_simclr(model, x, epochs=self.epochs_, batch_size=self.batch_size_,
                            learning_rate=self.learning_rate, temperature=self.temperature,
                            crop_min=self.crop_min, gamma=self.gamma, seed=seed,
                            processes=self.processes,
                            checkpoint=checkpoint, progress=progress, **hooks)

    def view_features(self, X, views: int, generator: torch.Generator, block: int = 2048,
                      out: np.ndarray | None = None) -> torch.Tensor | np.ndarray:
        """Features of ``views`` augmented copies of every image, float16, shape
        (views, n_samples, feature_dim), for SCAN: a tensor on the network's device, or
        ``out`` (for instance an array mapped from a file) filled. ``X`` as in
        ``transform``: images in memory are prepared once, a store is read ``block`` rows
        at a time, once a view."""
        check_is_fitted(self)
        n = X.shape[0]
        if out is None:
            out = torch.empty(views, n, self.feature_dim, dtype=torch.float16,
                              device=generator.device)
        if not is_store(X):
            X = torch.from_numpy(self._prepare_rows(X)).to(generator.device)
        net = self.model_
        view_of = self._hooks().get("augment", augment)
        with torch.no_grad():
            for view in range(views):
                for start in range(0, n, block):
                    x = X[start : start + block]
                    if not torch.is_tensor(x):
                        x = torch.from_numpy(self._prepare_rows(x)).to(generator.device)
                    augmented = view_of(net.images(x), generator, crop_min=self.crop_min,
                                        gamma=self.gamma)
                    features = net.forward_images(augmented).half()
                    out[view, start : start + len(x)] = (
                        features if torch.is_tensor(out) else features.cpu().numpy())
        return out
