"""Where a command may write: the one write policy of the package.

Every command, and `fashion_cluster.persistence.save`, checks its outputs here before
any work, and writes them through here:

1. Nothing that the command did not create is deleted or replaced, unless the user asked
   (``--overwrite``, ``overwrite=True``). A run folder is the command's own once it holds
   the marker file `MARKER` that ``run`` writes into it.
2. The inputs of a command, and anything inside a run folder, are never an output of
   ``predict``, ``encode``, ``elbow`` or ``kmeans-zarr``.
3. A file that is not a regular file (a FIFO, a device, ``/dev/stdout``) is written
   into, never replaced.
4. A regular file is written to a temporary file beside it and renamed into place, so
   an error or an interrupt leaves the old file or the new one, never half of one; a
   folder (a zarr array) is built beside its destination and moved into place whole.
5. A path is checked before the work: a folder where a file is wanted, a file that
   exists, a folder that cannot be written (read-only disk, no permission) are errors
   (`OutputError`, exit status 2) that name the path and what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from .artifacts import atomic_path
from .errors import FashionClusterError
from .layout import RunFolder

__all__ = ["MARKER", "OutputError", "check_file", "check_folder", "check_run_folder",
           "claim_run_folder", "open_text", "replace_folder", "run_folder_of"]

MARKER = RunFolder.MARKER  # in every run folder: the folder is this package's own


class OutputError(FashionClusterError, ValueError):
    """An output path cannot be used; the message names it and says what to do."""


def run_folder_of(path: str | os.PathLike) -> Path | None:
    """The run folder that holds ``path`` (or is ``path``), or None."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def _check_not_input(path: Path, target: Path, inputs: Iterable[str | os.PathLike]) -> None:
    for item in inputs:
        source = Path(item).resolve()
        relation = ("is" if target == source else "lies in" if source in target.parents
                    else "holds" if target in source.parents else None)
        if relation is not None:
            raise OutputError(f"{path}: {relation} the input {item}, which is never an "
                              "output; choose another path")


def _check_writable(folder: Path, path: Path) -> None:
    """``folder`` (or, where it does not exist yet, its nearest existing parent) is a
    folder this process can create files in."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {existing} (read-only or no permission)")


def check_file(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
               overwrite: bool = False, outside_runs: bool = True) -> Path:
    """Check, before any work, that a file may be written at ``path``.

    ``outside_runs`` false: ``path`` may lie in a run folder (a run saving its own
    models, `fashion_cluster.persistence.save`).

    Returns
    -------
    Path
        Where to write: ``path`` itself for a FIFO or a device, else the path with its
        symbolic links resolved (a link to a file is followed, not replaced).

    Raises
    ------
    OutputError
        ``path`` is an input, lies in a run folder, is a folder, exists and
        ``overwrite`` is false, or its folder cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: cannot be written (no permission)")
        return path  # FIFO, device, /dev/stdout: written into
    target = path.resolve()
    _check_not_input(path, target, inputs)
    run = run_folder_of(target.parent) if outside_runs else None
    if run is not None:
        raise OutputError(f"{path}: lies in the run folder {run}, whose files are never an "
                          "output; choose a path outside it")
    if target.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if target.exists() and not overwrite:
        raise OutputError(f"{path}: exists; add --overwrite to replace it")
    _check_writable(target.parent, path)
    return target


@contextlib.contextmanager
def open_text(path: Path | None) -> Iterator[IO[str]]:
    """A text file to write to ``path`` (checked by `check_file`), or stdout for None.

    A regular file is written atomically; anything else is written into.
    """
    if path is None:
        yield sys.stdout
        return
    try:
        if path.exists() and not path.is_file():
            with open(path, "w", newline="") as fh:
                yield fh
        else:
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
                yield fh
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno is None:
            raise
        raise OutputError(f"{path}: cannot be written ({exc.strerror}); nothing "
                          "half-written was left behind") from None


def check_folder(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                 overwrite: bool = False, replaceable: Callable[[Path], bool] | None = None,
                 kind: str = "folder") -> Path:
    """Check, before any work, that a new folder (a zarr array) may be made at ``path``.

    An existing ``path`` is replaced only with ``overwrite`` and only when
    ``replaceable(path)`` says it is a ``kind`` (never a folder of other things).

    Returns
    -------
    Path
        ``path`` with its symbolic links resolved.
    """
    path = Path(path)
    target = path.resolve()
    _check_not_input(path, target, inputs)
    run = run_folder_of(target)
    if run is not None:
        raise OutputError(f"{path}: lies in the run folder {run}, whose files are never an "
                          "output; choose a path outside it")
    if target.exists():
        if not overwrite:
            raise OutputError(f"{path}: exists; add --overwrite to replace it")
        if not target.is_dir() or replaceable is None or not replaceable(target):
            raise OutputError(f"{path}: exists and is not a {kind}; --overwrite replaces "
                              f"only a {kind}: choose another path")
    _check_writable(target.parent, path)
    return target


@contextlib.contextmanager
def replace_folder(path: Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; on success it takes ``path``'s place
    (the old one, checked by `check_folder`, is removed only then). On any error or
    interrupt the new folder is removed and ``path`` stays as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial",
                                    dir=path.parent))
    old = partial.with_suffix(".old")
    try:
        yield partial
        if path.exists():
            path.rename(old)
        partial.rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def check_run_folder(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                     holds_run: bool = True) -> Path:
    """Check, before any work, that ``path`` can be (or already is) a folder of this
    package's: new, empty, or holding `MARKER`, and writable.

    ``holds_run`` false (``elbow``, ``kmeans-zarr``): a folder that holds a run is
    refused too, since a run's files are never another command's output.
    """
    path = Path(path)
    target = path.resolve()
    _check_not_input(path, target, inputs)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise OutputError(f"{path}: folder is not empty and was not written by "
                          "fashion-cluster; choose an empty or new folder for --out")
    if not holds_run and RunFolder(target).metrics.exists():
        raise OutputError(f"{path}: holds a run, whose files are never another command's "
                          "output; choose another folder for --out")
    _check_writable(target, path)
    return path


def claim_run_folder(path: Path) -> Path:
    """Create ``path`` (checked by `check_run_folder`) and mark it as this package's."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker = path / MARKER
        if not marker.exists():
            marker.write_text("This folder holds fashion-cluster results.\n")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    return path
