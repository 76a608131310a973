"""The study's sweeps, and raw-pixel K-Means bigger than memory, on a Dask cluster.

Nothing here is imported unless a run asks for a cluster (``--scheduler`` or
``--workers``), so Dask is an optional dependency.

What is distributed:

- the **elbow sweep**: one task per k (a k's initialisations run together, as they do
  locally); the result for a k does not depend on the other k of its task
  (`fashion_cluster.kmeans.kmeans_sweep`), so the sweep gives the same numbers;
- the **seed sweeps** of every method: one task per seed;
- **assigning new images** (``fashion-cluster predict``): one task a batch of an .npy or
  zarr array, each worker reading its rows and the run's fitted method from disk;
- **encoding images** (`encode_to_zarr`, ``fashion-cluster encode``): likewise, each
  task writing its batch's features into a zarr array;
- **raw-pixel K-Means on a chunked on-disk array** (zarr): dask-ml's k-means|| seeds it,
  then every Lloyd iteration is one pass in which each task reads one chunk and returns
  per-cluster sums; no process ever holds the whole set.

Tasks run with the driver's thread count (``task_threads``, for torch and the BLAS),
because float results differ in the last bits between thread counts; with it, a cluster
run reproduces the local run. Failed tasks (a worker that dies, say) are retried on other
workers. The autoencoders are trained where the run is started (on its GPU if it has
one).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .data import DatasetError
from .errors import FashionClusterError
from .layout import RunFolder

__all__ = [
    "ClusterError",
    "DaskRunner",
    "connect",
    "dask_client",
    "encode_to_zarr",
    "fit_kmeans_out_of_core",
    "is_zarr_array",
    "write_zarr",
]

RETRIES = 3


class ClusterError(FashionClusterError, RuntimeError):
    """The Dask cluster cannot be reached or used; the message says which and why."""


def connect(scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0,
            memory_limit: str | None = None):
    """A ``dask.distributed.Client``: to ``scheduler``, or to a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.
    workers : int, optional
        Start a ``LocalCluster`` of this many single-threaded worker processes on
        127.0.0.1 instead.
    timeout : float
        Seconds to wait for the scheduler before giving up with `ClusterError`.
    memory_limit : str, optional
        Memory limit of each local worker (e.g. ``"500MB"``).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if (scheduler is None) == (workers is None):
        raise ValueError("give either a scheduler address or a number of local workers")
    if scheduler is not None:
        try:
            return Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within "
                               f"{timeout:.0f} s ({type(exc).__name__}: {exc})") from None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    # Dask's nanny writes its "pre-spawn-environ" into this process's os.environ at every
    # worker start and restart, OMP_, MKL_ and OPENBLAS_NUM_THREADS=1 among it, after which
    # every process started from here would run its BLAS on one thread. The nanny reads
    # the setting once, when created: keep its memory setting, drop the thread counts
    # (the tasks set their own, _threads).
    spawn_env = {key: value for key, value
                 in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                 if not key.endswith("_NUM_THREADS")}
    with _environ_kept(), dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               memory_limit=memory_limit or "auto")
    return Client(cluster)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                memory_limit: str | None = None) -> Iterator:
    """`connect`, closed on leaving: the client, and the local cluster if it started one.

    The one lifecycle of a Dask client in the package (the command line's ``run``,
    ``elbow``, ``predict``, ``encode`` and ``kmeans-zarr``).
    """
    client = connect(scheduler, workers, memory_limit=memory_limit)
    try:
        yield client
    finally:
        cluster = client.cluster if scheduler is None else None
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _environ_kept() -> Iterator[None]:
    """Undo what starting a local cluster writes into this process's environment (the
    variables Dask's process-title and hash-seed settings leave behind)."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


# ------------------------------------------------------------------------ tasks


def _threads(n: int) -> None:
    """Run this worker's torch and BLAS on ``n`` threads, as the driver does."""
    import torch
    from threadpoolctl import threadpool_limits

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    threadpool_limits(n, user_api="blas")


def _sweep_task(x: np.ndarray, k: int, n_init: int, seed: int, threads: int, options: dict):
    from .kmeans import kmeans_sweep

    _threads(threads)
    return kmeans_sweep(x, [k], n_init=n_init, seed=seed, device="cpu", **options)[k]


def _seed_task(method_name: str, section, k: int, device: str, arrays: dict, encoder,
               seed: int, threads: int):
    """Fit one method with one seed; the arrays come separately (scattered once).

    Returns a `fashion_cluster.methods.SeedResult`.
    """
    from .methods import METHODS, refit

    _threads(threads)
    return refit(METHODS[method_name], section, k, seed, device, arrays["features"],
                 arrays["images"], encoder)


@functools.lru_cache(maxsize=4)
def _fitted(run_dir: str, method: str, written: int):
    """A run and one of its fitted methods, loaded once a worker (``written``: when the
    run's metrics.json was, so that a run redone in the same folder is loaded again)."""
    from .runs import load_run

    run = load_run(run_dir)
    return run, run.method(method)


def _assign_task(run_dir: str, method: str, written: int, source: str, start: int, stop: int,
                 threads: int):
    """Clusters (and confidences) of rows ``start:stop`` of an .npy or zarr array, read
    by the worker itself."""
    from .datasets import read_images

    _threads(threads)
    run, fitted = _fitted(run_dir, method, written)
    images, _ = read_images(source)
    return fitted.assign(run.scale(np.asarray(images[start:stop])))


@functools.lru_cache(maxsize=4)
def _encoder(spec: tuple):
    """``rows -> features`` for an encoder spec (see `encode_to_zarr`), loaded once a
    worker; the spec carries the file's time, so a file written again is loaded again."""
    if spec[0] == "run":
        run, fitted = _fitted(*spec[1:])
        if fitted.representation is None:
            raise ValueError(f"{spec[1]}: method {spec[2]!r} clusters raw pixels: it has "
                             "no representation to encode with")
        return lambda rows: fitted.representation.transform(run.scale(rows))
    from .estimators import load

    model = load(spec[1])
    return lambda rows: model.transform(rows.reshape(len(rows), -1))


def _encode_task(spec: tuple, source: str, out: str, start: int, stop: int,
                 threads: int) -> int:
    """Encode rows ``start:stop`` of an .npy or zarr array into the same rows of the zarr
    array ``out``; returns the number of rows. A retried task writes the same values."""
    import zarr

    from .datasets import read_images

    _threads(threads)
    images, _ = read_images(source)
    features = _encoder(spec)(np.asarray(images[start:stop]))
    zarr.open_array(out, mode="r+")[start:stop] = features
    return stop - start


class DaskRunner:
    """Runs the study's sweeps as tasks on a Dask client.

    Parameters
    ----------
    client : dask.distributed.Client
    task_threads : int, optional
        torch threads in each task; defaults to this process's count, which makes the
        results identical to a local run.
    """

    def __init__(self, client, task_threads: int | None = None):
        import torch

        self.client = client
        self.task_threads = task_threads or torch.get_num_threads()

    def describe(self) -> dict:
        info = self.client.scheduler_info()
        return {"scheduler": self.client.scheduler.address,
                "workers": len(info.get("workers", {})), "task_threads": self.task_threads}

    def _gather(self, futures):
        from dask.distributed import CancelledError

        try:
            return self.client.gather(futures)
        except (CancelledError, OSError) as exc:
            raise ClusterError(f"the Dask cluster failed ({exc})") from None

    def elbow(self, x: np.ndarray, ks: Sequence[int], n_init: int = 10, seed: int = 0,
              device: str = "cpu", progress=None, **options) -> dict:
        """`fashion_cluster.kmeans.kmeans_sweep` with one task per k (on CPU)."""
        from dask.distributed import as_completed

        shared = self.client.scatter(x, broadcast=True)
        futures = [self.client.submit(_sweep_task, shared, int(k), n_init, seed,
                                      self.task_threads, options, pure=False, retries=RETRIES)
                   for k in ks]
        for done, _ in enumerate(as_completed(futures), 1):
            if progress is not None:
                progress(3 * done)
        return dict(zip((int(k) for k in ks), self._gather(futures), strict=True))

    def seeds(self, method_name: str, section, k: int, device: str, features: tuple,
              images: tuple, encoder, seeds: Sequence[int]) -> list:
        """Fit ``method_name`` once per seed, one task per seed (see
        `fashion_cluster.methods.refit` for the arguments)."""
        if not seeds:
            return []
        arrays = self.client.scatter({"features": features, "images": images},
                                     broadcast=True)
        futures = [self.client.submit(_seed_task, method_name, section, k, device, arrays,
                                      encoder, int(seed), self.task_threads, pure=False,
                                      retries=RETRIES)
                   for seed in seeds]
        return self._gather(futures)

    def assign(self, run_dir: str | Path, method: str, source: str | Path, n: int,
               batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Assign the ``n`` images of an .npy or zarr array with a run's fitted method,
        one task a batch; yields ``(labels, confidence)`` batch by batch, in order.

        Every worker reads the run and its batches from the paths (a shared file system
        on a cluster of several machines). A batch whose worker dies is redone on another.
        """
        written = RunFolder(run_dir).metrics.stat().st_mtime_ns
        futures = self._submit(_assign_task, [
            (str(Path(run_dir).resolve()), method, written, str(Path(source).resolve()),
             start, min(start + batch_size, n)) for start in range(0, n, batch_size)])
        for future in futures:
            yield self._gather(future)
            future.release()  # its result is written: let the cluster forget it

    def each(self, fn, tasks: Sequence[tuple]) -> Iterator:
        """``fn(*task, threads)`` for every task, as tasks on the cluster; yields the
        results as they finish (a task whose worker dies is redone on another)."""
        from dask.distributed import as_completed

        for future in as_completed(self._submit(fn, tasks)):
            yield self._gather(future)

    def _submit(self, fn, tasks: Sequence[tuple]) -> list:
        return [self.client.submit(fn, *task, self.task_threads, pure=False, retries=RETRIES)
                for task in tasks]


def encode_to_zarr(source: str | Path, out: str | Path, *, model: str | Path | None = None,
                   run_dir: str | Path | None = None, method: str | None = None,
                   batch_size: int = 4096, runner: DaskRunner | None = None,
                   progress=None, overwrite: bool = False) -> Path:
    """Features of every image of an .npy or zarr array, written into a new zarr array
    ``out`` of shape (N, features), float32, one chunk a batch of ``batch_size`` images.

    The encoder is a saved representation (``model``, an ``est.save`` file; images go in
    as they are) or the representation of a run's method (``run_dir`` and ``method``,
    default the run's best; images are scaled as the run's input, as ``predict`` does).
    With a ``runner`` each batch is a task on its Dask cluster, whose workers read the
    images and write the features themselves (on several machines they must all see the
    same paths); without, the batches are encoded here one after the other. Either way
    memory holds one batch, not the set. ``progress(done)`` gets the images done so far.

    ``out`` is checked before any work (`fashion_cluster.outputs.check_folder`): it may
    not be the input, the model or lie in a run folder, and an existing ``out`` is
    replaced only with ``overwrite`` and only when it is a zarr array. The array is
    written beside ``out`` and moved into place when complete.
    """
    import torch
    import zarr

    from .datasets import read_images
    from .outputs import check_folder, replace_folder
    from .runs import load_run

    if (model is None) == (run_dir is None):
        raise ValueError("give either a saved model or a run's folder")
    out = check_folder(out, inputs=[source, model or run_dir], overwrite=overwrite,
                       replaceable=is_zarr_array, kind="zarr array")
    source = Path(source).resolve()
    if run_dir is not None:
        run_dir = Path(run_dir).resolve()
        method = method or load_run(run_dir).best_method()
        spec = ("run", str(run_dir), method, RunFolder(run_dir).metrics.stat().st_mtime_ns)
    else:
        spec = ("model", str(Path(model).resolve()), Path(model).stat().st_mtime_ns)
    images, names = read_images(source)
    n = len(names)
    width = _encoder(spec)(np.asarray(images[:1])).shape[1]
    with replace_folder(out) as partial:
        zarr.open_array(str(partial), mode="w", shape=(n, width), dtype=np.float32,
                        chunks=(batch_size, width))
        tasks = [(spec, str(source), str(partial), start, min(start + batch_size, n))
                 for start in range(0, n, batch_size)]
        results = (runner.each(_encode_task, tasks) if runner is not None else
                   (_encode_task(*task, torch.get_num_threads()) for task in tasks))
        done = 0
        for rows in results:
            done += rows
            if progress is not None:
                progress(done)
    return out


def is_zarr_array(path: Path) -> bool:
    """Whether the folder ``path`` holds a zarr array (format 2 or 3)."""
    return (path / ".zarray").is_file() or (path / "zarr.json").is_file()


# ------------------------------------------------------- bigger than memory


def write_zarr(images: np.ndarray, path: str | Path, chunk_rows: int = 10000,
               overwrite: bool = False) -> Path:
    """Store an image stack as a zarr array of shape (N, pixels), chunked by rows.

    An existing ``path`` is replaced only with ``overwrite`` and only when it is a zarr
    array (`fashion_cluster.outputs.check_folder`); the array is written beside it and
    moved into place whole.
    """
    import zarr

    from .outputs import check_folder, replace_folder

    path = check_folder(path, overwrite=overwrite, replaceable=is_zarr_array,
                        kind="zarr array")
    flat = np.asarray(images).reshape(len(images), -1)
    with replace_folder(path) as partial:
        store = zarr.open_array(str(partial), mode="w", shape=flat.shape, dtype=flat.dtype,
                                chunks=(min(chunk_rows, len(flat)), flat.shape[1]))
        store[:] = flat
    return path


def fit_kmeans_out_of_core(client, path: str | Path, k: int, seed: int = 0,
                           max_iter: int = 30, tol: float = 1e-4, init_max_iter: int = 5,
                           oversampling: float | None = None) -> dict:
    """K-Means on a zarr array of pixels on disk, never loaded whole into one process.

    The array (N, pixels) of uint8 or float is scaled to [0, 1] chunk by chunk on the
    workers (uint8 by 1/255, as the study). Initialisation is dask-ml's k-means||; each
    Lloyd iteration is then one pass in which a task reads a chunk, assigns its rows and
    returns only per-cluster sums, counts and its sum of squares (`_chunk_stats`).

    Why not dask-ml's own Lloyd loop: its iteration uses each chunk in two tasks (the
    distances, then the new centres), so a worker keeps chunks alive between them. On
    two workers of 400 MB each it was killed on 300,000 images (0.9 GB as float32); the
    one-task pass below holds one chunk per worker thread whatever N is.

    k-means|| runs ``init_max_iter`` rounds, each sampling about ``oversampling`` rows
    (default 2k) and reading the whole array twice; 5 rounds of 2k is what its authors
    recommend (Bahmani et al., 2012). dask-ml's defaults, about ln(initial cost) rounds
    (19 for four million images) of 2 rows each, read the set ~40 times; capped at 3
    rounds they gave 7 candidates for k = 10 (300,000 images). Lloyd iterations stop when the
    centres move less than ``tol`` (sum of squared shifts), or after ``max_iter``.

    Returns
    -------
    dict
        ``centroids`` (k, pixels), ``sse`` (of the returned centroids, in the scaled
        space), ``n_iter`` (Lloyd iterations), ``seconds``, ``n_samples``, ``chunks``.
    """
    import dask.array as da
    from dask_ml.cluster.k_means import k_init

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such zarr array")
    raw = da.from_zarr(str(path))
    if raw.ndim != 2:
        raise DatasetError(f"{path}: expected an array of shape (N, pixels), got {raw.shape}")
    if raw.shape[0] < k:
        raise DatasetError(f"{path}: {raw.shape[0]} rows, fewer than k = {k}")
    tic = time.perf_counter()
    with client.as_current():
        centers = k_init(raw.map_blocks(_scaled, dtype=np.float32), k, init="k-means||",
                         random_state=seed, max_iter=init_max_iter,
                         oversampling_factor=oversampling or 2 * k).astype(np.float64)
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            sums, counts, _ = _lloyd_pass(raw, centers)
            # An empty cluster keeps its centre, as in dask-ml.
            new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
            shift = float(((new - centers) ** 2).sum())
            centers = new
            if shift < tol:
                break
        _, _, sse = _lloyd_pass(raw, centers)
    return {"centroids": centers.astype(np.float32), "sse": sse, "n_iter": n_iter,
            "seconds": time.perf_counter() - tic, "n_samples": int(raw.shape[0]),
            "chunks": int(raw.numblocks[0])}


def _scaled(block: np.ndarray) -> np.ndarray:
    """A chunk as float32: uint8 pixels scaled to [0, 1] as everywhere, floats as they are."""
    from .data import scale_images

    return scale_images(block) if block.dtype == np.uint8 else block.astype(np.float32)


def _lloyd_pass(raw, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-cluster sums (k, pixels), counts (k,) and the sum of squares, one task a chunk."""
    import dask

    shared = dask.delayed(centers.astype(np.float32))  # one key, not a copy per task
    parts = [dask.delayed(_chunk_stats)(block, shared)
             for block in raw.to_delayed().ravel()]
    return dask.delayed(_add_stats)(parts).compute()


def _chunk_stats(block: np.ndarray, centers: np.ndarray):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # one thread a task: a worker is one thread
    x = _scaled(block)
    # ||x - c||^2 = ||x||^2 + (||c||^2 - 2 x.c): the bracket picks the label; no (rows, pixels)
    # temporary beyond x itself, which keeps a worker's peak near one float32 chunk.
    partial = (centers * centers).sum(1) - 2 * x @ centers.T
    labels = np.argmin(partial, axis=1)
    rows = np.arange(len(x))
    row_norms = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    sse = float(np.maximum(row_norms + partial[rows, labels], 0).sum())
    k = len(centers)
    onehot = np.zeros((k, len(x)), dtype=np.float32)
    onehot[labels, rows] = 1
    sums = (onehot @ x).astype(np.float64)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return sums, counts, sse


def _add_stats(parts: list) -> tuple[np.ndarray, np.ndarray, float]:
    sums, counts, sse = parts[0]
    for s, c, e in parts[1:]:
        sums, counts, sse = sums + s, counts + c, sse + e
    return sums, counts, sse
