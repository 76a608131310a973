"""A run of the study, top to bottom: data, stages, ``metrics.json``, figures, report.

    data -> elbow sweep -> representations (dense, conv, contrastive) -> clustering methods
         -> 2-D maps -> metrics.json -> figures -> report

The stages live in `fashion_cluster.stages`; this module knows their order. Every
stage writes its artifacts into the output folder together with a JSON record of the
configuration they were computed from (a hash of the data, the settings, the seed, the
device type). A later run reuses an artifact only when that record matches its own
configuration and the files load cleanly; otherwise it says why and recomputes. So a
second ``run`` with the same settings finishes in seconds, a changed setting recomputes
what depends on it, and an interrupted run resumes (training from its last epoch).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, schema, stages
from .artifacts import write_arrays, write_json
from .assignments import write_run_assignments
from .cache import StageCache
from .config import ConfigError, StudyConfig
from .datasets import ImageSet, load_dataset, source_paths
from .devices import resolve_device
from .layout import RunFolder
from .manifest import mark_unfinished, write_manifest
from .methods import METHODS, REPRESENTATIONS, Method
from .metrics import match_clusters, score
from .outputs import OutputError, check_run_folder, claim_run_folder
from .progress import Reporter
from .stages import Run

__all__ = ["OutputError", "Run", "fit_all", "load_study_data", "open_run", "run_study"]


def load_study_data(config: StudyConfig, data_root: str | Path | None = None) -> ImageSet:
    """The preset's data set, cut to its ``n_train`` / ``n_test`` (stratified if labelled)."""
    cfg = config.data
    images = load_dataset(cfg.dataset, root=data_root, image_size=cfg.image_size or None,
                          channels=cfg.channels or None, test_fraction=cfg.test_fraction,
                          seed=cfg.subset_seed)
    return images.subset(cfg.n_train, cfg.n_test, cfg.subset_seed)


def _versions() -> dict:
    import scipy
    import sklearn

    return {"fashion_cluster": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit_learn": sklearn.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}


def open_run(config: StudyConfig, out: str | Path, data: ImageSet, device: str = "auto",
             reporter: Reporter | None = None, runner=None, command: str | None = None
             ) -> Run:
    """A run writing into ``out`` (created, or checked to be ours), marked unfinished
    until `fit_all` ends; ``command`` is what a user runs to finish it."""
    out = claim_run_folder(check_run_folder(out, inputs=source_paths(config.data.dataset)))
    mark_unfinished(out, command)
    dev = resolve_device(device)
    log = reporter or Reporter()
    cache = StageCache(out, {"data": data.fingerprint(), "seed": config.seed,
                             "device": dev.type}, log)
    return Run(config, data, out, dev, cache, log, runner)


def fit_all(run: Run) -> dict:
    """Run every stage (reusing what it can) and write ``metrics.json``; returns it."""
    tic = time.perf_counter()
    cfg = run.config
    methods = [METHODS[name] for name in cfg.methods]
    _check_feasible(run, cfg.clustering.k, methods)
    _write_data_record(run)
    elbow = stages.elbow(run) if cfg.elbow.enabled else None
    needed = {m.representation for m in methods}
    reps = {kind: stages.representation(run, kind) for kind in REPRESENTATIONS
            if kind in needed}
    chosen = None
    if not cfg.clustering.k and cfg.clustering.k_choice == "silhouette":
        kind = _deepest(needed)
        chosen = stages.k_choice(run, kind, reps.get(kind))
    k, k_source = _choose_k(cfg.clustering, elbow, chosen)
    _check_feasible(run, k, methods)
    results = {m.name: stages.method(run, m, k, reps.get(m.representation)) for m in methods}
    if len(run.data.x_test) >= 3:
        stages.maps(run, reps, methods)
    metrics = _metrics(run, elbow, k, k_source, reps, methods, results)
    if chosen is not None:
        metrics["k_choice"] = {key: v for key, v in chosen.items() if key != "key"}
    metrics["timing"] = {"stages": run.cache.timing, "total_seconds": time.perf_counter() - tic}
    write_json(RunFolder(run.out).metrics, schema.validate(metrics))
    _write_assignments(run, results, metrics)
    write_manifest(run.out)
    return metrics


def _write_assignments(run: Run, results: dict, metrics: dict) -> None:
    """``assignments.csv``: every image's cluster under every method."""
    data = run.data
    write_run_assignments(
        RunFolder(run.out).assignments,
        {name: {"train": r["train_labels"], "test": r["test_labels"]}
         for name, r in results.items()},
        {name: m.get("cluster_classes") for name, m in metrics["methods"].items()},
        data.class_names, {"train": data.train_labels, "test": data.test_labels})


def _deepest(kinds: set[str]) -> str:
    """The representation ``--k auto`` looks at: the contrastive CNN if the run has one,
    else the dense, else the convolutional autoencoder, else raw pixels."""
    return next((k for k in ("simclr", "dense", "conv") if k in kinds), "raw")


def _choose_k(cfg, elbow: dict | None, chosen: dict | None) -> tuple[int, str]:
    """The number of clusters and where it came from (``cfg``: the clustering section)."""
    if cfg.k:
        return cfg.k, "config"
    if cfg.k_choice == "silhouette" and (chosen or {}).get("best_k"):
        return chosen["best_k"], (f"highest silhouette of K-Means on the "
                                  f"{chosen['representation']} features")
    if cfg.k_choice == "knee" and (elbow or {}).get("best_k"):
        return elbow["best_k"], "knee of the elbow curve"
    if elbow is None and cfg.k_choice == "knee":
        return 10, "default (no elbow sweep)"
    return 10, f"default (no {cfg.k_choice} found)"


def _check_feasible(run: Run, k: int, methods: list[Method]) -> None:
    n = len(run.data.train_images)
    if k > n:
        raise ConfigError(f"k = {k} clusters is more than the {n} training images")
    elbow = run.config.elbow
    low, high = max(2, elbow.k_min), min(elbow.k_max, n - 1)
    if not k and run.config.clustering.k_choice == "silhouette" and high < low:
        raise ConfigError(f"--k auto compares the silhouettes of k = {low}..{elbow.k_max} "
                          f"clusters, which needs at least {low + 1} training images; the "
                          f"data set has {n}: give the number of clusters (--k N)")
    shape = run.data.image_shape
    if any(m.representation == "conv" for m in methods) and (shape[0] % 4 or shape[1] % 4):
        raise ConfigError(
            f"the convolutional autoencoder needs image height and width divisible by 4, "
            f"the images are {shape[0]}x{shape[1]}: resize them (--image-size HxW) or "
            "leave out the conv_ae methods")


def _write_data_record(run: Run) -> None:
    """Labels and a few sample images per class, for the figures (``data.npz``)."""
    data = run.data
    arrays = {"sample_images": _class_samples(data.train_images, data.train_labels)}
    if data.labelled:
        arrays.update(train_labels=data.train_labels, test_labels=data.test_labels)
    write_arrays(RunFolder(run.out).data, **arrays)


def _metrics(run: Run, elbow: dict | None, k: int, k_source: str, reps: dict,
             methods: list[Method], results: dict) -> dict:
    metrics: dict[str, Any] = {
        "preset": run.config.name, "seed": run.config.seed,
        "dataset": run.data.describe(), "k": k, "k_source": k_source,
        "device": run.device.type, "versions": _versions(),
        "config": run.config.to_dict(),
    }
    if elbow is not None:
        metrics["elbow"] = {key: v for key, v in elbow.items() if key != "key"}
    records = {kind: {key: v for key, v in rep["meta"].items() if key != "key"}
               for kind, rep in reps.items()}
    metrics["autoencoders"] = {kind: r for kind, r in records.items()
                               if REPRESENTATIONS[kind].decodes}
    if "simclr" in records:
        metrics["representations"] = {"simclr": records["simclr"]}
    metrics["methods"] = {m.name: _method_entry(run, m, results[m.name]) for m in methods}
    return metrics


def _method_entry(run: Run, m: Method, result: dict) -> dict:
    meta, data = result["meta"], run.data
    entry = {"title": m.title, "representation": m.representation, "k": meta["k"],
             "fit_seconds": meta["fit_seconds"], "predict_seconds": meta["predict_seconds"],
             "info": meta["info"], "label_free": meta["label_free"], "published": m.published,
             "centers_decodable": m.centers_decodable, "warnings": meta.get("warnings", [])}
    if data.labelled:
        entry["train"] = score(data.train_labels, result["train_labels"])
        entry["test"] = score(data.test_labels, result["test_labels"])
        entry["cluster_classes"] = match_clusters(
            data.train_labels, result["train_labels"], meta["k"]).tolist()
    entry["seeds"] = _spread(meta["sweep"])
    entry["sweep"] = meta["sweep"]
    return entry


def _spread(sweep: list[dict]) -> dict:
    """Mean, std, min and max of each score over the seed sweep."""
    out: dict[str, Any] = {"seeds": [s["seed"] for s in sweep]}
    for split in ("train", "test"):
        out[split] = {}
        for name in ("accuracy", "nmi", "ari", "silhouette"):
            values = np.array([s[split][name] for s in sweep
                               if s.get(split, {}).get(name) is not None])
            if len(values):
                out[split][name] = {"mean": float(values.mean()), "std": float(values.std()),
                                    "min": float(values.min()), "max": float(values.max()),
                                    "values": values.tolist()}
    return out


def _class_samples(images: np.ndarray, labels: np.ndarray | None, per_class: int = 10
                   ) -> np.ndarray:
    """Images of shape (n_classes, per_class, H, W...): the first of each class."""
    if labels is None:  # unlabelled: rows of consecutive images
        labels = np.arange(min(len(images), per_class * 10)) // per_class
        images = images[: len(labels)]
    rows = []
    for c in np.unique(labels):
        members = images[labels == c][:per_class]
        pad = np.zeros((per_class - len(members), *images.shape[1:]), dtype=images.dtype)
        rows.append(np.concatenate([members, pad]))
    return np.stack(rows)


def run_study(config: StudyConfig, out: str | Path, device: str = "auto",
              data_root: str | Path | None = None, quiet: bool = False, runner=None,
              command: str | None = None) -> dict:
    """Load the data, run every stage into ``out`` and draw the figures and report.

    ``runner`` (a `fashion_cluster.distributed.DaskRunner`) runs the sweeps on a
    Dask cluster. ``command`` is the command line that finishes an interrupted run
    (shown when the unfinished run is loaded).

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    from . import figures, report

    log = Reporter(quiet=quiet)
    check_run_folder(out, inputs=source_paths(config.data.dataset))  # before the data is read
    data = load_study_data(config, data_root)
    run = open_run(config, out, data, device=device, reporter=log, runner=runner,
                   command=command)
    metrics = fit_all(run)
    tic = time.perf_counter()
    figures.draw_all(run.out, reporter=log)
    report.write_report(run.out)
    write_manifest(run.out)
    log.info(f"figures and report written ({time.perf_counter() - tic:.1f} s)")
    return metrics
