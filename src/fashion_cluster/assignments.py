"""Cluster assignments as CSV, one row an image: a run's own (``assignments.csv``) and
those of new images (``fashion-cluster predict``).

Files are written through a temporary file and renamed into place, so an error or an
interrupt leaves no partial CSV; new images are assigned batch by batch, so memory does
not grow with their number.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from .artifacts import atomic_path
from .outputs import check_file, open_text
from .runs import FittedMethod, RunResult

__all__ = ["predict_csv", "write_run_assignments"]

# A batch's clusters and, where the method has one, the probability of each.
Assigned = tuple[np.ndarray, np.ndarray | None]


def write_run_assignments(path: str | os.PathLike, labels: dict[str, dict[str, np.ndarray]],
                          matched: dict[str, list[int] | None], class_names: list[str],
                          true_labels: dict[str, np.ndarray | None]) -> None:
    """A run's ``assignments.csv``: ``split, index``, the true class when known, then
    each method's cluster and, on labelled data, the class that cluster was matched to.

    ``labels[method][split]`` are the clusters, ``matched[method]`` the class index
    matched to each cluster (or None), ``true_labels[split]`` the classes (or None).
    """
    methods = list(labels)
    named = bool(class_names) and all(v is not None for v in true_labels.values())
    header = ["split", "index"] + (["class"] if named else [])
    for name in methods:
        header += [name] + ([f"{name}_class"] if named else [])
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for split in ("train", "test"):
            columns = [labels[name][split] for name in methods]
            truth = true_labels.get(split)
            for i in range(len(columns[0]) if columns else 0):
                row: list = [split, i] + ([class_names[truth[i]]] if named else [])
                for name, column in zip(methods, columns, strict=True):
                    c = int(column[i])
                    row += [c] + ([_class_of(matched[name], c, class_names)] if named else [])
                writer.writerow(row)


def _class_of(matched: list[int] | None, cluster: int, class_names: list[str]) -> str:
    if not matched or cluster >= len(matched) or matched[cluster] < 0:
        return ""
    return class_names[matched[cluster]]


def predict_csv(run: RunResult, method: FittedMethod, images: np.ndarray,
                names: Sequence[str | int],
                out: str | os.PathLike | None, batch_size: int = 4096,
                progress: Callable[[int], None] | None = None,
                assigned: Iterable[Assigned] | None = None, overwrite: bool = False) -> int:
    """Assign ``images`` with a run's fitted method and write one CSV row an image
    (``image, cluster[, class][, probability]``) to ``out`` (stdout when None).

    ``out`` follows the package's write policy (`fashion_cluster.outputs`): an
    existing file is replaced only with ``overwrite``, never inside a run folder, and a
    FIFO or device is written into. Every image is checked against the run's input
    (size, channels) before the first row is written. ``assigned`` gives the
    ``(labels, confidence)`` of each batch of ``batch_size`` images, in order, when
    they come from elsewhere (a Dask cluster:
    `fashion_cluster.distributed.DaskRunner.assign`); by default they are computed
    here. Returns the number of rows.
    """
    target = None if out is None else check_file(out, inputs=[run.path], overwrite=overwrite)
    run.scale(images[:1])  # raises DatasetError for images of another shape
    if assigned is None:
        assigned = (method.assign(run.scale(images[start : start + batch_size]))
                    for start in range(0, len(names), batch_size))
    rows = _rows(method, assigned, names, progress)
    header = next(rows)
    with open_text(target) as fh:
        _write(fh, header, rows)
    return len(names)


def _write(fh, header: list[str], rows: Iterator[list]) -> None:
    writer = csv.writer(fh)
    writer.writerow(header)
    writer.writerows(rows)


def _rows(method: FittedMethod, assigned: Iterable[Assigned], names: Sequence[str | int],
          progress: Callable[[int], None] | None) -> Iterator[list]:
    """The header, then one row an image, batch by batch."""
    has_proba = hasattr(method.clusterer, "predict_proba")
    classes = method.cluster_classes
    yield (["image", "cluster"] + (["class"] if classes else [])
           + (["probability"] if has_proba else []))
    start = 0
    for labels, confidence in assigned:
        for j, c in enumerate(labels.tolist()):
            row: list = [names[start + j], c]
            if classes:
                row.append(classes[c] if c < len(classes) else "")
            if confidence is not None:
                row.append(f"{confidence[j]:.4f}")
            yield row
        start += len(labels)
        if progress is not None:
            progress(start)
    if start != len(names):  # the partial CSV is not renamed into place
        raise RuntimeError(f"{start:,} assignments for {len(names):,} images")
