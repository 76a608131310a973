"""The whole paper preset against a straightforward scikit-learn + torch pipeline.

Ours: ``fashion-cluster run --preset paper`` into a fresh folder, in a subprocess whose
peak resident memory is read back (``getrusage(RUSAGE_CHILDREN)``). Its stage times come
from its ``metrics.json``.

Baseline: the same stages written the plain way: scikit-learn ``KMeans(n_init=10)`` for
every k of the elbow and for raw K-Means and its seed sweep, the dense autoencoder
trained with a DataLoader loop (100 epochs), scikit-learn ``KMeans`` / ``GaussianMixture``
on its codes with their seed sweeps, the convolutional autoencoder for the preset's
epochs and K-Means on its codes. Figures, maps and the report are ours only and are
listed apart.

    python benchmarks/bench_pipeline.py [--skip-baseline] [--baseline-json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine, table
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from torch import nn

from fashion_cluster.autoencoders import DenseAutoencoderNet
from fashion_cluster.config import load_preset
from fashion_cluster.data import load_fashion_mnist, scale_images


def plain_train(model: nn.Module, x: np.ndarray, epochs: int, batch: int) -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)),
                                         batch_size=batch, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for (xb,) in loader:
            loss = nn.functional.mse_loss(model(xb), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


class PlainConvAutoencoder(nn.Module):
    """The study's convolutional autoencoder as a plain script writes it: layers in the
    paper's order, default (NCHW) memory format, flattened 28 x 28 images in and out."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 1, 3, padding=1), nn.Sigmoid())
        self.decoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(64, 1, 3, padding=1), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(-1, 1, 28, 28)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x).view(-1, 1, 7, 7)).flatten(1)


def encode(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model.encode(torch.from_numpy(x[i : i + 4096]))
                          for i in range(0, len(x), 4096)]).numpy()


def baseline(seeds: list[int], ks: list[int], dense_epochs: int, conv_epochs: int,
             elbow_seconds: float | None = None) -> dict:
    times: dict[str, float] = {}

    def stage(name: str, fn):
        tic = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - tic
        print(f"baseline {name}: {times[name]:.1f} s", flush=True)
        return out

    x = scale_images(load_fashion_mnist("train")[0])
    xt = scale_images(load_fashion_mnist("test")[0])
    if elbow_seconds is None:
        stage("elbow", lambda: [KMeans(k, n_init=10, random_state=0).fit(x).inertia_
                                for k in ks])
    else:  # measured by bench_elbow.py on this machine, same code
        times["elbow"] = elbow_seconds

    def kmeans_with_seeds(data, test):
        for s in seeds:
            model = KMeans(10, n_init=10, random_state=s).fit(data)
            model.predict(test)

    def gmm_with_seeds(data, test):
        for s in seeds:
            model = GaussianMixture(10, covariance_type="full", random_state=s).fit(data)
            model.predict(test)

    stage("kmeans_raw", lambda: kmeans_with_seeds(x, xt))
    torch.manual_seed(0)
    dense = DenseAutoencoderNet()
    stage("dense_ae", lambda: plain_train(dense, x, dense_epochs, 256))
    codes, codes_t = encode(dense, x), encode(dense, xt)
    stage("ae_kmeans", lambda: kmeans_with_seeds(codes, codes_t))
    stage("ae_gmm", lambda: gmm_with_seeds(codes, codes_t))
    conv = PlainConvAutoencoder()
    stage("conv_ae", lambda: plain_train(conv, x, conv_epochs, 256))
    conv_codes, conv_codes_t = encode(conv, x), encode(conv, xt)
    stage("conv_ae_kmeans", lambda: kmeans_with_seeds(conv_codes, conv_codes_t))
    return times


def ours(keep: Path | None) -> tuple[float, dict, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp)
        if keep is not None and keep.exists():
            raise SystemExit(f"{keep} exists: the run must start from an empty folder")
        tic = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fashion_cluster.cli", "run", "--preset", "paper",
                        "--out", str(out), "--device", "cpu", "--quiet"], check=True)
        wall = time.perf_counter() - tic
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        metrics = json.loads((out / "metrics.json").read_text())
    stages = {k: v["seconds"] for k, v in metrics["timing"]["stages"].items()}
    return wall, stages, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run ours into this (new) folder and keep it")
    parser.add_argument("--ours-json", type=Path, default=None,
                        help="read (if it exists) or write our wall time, stages and memory")
    parser.add_argument("--baseline-json", type=Path, default=None,
                        help="read (if it exists) or write the baseline's stage times here")
    parser.add_argument("--elbow-json", type=Path, default=None,
                        help="take the baseline's elbow time from bench_elbow.py --json")
    args = parser.parse_args()
    cfg = load_preset("paper")
    print(f"# paper preset, whole run\n# {machine()}\n", flush=True)
    if args.ours_json and args.ours_json.exists():
        saved = json.loads(args.ours_json.read_text())
        wall, stages, peak_mb = saved["wall"], saved["stages"], saved["peak_mb"]
    else:
        wall, stages, peak_mb = ours(args.keep)
        if args.ours_json:
            args.ours_json.write_text(json.dumps({"wall": wall, "stages": stages,
                                                  "peak_mb": peak_mb}, indent=1))
    print(f"ours: {wall:.0f} s wall, peak RSS {peak_mb:.0f} MB", flush=True)
    if args.skip_baseline:
        print(json.dumps(stages, indent=1))
        return
    if args.baseline_json and args.baseline_json.exists():
        base = json.loads(args.baseline_json.read_text())
    else:
        elbow = None
        if args.elbow_json:
            elbow = float(np.median(json.loads(args.elbow_json.read_text())["times"]["baseline"]))
        base = baseline(list(cfg.clustering.sweep_seeds),
                        list(range(cfg.elbow.k_min, cfg.elbow.k_max + 1)),
                        cfg.dense_ae.epochs, cfg.conv_ae.epochs, elbow)
        if args.baseline_json:
            args.baseline_json.write_text(json.dumps(base, indent=1))
    rows = []
    for name, t_base in base.items():
        t_ours = stages.get(name)
        rows.append([name, f"{t_ours:.1f}" if t_ours is not None else "-", f"{t_base:.1f}",
                     f"{t_base / t_ours:.1f}x" if t_ours else "-"])
    same = sum(stages[n] for n in base if n in stages)
    rows.append(["**same stages, total**", f"{same:.0f}", f"{sum(base.values()):.0f}",
                 f"{sum(base.values()) / same:.1f}x"])
    print()
    print(table(["stage", "ours (s)", "baseline (s)", "speed-up"], rows))
    extra = {k: v for k, v in stages.items() if k not in base}
    print(f"\nours only: {', '.join(f'{k} {v:.1f} s' for k, v in extra.items())}")
    print(f"ours, whole run: {wall:.0f} s wall ({wall / 60:.1f} min), peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
