"""The stages of a run, one function each: elbow sweep, representation, method, 2-D maps.

Every stage takes the `Run` it belongs to, reuses its saved
result through the run's `fashion_cluster.cache.StageCache` or computes and saves
it, and returns what the next stages need. The fitted estimators are saved with their
own ``save`` (safetensors and JSON: nothing is pickled), next to the arrays the figures
and the report read.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifacts import ArtifactError, read_arrays, read_json, write_arrays, write_json
from .autoencoders import summary
from .cache import StageCache
from .clustering import SILHOUETTE_SAMPLE, ElbowResult, elbow_sweep, unit_rows
from .config import StudyConfig
from .data import stratified_subset
from .datasets import ImageSet
from .embedding import embed_2d
from .estimators import load as load_estimator
from .layout import RunFolder
from .methods import REPRESENTATIONS, Method, SeedResult, refit
from .metrics import cluster_sums, doubts, internal_scores, score
from .progress import Reporter

__all__ = ["Run", "elbow", "k_choice", "maps", "method", "refit", "representation",
           "run_elbow"]


@dataclass
class Run:
    """What every stage of one run reads.

    Attributes
    ----------
    config : StudyConfig
    data : ImageSet
    out : Path
        The output folder.
    device : torch.device
    cache : StageCache
        Reuse-or-compute for every stage, keyed on the data, seed and device type.
    log : Reporter
    runner : fashion_cluster.distributed.DaskRunner or None
        Runs the elbow sweep and the seed sweeps as tasks on a Dask cluster.
    """

    config: StudyConfig
    data: ImageSet
    out: Path
    device: torch.device
    cache: StageCache
    log: Reporter
    runner: Any = None


# ------------------------------------------------------------------------ elbow


def elbow(run: Run) -> dict:
    """K-Means SSE for k = k_min..k_max, and the knee (``elbow.json``)."""
    cfg, x = run.config.elbow, run.data.x_train
    key = run.cache.key(stage="elbow", elbow=dataclasses.asdict(cfg))
    path = RunFolder(run.out).elbow

    def compute() -> dict:
        ks = list(range(cfg.k_min, min(cfg.k_max, len(x)) + 1))
        run.log.info(f"elbow sweep: K-Means for k = {ks[0]}..{ks[-1]}, {cfg.n_init} "
                     f"initialisations each, on {len(x):,} images")
        result = run_elbow(x, ks, cfg.n_init, run.config.seed, run.device, run.log, run.runner)
        meta = {**result.to_json(), "key": key}
        write_json(path, meta)
        return meta

    return run.cache.stage("elbow", path, key, "elbow sweep", lambda meta: meta, compute)


def run_elbow(x: np.ndarray, ks: list[int], n_init: int, seed: int, device, log,
              runner=None, silhouette: bool = False) -> ElbowResult:
    """The elbow sweep with a progress bar (on a cluster when given a runner); shared by
    ``run`` and ``elbow``."""
    with log.bar(3 * len(ks), "elbow sweep (k x init)", unit="step") as bar:
        return elbow_sweep(x, ks, n_init=n_init, seed=seed, device=device,
                           progress=lambda done: bar.update(done - bar.n),
                           sweep=runner.elbow if runner is not None else None,
                           silhouette=silhouette)


def k_choice(run: Run, kind: str, rep: dict | None) -> dict:
    """Choose k without labels: K-Means for k = max(2, k_min)..k_max on the training
    features of representation ``kind`` (rows scaled to unit length for the contrastive
    CNN, as its K-Means method does), and the k whose partition has the highest
    silhouette (``k_choice.json``)."""
    cfg = run.config.elbow
    x = run.data.x_train if rep is None else rep["train"]
    if kind == "simclr":
        x = unit_rows(x)
    key = run.cache.key(stage="k_choice", elbow=dataclasses.asdict(cfg),
                        representation=rep["meta"]["key"] if rep is not None else "raw")
    path = RunFolder(run.out).k_choice

    def compute() -> dict:
        ks = list(range(max(2, cfg.k_min), min(cfg.k_max, len(x) - 1) + 1))
        run.log.info(f"choosing k: K-Means for k = {ks[0]}..{ks[-1]} on the {kind} features, "
                     "silhouette of each partition")
        result = run_elbow(x, ks, cfg.n_init, run.config.seed, run.device, run.log,
                           run.runner, silhouette=True)
        meta = {"key": key, "representation": kind, "k": result.k,
                "silhouette": result.silhouette, "best_k": result.silhouette_k,
                "sample": SILHOUETTE_SAMPLE, "n_init": cfg.n_init}
        write_json(path, meta)
        return meta

    return run.cache.stage("k_choice", path, key, "choice of k", lambda meta: meta, compute)


# --------------------------------------------------------------- representation


def representation(run: Run, kind: str) -> dict:
    """Train (or reuse) one representation and encode both splits.

    Returns a dict with the fitted transformer (``model``), the ``train`` and ``test``
    features and the ``meta`` record.
    """
    rep = REPRESENTATIONS[kind]
    section = getattr(run.config, rep.artifact)
    data = run.data
    shape = data.image_shape
    channels_first = (shape[2] if len(shape) == 3 else 1, shape[0], shape[1])
    est = rep.build(section, channels_first, run.config.seed, str(run.device))
    key = run.cache.key(stage="representation", kind=kind, params=est.get_params())
    weights = RunFolder(run.out).model(rep.artifact)
    codes = RunFolder(run.out).codes(rep.artifact)

    def load(meta: dict) -> dict:
        fitted = load_estimator(weights)
        arrays = read_arrays(codes, {"train": (len(data.x_train), None),
                                     "test": (len(data.x_test), None)})
        return {"model": fitted, **arrays, "meta": meta}

    def compute() -> dict:
        _train(run, rep, est)
        return _encode_and_save(run, rep, est, section, key, weights, codes)

    return run.cache.stage(rep.artifact, weights.with_suffix(".json"), key, rep.title, load,
                           compute)


def _train(run: Run, rep, est) -> None:
    checkpoint = RunFolder(run.out).checkpoint(rep.artifact)
    epochs, batch = est.fit_schedule(len(run.data.x_train))
    processes = est.get_params().get("processes", 1)
    run.log.info(f"{rep.title}: {epochs} epochs, batch {batch}, on {run.device.type}"
                 + (f" ({processes} processes)" if processes > 1 else ""))
    with run.log.bar(epochs, f"training the {rep.title}", unit="epoch") as bar:
        def progress(epoch: int, epochs: int, history) -> None:
            bar.update(epoch - bar.n)
            val = history.val_loss[-1]
            bar.set_postfix_str(f"loss {history.loss[-1]:.4f}"
                                + (f" val {val:.4f}" if val == val else ""))

        est.fit(run.data.x_train, X_val=run.data.x_test if rep.decodes else None,
                checkpoint=checkpoint, progress=progress)
    checkpoint.unlink(missing_ok=True)


def _encode_and_save(run: Run, rep, est, section, key: str, weights: Path,
                     codes_path: Path) -> dict:
    data = run.data
    codes = {"train": est.transform(data.x_train), "test": est.transform(data.x_test)}
    arrays = dict(codes)
    if rep.decodes:
        examples = _one_per_class(data.test_labels, len(data.x_test))
        originals = data.x_test[examples]
        example_codes = codes["test"][examples]
        arrays.update(example_index=examples, example_originals=originals,
                      example_codes=example_codes,
                      example_reconstructions=est.inverse_transform(example_codes))
    write_arrays(codes_path, **arrays)
    history = est.history_
    training = ({"optimizer": "Adam", "loss_function": "mse"} if rep.decodes else
                {"optimizer": "Adam (one-cycle)", "loss_function": "nt-xent",
                 "temperature": section.temperature, "crop_min": section.crop_min,
                 "gamma": section.gamma})
    meta = {"key": key, "kind": rep.kind, "epochs": est.n_iter_,
            "batch_size": getattr(est, "batch_size_", section.batch_size),
            "learning_rate": section.learning_rate,
            **training, **history, "train_seconds": float(sum(history["epoch_seconds"])),
            "class": type(est.model_).__name__, "config": est.model_.config,
            "parameters": sum(p.numel() for p in est.model_.parameters()),
            "summary": summary(est.model_).splitlines()}
    est.save(weights, overwrite=True)
    write_json(weights.with_suffix(".json"), meta)
    return {"model": est, **codes, "meta": read_json(weights.with_suffix(".json"))}


# ----------------------------------------------------------------------- method


def method(run: Run, m: Method, k: int, rep: dict | None) -> dict:
    """Fit one clustering method on train, assign test, run the seed sweep."""
    section = getattr(run.config, m.section)
    key = run.cache.key(stage="method", method=m.name, k=k,
                        representation=rep["meta"]["key"] if rep is not None else "raw",
                        settings=dataclasses.asdict(section),
                        sweep_seeds=list(run.config.clustering.sweep_seeds))
    base = RunFolder(run.out).method(m.name, "")

    def load(meta: dict) -> dict:
        arrays = read_arrays(base.with_suffix(".npz"), {
            "train_labels": (len(run.data.x_train),), "test_labels": (len(run.data.x_test),)})
        return {"meta": meta, **arrays}

    return run.cache.stage(m.name, base.with_suffix(".json"), key, m.title, load,
                           lambda: _fit_method(run, m, section, k, rep, key, base))


def _fit_method(run: Run, m: Method, section, k: int, rep: dict | None, key: str,
                base: Path) -> dict:
    data, seed = run.data, run.config.seed
    x_train = data.x_train if rep is None else rep["train"]
    x_test = data.x_test if rep is None else rep["test"]
    encoder = rep["model"] if rep is not None else None
    run.log.info(f"{m.title}: k = {k}, fitting on {x_train.shape[0]:,} x {x_train.shape[1]}")
    tic = time.perf_counter()
    clusterer = m.fit(section, k, seed, str(run.device), x_train, data.x_train, encoder)
    fit_seconds = time.perf_counter() - tic
    tic = time.perf_counter()
    test_labels = m.predict(clusterer, x_test, data.x_test)
    predict_seconds = time.perf_counter() - tic
    main = SeedResult(seed, clusterer.labels_, test_labels, fit_seconds, clusterer.info_)
    sweep = _seed_sweep(run, m, section, k, main, x_train, x_test, encoder)

    centers = _centers(clusterer, x_train, k)
    gallery = _gallery(clusterer.labels_, k, run.config.report.gallery_per_cluster, seed)
    gallery_images = data.train_images[np.maximum(gallery, 0)]
    gallery_images[gallery < 0] = 0
    write_arrays(base.with_suffix(".npz"), train_labels=clusterer.labels_,
                 test_labels=test_labels, centers=centers,
                 center_images=_center_images(m, rep, data.x_train, clusterer.labels_,
                                              centers, k),
                 gallery_index=gallery, gallery_images=gallery_images)
    clusterer.save(base.with_suffix(".safetensors"), overwrite=True)
    label_free = {"train": internal_scores(x_train, clusterer.labels_, seed),
                  "test": internal_scores(x_test, test_labels, seed)}
    warnings = doubts(label_free["train"]["cluster_sizes"], k)
    for warning in warnings:
        run.log.warn(f"{m.title}: {warning}")
    meta = {"key": key, "name": m.name, "title": m.title, "representation": m.representation,
            "k": k, "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "info": clusterer.info_, "label_free": label_free, "sweep": sweep,
            "warnings": warnings}
    write_json(base.with_suffix(".json"), meta)
    return {"meta": meta, "train_labels": clusterer.labels_, "test_labels": test_labels}


def _seed_sweep(run: Run, m: Method, section, k: int, main: SeedResult, x_train: np.ndarray,
                x_test: np.ndarray, encoder) -> list[dict]:
    """Refit with every seed of ``sweep_seeds`` (the run's own fit is reused) and score
    each: labels when the data have them, the silhouette otherwise."""
    seeds = list(run.config.clustering.sweep_seeds)
    others = [s for s in seeds if s != main.seed]
    images = (run.data.x_train, run.data.x_test) if m.on_images else (None, None)
    fits = {main.seed: main}
    if run.runner is not None:
        fits.update((r.seed, r) for r in run.runner.seeds(
            m.name, section, k, str(run.device), (x_train, x_test), images, encoder, others))
    sweep = []
    with run.log.bar(len(seeds), f"{m.title}: seed sweep", unit="seed") as bar:
        for seed in seeds:
            result = fits.get(seed) or refit(m, section, k, seed, str(run.device),
                                             (x_train, x_test), images, encoder)
            sweep.append(_score_seed(run, result, x_train, x_test))
            bar.update(1)
    return sweep


def _score_seed(run: Run, result: SeedResult, x_train: np.ndarray, x_test: np.ndarray) -> dict:
    data = run.data
    entry: dict[str, Any] = {"seed": result.seed, "fit_seconds": result.fit_seconds,
                             **{k: v for k, v in result.info.items()
                                if k in ("sse", "converged")}}
    if data.labelled:
        entry["train"] = _brief(score(data.train_labels, result.train_labels))
        entry["test"] = _brief(score(data.test_labels, result.test_labels))
    else:
        entry["train"] = {"silhouette": internal_scores(
            x_train, result.train_labels, result.seed)["silhouette"]}
        entry["test"] = {"silhouette": internal_scores(
            x_test, result.test_labels, result.seed)["silhouette"]}
    return entry


def _brief(scores: dict) -> dict:
    return {name: scores[name] for name in ("accuracy", "nmi", "ari")}


def _centers(clusterer, x: np.ndarray, k: int) -> np.ndarray:
    """Cluster centres in the clustered space: the fitted ones (K-Means centroids, mixture
    means), or the mean features of each cluster's members."""
    for name in ("cluster_centers_", "means_"):
        if hasattr(clusterer, name):
            return np.asarray(getattr(clusterer, name), dtype=np.float32)
    return _member_means(x, clusterer.labels_, k)


def _center_images(m: Method, rep: dict | None, images: np.ndarray, labels: np.ndarray,
                   centers: np.ndarray, k: int) -> np.ndarray:
    """Images of the centres: the centroids themselves (raw pixels), decoded centres
    (autoencoder codes), or else the mean image of each cluster's members."""
    if m.centers_decodable and rep is None:
        return centers
    if m.centers_decodable:
        return rep["model"].inverse_transform(centers)
    return _member_means(images, labels, k)


def _member_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean row of each cluster's members, shape (k, n_features)."""
    sums, _ = cluster_sums(x, labels, k)
    counts = np.bincount(labels, minlength=k)[:, None]
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def _gallery(labels: np.ndarray, k: int, per_cluster: int, seed: int) -> np.ndarray:
    """Indices of up to ``per_cluster`` random members of each cluster; -1 pads."""
    rng = np.random.default_rng(seed)
    out = np.full((k, per_cluster), -1, dtype=np.int64)
    for c in range(k):
        members = np.flatnonzero(labels == c)
        take = rng.choice(members, size=min(per_cluster, len(members)), replace=False)
        out[c, : len(take)] = np.sort(take)
    return out


def _one_per_class(labels: np.ndarray | None, n: int, count: int = 10) -> np.ndarray:
    """Indices of the first test image of each class (or the first ``count`` images)."""
    if labels is None:
        return np.arange(min(count, n))
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    return np.array(firsts[:count], dtype=np.int64)


# ------------------------------------------------------------------------- maps


def maps(run: Run, reps: dict[str, dict], methods: list[Method]) -> None:
    """2-D maps (UMAP or t-SNE) of the test set in each representation (``maps.npz``)."""
    cfg = run.config.report
    kinds = list(dict.fromkeys(m.representation for m in methods))
    rep_keys = {kind: reps[kind]["meta"]["key"] if kind in reps else "raw" for kind in kinds}
    key = run.cache.key(stage="maps", representations=rep_keys, report=dataclasses.asdict(cfg))
    path = RunFolder(run.out).maps

    def load(meta: dict) -> None:
        if not path.exists():
            raise ArtifactError(f"{path}: missing")

    def compute() -> None:
        data = run.data
        if data.labelled:
            index = stratified_subset(data.test_labels, cfg.map_points, run.config.seed)
        else:
            index = np.arange(min(cfg.map_points, len(data.x_test)))
        arrays = {}
        with run.log.bar(len(kinds), f"2-D maps ({cfg.map_method})", unit="map") as bar:
            for kind in kinds:
                x = data.x_test if kind == "raw" else reps[kind]["test"]
                arrays[f"{kind}_coords"] = embed_2d(x[index], cfg.map_method, run.config.seed)
                arrays[f"{kind}_index"] = index
                bar.update(1)
        write_arrays(path, **arrays)
        write_json(RunFolder(run.out).maps_record, {"key": key, "method": cfg.map_method,
                                           "points": len(index), "representations": kinds})

    run.cache.stage("maps", RunFolder(run.out).maps_record, key, "2-D maps", load, compute)
