"""Save a fitted estimator to one file and load it back, without pickle.

    est.save("model.safetensors")
    est = fashion_cluster.load("model.safetensors")

The file is a safetensors file: every array of the estimator (network weights, cluster
centres, mixture parameters) is a named tensor, and the header's metadata holds a JSON
tree with the estimator's class name, its parameters and its other fitted attributes.
Loading looks the class name up among this package's estimators (nothing else can be
built, and no code is read from the file; `fashion_cluster.load` imports them all
first), constructs it with the saved parameters and restores the fitted state, so that
predictions after a round trip are identical.

The header also holds a SHA-256 of the tree and of every array's bytes, checked at
load: a file whose numbers were changed (a flipped bit, an edit) is refused rather than
loaded. ``load(path, expected=Class)`` or ``Class.load(path)`` also refuses a file that
holds another kind of estimator. Saving follows the package's write policy
(`fashion_cluster.outputs`): it replaces an earlier estimator file, but any other
existing file only with ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import ArtifactError, atomic_path

__all__ = ["FORMAT", "Saveable", "load", "save"]

FORMAT = "fashion-cluster estimator 1"

# The classes `load` may build, by name: this package's public saveable estimators, each
# registered when its class is defined (`fashion_cluster.estimators` imports them all).
_CLASSES: dict[str, type] = {}


class Saveable:
    """Mixin: ``save(path)``, and the state that `load` restores.

    By default the state is every public fitted attribute (a name ending in ``_``) that
    is an array, a JSON value or another saveable estimator; estimators holding other
    objects (a torch network, a scikit-learn mixture) override ``_get_state`` and
    ``_set_state``.
    """

    # Parameters added after files of this format were first written, with the value a
    # file that lacks one was fitted with (where it differs from today's default).
    _params_before: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _CLASSES[cls.__name__] = cls

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write the fitted estimator to ``path`` (a ``.safetensors`` file); an existing
        file that is not an estimator file is replaced only with ``overwrite``."""
        save(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """The estimator saved in ``path``, which must be of this class (or a subclass)."""
        return load(path, expected=cls)

    def _get_state(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _set_state(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def save(estimator: Saveable, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write a fitted estimator to ``path``; see the module docstring.

    Raises
    ------
    OutputError
        ``path`` is a folder, cannot be written, or is an existing file that is not an
        estimator file and ``overwrite`` is false.
    """
    from safetensors.numpy import save_file
    from sklearn.utils.validation import check_is_fitted

    from .outputs import check_file

    check_is_fitted(estimator)
    target = check_file(path, overwrite=overwrite or _is_estimator_file(Path(path)),
                        outside_runs=False)
    arrays: dict[str, np.ndarray] = {}
    tree = json.dumps(_encode_estimator(estimator, "", arrays))
    metadata = {"format": FORMAT, "tree": tree, "sha256": _digest(tree, arrays)}
    with atomic_path(target) as tmp:
        save_file(arrays, str(tmp), metadata=metadata)


def _digest(tree: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the tree and of every array (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(tree.encode())
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _is_estimator_file(path: Path) -> bool:
    """Whether ``path`` is a regular file written by `save` (which it may replace)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="np") as fh:
            return (fh.metadata() or {}).get("format") == FORMAT
    except (SafetensorError, OSError, ValueError):
        return False


def load(path: str | os.PathLike, expected: type | tuple[type, ...] | None = None) -> Any:
    """The estimator saved in ``path`` by ``save``, fitted and ready to ``predict``.

    Parameters
    ----------
    path : path-like
    expected : class or tuple of classes, optional
        The file must hold an estimator of this class (or a subclass).

    Raises
    ------
    ArtifactError
        The file is missing, damaged (its checksum does not match its content), not
        written by ``save``, names a class that is not one of this package's estimators,
        or holds another class than ``expected``.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: not found")
    try:
        with safe_open(str(path), framework="np") as fh:
            meta = fh.metadata() or {}
            arrays = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: damaged or not a safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a fashion-cluster estimator file (format "
                            f"{meta.get('format')!r}, expected {FORMAT!r})")
    # Files written before the checksum existed have none; every newer one is checked.
    if "sha256" in meta and meta["sha256"] != _digest(meta.get("tree", ""), arrays):
        raise ArtifactError(f"{path}: damaged estimator file (its content does not match "
                            "its checksum: changed or corrupted since it was saved)")
    try:
        tree = json.loads(meta["tree"])
        _check_class(path, tree["class"], expected)
        return _decode_estimator(tree, arrays)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError,
            IndexError) as exc:  # JSONDecodeError too; a crafted tree of the wrong shapes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ArtifactError(f"{path}: damaged estimator file ({type(exc).__name__}: "
                            f"{first})") from None


def _check_class(path: Path, name: str, expected: type | tuple[type, ...] | None) -> None:
    cls = _CLASSES.get(name)
    if expected is None or cls is None:  # an unknown class is reported when decoding
        return
    if not issubclass(cls, expected):
        wanted = expected if isinstance(expected, tuple) else (expected,)
        raise ArtifactError(f"{path}: holds a {name}, expected a "
                            f"{' or '.join(c.__name__ for c in wanted)}")


def _encode_estimator(est: Saveable, prefix: str, arrays: dict) -> dict:
    return {"class": type(est).__name__,
            "params": _encode(est.get_params(deep=False), f"{prefix}params.", arrays),
            "state": _encode(est._get_state(), f"{prefix}state.", arrays)}


def _encode(value: Any, key: str, arrays: dict) -> Any:
    """JSON for ``value``; arrays go into ``arrays`` and are referenced by key."""
    if isinstance(value, Saveable):
        return {"__estimator__": _encode_estimator(value, f"{key}/", arrays)}
    if isinstance(value, np.ndarray):
        arrays[key] = np.ascontiguousarray(value)
        return {"__array__": key}
    if isinstance(value, dict):
        return {"__dict__": {str(k): _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        items = [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__} at {key!r}")


def _decode(value: Any, arrays: dict) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__estimator__" in value:
        return _decode_estimator(value["__estimator__"], arrays)
    raise ValueError(f"unknown entry {sorted(value)}")


def _decode_estimator(tree: dict, arrays: dict) -> Saveable:
    cls = _CLASSES.get(tree["class"])
    if cls is None:
        raise ValueError(f"{tree['class']!r} is not a fashion-cluster estimator")
    est = cls(**{**cls._params_before, **_decode(tree["params"], arrays)})
    est._set_state(_decode(tree["state"], arrays))
    return est
