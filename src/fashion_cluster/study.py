"""The whole study as stages with cached artifacts. The only module that knows their order.

    data -> elbow sweep -> autoencoders (dense, conv) -> clustering methods -> metrics.json
         -> figures -> report

Every stage writes its artifacts into the output folder together with a JSON record of
the configuration they were computed from (a hash of the data, the settings, the seed,
the device type). A later run reuses an artifact only when that record matches its own
configuration and the files load cleanly; otherwise it says why and recomputes. So a
second ``run`` with the same settings finishes in seconds, a changed setting recomputes
what depends on it, and an interrupted run resumes (training from its last epoch).
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .artifacts import (
    ArtifactError,
    read_arrays,
    read_json,
    write_arrays,
    write_json,
)
from .autoencoders import (
    ConvAutoencoder,
    DenseAutoencoder,
    decode,
    encode,
    load_model,
    reconstruct,
    save_model,
    summary,
)
from .cache import StageCache
from .clustering import ElbowResult, elbow_sweep
from .config import ConfigError, StudyConfig
from .contrastive import SimCLREncoder, train_simclr
from .data import stratified_subset
from .datasets import ImageSet, load_dataset
from .devices import resolve_device
from .embedding import embed_2d
from .errors import FashionClusterError
from .methods import METHODS, REPRESENTATIONS, FitInput, Method, SeedResult
from .metrics import cluster_sums, internal_scores, match_clusters, score
from .progress import Reporter
from .training import train_autoencoder

__all__ = ["OutputError", "Study", "load_study_data", "run_study"]

MARKER = ".fashion-cluster"


class OutputError(FashionClusterError, ValueError):
    """The output folder cannot be used (not writable, or holds someone else's files)."""


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


def prepare_output(out: Path) -> Path:
    """Create ``out`` or check that it is ours (or empty) and writable."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise OutputError(
            f"{out}: folder is not empty and was not written by fashion-cluster; "
            "choose an empty or new folder for --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("This folder holds a fashion-cluster run.\n")
    except OSError as exc:
        raise OutputError(f"{out}: cannot write here ({exc.strerror or exc})") from None
    return out


class Study:
    """One run of the study into one output folder.

    Parameters
    ----------
    config : StudyConfig
    out : path
        Output folder (created; reused artifacts are read from it).
    data : ImageSet
    device : "auto", "cpu" or "cuda"
    reporter : Reporter, optional
    runner : fashion_cluster.distributed.DaskRunner, optional
        Runs the elbow sweep and the seed sweeps as tasks on a Dask cluster.
    """

    def __init__(self, config: StudyConfig, out: str | Path, data: ImageSet,
                 device: str = "auto", reporter: Reporter | None = None, runner=None):
        self.config = config
        self.runner = runner
        self.out = prepare_output(Path(out))
        self.data = data
        self.device = resolve_device(device)
        self.log = reporter or Reporter()
        self.cache = StageCache(self.out, {"data": data.fingerprint(), "seed": config.seed,
                                           "device": self.device.type}, self.log)

    # ------------------------------------------------------------------ stages

    def elbow(self) -> dict:
        """K-Means SSE for k = k_min..k_max, and the knee (``elbow.json``)."""
        cfg = self.config.elbow
        key = self.cache.key(stage="elbow", elbow=dataclasses.asdict(cfg))
        path = self.out / "elbow.json"

        def compute() -> dict:
            ks = list(range(cfg.k_min, min(cfg.k_max, len(self.data.x_train)) + 1))
            self.log.info(f"elbow sweep: K-Means for k = {ks[0]}..{ks[-1]}, {cfg.n_init} "
                          f"initialisations each, on {len(self.data.x_train):,} images")
            result = run_elbow(self.data.x_train, ks, cfg.n_init, self.config.seed,
                               self.device, self.log, self.runner)
            meta = {**result.to_json(), "key": key}
            write_json(path, meta)
            return meta

        return self.cache.stage("elbow", path, key, "elbow sweep", lambda meta: meta, compute)

    def representation(self, kind: str) -> dict:
        """Train (or reuse) the network of one representation and encode both splits.

        ``kind`` is ``dense`` or ``conv`` (the study's autoencoders) or ``simclr`` (the
        contrastive CNN). Returns a dict with ``model``, ``train`` and ``test`` codes and
        the ``meta`` record.
        """
        cfg = self._training_config(kind)
        model = self._build(kind)
        key = self.cache.key(stage="representation", kind=kind, model=model.config,
                             training=dataclasses.asdict(cfg))
        name = REPRESENTATIONS[kind].artifact
        weights = self.out / "models" / f"{name}.safetensors"
        codes_path = self.out / "codes" / f"{name}.npz"
        n_train, n_test = len(self.data.x_train), len(self.data.x_test)

        def load(meta: dict) -> dict:
            trained = load_model(weights, self.device)
            codes = read_arrays(codes_path, {"train": (n_train, None), "test": (n_test, None)})
            return {"model": trained, **codes, "meta": meta}

        return self.cache.stage(name, weights.with_suffix(".json"), key,
                                REPRESENTATIONS[kind].title, load,
                                lambda: self._train(kind, model, cfg, key, weights, codes_path))

    def _training_config(self, kind: str):
        return getattr(self.config, REPRESENTATIONS[kind].artifact)

    def _build(self, kind: str) -> torch.nn.Module:
        # Weights are initialised from the run's seed without touching torch's global RNG.
        shape = self.data.image_shape
        channels_first = (shape[2] if len(shape) == 3 else 1, shape[0], shape[1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            if kind == "dense":
                return DenseAutoencoder(input_dim=int(np.prod(shape)))
            if kind == "conv":
                return ConvAutoencoder(image_shape=channels_first)
            return SimCLREncoder(image_shape=channels_first,
                                 feature_dim=self.config.simclr.feature_dim)

    def _train(self, kind: str, model: torch.nn.Module, cfg, key: str, weights: Path,
               codes_path: Path) -> dict:
        model = model.to(self.device)
        name = REPRESENTATIONS[kind].artifact
        checkpoint = self.out / "checkpoints" / f"{name}.safetensors"
        title = REPRESENTATIONS[kind].title
        self.log.info(f"{title}: {sum(p.numel() for p in model.parameters()):,} parameters, "
                      f"{cfg.epochs} epochs, batch {cfg.batch_size}, on {self.device.type}")
        with self.log.bar(cfg.epochs, f"training the {title}", unit="epoch") as bar:
            def progress(epoch: int, epochs: int, history) -> None:
                bar.update(epoch - bar.n)
                val = history.val_loss[-1]
                bar.set_postfix_str(f"loss {history.loss[-1]:.4f}"
                                    + (f" val {val:.4f}" if val == val else ""))

            if kind == "simclr":
                history = train_simclr(
                    model, self.data.x_train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    learning_rate=cfg.learning_rate, temperature=cfg.temperature,
                    crop_min=cfg.crop_min, seed=self.config.seed, checkpoint=checkpoint,
                    progress=progress)
                training = {"optimizer": "Adam (one-cycle)", "loss_function": "nt-xent",
                            "temperature": cfg.temperature, "crop_min": cfg.crop_min}
            else:
                history = train_autoencoder(
                    model, self.data.x_train, self.data.x_test, epochs=cfg.epochs,
                    batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                    seed=self.config.seed, checkpoint=checkpoint, progress=progress,
                    step=cfg.step)
                training = {"optimizer": "Adam", "loss_function": "mse"}
        codes = {"train": encode(model, self.data.x_train), "test": encode(model, self.data.x_test)}
        arrays = dict(codes)
        if REPRESENTATIONS[kind].decodes:
            examples = _one_per_class(self.data.test_labels, len(self.data.x_test))
            originals = self.data.x_test[examples]
            arrays.update(example_index=examples, example_originals=originals,
                          example_codes=codes["test"][examples],
                          example_reconstructions=reconstruct(model, originals))
        write_arrays(codes_path, **arrays)
        meta = {"key": key, "kind": kind, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                "learning_rate": cfg.learning_rate, **training,
                **dataclasses.asdict(history), "train_seconds": history.train_seconds,
                "summary": summary(model).splitlines()}
        save_model(model, weights, extra=meta)
        checkpoint.unlink(missing_ok=True)
        return {"model": model, **codes, "meta": read_json(weights.with_suffix(".json"))}

    def method(self, method: Method, k: int, reps: dict[str, dict]) -> dict:
        """Fit one clustering method on train, assign test, run the seed sweep."""
        cfg = self.config.clustering
        rep = reps.get(method.representation)
        rep_key = rep["meta"]["key"] if rep is not None else "raw"
        key = self.cache.key(stage="method", method=method.name, k=k, representation=rep_key,
                             clustering=dataclasses.asdict(cfg))
        base = self.out / "methods" / method.name

        def load(meta: dict) -> dict:
            arrays = read_arrays(base.with_suffix(".npz"), {
                "train_labels": (len(self.data.x_train),),
                "test_labels": (len(self.data.x_test),)})
            return {"meta": meta, **arrays}

        return self.cache.stage(method.name, base.with_suffix(".json"), key, method.title,
                                load, lambda: self._fit_method(method, k, rep, key, base))

    def _fit_method(self, method: Method, k: int, rep: dict | None, key: str, base: Path) -> dict:
        cfg = self.config.clustering
        x_train = self.data.x_train if rep is None else rep["train"]
        x_test = self.data.x_test if rep is None else rep["test"]
        device = self.device.type
        self.log.info(f"{method.title}: k = {k}, fitting on {x_train.shape[0]:,} x "
                      f"{x_train.shape[1]}")
        def fit_input(seed: int) -> FitInput:
            return FitInput(x_train, k, seed, self.config, device, self.data.x_train,
                            self.data.image_shape, rep["model"] if rep is not None else None)

        fit = method.fit(fit_input(self.config.seed))
        tic = time.perf_counter()
        test_labels = fit.predict(x_test)
        predict_seconds = time.perf_counter() - tic

        if method.centers_decodable and rep is None:
            center_images = fit.centers
        elif method.centers_decodable:
            center_images = decode(rep["model"], fit.centers)
        else:
            center_images = _member_means(self.data.x_train, fit.labels, k)
        gallery = _gallery(fit.labels, k, self.config.report.gallery_per_cluster, self.config.seed)

        sweep = []
        seeds = list(cfg.sweep_seeds)
        main = SeedResult(self.config.seed, fit.labels, test_labels, fit.fit_seconds, fit.info)
        others = [s for s in seeds if s != self.config.seed]
        if self.runner is not None:
            done = {r.seed: r for r in self.runner.seeds(method.name, fit_input(self.config.seed),
                                                         x_test, others)}

            def refit(seed: int) -> SeedResult:
                return done[seed]
        else:
            def refit(seed: int) -> SeedResult:
                other = method.fit(fit_input(seed))
                return SeedResult(seed, other.labels, other.predict(x_test), other.fit_seconds,
                                  other.info)

        with self.log.bar(len(seeds), f"{method.title}: seed sweep", unit="seed") as bar:
            for seed in seeds:
                run = main if seed == self.config.seed else refit(seed)
                entry = {"seed": seed, "fit_seconds": run.fit_seconds,
                         **{k_: v for k_, v in run.info.items() if k_ in ("sse", "converged")}}
                run_test = run.test_labels
                if self.data.labelled:
                    entry["train"] = _brief(score(self.data.train_labels, run.train_labels))
                    entry["test"] = _brief(score(self.data.test_labels, run_test))
                else:
                    entry["train"] = {"silhouette": internal_scores(
                        x_train, run.train_labels, seed)["silhouette"]}
                    entry["test"] = {"silhouette": internal_scores(
                        x_test, run_test, seed)["silhouette"]}
                sweep.append(entry)
                bar.update(1)

        gallery_images = self.data.train_images[np.maximum(gallery, 0)]
        gallery_images[gallery < 0] = 0
        write_arrays(base.with_suffix(".npz"), train_labels=fit.labels, test_labels=test_labels,
                     centers=fit.centers, center_images=center_images,
                     gallery_index=gallery, gallery_images=gallery_images)
        label_free = {"train": internal_scores(x_train, fit.labels, self.config.seed),
                      "test": internal_scores(x_test, test_labels, self.config.seed)}
        meta = {"key": key, "name": method.name, "title": method.title,
                "representation": method.representation, "k": k,
                "fit_seconds": fit.fit_seconds, "predict_seconds": predict_seconds,
                "info": fit.info, "label_free": label_free, "sweep": sweep}
        write_json(base.with_suffix(".json"), meta)
        return {"meta": meta, "train_labels": fit.labels, "test_labels": test_labels}

    def maps(self, reps: dict[str, dict], methods: list[Method]) -> None:
        """2-D maps (UMAP or t-SNE) of the test set in each representation (``maps.npz``)."""
        cfg = self.config.report
        kinds = list(dict.fromkeys(m.representation for m in methods))
        rep_keys = {kind: reps[kind]["meta"]["key"] if kind in reps else "raw" for kind in kinds}
        key = self.cache.key(stage="maps", representations=rep_keys,
                             report=dataclasses.asdict(cfg))
        path = self.out / "maps.npz"

        def load(meta: dict) -> None:
            if not path.exists():
                raise ArtifactError(f"{path}: missing")

        def compute() -> None:
            n_test = len(self.data.x_test)
            if self.data.labelled:
                index = stratified_subset(self.data.test_labels, cfg.map_points, self.config.seed)
            else:
                index = np.arange(min(cfg.map_points, n_test))
            arrays = {}
            with self.log.bar(len(kinds), f"2-D maps ({cfg.map_method})", unit="map") as bar:
                for kind in kinds:
                    x = self.data.x_test if kind == "raw" else reps[kind]["test"]
                    arrays[f"{kind}_coords"] = embed_2d(x[index], cfg.map_method,
                                                        self.config.seed)
                    arrays[f"{kind}_index"] = index
                    bar.update(1)
            write_arrays(path, **arrays)
            write_json(self.out / "maps.json", {"key": key, "method": cfg.map_method,
                                                "points": len(index), "representations": kinds})

        self.cache.stage("maps", self.out / "maps.json", key, "2-D maps", load, compute)

    # -------------------------------------------------------------------- run

    def run(self) -> dict:
        """Run every stage (reusing what it can) and write ``metrics.json``."""
        tic = time.perf_counter()
        cfg = self.config
        methods = [METHODS[name] for name in cfg.methods]
        self._check_feasible(cfg.clustering.k, methods)
        self._write_data_record()
        elbow = self.elbow() if cfg.elbow.enabled else None
        k = cfg.clustering.k or (elbow or {}).get("best_k") or 10
        k_source = "config" if cfg.clustering.k else "knee of the elbow curve"
        if not cfg.clustering.k and not (elbow or {}).get("best_k"):
            k_source = "default (the elbow curve has no knee)"
        self._check_feasible(k, methods)
        needed = {m.representation for m in methods} - {"raw"}
        reps = {kind: self.representation(kind) for kind in REPRESENTATIONS if kind in needed}
        results = {m.name: self.method(m, k, reps) for m in methods}
        if len(self.data.x_test) >= 3:
            self.maps(reps, methods)
        metrics = self._metrics(elbow, k, k_source, reps, methods, results)
        metrics["timing"] = {"stages": self.cache.timing,
                             "total_seconds": time.perf_counter() - tic}
        write_json(self.out / "metrics.json", metrics)
        return metrics

    def _check_feasible(self, k: int, methods: list[Method]) -> None:
        n = len(self.data.train_images)
        if k > n:
            raise ConfigError(f"k = {k} clusters is more than the {n} training images")
        shape = self.data.image_shape
        if any(m.representation == "conv" for m in methods) and (shape[0] % 4 or shape[1] % 4):
            raise ConfigError(
                f"the convolutional autoencoder needs image height and width divisible by 4, "
                f"the images are {shape[0]}x{shape[1]}: resize them (--image-size HxW) or "
                "leave out the conv_ae methods")

    def _write_data_record(self) -> None:
        """Labels and a few sample images per class, for the figures (``data.npz``)."""
        data = self.data
        arrays = {"sample_images": _class_samples(data.train_images, data.train_labels)}
        if data.labelled:
            arrays.update(train_labels=data.train_labels, test_labels=data.test_labels)
        write_arrays(self.out / "data.npz", **arrays)

    def _metrics(self, elbow: dict | None, k: int, k_source: str, reps: dict,
                 methods: list[Method], results: dict) -> dict:
        metrics: dict[str, Any] = {
            "preset": self.config.name, "seed": self.config.seed,
            "dataset": self.data.describe(), "k": k, "k_source": k_source,
            "device": self.device.type, "versions": _versions(),
            "config": self.config.to_dict(),
        }
        if elbow is not None:
            metrics["elbow"] = {key: v for key, v in elbow.items() if key != "key"}
        records = {kind: {key: v for key, v in rep["meta"].items() if key != "key"}
                   for kind, rep in reps.items()}
        metrics["autoencoders"] = {kind: r for kind, r in records.items()
                                   if kind in ("dense", "conv")}
        if "simclr" in records:
            metrics["representations"] = {"simclr": records["simclr"]}
        metrics["methods"] = {}
        for m in methods:
            res = results[m.name]
            meta = res["meta"]
            entry = {"title": m.title, "representation": m.representation, "k": meta["k"],
                     "fit_seconds": meta["fit_seconds"],
                     "predict_seconds": meta["predict_seconds"], "info": meta["info"],
                     "label_free": meta["label_free"], "published": m.published,
                     "centers_decodable": m.centers_decodable}
            if self.data.labelled:
                entry["train"] = score(self.data.train_labels, res["train_labels"])
                entry["test"] = score(self.data.test_labels, res["test_labels"])
                entry["cluster_classes"] = match_clusters(
                    self.data.train_labels, res["train_labels"], meta["k"]).tolist()
            entry["seeds"] = _spread(meta["sweep"])
            entry["sweep"] = meta["sweep"]
            metrics["methods"][m.name] = entry
        return metrics


def run_elbow(x: np.ndarray, ks: list[int], n_init: int, seed: int, device: torch.device,
              log: Reporter, runner=None) -> ElbowResult:
    """The elbow sweep with a progress bar (on a cluster when given a runner); shared by
    ``run`` and ``elbow``."""
    with log.bar(3 * len(ks), "elbow sweep (k x init)", unit="step") as bar:
        return elbow_sweep(x, ks, n_init=n_init, seed=seed, device=device,
                           progress=lambda done: bar.update(done - bar.n),
                           sweep=runner.elbow if runner is not None else None)


def _brief(scores: dict) -> dict:
    return {name: scores[name] for name in ("accuracy", "nmi", "ari")}


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


def _one_per_class(labels: np.ndarray | None, n: int, count: int = 10) -> np.ndarray:
    """Indices of the first test image of each class (or the first ``count`` images)."""
    if labels is None:
        return np.arange(min(count, n))
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    return np.array(firsts[:count], dtype=np.int64)


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


def _member_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean image of each cluster's members, shape (k, n_features)."""
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


def run_study(config: StudyConfig, out: str | Path, device: str = "auto",
              data_root: str | Path | None = None, quiet: bool = False, runner=None) -> dict:
    """Load the data, run every stage into ``out`` and draw the figures and report.

    ``runner`` (a :class:`fashion_cluster.distributed.DaskRunner`) runs the sweeps on a
    Dask cluster.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    from . import figures, report

    log = Reporter(quiet=quiet)
    data = load_study_data(config, data_root)
    study = Study(config, out, data, device=device, reporter=log, runner=runner)
    metrics = study.run()
    tic = time.perf_counter()
    figures.draw_all(study.out, reporter=log)
    report.write_report(study.out)
    log.info(f"figures and report written ({time.perf_counter() - tic:.1f} s)")
    return metrics
