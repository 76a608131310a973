"""Image sets a study can run on: Fashion-MNIST, any IDX pair, ``.npz`` files, image folders.

One loader, `load_dataset`, takes a *spec* and returns an `ImageSet`:

- ``"fashion-mnist"`` (default): the verified Fashion-MNIST files (`.data`).
- a folder holding one IDX pair per split, named as MNIST's (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-...`` or ``test-...``, gzip or not): MNIST, KMNIST,
  EMNIST or your own files. Without test files, a test split is held out.
- a ``.npz`` file with ``images`` (N, H, W) or (N, H, W, C) and optionally ``labels``,
  ``test_images``, ``test_labels`` and ``class_names``; loaded without unpickling.
- a folder of PNG / JPEG images; sub-folders holding images are classes (their names the
  class names, their images found at any depth), otherwise the images at the top level
  are an unlabelled set. A folder with both class sub-folders and images at its top level
  is refused: those images would have no class (move them into a class folder or out).
  Names starting with ``.`` are skipped. Grayscale or colour; resized to ``image_size``.

Images are kept as ``uint8`` when they are (scaled by 1/255 later, as in the study);
other dtypes are min-max scaled with the training split's range.

Image files of more than 8 bits are brought to 8 bits by one rule: 16-bit values
(Pillow modes ``I;16``, ``I;16B``, ``I;16L`` and ``I``, which must then hold 0..65535)
become ``round(value / 257)``, so that a 16-bit copy of an 8-bit image (each value times
257) reads back as that image; 32-bit float images (mode ``F``) must hold values in
[0, 1] and become ``round(value * 255)``. Pillow itself reads 16-bit colour PNGs as 8-bit
(their high byte). A file with more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` is refused
before it is decoded (a decompression bomb?).

Arrays are checked before use: complex, boolean and non-numeric dtypes and NaN or
infinite values are refused, naming the file. `check_values` also checks an array of new
images against the value range of a run's images (``predict``): for a run on 8-bit pixels,
values outside 0..255 and float images within [0, 1] (scaled, where 0..255 is expected)
are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import CLASS_NAMES, DatasetError, check_pair, load_fashion_mnist, read_idx, scale_images

__all__ = ["IMAGE_SUFFIXES", "ImageSet", "check_values", "load_dataset", "read_images",
           "source_paths"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class ImageSet:
    """Images of one data set, split into train and test, with labels if known.

    Attributes
    ----------
    name : str
    class_names : list of str
        Empty when unlabelled.
    train_images, test_images : ndarray of shape (N, H, W) or (N, H, W, C)
    train_labels, test_labels : ndarray of shape (N,), int, or None
    source : dict
        JSON-ready facts about where the images came from.
    """

    name: str
    class_names: list[str]
    train_images: np.ndarray
    train_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray | None
    source: dict = field(default_factory=dict)
    _scaled: dict = field(default_factory=dict, repr=False)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    @property
    def labelled(self) -> bool:
        return self.train_labels is not None

    @property
    def value_range(self) -> tuple[float, float]:
        """The pixel values mapped to [0, 1]: (0, 255) for uint8 images, else the
        training split's minimum and maximum."""
        if self.train_images.dtype == np.uint8:
            return 0.0, 255.0
        return float(self.train_images.min()), float(self.train_images.max())

    def _scale(self, images: np.ndarray) -> np.ndarray:
        return scale_images(images, *self.value_range)

    @property
    def x_train(self) -> np.ndarray:
        """Scaled, flattened float32 training images of shape (N, H*W*C), computed once."""
        if "train" not in self._scaled:
            self._scaled["train"] = self._scale(self.train_images)
        return self._scaled["train"]

    @property
    def x_test(self) -> np.ndarray:
        if "test" not in self._scaled:
            self._scaled["test"] = self._scale(self.test_images)
        return self._scaled["test"]

    def subset(self, n_train: int, n_test: int, seed: int) -> ImageSet:
        """At most ``n_train`` / ``n_test`` images (0 = all), stratified when labelled."""
        tr = _pick(self.train_labels, len(self.train_images), n_train, seed)
        te = _pick(self.test_labels, len(self.test_images), n_test, seed)
        return ImageSet(self.name, self.class_names, self.train_images[tr],
                        None if self.train_labels is None else self.train_labels[tr],
                        self.test_images[te],
                        None if self.test_labels is None else self.test_labels[te],
                        dict(self.source))

    def fingerprint(self) -> str:
        """SHA-256 of the images and labels, so artifacts of other data are not reused."""
        digest = hashlib.sha256()
        for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            if array is not None:
                digest.update(f"{array.shape}{array.dtype}".encode())
                digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def describe(self) -> dict:
        return {"name": self.name, "n_train": int(len(self.train_images)),
                "n_test": int(len(self.test_images)), "image_shape": list(self.image_shape),
                "class_names": list(self.class_names), "labelled": self.labelled,
                "value_range": list(self.value_range), "sha256": self.fingerprint(),
                **self.source}


def _pick(labels: np.ndarray | None, n: int, wanted: int, seed: int) -> np.ndarray:
    from .data import stratified_subset

    if not wanted or wanted >= n:
        return np.arange(n)
    if labels is None:
        return np.sort(np.random.default_rng(seed).choice(n, wanted, replace=False))
    return stratified_subset(labels, wanted, seed)


# ------------------------------------------------------------------- loading


def load_dataset(spec: str | os.PathLike | None = None, *, root: str | os.PathLike | None = None,
                 image_size: tuple[int, int] | None = None, channels: int | None = None,
                 test_fraction: float = 0.15, seed: int = 0) -> ImageSet:
    """Load an image set from a spec (see the module docstring).

    Parameters
    ----------
    spec : str or path, optional
        ``"fashion-mnist"`` (default), an IDX folder, an ``.npz`` file or an image folder.
    root : path, optional
        Fashion-MNIST only: the folder of its files (see `load_fashion_mnist`).
    image_size : (height, width), optional
        Image folders: size every image is resized to (needed when sizes differ).
    channels : {1, 3}, optional
        Image folders: 1 (grayscale) or 3 (RGB); default 1 unless some image is in colour.
    test_fraction : float, default 0.15
        Share of the images held out as the test split when the source has none.
    seed : int
        Seeds that hold-out split.

    Raises
    ------
    DatasetError
        A missing or unreadable source, or images / labels that are inconsistent (the
        message names the file).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    if spec is None or str(spec).lower() in ("fashion-mnist", "fashion_mnist", "fmnist"):
        (xtr, ytr), (xte, yte) = (load_fashion_mnist("train", root), load_fashion_mnist(
            "test", root))
        return ImageSet("fashion-mnist", list(CLASS_NAMES), xtr, ytr.astype(np.int64), xte,
                        yte.astype(np.int64), {"source": "fashion-mnist"})
    path = Path(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder (expected 'fashion-mnist', an IDX "
                           "folder, an .npz file or a folder of images)")
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise DatasetError(f"{path}: unsupported file type (expected an .npz file, or a "
                               "folder of IDX files or images)")
        return _from_npz(path, test_fraction, seed)
    idx = _idx_files(path)
    if idx:
        return _from_idx(path, idx, test_fraction, seed)
    return _from_image_folder(path, image_size, channels, test_fraction, seed)


def _split(name: str, class_names: list[str], images: np.ndarray, labels: np.ndarray | None,
           test_fraction: float, seed: int, source: dict) -> ImageSet:
    """Hold out a test split (stratified when labelled)."""
    n = len(images)
    if n < 2:
        raise DatasetError(f"{source.get('path', name)}: needs at least 2 images, found {n}")
    n_test = max(1, round(n * test_fraction))
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
        test = np.sort(order[:n_test])
    else:
        test = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            test.extend(members[: max(1, round(len(members) * test_fraction))]
                        if len(members) > 1 else [])
        test = np.sort(np.array(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(n), test)
    return ImageSet(name, class_names, images[train],
                    None if labels is None else labels[train], images[test],
                    None if labels is None else labels[test],
                    {**source, "split": f"{test_fraction:.0%} held out as test (seed {seed})"})


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    _check_shape(images, where)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    check_values(images, where)
    return images


#: Bytes of one chunk of rows `check_values` reads at a time.
_CHUNK_BYTES = 32 * 2**20


def check_values(images: np.ndarray, where: str, value_range: tuple[float, float] | None = None,
                 batch_size: int | None = None) -> None:
    """Refuse images whose values cannot be taken for pixels, or not for these pixels.

    Always refused: a dtype other than integers and floats (complex, bool, strings,
    objects) and NaN or infinite values. With ``value_range`` (0, 255), the range of a
    run fitted on 8-bit images, also values outside 0..255, and float images whose
    values all lie within [0, 1] (not all zero): they look scaled to [0, 1], and would
    all be taken for near-black pixels.

    The array is read a chunk of rows at a time, so a memory-mapped ``.npy`` or a zarr
    array of any size is checked in flat memory (one pass over the file).

    Parameters
    ----------
    images : array-like of shape (N, ...)
        A NumPy array (memory-mapped or not) or anything with ``dtype``, ``shape`` and
        row slicing (a zarr array); rows may be flattened images.
    where : str
        What the images are, for the message: the file name.
    value_range : (low, high), optional
        The range the images are read in: a run's ``metrics["dataset"]["value_range"]``.
    batch_size : int, optional
        Rows a chunk; default as many as fit in 32 MiB.

    Raises
    ------
    DatasetError
        The message starts with ``where`` and names the first offending image.
    """
    dtype = _check_dtype(images.dtype, where)
    eight_bit = value_range is not None and tuple(map(float, value_range)) == (0.0, 255.0)
    if dtype == np.uint8 or (dtype.kind in "iu" and not eight_bit):
        return  # every value is finite, and a uint8 one within 0..255
    n = int(images.shape[0])
    if batch_size is None:
        row_bytes = dtype.itemsize * int(np.prod(images.shape[1:], dtype=np.int64))
        batch_size = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    low, high = np.inf, -np.inf
    for start in range(0, n, batch_size):
        chunk = np.asarray(images[start : start + batch_size])
        if not chunk.size:
            continue
        lo, hi = float(chunk.min()), float(chunk.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            first = start + _first_row(~np.isfinite(chunk))
            raise DatasetError(f"{where}: images contain NaN or infinite values (image "
                               f"{first} is the first)")
        if eight_bit and (lo < 0 or hi > 255):
            first = _first_row((chunk < 0) | (chunk > 255))
            row = chunk[first]
            raise DatasetError(f"{where}: values outside 0..255, the range of the 8-bit "
                               f"pixels expected (image {start + first} is the first: "
                               f"{row.min():g}..{row.max():g})")
        low, high = min(low, lo), max(high, hi)
    if eight_bit and dtype.kind == "f" and low >= 0 and 0 < high <= 1:
        raise DatasetError(f"{where}: float values within [0, 1] ({low:g}..{high:g}): they "
                           "look scaled to [0, 1], but 8-bit pixel values 0..255 are "
                           "expected; multiply them by 255 or give the uint8 images")


def _check_dtype(dtype: np.dtype, where: str) -> np.dtype:
    """``dtype`` if it is one of integers or floats, else a DatasetError."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise DatasetError(f"{where}: images must be real numbers, got dtype {dtype}")
    if dtype.kind not in "iuf":
        raise DatasetError(f"{where}: images must be numbers, got dtype {dtype}")
    return dtype


def _first_row(bad: np.ndarray) -> int:
    """Index of the first row of ``bad`` (N, ...) holding a True."""
    return int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))


def _labels(labels: np.ndarray, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{where}: labels must be a 1-D integer array, got shape "
                           f"{labels.shape} and dtype {labels.dtype}")
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"{where}: labels must be >= 0, found {labels.min()}")
    return labels.astype(np.int64)


# What numpy raises for a damaged or crafted .npy / .npz file (a bad zip, a truncated or
# unparsable header, a shape too large to map, a corrupted compressed member, ...).
_ARRAY_FILE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, OverflowError,
                      MemoryError, SyntaxError, TypeError, zlib.error, tokenize.TokenError)


def read_npz(path: Path, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (those of ``names`` that it has, or all), never
    unpickling; any damage is a `DatasetError` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("an .npy array, not an .npz archive: rename it to .npy")
            return {k: npz[k] for k in (npz.files if names is None else names)
                    if k in npz.files}
    except _ARRAY_FILE_ERRORS as exc:
        raise DatasetError(f"{path}: cannot be read as .npz ({_first_line(exc)})") from None


def read_npy(path: Path) -> np.ndarray:
    """An ``.npy`` array, memory-mapped, never unpickling; any damage is a
    `DatasetError` naming the file."""
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except _ARRAY_FILE_ERRORS as exc:
        raise DatasetError(f"{path}: cannot be read as .npy ({_first_line(exc)})") from None
    if not isinstance(images, np.ndarray):  # an .npz archive under an .npy name
        images.close()
        raise DatasetError(f"{path}: an .npz archive, not an .npy array: rename it to .npz")
    return images


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _from_npz(path: Path, test_fraction: float, seed: int) -> ImageSet:
    arrays = read_npz(path)
    if "images" not in arrays:
        raise DatasetError(f"{path}: no array named 'images' (found: "
                           f"{', '.join(sorted(arrays)) or 'none'})")
    images = _check_images(arrays["images"], f"{path}[images]")
    labels = _labels(arrays["labels"], f"{path}[labels]") if "labels" in arrays else None
    if labels is not None:
        check_pair(images[..., 0] if images.ndim == 4 else images, labels,
                   f"{path}[images]", f"{path}[labels]")
    names = [str(s) for s in arrays.get("class_names", [])]
    if labels is not None and not names:
        names = [str(c) for c in range(int(labels.max()) + 1)]
    source = {"source": "npz", "path": str(path)}
    if "test_images" not in arrays:
        return _split(path.stem, names, images, labels, test_fraction, seed, source)
    test = _check_images(arrays["test_images"], f"{path}[test_images]")
    if test.shape[1:] != images.shape[1:]:
        raise DatasetError(f"{path}: test_images have shape {test.shape[1:]} per image, "
                           f"images {images.shape[1:]}")
    test_labels = None
    if labels is not None:
        if "test_labels" not in arrays:
            raise DatasetError(f"{path}: has labels and test_images but no test_labels")
        test_labels = _labels(arrays["test_labels"], f"{path}[test_labels]")
        check_pair(test[..., 0] if test.ndim == 4 else test, test_labels,
                   f"{path}[test_images]", f"{path}[test_labels]")
    return ImageSet(path.stem, names, images, labels, test, test_labels, source)


_IDX_PATTERNS = {
    "train_images": re.compile(r"train.*images.*idx3", re.I),
    "train_labels": re.compile(r"train.*labels.*idx1", re.I),
    "test_images": re.compile(r"(t10k|test).*images.*idx3", re.I),
    "test_labels": re.compile(r"(t10k|test).*labels.*idx1", re.I),
}


def _idx_files(folder: Path) -> dict[str, Path]:
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file():
            for role, pattern in _IDX_PATTERNS.items():
                if pattern.search(p.name):
                    found.setdefault(role, []).append(p)
    for role, paths in found.items():
        if len(paths) > 1:
            raise DatasetError(f"{folder}: several files could be the {role.replace('_', ' ')} "
                               f"({', '.join(p.name for p in paths)}); keep one IDX set a folder")
    return {role: paths[0] for role, paths in found.items()}


def _from_idx(folder: Path, files: dict[str, Path], test_fraction: float, seed: int
              ) -> ImageSet:
    if "train_images" not in files:
        raise DatasetError(f"{folder}: IDX files found but no training images "
                           "(train-images-idx3-ubyte)")
    images = _check_images(read_idx(files["train_images"]), str(files["train_images"]))
    labels = None
    if "train_labels" in files:
        labels = _labels(read_idx(files["train_labels"]), str(files["train_labels"]))
        check_pair(images, labels, str(files["train_images"]), str(files["train_labels"]))
    source = {"source": "idx", "path": str(folder)}
    if "test_images" not in files:
        names = [str(c) for c in range(int(labels.max()) + 1)] if labels is not None else []
        return _split(folder.name, names, images, labels, test_fraction, seed, source)
    test = _check_images(read_idx(files["test_images"]), str(files["test_images"]))
    test_labels = None
    if labels is not None and "test_labels" in files:
        test_labels = _labels(read_idx(files["test_labels"]), str(files["test_labels"]))
        check_pair(test, test_labels, str(files["test_images"]), str(files["test_labels"]))
    elif labels is not None:
        raise DatasetError(f"{folder}: training labels but no test labels (t10k-labels-idx1-ubyte)")
    n_classes = int(max(labels.max(), test_labels.max())) + 1 if labels is not None else 0
    return ImageSet(folder.name, [str(c) for c in range(n_classes)], images, labels, test,
                    test_labels, source)


def _images_under(folder: Path, recursive: bool = True) -> list[Path]:
    """The image files in ``folder`` (at any depth when ``recursive``), sorted by their
    path; names starting with ``.`` (hidden files, ``.ipynb_checkpoints``) are skipped."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [f for f in found if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
             and not any(part.startswith(".") for part in f.relative_to(folder).parts)]
    return sorted(files, key=lambda f: f.relative_to(folder).parts)


def _image_files(folder: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """The image files of a folder with their class (-1: none), and the class names:
    sub-folders are classes when some holds an image; else the top-level images are
    unlabelled. Images beside class sub-folders are refused: they would have no class."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    top = _images_under(folder, recursive=False)
    per_class = [_images_under(d) for d in subdirs]
    if any(per_class):
        if top:
            shown = ", ".join(f.name for f in top[:5]) + (", ..." if len(top) > 5 else "")
            raise DatasetError(
                f"{folder}: {len(top)} image(s) at the top level beside the class sub-folders "
                f"({shown}): they would have no class. Move them into a class sub-folder, or "
                "out of the folder (predict reads such a folder whole)")
        files = [(f, i) for i, found in enumerate(per_class) for f in found]
        names = [d.name for d in subdirs]
    else:
        files, names = [(f, -1) for f in top], []
    if not files:
        raise DatasetError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, "
                           "in class sub-folders or in the folder itself)")
    return files, names


#: Pillow modes of 16-bit integers (``I``: 32-bit, read as 16-bit values).
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_GREY_MODES = ("1", "L", "LA", "F", *_WIDE_MODES)


def _open_image(path: Path):
    """The image in ``path``, decoded once its size is known to be within Pillow's limit."""
    from PIL import Image, UnidentifiedImageError

    unreadable = (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError)
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Between 1 and 2 times the limit Pillow only warns: checked below instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:  # more than twice the limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise DatasetError(_bomb(path, int(found.group(1)) if found else None, limit)) from None
    except unreadable as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from None
    with img:
        if limit and img.size[0] * img.size[1] > limit:
            raise DatasetError(_bomb(path, img.size[0] * img.size[1], limit))
        try:
            img.load()
        except unreadable as exc:
            raise DatasetError(f"{path}: not a readable image ({exc})") from None
        return img.copy()


def _bomb(path: Path, pixels: int | None, limit: int) -> str:
    size = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return (f"{path}: {size}, more than the limit of {limit:,}: a decompression bomb? "
            "(raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine)")


def _as_8bit(img, path: Path):
    """``img`` with 8-bit channels: 16-bit values become ``round(value / 257)``, float
    values in [0, 1] ``round(value * 255)`` (module docstring); other modes unchanged."""
    from PIL import Image

    if img.mode not in (*_WIDE_MODES, "F"):
        return img
    values = np.asarray(img)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if img.mode == "F":
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
            raise DatasetError(f"{path}: a 32-bit float image with values {lo:g}..{hi:g}; "
                               "float images are read as 0 (black) to 1 (white): save it "
                               "with values in [0, 1], or as an 8- or 16-bit image")
        pixels = np.rint(values * 255)
    else:
        if lo < 0 or hi > 65535:
            raise DatasetError(f"{path}: a 32-bit integer image with values {lo:g}..{hi:g}; "
                               "integer images are read as 16-bit (0..65535): save it as "
                               "an 8- or 16-bit image")
        pixels = (values.astype(np.uint32) + 128) // 257  # round(value / 257): 257 is odd
    return Image.fromarray(pixels.astype(np.uint8), "L")


def _read_image_files(paths: list[Path], image_size: tuple[int, int] | None,
                      channels: int | None, where: Path) -> tuple[np.ndarray, int]:
    """The images as one uint8 stack (N, H, W) or (N, H, W, 3), and the channel count."""
    from PIL import Image

    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    opened = [_as_8bit(_open_image(path), path) for path in paths]
    if channels is None:
        colour = any(img.mode not in _GREY_MODES for img in opened)
        channels = 3 if colour else 1
    if image_size is None:
        sizes = {img.size for img in opened}
        if len(sizes) > 1:
            raise DatasetError(f"{where}: images have {len(sizes)} different sizes; give a "
                               "common size (--image-size HxW)")
        width, height = sizes.pop()
    else:
        height, width = (int(v) for v in image_size)
    mode = "L" if channels == 1 else "RGB"
    stack = np.stack([np.asarray(img.convert(mode).resize((width, height), Image.BILINEAR)
                                 if img.size != (width, height) else img.convert(mode),
                                 dtype=np.uint8) for img in opened])
    return stack, channels


def _from_image_folder(folder: Path, image_size: tuple[int, int] | None,
                       channels: int | None, test_fraction: float, seed: int) -> ImageSet:
    files, names = _image_files(folder)
    stack, channels = _read_image_files([f for f, _ in files], image_size, channels, folder)
    labels = np.array([label for _, label in files], dtype=np.int64) if names else None
    source = {"source": "image folder", "path": str(folder), "channels": channels}
    if labels is not None and len(np.unique(labels)) < len(names):
        empty = [n for i, n in enumerate(names) if i not in set(labels.tolist())]
        raise DatasetError(f"{folder}: class folder(s) without images: {', '.join(empty)}")
    return _split(folder.name, names, stack, labels, test_fraction, seed, source)


def source_paths(spec: str | os.PathLike | None) -> list[Path]:
    """The file or folder a data set spec reads (none for a named data set such as
    ``fashion-mnist``, or None): what the write policy keeps from being an output."""
    return [Path(spec)] if spec is not None and Path(spec).exists() else []


def read_images(spec: str | os.PathLike, *, root: str | os.PathLike | None = None,
                image_size: tuple[int, int] | None = None, channels: int | None = None
                ) -> tuple[np.ndarray, Sequence[str | int]]:
    """Every image of a source, in its own order, with a name for each (for ``predict``).

    ``spec`` is anything `load_dataset` takes (every split, training first, no
    hold-out), a single image file, an ``.npy`` array of shape (N, H, W[, C]), which
    is memory-mapped, or a ``.zarr`` array (read lazily; rows may be flattened images,
    as ``fashion-cluster to-zarr`` writes them). Names are file paths relative to an
    image folder, the file name of a single image, ``split/index``, or the index alone
    for one-array sources (then a ``range``, so that a million names take no memory).

    An image folder is read whole: the images at its top level and in its sub-folders,
    at any depth (names starting with ``.`` skipped), sorted by path. The values of an
    ``.npy`` or zarr array are not read here (only its dtype is checked): check them
    with `check_values` before use, as ``predict`` does.
    """
    if str(spec).lower() in ("fashion-mnist", "fashion_mnist", "fmnist"):
        ((xtr, _), (xte, _)) = load_fashion_mnist("train", root), load_fashion_mnist("test", root)
        return _named({"train": xtr, "test": xte})
    path = Path(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return _read_image_files([path], image_size, channels, path)[0], [path.name]
    if path.is_file() and path.suffix.lower() == ".npy":
        images = read_npy(path)
        _check_dtype(images.dtype, str(path))
        return _check_shape(images, str(path)), range(len(images))
    if path.is_file():
        return _named(_npz_arrays(path))
    if path.suffix.lower() == ".zarr":
        array = _open_zarr(path)
        _check_dtype(array.dtype, str(path))
        return array, range(array.shape[0])
    idx = _idx_files(path)
    if idx:
        if "train_images" not in idx:
            raise DatasetError(f"{path}: IDX files found but no training images "
                               "(train-images-idx3-ubyte)")
        arrays = {"train": _check_images(read_idx(idx["train_images"]),
                                         str(idx["train_images"]))}
        if "test_images" in idx:
            arrays["test"] = _check_images(read_idx(idx["test_images"]), str(idx["test_images"]))
        return _named(arrays)
    files = _images_under(path)
    if not files:
        raise DatasetError(f"{path}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} "
                           "in the folder and its sub-folders)")
    stack, _ = _read_image_files(files, image_size, channels, path)
    return stack, [str(f.relative_to(path)) for f in files]


def _open_zarr(path: Path):
    """A zarr array of images, (N, H, W[, C]) or flattened (N, pixels), read lazily."""
    try:
        import zarr
    except ImportError:
        raise DatasetError(f"{path}: reading zarr arrays needs the [dask] extra "
                           "(pip install 'fashion-cluster[dask]')") from None
    try:
        array = zarr.open_array(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several kinds for a bad store
        raise DatasetError(f"{path}: cannot be read as a zarr array ({exc})") from None
    if array.ndim not in (2, 3, 4) or array.shape[0] == 0:
        raise DatasetError(f"{path}: expected images (N, H, W[, C]) or rows (N, pixels), "
                           f"got an array of shape {array.shape}")
    return array


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The ``images`` (and ``test_images``) of an ``.npz`` file, checked."""
    if path.suffix.lower() != ".npz":
        raise DatasetError(f"{path}: unsupported file type (expected an image, an .npz or "
                           "an .npy file, or a folder of IDX files or images)")
    arrays = read_npz(path, ("images", "test_images"))
    if "images" not in arrays:
        raise DatasetError(f"{path}: no array named 'images'")
    checked = {k: _check_images(v, f"{path}[{k}]") for k, v in arrays.items()}
    if len(checked) == 2 and checked["test_images"].shape[1:] != checked["images"].shape[1:]:
        raise DatasetError(f"{path}: test_images have shape {checked['test_images'].shape[1:]} "
                           f"per image, images {checked['images'].shape[1:]}")
    return checked if len(checked) == 1 else {"train": checked["images"],
                                              "test": checked["test_images"]}


def _check_shape(images: np.ndarray, where: str) -> np.ndarray:
    """Like `_check_images` without reading the values (a memory-mapped array)."""
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DatasetError(f"{where}: expected images of shape (N, H, W) or (N, H, W, C) with "
                           f"C = 1 or 3, got {images.shape}")
    if len(images) == 0:
        raise DatasetError(f"{where}: holds no images")
    return images


def _named(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, Sequence[str | int]]:
    """The arrays one after the other, named ``key/index`` (``index`` for one array)."""
    if len(arrays) == 1:
        (images,) = arrays.values()
        return images, range(len(images))
    names = [f"{key}/{i}" for key, images in arrays.items() for i in range(len(images))]
    return np.concatenate(list(arrays.values())), names
