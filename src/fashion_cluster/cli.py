"""Command line: argument parsing only; the work is done by the library modules.

    fashion-cluster [--version] [-v | -q] [--debug] COMMAND ...
    fashion-cluster run --preset paper|quick|FILE.toml [--out DIR] [--seed N] [--k K|auto]
                        [--nproc N] [--device auto|cpu|cuda|cuda:N] [--data-dir DIR]
                        [--quiet]
    fashion-cluster data [--data-dir DIR] [--fetch] [--quiet]
    fashion-cluster elbow --out DIR [--k-min 1] [--k-max 25] [--n-init 10] [--seed N]
                          [--n-images N] [--device ...] [--data-dir DIR] [--quiet]
    fashion-cluster figures DIR
    fashion-cluster report DIR
    fashion-cluster to-zarr PATH [--dataset ...] [--overwrite]
    fashion-cluster kmeans-zarr PATH --k K --out DIR [--scheduler ADDR | --workers N]
    fashion-cluster predict RUN_DIR INPUT [--method M] [--out FILE.csv] [--overwrite]
                            [--batch-size N] [--scheduler ADDR | --workers N]
    fashion-cluster encode RUN_DIR|MODEL INPUT --out FEATURES.zarr [--overwrite]
                           [--method M] [--batch-size N] [--scheduler ADDR | --workers N]
    fashion-cluster presets

``run`` and ``elbow`` take ``--scheduler tcp://HOST:PORT`` or ``--workers N`` to run their
sweeps on a Dask cluster, ``predict`` and ``encode`` to work through an .npy or .zarr
array batch by batch on one.

Messages go to stderr through `logging` (``-v`` adds debug lines, ``-q`` leaves only
warnings and errors, and no progress bars); results go to stdout.

Outputs follow one write policy (`fashion_cluster.outputs`): nothing a command did not
create is replaced without ``--overwrite``, and neither an input nor a file in a run
folder is ever an output.

Exit status: 0 success; 1 an unexpected error (one line, and the traceback with
``--debug``); 2 bad input (bad data, preset, option or output folder: one line starting
with ``error:``); 130 interrupted (the same command resumes the run); 141 the reader of stdout
closed the pipe (``predict ... | head``), quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .settings import CLUSTER_SIZES

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _k(text: str) -> int | str:
    if text in ("auto", "knee"):
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, 'auto' or 'knee', got {text!r}") from None


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seed must be in 0..2**32-1, got {text!r}")
    return value


def _device(text: str) -> str:
    kind, _, index = text.partition(":")
    if text in ("auto", "cpu", "cuda") or (kind == "cuda" and index.isdigit()):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from auto, cpu, cuda, cuda:N)")


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 28x28, got {text!r}"
                                         ) from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"image size must be positive, got {text!r}")
    return height, width


def _presets_text() -> str:
    from .config import available_presets, load_preset

    names = available_presets()
    width = max(map(len, names))
    lines = [f"  {n:<{width}}  {load_preset(n).description}" for n in names]
    return "packaged presets:\n" + "\n".join(lines)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's own default must not undo a -q given before it.
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="as -q before the command")


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the four Fashion-MNIST files (default: search "
                        "FASHION_MNIST_DIR, the user cache, the Debian package)")


def _add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None,
                   help="fashion-mnist (default), a folder of IDX files, an .npz file or a "
                        "folder of images (class sub-folders = labels)")
    p.add_argument("--image-size", type=_image_size, default=None, metavar="HxW",
                   help="resize the images of an image folder to this size")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="image folders: 1 = grayscale, 3 = colour (default: from the images)")


def _add_cluster(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the sweeps (predict, encode: the batches) on this Dask "
                            "scheduler (tcp://HOST:PORT)")
    group.add_argument("--workers", type=_positive_int, default=None,
                       help="run the sweeps (predict, encode: the batches) on a local Dask "
                            "cluster of N workers")


def _add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace {what} (never the input, nor a file in a run folder)")


def _add_common(p: argparse.ArgumentParser, device: bool = True) -> None:
    _add_data_dir(p)
    if device:
        p.add_argument("--device", type=_device, default="auto",
                       metavar="{auto,cpu,cuda,cuda:N}",
                       help="where torch work runs (default: auto = cuda if available)")
    _add_quiet(p)


def _add_run(sub) -> None:
    """The ``run`` command: the whole study."""
    run = sub.add_parser("run", help="run the whole study (resumable)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog=_presets_text())
    run.add_argument("--preset", default="paper",
                     help="a packaged preset (listed below) or the path of a .toml preset "
                          "(default: paper)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/PRESET)")
    run.add_argument("--seed", type=_seed, default=None,
                     help="random seed (default: the preset's, 0 in the packaged ones)")
    run.add_argument("--k", type=_k, default=None,
                     help="number of clusters; 'auto': the k whose K-Means partition has "
                          "the highest silhouette (label-free), 'knee': the knee of the "
                          "elbow curve, over the elbow sweep's range (default: the preset's)")
    run.add_argument("--cluster-sizes", choices=CLUSTER_SIZES, default=None,
                     help="what SCAN asks of the clusters' sizes: 'equal' (the SCAN "
                          "paper's), 'estimated', 'auto' (either, by a label-free choice), "
                          "or 'merged' (any sizes: over-cluster, then merge; for classes "
                          "known to differ much in size) (default: the preset's)")
    run.add_argument("--nproc", type=_positive_int, default=None,
                     help="train the contrastive CNN and the SCAN heads on N processes of "
                          "this machine (torch.distributed: CPU processes, or one a GPU; "
                          "default: the preset's, 1)")
    _add_dataset(run)
    _add_cluster(run)
    _add_common(run)


def _add_data_and_elbow(sub) -> None:
    """The ``data`` and ``elbow`` commands."""
    data = sub.add_parser("data", help="where the data is, verified; --fetch downloads it")
    data.add_argument("--fetch", action="store_true", help="download missing or bad files")
    _add_common(data, device=False)

    elbow = sub.add_parser("elbow", help="the elbow sweep alone, into DIR/elbow.json")
    elbow.add_argument("--out", type=Path, required=True, help="output folder (required)")
    elbow.add_argument("--k-min", type=_positive_int, default=1,
                       help="smallest number of clusters (default: 1)")
    elbow.add_argument("--k-max", type=_positive_int, default=25,
                       help="largest number of clusters (default: 25)")
    elbow.add_argument("--n-init", type=_positive_int, default=10,
                       help="K-Means initialisations per k; the best is kept (default: 10)")
    elbow.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    elbow.add_argument("--n-images", type=_positive_int, default=None,
                       help="use the first N training images (default: all)")
    _add_dataset(elbow)
    _add_cluster(elbow)
    _add_common(elbow)


def _add_redraw(sub) -> None:
    """The ``figures`` and ``report`` commands."""
    for name, text in (("figures", "redraw the figures of a finished run"),
                       ("report", "rebuild report.html and summary.md of a finished run")):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", type=Path, help="output folder of a run")
        _add_quiet(p)


def _add_zarr(sub) -> None:
    """The ``to-zarr`` and ``kmeans-zarr`` commands."""
    to_zarr = sub.add_parser("to-zarr", help="store a data set's training images as a zarr "
                                              "array (for kmeans-zarr)")
    to_zarr.add_argument("path", type=Path, help="the .zarr folder to write")
    to_zarr.add_argument("--chunk-rows", type=_positive_int, default=10000,
                         help="images per chunk (default: 10000)")
    _add_overwrite(to_zarr, "an existing zarr array at PATH")
    _add_dataset(to_zarr)
    _add_data_dir(to_zarr)

    big = sub.add_parser("kmeans-zarr", help="raw-pixel K-Means on a zarr array on disk, "
                                             "streamed through a Dask cluster")
    big.add_argument("path", type=Path, help="zarr array of shape (N, pixels)")
    big.add_argument("--k", type=_positive_int, default=10,
                     help="number of clusters (default: 10)")
    big.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    big.add_argument("--max-iter", type=_positive_int, default=30,
                     help="Lloyd iterations at most (default: 30)")
    big.add_argument("--init-rounds", type=_positive_int, default=5,
                     help="rounds of k-means|| seeding; each reads the array twice "
                          "(default: 5)")
    big.add_argument("--memory-limit", default=None,
                     help="memory limit of each local worker, e.g. 500MB (default: Dask's)")
    big.add_argument("--out", type=Path, required=True, help="folder for kmeans_zarr.json")
    _add_cluster(big)


def _add_predict(sub) -> None:
    """The ``predict`` command."""
    predict = sub.add_parser(
        "predict", help="assign new images with a finished run's fitted method",
        description="Assign new images with a finished run's fitted method; one CSV row "
                    "an image: image, cluster, class (runs on labelled data), probability "
                    "(methods that have one).")
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="output folder of a run")
    predict.add_argument("input", metavar="INPUT",
                         help="the images: a folder of images, an .npz, an .npy, an IDX "
                              "folder, fashion-mnist, or a single image file")
    predict.add_argument("--method", default=None,
                         help="a method of the run (default: the run's method with the "
                              "highest silhouette, a label-free score)")
    predict.add_argument("--out", type=Path, default=None, metavar="FILE.csv",
                         help="CSV file to write (default: standard output)")
    predict.add_argument("--batch-size", type=_positive_int, default=4096,
                         help="images assigned at a time, or by one Dask task "
                              "(default: 4096)")
    _add_overwrite(predict, "an existing FILE.csv")
    _add_cluster(predict)
    _add_data_dir(predict)
    _add_quiet(predict)


def _add_encode(sub) -> None:
    """The ``encode`` command."""
    encode = sub.add_parser(
        "encode", help="features of an .npy or .zarr array of images, into a zarr array "
                       "(on a Dask cluster if asked)")
    encode.add_argument("model", type=Path, metavar="RUN_DIR|MODEL",
                        help="a run's folder (the representation of --method; images "
                             "scaled as the run's input), or a file saved by est.save()")
    encode.add_argument("input", type=Path, metavar="INPUT", help="the images (.npy or .zarr)")
    encode.add_argument("--out", type=Path, required=True, metavar="FEATURES.zarr",
                        help="zarr array to write, (N, features) float32")
    encode.add_argument("--method", default=None,
                        help="with a run: the method whose representation encodes (default: "
                             "the run's method with the highest silhouette)")
    encode.add_argument("--batch-size", type=_positive_int, default=4096,
                        help="images a task and a chunk of the output (default: 4096)")
    _add_overwrite(encode, "an existing zarr array at --out")
    _add_cluster(encode)
    _add_quiet(encode)


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fashion-cluster",
        description="Unsupervised cluster analysis of Fashion-MNIST (and other image sets).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print debug messages")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only warnings, errors and results; no progress bars")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_run, _add_data_and_elbow, _add_redraw, _add_zarr, _add_predict,
                _add_encode):
        add(sub)
    sub.add_parser("presets", help="list the packaged presets")
    return parser


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import FILES, DatasetError, download, file_status

    statuses = file_status(args.data_dir)
    if args.fetch and not all(s.verified for s in statuses):
        from .data import cache_dir

        target = args.data_dir if args.data_dir is not None else cache_dir()
        for s in statuses:
            if not s.verified:
                print(f"fetching {s.name}.gz into {target}", file=sys.stderr)
                try:
                    download(s.name, target)
                except DatasetError as exc:
                    print(f"error: {exc}", file=sys.stderr)
        statuses = file_status(args.data_dir)
    ok = all(s.verified for s in statuses)
    if not args.quiet or not ok:
        for s in statuses:
            where = str(s.path) if s.path else "not found"
            size = f"{s.size:,} bytes" if s.size is not None else "-"
            state = "verified" if s.verified else f"NOT OK: {s.problem}"
            print(f"{s.name:<26} {state:<10} {size:>18}  {where}")
        if ok:
            print(f"all {len(FILES)} files verified (sha256 of the decompressed content)")
    return 0 if ok else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_preset
    from .study import run_study

    config = load_preset(args.preset)
    changes = {}
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.k is not None:
        changes["clustering__k"] = args.k if isinstance(args.k, int) else 0
        if not isinstance(args.k, int):
            changes["clustering__k_choice"] = "silhouette" if args.k == "auto" else "knee"
    if args.dataset is not None:
        changes["data__dataset"] = args.dataset
    if args.image_size is not None:
        changes["data__image_size"] = args.image_size
    if args.channels is not None:
        changes["data__channels"] = args.channels
    if args.cluster_sizes is not None:
        changes["scan__cluster_sizes"] = args.cluster_sizes
    if args.nproc is not None:
        changes["simclr__processes"] = changes["scan__processes"] = args.nproc
    if changes:
        config = config.replace(**changes)
    out = args.out or Path("results") / config.name
    tic = time.perf_counter()
    with _runner(args) as runner:
        metrics = run_study(config, out, device=args.device, data_root=args.data_dir,
                            quiet=args.quiet, runner=runner, command=args.command_line)
    print(_summary_line(metrics, out, time.perf_counter() - tic))
    return 0


@contextlib.contextmanager
def _runner(args: argparse.Namespace):
    """A Dask runner when --scheduler or --workers is given, else None (no Dask import)."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from .distributed import DaskRunner, dask_client

    with dask_client(args.scheduler, args.workers) as client:
        yield DaskRunner(client)


def _summary_line(metrics: dict, out: Path, seconds: float) -> str:
    """What a run found, and its wall time (loading the data and drawing the report
    included; ``metrics.json``'s ``timing`` has the stages alone)."""
    lines = [f"results in {out}/ (report.html, metrics.json, figures/)"]
    for name, m in metrics.get("methods", {}).items():
        if m.get("test"):
            lines.append(f"  {name:<16} train acc {m['train']['accuracy']:.3f}  "
                         f"test acc {m['test']['accuracy']:.3f}  "
                         f"test NMI {m['test']['nmi']:.3f}  test ARI {m['test']['ari']:.3f}")
        else:  # no labels: what can be said without them
            silhouette = m["label_free"]["test"].get("silhouette")
            sizes = m["label_free"]["train"]["cluster_sizes"]
            lines.append(f"  {name:<16} {len(sizes)} clusters, {min(sizes)} to {max(sizes)} "
                         "training images each, test silhouette "
                         + ("-" if silhouette is None else f"{silhouette:.3f}"))
        lines += [f"  {'':<16} doubtful: {w}" for w in m.get("warnings") or []]
    lines.append(f"  wall time {seconds:.0f} s")
    return "\n".join(lines)


def _cmd_elbow(args: argparse.Namespace) -> int:
    from .artifacts import write_json
    from .datasets import load_dataset, source_paths
    from .devices import resolve_device
    from .layout import RunFolder
    from .outputs import check_run_folder, claim_run_folder
    from .progress import Reporter
    from .stages import run_elbow

    if args.k_min > args.k_max:
        from .config import ConfigError

        raise ConfigError(f"--k-min ({args.k_min}) is larger than --k-max ({args.k_max})")
    out = check_run_folder(args.out, inputs=source_paths(args.dataset), holds_run=False)
    data = load_dataset(args.dataset, root=args.data_dir, image_size=args.image_size,
                        channels=args.channels)
    x = data.x_train[: args.n_images] if args.n_images is not None else data.x_train
    ks = list(range(args.k_min, min(args.k_max, len(x)) + 1))
    with _runner(args) as runner:
        result = run_elbow(x, ks, args.n_init, args.seed, resolve_device(args.device),
                           Reporter(args.quiet), runner)
    write_json(RunFolder(claim_run_folder(out)).elbow,
               {**result.to_json(), "n_images": len(x), "seed": args.seed,
                "dataset": data.name})
    print(f"elbow.json written to {out}: knee at k = {result.best_k}, "
          f"{result.seconds:.1f} s")
    return 0


# What ``figures`` and ``report`` redraw: the rest of the run must be as it was written.
_REDRAWN = ("figures/", "report.html", "summary.md")


def _cmd_figures(args: argparse.Namespace) -> int:
    from .figures import draw_all
    from .manifest import verify, write_manifest
    from .progress import Reporter

    verify(args.dir, skip=_REDRAWN)
    draw_all(args.dir, Reporter(args.quiet), force=True)
    write_manifest(args.dir)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .manifest import verify, write_manifest
    from .report import write_report

    verify(args.dir, skip=_REDRAWN)
    path = write_report(args.dir)
    write_manifest(args.dir)
    if not args.quiet:
        print(f"report written: {path}")
    return 0


def _cmd_to_zarr(args: argparse.Namespace) -> int:
    from .datasets import load_dataset, source_paths
    from .distributed import is_zarr_array, write_zarr
    from .outputs import check_folder

    check_folder(args.path, inputs=source_paths(args.dataset), overwrite=args.overwrite,
                 replaceable=is_zarr_array, kind="zarr array")
    data = load_dataset(args.dataset, root=args.data_dir, image_size=args.image_size,
                        channels=args.channels)
    write_zarr(data.train_images, args.path, args.chunk_rows, overwrite=args.overwrite)
    print(f"{len(data.train_images):,} images written to {args.path}")
    return 0


def _cmd_kmeans_zarr(args: argparse.Namespace) -> int:
    from .artifacts import write_arrays, write_json
    from .distributed import DaskRunner, dask_client, fit_kmeans_out_of_core
    from .outputs import check_run_folder, claim_run_folder

    out = check_run_folder(args.out, inputs=[args.path], holds_run=False)
    workers = 2 if args.scheduler is None and args.workers is None else args.workers
    with dask_client(args.scheduler, workers, memory_limit=args.memory_limit) as client:
        where = DaskRunner(client).describe()
        result = fit_kmeans_out_of_core(client, args.path, args.k, seed=args.seed,
                                        max_iter=args.max_iter, init_max_iter=args.init_rounds)
    claim_run_folder(out)
    write_arrays(out / "kmeans_zarr_centroids.npz", centroids=result.pop("centroids"))
    write_json(out / "kmeans_zarr.json", {**result, "k": args.k, "path": str(args.path),
                                          "cluster": where})
    print(f"K-Means on {result['n_samples']:,} images in {result['chunks']} chunks: "
          f"SSE {result['sse']:.1f}, {result['n_iter']} iterations, {result['seconds']:.1f} s")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .assignments import predict_csv
    from .data import DatasetError
    from .datasets import check_values, read_images, source_paths
    from .outputs import check_file
    from .progress import Reporter
    from .runs import load_run

    clustered = args.scheduler is not None or args.workers is not None
    if clustered and Path(args.input).suffix.lower() not in (".npy", ".zarr"):
        raise DatasetError(f"{args.input}: on a Dask cluster the images must be an .npy or "
                           ".zarr array, which every worker reads its batches from "
                           "(fashion-cluster to-zarr writes one)")
    out = None if args.out is None else check_file(
        args.out, inputs=source_paths(args.input) + [args.run_dir], overwrite=args.overwrite)
    run = load_run(args.run_dir)
    method = run.method(args.method)
    data = run.metrics["config"]["data"]
    images, names = read_images(args.input, root=args.data_dir,
                                image_size=tuple(data["image_size"]) or None,
                                channels=data["channels"] or None)
    run.scale(images[:1])  # images of the run's size and channels, or an error
    check_values(images, str(args.input), run.metrics["dataset"].get("value_range"))
    log = Reporter(args.quiet)
    log.info(f"assigning {len(names):,} images with {method.title} ({method.name}) of "
             f"{args.run_dir}")
    with _runner(args) as runner, log.bar(len(names), "predict", unit="image") as bar:
        assigned = runner.assign(args.run_dir, method.name, args.input, len(names),
                                 args.batch_size) if runner is not None else None
        predict_csv(run, method, images, names, out, args.batch_size,
                    progress=lambda done: bar.update(done - bar.n), assigned=assigned,
                    overwrite=args.overwrite)
    if args.out is not None:
        log.info(f"{len(names):,} assignments written to {args.out}")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from .data import DatasetError
    from .datasets import read_images
    from .distributed import encode_to_zarr, is_zarr_array
    from .outputs import check_folder
    from .progress import Reporter

    if args.input.suffix.lower() not in (".npy", ".zarr"):
        raise DatasetError(f"{args.input}: encode reads an .npy or .zarr array of images, "
                           "batch by batch (fashion-cluster to-zarr writes one)")
    check_folder(args.out, inputs=[args.input, args.model], overwrite=args.overwrite,
                 replaceable=is_zarr_array, kind="zarr array")
    encoder = ({"run_dir": args.model, "method": args.method} if args.model.is_dir()
               else {"model": args.model})
    log = Reporter(args.quiet)
    n = len(read_images(args.input)[1])
    with _runner(args) as runner, log.bar(n, "encode", unit="image") as bar:
        out = encode_to_zarr(args.input, args.out, **encoder, batch_size=args.batch_size,
                             runner=runner, progress=lambda done: bar.update(done - bar.n),
                             overwrite=args.overwrite)
    log.info(f"features of {n:,} images written to {out}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    print(_presets_text().split("\n", 1)[1])
    return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _log_to_stderr(args: argparse.Namespace):
    """Show the package's messages on stderr at the level the flags ask for, while the
    command runs; the logger is left as it was found (``main`` can be called from
    Python, more than once)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("fashion_cluster")
    before = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if args.quiet else
                    logging.DEBUG if args.verbose else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = before


# Failures of the disk or file system rather than of the program: one line, exit 2.
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EFBIG)


def _handler(command: str):
    """The function of a command (looked up when called, so a test can replace one)."""
    return {"data": _cmd_data, "run": _cmd_run, "elbow": _cmd_elbow,
            "figures": _cmd_figures, "report": _cmd_report, "presets": _cmd_presets,
            "to-zarr": _cmd_to_zarr, "kmeans-zarr": _cmd_kmeans_zarr,
            "predict": _cmd_predict, "encode": _cmd_encode}[command]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.command_line = shlex.join(["fashion-cluster", *argv])
    from .allocator import keep_freed_memory

    keep_freed_memory()
    # SIGTERM (a scheduler's stop) is handled like Ctrl-C: artifacts are written
    # atomically, so either way the output folder stays valid and the run resumes.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with _log_to_stderr(args):
            return _run(_handler(args.command), args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(handler, args: argparse.Namespace) -> int:
    """The command; every failure becomes its exit status and one line on stderr."""
    from .errors import FashionClusterError

    try:
        return handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted: finished stages and epochs are saved; run the same command "
              "again to resume", file=sys.stderr)
        return 130
    except FashionClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (`predict ... | head`): stop quietly, and keep
        # Python from complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"error: {where}{exc.strerror}; nothing half-written was left behind",
                  file=sys.stderr)
            return 2
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
