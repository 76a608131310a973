"""A run folder's manifest: which files belong together, so that a run is whole or
visibly unfinished.

``manifest.json`` lists every file of a finished run with its size and SHA-256. A run
marks its folder unfinished before it writes anything (``"complete": false``) and
writes the full manifest last, so a run killed half way, or a rerun with other settings
killed half way, leaves a folder that `verify` refuses instead of one that mixes old
and new files. Loading a run (`fashion_cluster.load_run`, ``predict``, ``report``,
``figures``) verifies the manifest first; a file changed, missing or swapped since is
an `ArtifactError` (exit status 2) that says how to finish the run.

A folder made before manifests existed loads with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

from .artifacts import ArtifactError, read_json, write_json
from .layout import RunFolder

__all__ = ["mark_unfinished", "verify", "write_manifest"]

FORMAT = "fashion-cluster run manifest 1"

log = logging.getLogger(__name__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _artifacts(out: Path) -> list[Path]:
    """The run's files: every regular file below ``out`` but hidden ones (the marker,
    temporary files), transient ones and the manifest itself."""
    files = []
    for root, dirs, names in os.walk(out):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (Path(root) == out and d in RunFolder.TRANSIENT))
        for name in sorted(names):
            path = Path(root) / name
            if not name.startswith(".") and path != RunFolder(out).manifest and path.is_file():
                files.append(path)
    return files


def mark_unfinished(out: Path, command: str | None = None) -> None:
    """Record that a run is writing into ``out``: until `write_manifest`, the folder
    is refused by `verify`. ``command`` is what finishes it, shown in that error."""
    write_json(RunFolder(out).manifest, {"format": FORMAT, "complete": False, "command": command})


def write_manifest(out: Path, command: str | None = None) -> dict:
    """List every file of the finished run in ``out`` with its size and SHA-256."""
    if command is None and (RunFolder(out).manifest).is_file():
        with contextlib.suppress(ArtifactError):
            command = read_json(RunFolder(out).manifest).get("command")
    files = {path.relative_to(out).as_posix(): {"bytes": path.stat().st_size,
                                                 "sha256": _sha256(path)}
             for path in _artifacts(out)}
    manifest = {"format": FORMAT, "complete": True, "command": command, "files": files}
    write_json(RunFolder(out).manifest, manifest)
    return manifest


def verify(out: Path, skip: tuple[str, ...] = ()) -> None:
    """Check that ``out`` holds a finished run whose files are those its manifest lists.

    ``skip``: path prefixes not checked (what the caller is about to redraw).

    Raises
    ------
    ArtifactError
        The run is unfinished, or a listed file is missing or differs.
    """
    path = RunFolder(out).manifest
    if not path.exists():
        log.warning(f"{out}: no manifest.json (a run of an older version?): its files are "
                    "not checked")
        return
    manifest = read_json(path)
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a fashion-cluster run manifest")
    problem = None if manifest.get("complete") else "it was stopped before it finished"
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise ArtifactError(f"{path}: damaged manifest (files is not a table)")
    for name, entry in sorted(files.items()):
        if problem is not None:
            break
        if name.startswith(skip):
            continue
        file = out / name
        if not file.is_file():
            problem = f"{name} is missing"
        elif not isinstance(entry, dict) or file.stat().st_size != entry.get("bytes") \
                or _sha256(file) != entry.get("sha256"):
            problem = f"{name} differs from the file the run wrote"
    if problem is not None:
        again = manifest.get("command") or f"fashion-cluster run ... --out {out}"
        raise ArtifactError(f"unfinished or modified run: {out}: {problem}; rerun `{again}` "
                            "to finish it")
