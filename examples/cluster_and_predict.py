"""Cluster images with the best method, save the fitted model, and assign new images.

    python examples/cluster_and_predict.py [--n-images 10000] [--epochs 8] [--min-steps 300]
        [--out DIR]

Uses Fashion-MNIST's training images as "your" images (swap in any (N, H, W) or
(N, H, W, 3) array) and its test images as the new ones. No label is used to fit;
the labels only score the result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import fashion_cluster as fc
from fashion_cluster.data import load_fashion_mnist


def main(n_images: int = 10000, epochs: int = 8, min_steps: int = 300,
         out: Path = Path(".")) -> float:
    images, labels = load_fashion_mnist("train")
    images, labels = images[:n_images], labels[:n_images]

    # Sets smaller than about 60,000 images train for more epochs, at least min_steps steps.
    model = fc.ContrastiveSCAN(n_clusters=10, epochs=epochs, min_steps=min_steps,
                               random_state=0).fit(images)
    accuracy = fc.clustering_accuracy(labels, model.labels_)
    print(f"{len(images):,} images in {len(np.unique(model.labels_))} clusters, "
          f"accuracy {accuracy:.3f} (labels used only for this score)")

    path = out / "scan.safetensors"
    model.save(path)                    # one file, no pickle
    same = fc.load(path)

    new_images, new_labels = load_fashion_mnist("test")
    clusters = same.predict(new_images[:1000])
    new_accuracy = fc.clustering_accuracy(new_labels[:1000], clusters)
    print(f"1,000 new images assigned; accuracy {new_accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--min-steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    main(args.n_images, args.epochs, args.min_steps, args.out)
