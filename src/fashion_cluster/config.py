"""Study configuration: plain dataclasses, read from TOML presets and validated up front.

A preset is a TOML file with the sections below; every key is optional and defaults to
the study's setting. Unknown sections or keys, and values of the wrong type or range,
are errors that name the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .settings import CHOICES, CLUSTER_SIZES, COVARIANCE_TYPES, RANGES  # noqa: F401 - also here

__all__ = ["ConfigError", "StudyConfig", "available_presets", "load_preset"]

STUDY_METHODS = ("kmeans_raw", "ae_kmeans", "ae_gmm", "conv_ae_kmeans")


@dataclass(frozen=True)
class DataConfig:
    """Which images (see `fashion_cluster.datasets.load_dataset`).

    ``n_train`` / ``n_test`` = 0 means the whole split; ``image_size`` = () keeps the
    images' own size; ``channels`` = 0 decides from the images.
    """

    dataset: str = "fashion-mnist"
    n_train: int = 0
    n_test: int = 0
    subset_seed: int = 0
    image_size: tuple[int, ...] = ()
    channels: int = 0
    test_fraction: float = 0.15


@dataclass(frozen=True)
class ElbowConfig:
    k_min: int = 1
    k_max: int = 25
    n_init: int = 10
    enabled: bool = True


@dataclass(frozen=True)
class ClusteringConfig:
    """``k`` = 0 means: choose k from the elbow sweep by ``k_choice``: "knee" (of the SSE
    curve) or "silhouette" (the k whose partition has the highest silhouette)."""

    k: int = 10
    k_choice: str = "knee"
    n_init: int = 10
    gmm_covariance: str = "full"
    gmm_n_init: int = 1
    sweep_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class AutoencoderConfig:
    """``step``: how a training step runs ("autograd" or
    "compile"; see `fashion_cluster.training.train_autoencoder`)."""

    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    step: str = "autograd"


@dataclass(frozen=True)
class N2DConfig:
    """The N2D method: UMAP (``n_components`` = 0 means the number of clusters), then a
    Gaussian mixture with ``gmm_covariance`` covariances."""

    n_neighbors: int = 20
    min_dist: float = 0.0
    n_components: int = 0
    gmm_covariance: str = "full"


@dataclass(frozen=True)
class SimCLRConfig:
    """Contrastive pre-training of the small CNN (SimCLR, Chen et al. 2020)."""

    epochs: int = 8
    batch_size: int = 512
    min_steps: int = 300  # small sets: more epochs, smaller batches (training.schedule)
    learning_rate: float = 1e-3
    temperature: float = 0.5
    crop_min: float = 0.4
    gamma: float = 1.0  # largest power of the views' random gamma correction (1: none)
    feature_dim: int = 512
    processes: int = 1  # train on this many processes (torch.distributed; --nproc)


@dataclass(frozen=True)
class ScanConfig:
    """The SCAN clustering step (Van Gansbeke et al. 2020) on frozen features."""

    neighbours: int = 20
    heads: int = 10
    epochs: int = 30
    entropy_weight: float = 5.0
    views: int = 4
    batch_size: int = 512
    min_steps: int = 1000  # small sets: more epochs, smaller batches (training.schedule)
    processes: int = 1  # train the heads on this many processes (torch.distributed; --nproc)
    cluster_sizes: str = "equal"  # "equal" (SCAN paper), "estimated", "auto", "merged"


@dataclass(frozen=True)
class ReportConfig:
    map_method: str = "umap"  # 2-D map of the test codes: "umap" or "tsne"
    map_points: int = 10000
    gallery_per_cluster: int = 10


@dataclass(frozen=True)
class StudyConfig:
    """Everything a run depends on, besides the data files and the device."""

    name: str = "custom"
    description: str = ""
    seed: int = 0
    methods: tuple[str, ...] = STUDY_METHODS
    data: DataConfig = field(default_factory=DataConfig)
    elbow: ElbowConfig = field(default_factory=ElbowConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    dense_ae: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    conv_ae: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(epochs=5))
    n2d: N2DConfig = field(default_factory=N2DConfig)
    simclr: SimCLRConfig = field(default_factory=SimCLRConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> StudyConfig:
        """A copy with top-level fields or ``section__key`` fields changed."""
        top = {k: v for k, v in changes.items() if "__" not in k}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if "__" in key:
                section, name = key.split("__", 1)
                nested.setdefault(section, {})[name] = value
        data = self.to_dict()
        data.update(top)
        for section, values in nested.items():
            data[section].update(values)
        return from_dict(data, "<options>")


_SECTIONS = {
    "data": DataConfig,
    "elbow": ElbowConfig,
    "clustering": ClusteringConfig,
    "dense_ae": AutoencoderConfig,
    "conv_ae": AutoencoderConfig,
    "n2d": N2DConfig,
    "simclr": SimCLRConfig,
    "scan": ScanConfig,
    "report": ReportConfig,
}

def _check_value(source: str, where: str, name: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {where} must be a list, got {value!r}")
        kind = type(default[0]) if default else int
        for item in value:
            if isinstance(item, bool) or not isinstance(item, kind):
                raise ConfigError(f"{source}: {where} must hold {kind.__name__} values, "
                                  f"got {item!r}")
        if kind is int and any(item < 0 for item in value):
            raise ConfigError(f"{source}: {where} must hold non-negative integers")
        if kind is float and not all(math.isfinite(item) for item in value):
            raise ConfigError(f"{source}: {where} must hold finite numbers, got {value!r}")
        if name == "image_size" and value and (len(value) != 2 or min(value) < 1):
            raise ConfigError(f"{source}: {where} must be [height, width] of at least 1 "
                              f"pixel each (or [] to keep the images' size), got {list(value)}")
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        raise ConfigError(f"{source}: {where} must be {expected.__name__}, got {value!r}")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{source}: {where} must be a finite number, got {value!r}")
    if name in RANGES:
        lo, hi = RANGES[name]
        if value < lo or (hi is not None and value > hi):
            bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise ConfigError(f"{source}: {where} must be {bound}, got {value!r}")
    if name in ("learning_rate", "temperature") and not value > 0:
        raise ConfigError(f"{source}: {where} must be > 0, got {value!r}")
    if name == "test_fraction" and not 0 < value < 1:
        raise ConfigError(f"{source}: {where} must be between 0 and 1, got {value!r}")
    if name == "channels" and value == 2:
        raise ConfigError(f"{source}: {where} must be 0 (automatic), 1 or 3, got 2")
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"{source}: {where} must be one of {', '.join(CHOICES[name])}, "
                          f"got {value!r}")
    return value


def _build(cls: type, values: dict[str, Any], source: str, section: str) -> Any:
    """The section's dataclass: the keys given in ``values``, the others at the defaults
    ``StudyConfig`` has for that section (which can differ from the class's own)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{section}] must be a table, got {values!r}")
    defaults = getattr(StudyConfig(), section)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) in [{section}]: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    checked = {k: _check_value(source, f"{section}.{k}", k, v, getattr(defaults, k))
               for k, v in values.items()}
    return dataclasses.replace(defaults, **checked)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> StudyConfig:
    """Build and validate a `StudyConfig` from nested plain data."""
    top_defaults = StudyConfig()
    top_keys = {"name", "description", "seed", "methods"}
    unknown = sorted(set(data) - top_keys - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s): {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(top_keys | set(_SECTIONS)))})")
    kwargs: dict[str, Any] = {}
    for key in top_keys & set(data):
        kwargs[key] = _check_value(source, key, key, data[key], getattr(top_defaults, key))
    for section, cls in _SECTIONS.items():
        if section in data:
            kwargs[section] = _build(cls, data[section], source, section)
    config = StudyConfig(**kwargs)
    _check_consistency(config, source)
    return config


def _check_consistency(config: StudyConfig, source: str) -> None:
    from .methods import METHODS  # the registry of clustering methods

    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"{source}: unknown method(s) {', '.join(unknown)} "
                          f"(known: {', '.join(METHODS)})")
    if not config.methods:
        raise ConfigError(f"{source}: methods must name at least one method")
    if config.elbow.k_min > config.elbow.k_max:
        raise ConfigError(f"{source}: elbow.k_min ({config.elbow.k_min}) is larger than "
                          f"elbow.k_max ({config.elbow.k_max})")
    if config.clustering.k == 0 and config.clustering.k_choice == "knee" \
            and not config.elbow.enabled:
        raise ConfigError(f"{source}: clustering.k = 0 with k_choice = \"knee\" (use the "
                          "elbow's knee) needs the elbow sweep enabled")


def available_presets() -> list[str]:
    folder = resources.files("fashion_cluster") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str | Path) -> StudyConfig:
    """A packaged preset by name (``paper``, ``quick``, ...) or a TOML file by path.

    A name is a path only when it looks like one: it contains a path separator or ends
    in ``.toml``. So a bare name always means the packaged preset, whatever files or
    folders the working directory holds.
    """
    text_name = str(name_or_path)
    if not _looks_like_path(text_name):
        if text_name not in available_presets():
            raise ConfigError(f"unknown preset {text_name!r} (available: "
                              f"{', '.join(available_presets())}; a file must end in .toml "
                              "or contain a path separator, e.g. ./my.toml)")
        source = f"preset {text_name}"
        text = (resources.files("fashion_cluster") / "presets" / f"{text_name}.toml").read_text()
        name = text_name
    else:
        path = Path(name_or_path)
        source, name = str(path), path.stem
        if path.is_dir():
            raise ConfigError(f"{source}: is a folder, not a preset file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(f"{source}: cannot read preset ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    data.setdefault("name", name)
    return from_dict(data, source)


def _looks_like_path(name: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return name.endswith(".toml") or any(sep in name for sep in separators)
