"""Recipes for the image sets that check the best method beyond Fashion-MNIST's 28x28 grey.

Each recipe makes an ``.npz`` that ``fashion-cluster run --dataset`` reads (``images``,
``labels``, ``class_names``; the run holds out a stratified 15 % as its test split), from
what every machine of this project has: Fashion-MNIST's training files and
scikit-learn's handwritten digits.

- ``colour``: 12,000 images, each tinted with its own random colour (hue uniform,
  saturation 0.5-1), 3 channels.
- ``64px``, ``96px``: 6,000 images upscaled to 64x64 or 96x96 (bilinear).
- ``unbalanced``: 10 classes from 3,000 down to 300 images (sizes in geometric steps, 10:1).
- ``small``: 1,500 images (150 a class).
- ``digits32``: scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels) upscaled to
  32x32.

    python tests/helpers/image_sets.py OUT_DIR [--only colour,64px]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def fashion(n_per_class: list[int] | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST training images, ``n_per_class`` of each class (a list: one count per
    class), drawn at random; uint8 (N, 28, 28) and labels (N,)."""
    from fashion_cluster.data import CLASS_NAMES, load_fashion_mnist

    images, labels = load_fashion_mnist("train")
    counts = [n_per_class] * len(CLASS_NAMES) if isinstance(n_per_class, int) else n_per_class
    rng = np.random.default_rng(seed)
    picked = np.concatenate([rng.choice(np.flatnonzero(labels == c), n, replace=False)
                             for c, n in enumerate(counts)])
    picked = rng.permutation(picked)
    return images[picked], labels[picked].astype(np.int64)


def tint(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each grey image (N, H, W) multiplied by its own random colour: uint8 (N, H, W, 3)."""
    from matplotlib.colors import hsv_to_rgb

    rng = np.random.default_rng(seed)
    hsv = np.stack([rng.uniform(0, 1, len(images)), rng.uniform(0.5, 1, len(images)),
                    np.ones(len(images))], axis=1)
    colours = hsv_to_rgb(hsv).astype(np.float32)  # (N, 3)
    return np.round(images[..., None] * colours[:, None, None, :]).astype(np.uint8)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Grey images (N, H, W) resized to (N, size, size), bilinear, same dtype range."""
    x = torch.from_numpy(images.astype(np.float32))[:, None]
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return out[:, 0].round().clamp(0, 255).numpy().astype(np.uint8)


def unbalanced_counts(largest: int = 3000, ratio: float = 10.0, classes: int = 10) -> list[int]:
    """Class sizes from ``largest`` down to ``largest / ratio`` in geometric steps."""
    return [round(largest * ratio ** (-c / (classes - 1))) for c in range(classes)]


def digits(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits (1,797 of 8x8, values 0-16) as uint8 size x size."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return resize(images, size), bunch.target.astype(np.int64)


def _class_names(labels: np.ndarray) -> list[str]:
    return [str(c) for c in range(int(labels.max()) + 1)]


RECIPES: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "colour": lambda seed: (lambda x, y: (tint(x, seed), y))(*fashion(1200, seed)),
    "64px": lambda seed: (lambda x, y: (resize(x, 64), y))(*fashion(600, seed)),
    "96px": lambda seed: (lambda x, y: (resize(x, 96), y))(*fashion(600, seed)),
    "unbalanced": lambda seed: fashion(unbalanced_counts(), seed),
    "small": lambda seed: fashion(150, seed),
    "digits32": lambda seed: digits(32),
}


def write(name: str, folder: Path, seed: int = 0) -> Path:
    """Make the set ``name`` and save it as ``folder/name.npz``."""
    images, labels = RECIPES[name](seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez(path, images=images, labels=labels, class_names=_class_names(labels))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", default=",".join(RECIPES))
    args = parser.parse_args()
    for name in args.only.split(","):
        path = write(name, args.out)
        with np.load(path) as npz:
            print(f"{path}: images {npz['images'].shape} {npz['images'].dtype}, "
                  f"class sizes {np.bincount(npz['labels']).tolist()}")


if __name__ == "__main__":
    main()
