"""The schema of ``metrics.json``, as dataclasses: what a run writes and its readers expect.

The study checks its ``metrics.json`` against `RunMetrics` before writing it; the
figures, the report and the command line read it with `read_metrics`, which checks
it again and names the file and the key that is missing or of the wrong type. A field
listed here is always present (``None`` where it does not apply); runs may add keys
(new keys are allowed everywhere, renaming one breaks the contract).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from typing import Any

from .artifacts import ArtifactError, read_json

__all__ = ["MethodMetrics", "RepresentationRecord", "RunMetrics", "Scores", "read_metrics",
           "validate"]


@dataclass
class Scores:
    """Scores of one split against the labels (Hungarian-matched accuracy)."""

    accuracy: float
    unmatched_accuracy: float
    nmi: float
    ari: float
    confusion: list  # (classes, clusters): row = true class, column = matched cluster


@dataclass
class MethodMetrics:
    """One method of the run (``methods.<name>``)."""

    title: str
    representation: str  # "raw" or a key of fashion_cluster.methods.REPRESENTATIONS
    k: int
    fit_seconds: float
    predict_seconds: float
    info: dict  # the clusterer's facts: SSE, likelihood, convergence, losses
    label_free: dict  # {"train": {...}, "test": {...}} silhouette and friends
    published: dict | None  # the study's published accuracy, if any
    centers_decodable: bool
    seeds: dict  # mean, std, min, max of each score over the seed sweep
    sweep: list  # one entry a seed
    train: Scores | None = None  # only for labelled data
    test: Scores | None = None
    cluster_classes: list | None = None  # the class each cluster was matched to
    warnings: list | None = None  # label-free signs of a doubtful result (metrics.doubts)


@dataclass
class RepresentationRecord:
    """A trained representation (``autoencoders.<kind>``, ``representations.<kind>``)."""

    kind: str
    epochs: int
    batch_size: int
    learning_rate: float
    loss: list
    val_loss: list
    epoch_seconds: list
    train_seconds: float
    parameters: int
    summary: list


@dataclass
class RunMetrics:
    """The whole ``metrics.json``."""

    preset: str
    seed: int
    dataset: dict  # name, n_train, n_test, image_shape, class_names, labelled, sha256
    k: int
    k_source: str
    device: str
    versions: dict
    config: dict
    autoencoders: dict[str, RepresentationRecord]
    methods: dict[str, MethodMetrics]
    timing: dict
    elbow: dict | None = None
    representations: dict[str, RepresentationRecord] | None = None
    k_choice: dict | None = None  # --k auto: silhouette over k on a representation


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """``metrics.json`` read and checked against `RunMetrics`.

    Raises
    ------
    ArtifactError
        Missing, damaged, or not of this schema; the message names the file and key.
    """
    data = read_json(path)
    return validate(data, str(path))


def validate(data: dict[str, Any], source: str = "metrics.json") -> dict[str, Any]:
    """``data`` itself, after checking it against `RunMetrics`."""
    _check(RunMetrics, data, source, "")
    return data


def _check(cls: type, data: Any, source: str, where: str) -> None:
    if not isinstance(data, dict):
        raise ArtifactError(f"{source}: {where or 'the file'} must be an object")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING:
                raise ArtifactError(f"{source}: {key} is missing")
            continue
        _check_value(hints[f.name], data[f.name], source, key)


def _check_value(hint: Any, value: Any, source: str, key: str) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        _check(hint, value, source, key)
    elif origin is dict and args:
        if not isinstance(value, dict):
            raise ArtifactError(f"{source}: {key} must be an object")
        for name, item in value.items():
            _check_value(args[1], item, source, f"{key}.{name}")
    else:
        expected = {float: (int, float), int: (int,), str: (str,), bool: (bool,),
                    dict: (dict,), list: (list,)}[origin or hint]
        if not isinstance(value, expected) or (hint is int and isinstance(value, bool)):
            raise ArtifactError(f"{source}: {key} must be {getattr(hint, '__name__', hint)}, "
                                f"got {type(value).__name__}")
