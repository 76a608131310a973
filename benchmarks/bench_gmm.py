"""The Gaussian mixture: fashion-cluster's torch EM against scikit-learn, side by side.

Both fit a 10-component, full-covariance mixture with scikit-learn's k-means
initialisation, tolerance and regularisation, from the same random state, so they take
the same EM steps; the table shows both times and how far apart the fits end up.

The data: the autoencoder codes of a finished run (``--codes run/codes/dense_ae.npz``,
its ``train`` array), or by default the training images projected on their first 49
principal components (the same size as the study's codes, no training needed).

    python benchmarks/bench_gmm.py [--codes FILE] [--repeats 3] [--seed 0] [--device cuda]

With ``--device cuda`` our EM runs on the GPU; scikit-learn stays on the CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import fashion_train, machine, median, table, timed
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from fashion_cluster.gmm import fit_full_gmm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=Path, default=None)
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where our EM runs: cpu, cuda, auto")
    args = parser.parse_args()
    if args.codes is not None:
        x = np.load(args.codes)["train"].astype(np.float32)
        source = str(args.codes)
    else:
        x = PCA(49, random_state=0).fit_transform(fashion_train()).astype(np.float32)
        source = "training images, first 49 principal components"
    print(f"# Gaussian mixture, {args.components} components, full covariances, "
          f"{x.shape[0]:,} x {x.shape[1]} float32 ({source})\n# {machine()}; ours on "
          f"{args.device}\n")

    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    for rep in range(args.repeats):
        seconds, ours = timed(lambda: fit_full_gmm(x, args.components, seed=args.seed,
                                                          device=args.device))
        times["ours"].append(seconds)
        seconds, base = timed(lambda: GaussianMixture(
            args.components, covariance_type="full", random_state=args.seed).fit(x))
        times["baseline"].append(seconds)
        print(f"repeat {rep + 1}: ours {times['ours'][-1]:.1f} s, "
              f"scikit-learn {seconds:.1f} s", flush=True)

    t_ours, t_base = median(times["ours"]), median(times["baseline"])
    agree = float((ours.labels == base.predict(x)).mean())
    print()
    print(table(["", "seconds (median)", "EM iterations", "mean log-likelihood"], [
        ["fashion-cluster fit_full_gmm", f"{t_ours:.2f}", ours.model.n_iter_,
         f"{ours.model.lower_bound_:.5f}"],
        ["scikit-learn GaussianMixture", f"{t_base:.2f}", base.n_iter_,
         f"{base.lower_bound_:.5f}"],
    ]))
    print(f"\nspeed-up: {t_base / t_ours:.1f}x; same label for {100 * agree:.3f}% of the "
          f"samples; largest difference in a component mean: "
          f"{np.abs(ours.model.means_ - base.means_).max():.2e}")


if __name__ == "__main__":
    main()
