"""Files written by a run: atomic, typed, and loaded without unpickling anything.

Every artifact is written to a temporary file in its destination folder, flushed to disk
and renamed into place, so a run killed at any moment leaves either the old file or the
new one, never half of one. Readers turn any damaged file into `ArtifactError`,
naming the file, so the caller can recompute instead of crashing.

Formats: JSON for metadata and scores, ``.npz`` (``allow_pickle=False``) for arrays,
safetensors for model weights and training checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FashionClusterError

__all__ = [
    "ArtifactError",
    "atomic_path",
    "config_hash",
    "read_arrays",
    "read_json",
    "read_tensors",
    "write_arrays",
    "write_json",
    "write_tensors",
]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class ArtifactError(FashionClusterError, ValueError):
    """A saved artifact is missing, damaged, or not what the run expects."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite(value: Any) -> Any:
    """Replace NaN / inf by None: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically; NaN and inf become null."""
    text = json.dumps(_finite(dict(data)), indent=2, default=_json_default, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON object; a missing or damaged file raises `ArtifactError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def write_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write named arrays to an uncompressed ``.npz``, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def read_arrays(path: str | os.PathLike, expect: Mapping[str, tuple] | None = None
                ) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (never unpickling).

    Parameters
    ----------
    expect : mapping of name to shape, optional
        Names that must be present, with their shapes (``None`` in a shape matches any
        length along that axis).

    Raises
    ------
    ArtifactError
        Missing or damaged file, object arrays, or a missing / misshapen array.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{path}: damaged or not an .npz file ({exc})") from None
    for name, shape in (expect or {}).items():
        if name not in arrays:
            raise ArtifactError(f"{path}: array {name!r} is missing")
        _check_shape(path, name, arrays[name].shape, shape)
    return arrays


def _check_shape(path: Path, name: str, actual: tuple, expected: tuple) -> None:
    ok = len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected, strict=True)
    )
    if not ok:
        raise ArtifactError(f"{path}: array {name!r} has shape {actual}, expected {expected}")


def write_tensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                  metadata: Mapping[str, str] | None = None) -> None:
    """Write torch tensors as safetensors, atomically."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  metadata=dict(metadata) if metadata else None)


def read_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """Read a safetensors file into CPU torch tensors. Nothing is unpickled."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{path}: damaged or not a safetensors file ({exc})") from None


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable digest of a JSON-able config, to tell whether an artifact is stale."""
    text = json.dumps(config, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
