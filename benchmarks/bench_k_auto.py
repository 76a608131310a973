"""What ``--k auto`` picks, without labels, on image sets whose number of classes is known.

Runs ``fashion-cluster run --k auto`` twice on each of Fashion-MNIST (10 classes) and
scikit-learn's handwritten digits (10 classes, 1,797 images of 8x8, stored as an
``.npz``): with K-Means on raw pixels (the silhouette over k of raw-pixel partitions),
and with the ``best`` preset (the silhouette over k of K-Means on the contrastive CNN's
features, then SCAN with the k picked). Reports the k picked and the test accuracy at
that k (Hungarian matching; with fewer clusters than classes some classes get none).

    python benchmarks/bench_k_auto.py [--n-train 60000] [--data fashion-mnist,digits]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import machine, table

RAW = """name = "k-auto-raw"
methods = ["kmeans_raw"]
[data]
n_train = {n_train}
[elbow]
k_max = 20
n_init = 3
[clustering]
n_init = 10
sweep_seeds = [0]
[report]
map_points = 500
"""


def best_preset(n_train: int) -> str:
    from importlib import resources

    text = (resources.files("fashion_cluster") / "presets" / "best.toml").read_text()
    return (text.replace('name = "best"', 'name = "k-auto-best"')
            .replace("[elbow]\nenabled = false", "[elbow]\nenabled = false\nk_max = 20\nn_init = 3")
            .replace("n_train = 0", f"n_train = {n_train}"))


def digits(path: Path) -> Path:
    """scikit-learn's digits as uint8 images (values 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    np.savez(path, images=images, labels=data.target.astype(np.int64))
    return path


def run(dataset: str, folder: Path, preset_text: str, name: str) -> dict:
    preset = folder / f"{name}.toml"
    preset.write_text(preset_text)
    out = folder / f"{Path(dataset).stem}-{name}"
    subprocess.run([sys.executable, "-m", "fashion_cluster", "run", "--preset", str(preset),
                    "--dataset", dataset, "--k", "auto", "--out", str(out), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--data", default="fashion-mnist,digits")
    args = parser.parse_args()
    print(f"# --k auto (highest silhouette)\n\nMachine: {machine()}.\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.data.split(","):
            dataset = str(digits(Path(tmp) / "digits.npz")) if key == "digits" else key
            for name, text in (("raw", RAW.format(n_train=args.n_train)),
                               ("best", best_preset(args.n_train))):
                m = run(dataset, Path(tmp), text, name)
                c, method = m["k_choice"], next(iter(m["methods"].values()))
                best = max(s for s in c["silhouette"] if s is not None)
                rows.append([m["dataset"]["name"], m["dataset"]["n_train"],
                             len(m["dataset"]["class_names"]), c["representation"], m["k"],
                             f"{best:.3f}", method["title"],
                             f"{method['test']['accuracy']:.3f}"])
                print(rows[-1], flush=True)
                print("silhouette by k:", {k: round(v, 3) for k, v in
                                           zip(c["k"], c["silhouette"], strict=True)})
    print(table(["data", "training images", "classes", "features", "k picked", "silhouette",
                 "method", "test accuracy at k picked"], rows))


if __name__ == "__main__":
    main()
