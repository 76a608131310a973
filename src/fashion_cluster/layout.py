"""The layout of a run folder: every file a run writes, named in this one place.

    folder = RunFolder("results/best")
    folder.metrics                      # results/best/metrics.json
    folder.method("scan", ".npz")       # results/best/methods/scan.npz

The study writes these files, `fashion_cluster.runs` and the figures and report read
them, the manifest lists them; none spells a path of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["RunFolder"]


class RunFolder:
    """The paths of the files of the run folder ``root``.

    Attributes
    ----------
    root : Path
    marker : Path
        ``.fashion-cluster``: the folder is this package's (see `fashion_cluster.outputs`).
    manifest, metrics, data, assignments, maps, maps_record, elbow, k_choice,
    report, summary : Path
        ``manifest.json``, ``metrics.json``, ``data.npz`` (labels and sample images),
        ``assignments.csv``, ``maps.npz`` and ``maps.json`` (the 2-D maps), ``elbow.json``,
        ``k_choice.json``, ``report.html``, ``summary.md``.
    figures : Path
        The folder of the figures (``figures/*.png``).
    """

    MARKER = ".fashion-cluster"
    TRANSIENT = ("checkpoints",)  # folders of files deleted when their stage ends

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.marker = self.root / self.MARKER
        self.manifest = self.root / "manifest.json"
        self.metrics = self.root / "metrics.json"
        self.data = self.root / "data.npz"
        self.assignments = self.root / "assignments.csv"
        self.maps = self.root / "maps.npz"
        self.maps_record = self.root / "maps.json"
        self.elbow = self.root / "elbow.json"
        self.k_choice = self.root / "k_choice.json"
        self.figures = self.root / "figures"
        self.report = self.root / "report.html"
        self.summary = self.root / "summary.md"

    def model(self, artifact: str, suffix: str = ".safetensors") -> Path:
        """A fitted representation (``.safetensors``) or its training record (``.json``)."""
        return self.root / "models" / f"{artifact}{suffix}"

    def codes(self, artifact: str) -> Path:
        """A representation's features of both splits (``codes/<artifact>.npz``)."""
        return self.root / "codes" / f"{artifact}.npz"

    def checkpoint(self, artifact: str) -> Path:
        """A representation's training checkpoint, deleted when its training ends."""
        return self.root / "checkpoints" / f"{artifact}.safetensors"

    def method(self, name: str, suffix: str) -> Path:
        """A method's fitted clusterer (``.safetensors``), its labels and the arrays of its
        figures (``.npz``) or its record (``.json``)."""
        return self.root / "methods" / f"{name}{suffix}"
