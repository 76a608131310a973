"""Fashion-MNIST: reading IDX files, finding and verifying them, downloading, scaling.

The four files are looked for, in order, in an explicit ``root``, ``$FASHION_MNIST_DIR``,
the user cache (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``fashion-cluster/fashion-mnist``),
and the folder of the Debian / Ubuntu package ``dataset-fashion-mnist``. When none has
them they are downloaded from the dataset's official mirror into the user cache (or into
``root``, which is authoritative: files are never silently taken from elsewhere).

Content is verified, not compression: the SHA-256 of each file's *decompressed* IDX
payload is compared with the published table, so Debian's recompressed ``.gz`` files
verify as well as the originals.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FashionClusterError

__all__ = [
    "CLASS_NAMES",
    "DEBIAN_DIR",
    "FILES",
    "MIRROR",
    "DatasetError",
    "FileStatus",
    "cache_dir",
    "candidate_dirs",
    "download",
    "file_status",
    "load_fashion_mnist",
    "read_idx",
    "scale_images",
]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class _Expected:
    sha256: str
    nbytes: int


# SHA-256 and length of the decompressed IDX payloads (identical for every mirror).
FILES: dict[str, _Expected] = {
    "train-images-idx3-ubyte": _Expected(
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016
    ),
    "train-labels-idx1-ubyte": _Expected(
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008
    ),
    "t10k-images-idx3-ubyte": _Expected(
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016
    ),
    "t10k-labels-idx1-ubyte": _Expected(
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008
    ),
}

_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes (third byte of the magic number) and their big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetError(FashionClusterError, ValueError):
    """A dataset file is missing, unreadable or does not hold what it should.

    The message always names the file and says what is wrong with it.
    """


# --------------------------------------------------------------------------- IDX


def _read_bytes(path: Path) -> bytes:
    """Return the (decompressed) bytes of ``path``, gzip detected by its magic bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DatasetError(f"{path}: truncated gzip stream (the file ends early)") from None
    except (OSError, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt gzip data ({exc})") from None


def parse_idx(payload: bytes, name: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Parse an IDX payload into a native-endian numpy array.

    Parameters
    ----------
    payload : bytes
        The decompressed file content.
    name : str or path
        Used in error messages only.

    Raises
    ------
    DatasetError
        Wrong magic, unknown type code, no dimensions, or a payload whose length differs
        from what the header promises.
    """
    if len(payload) < 4:
        raise DatasetError(f"{name}: too short for an IDX header ({len(payload)} bytes)")
    zero, type_code, ndim = int.from_bytes(payload[:2], "big"), payload[2], payload[3]
    if zero != 0:
        raise DatasetError(
            f"{name}: wrong magic number 0x{payload[:4].hex()} "
            "(an IDX file starts with two zero bytes)"
        )
    if type_code not in _IDX_DTYPES:
        raise DatasetError(
            f"{name}: unknown IDX dtype code 0x{type_code:02x} "
            f"(expected one of {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})"
        )
    if ndim == 0:
        raise DatasetError(f"{name}: IDX header declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(payload) < header_len:
        raise DatasetError(f"{name}: header truncated (needs {header_len} bytes)")
    shape = tuple(
        int.from_bytes(payload[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    actual = len(payload) - header_len
    if actual != expected:
        word = "shorter" if actual < expected else "longer"
        raise DatasetError(
            f"{name}: payload is {word} than the header says "
            f"({actual} bytes for shape {shape}, expected {expected})"
        )
    data = np.frombuffer(payload, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a numpy array.

    Raises
    ------
    DatasetError
        When the file is missing, not valid gzip, or not a valid IDX file.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), path)


# ------------------------------------------------------------------ locations


def cache_dir() -> Path:
    """The user cache folder for the dataset (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fashion-cluster" / "fashion-mnist"


def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for the files, in order. An explicit ``root`` is the only one."""
    if root is not None:
        return [Path(root)]
    dirs = []
    env = os.environ.get("FASHION_MNIST_DIR")
    if env:
        dirs.append(Path(env))
    dirs += [cache_dir(), DEBIAN_DIR]
    return dirs


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _locate(stem: str, root: str | os.PathLike | None) -> Path | None:
    for folder in candidate_dirs(root):
        found = _file_in(folder, stem)
        if found is not None:
            return found
    return None


def _verify(payload: bytes, stem: str, path: Path) -> None:
    expected = FILES[stem]
    digest = hashlib.sha256(payload).hexdigest()
    if digest != expected.sha256:
        raise DatasetError(
            f"{path}: checksum mismatch (sha256 of the decompressed content is "
            f"{digest[:16]}..., expected {expected.sha256[:16]}...); the file is "
            "corrupt or not the Fashion-MNIST original: delete it and fetch it again"
        )


def _load_verified(stem: str, root: str | os.PathLike | None, fetch: bool) -> np.ndarray:
    path = _locate(stem, root)
    if path is None:
        if not fetch:
            raise DatasetError(_missing_message(stem, root))
        path = download(stem, Path(root) if root is not None else cache_dir())
    payload = _read_bytes(path)
    array = parse_idx(payload, path)  # structural problems first: they say more
    _verify(payload, stem, path)
    return array


def _missing_message(stem: str, root: str | os.PathLike | None) -> str:
    searched = ", ".join(str(d) for d in candidate_dirs(root))
    return (
        f"{stem}.gz: file not found (searched {searched}). Install the Debian package "
        "'dataset-fashion-mnist', set FASHION_MNIST_DIR, or run 'fashion-cluster data --fetch'"
    )


# ------------------------------------------------------------------- download


def download(
    stem: str,
    dest_dir: str | os.PathLike,
    mirror: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``stem + '.gz'`` from the mirror into ``dest_dir``, verified.

    The file is written to a temporary name beside its destination and moved into place
    only after its decompressed content matched the published SHA-256, so an interrupted
    or corrupted download never leaves a file that later looks valid.

    Parameters
    ----------
    stem : str
        One of the keys of `FILES`.
    dest_dir : path
        Folder to place the file in; created if missing.
    mirror : str, optional
        Base URL; defaults to ``$FASHION_MNIST_MIRROR`` or the official mirror.
    progress : callable, optional
        Called as ``progress(bytes_so_far, total_or_None)`` while downloading.

    Returns
    -------
    Path
        The verified file.
    """
    if stem not in FILES:
        raise ValueError(f"stem must be one of {sorted(FILES)}, got {stem!r}")
    base = mirror or os.environ.get("FASHION_MNIST_MIRROR") or MIRROR
    url = base.rstrip("/") + "/" + stem + ".gz"
    dest_dir = Path(dest_dir)
    dest = dest_dir / (stem + ".gz")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{dest_dir}: cannot create folder ({exc.strerror or exc})") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for done, total, chunk in _stream(url, timeout):
                out.write(chunk)
                if progress is not None:
                    progress(done, total)
        try:
            payload = _read_bytes(tmp)
            parse_idx(payload, tmp)
            _verify(payload, stem, tmp)
        except DatasetError as exc:
            raise DatasetError(f"{url}: downloaded file is unusable: {exc}") from None
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _stream(url: str, timeout: float) -> Iterator[tuple[int, int | None, bytes]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            while chunk := response.read(1 << 16):
                done += len(chunk)
                yield done, total, chunk
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"{url}: download failed ({reason})") from None


# ---------------------------------------------------------------------- status


@dataclass(frozen=True)
class FileStatus:
    """Where one dataset file was found and whether it verified."""

    name: str
    path: Path | None
    size: int | None
    verified: bool
    problem: str | None = None


def file_status(root: str | os.PathLike | None = None) -> list[FileStatus]:
    """Locate and verify each of the four files; never raises for a bad file."""
    statuses = []
    for stem in FILES:
        path = _locate(stem, root)
        if path is None:
            statuses.append(FileStatus(stem, None, None, False, "not found"))
            continue
        try:
            payload = _read_bytes(path)
            parse_idx(payload, path)
            _verify(payload, stem, path)
        except DatasetError as exc:
            statuses.append(FileStatus(stem, path, path.stat().st_size, False, str(exc)))
        else:
            statuses.append(FileStatus(stem, path, path.stat().st_size, True))
    return statuses


# ------------------------------------------------------------------------ load


def load_fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of Fashion-MNIST, verified against the published checksums.

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        Folder holding the four files. When given it is the only place looked at, and a
        download (if needed) goes there.
    download : bool, default True
        Fetch missing files from the mirror.

    Returns
    -------
    images : ndarray of shape (N, 28, 28), uint8
    labels : ndarray of shape (N,), uint8
        N is 60,000 for "train" and 10,000 for "test".

    Raises
    ------
    DatasetError
        A file is missing (and cannot be downloaded), corrupt, or inconsistent.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    image_stem, label_stem = _SPLITS[split]
    images = _load_verified(image_stem, root, download)
    labels = _load_verified(label_stem, root, download)
    check_pair(images, labels, image_stem, label_stem, n_classes=len(CLASS_NAMES))
    return images, labels


def check_pair(
    images: np.ndarray,
    labels: np.ndarray,
    image_name: str = "images",
    label_name: str = "labels",
    n_classes: int | None = None,
) -> None:
    """Check that an image stack and its labels belong together.

    Raises
    ------
    DatasetError
        Images not of shape (N, H, W), labels not of shape (N,), counts that differ, or
        labels outside ``0 .. n_classes - 1``.
    """
    if images.ndim != 3:
        raise DatasetError(f"{image_name}: expected images of shape (N, H, W), got {images.shape}")
    if labels.ndim != 1:
        raise DatasetError(f"{label_name}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{label_name}: {len(labels)} labels for {len(images)} images in {image_name}"
        )
    if n_classes is not None and len(labels):
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            raise DatasetError(
                f"{label_name}: labels outside 0..{n_classes - 1} (found {lo}..{hi})"
            )


# --------------------------------------------------------------------- scaling


def scale_images(images: np.ndarray, low: float = 0.0, high: float = 255.0,
                 batch_size: int = 8192) -> np.ndarray:
    """Min-max scale images to float32, flattened: ``(x - low) / (high - low)``.

    The one scaling function of the package: the defaults map uint8 pixels to [0, 1]
    (divided by 255, as the study); the estimators pass the range they saw in ``fit``.
    A range of zero width maps to ``x - low``.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), (N, H, W, C) or (N, D), uint8 or float
    low, high : float

    Returns
    -------
    ndarray of shape (N, D), float32
        Filled batch by batch so no float64 copy of the set is ever made.
    """
    flat = images.reshape(len(images), -1)
    out = np.empty(flat.shape, dtype=np.float32)
    span = np.float32(high - low if high > low else 1.0)
    for start in range(0, len(flat), batch_size):
        part = out[start : start + batch_size]
        np.subtract(flat[start : start + batch_size], np.float32(low), out=part,
                    dtype=np.float32)
        np.divide(part, span, out=part)
    return out


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` items drawn with equal share per label (sorted), reproducibly."""
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [np.flatnonzero(labels == c) for c in classes]
    take = np.full(len(classes), n // len(classes))
    take[: n % len(classes)] += 1
    chosen = [rng.choice(idx, size=min(t, len(idx)), replace=False)
              for idx, t in zip(per_class, take, strict=True)]
    return np.sort(np.concatenate(chosen))
