"""Figures of the study: one function a figure, each returning a matplotlib ``Figure``.

The functions take plain arrays; `draw_all` reads a run's saved results
(``metrics.json`` and the ``.npz`` artifacts) and writes every figure to
``figures/*.png``, so figures can be redrawn without retraining anything. Figures are
built with ``matplotlib.figure.Figure`` directly (no pyplot), which keeps no global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .artifacts import ArtifactError, config_hash, read_arrays
from .layout import RunFolder
from .methods import REPRESENTATIONS
from .schema import read_metrics

__all__ = [
    "autoencoder_rows",
    "center_images",
    "class_samples",
    "cluster_gallery",
    "confusion_heatmap",
    "draw_all",
    "elbow_curve",
    "silhouette_curve",
    "embedding_map",
    "loss_curves",
    "seed_spread",
]

CMAP = "gray"
FIGURES_VERSION = 3  # bump when a figure changes, so that old runs get redrawn


def _to_display(images: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Images as floats in [0, 1], shape (..., H, W) or (..., H, W, 3)."""
    images = np.asarray(images)
    if images.shape[-len(shape):] == tuple(shape):
        lead = images.shape[: -len(shape)]
    else:  # flattened images
        lead = images.shape[:-1]
    out = images.reshape(*lead, *shape).astype(np.float32)
    if images.dtype == np.uint8:
        out /= 255
    if out.shape[-1] == 1 and len(shape) == 3:
        out = out[..., 0]
    return np.clip(out, 0, 1)


def _mosaic(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """Tile images of shape (rows, cols, H, W[, 3]) into one picture with white gaps.

    One ``imshow`` of a mosaic draws in a fraction of the time of one axes per image
    (100 axes took about 2 s a figure here; a mosaic takes 0.1 s).
    """
    rows, cols, h, w = images.shape[:4]
    extra = images.shape[4:]
    canvas = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, *extra), np.float32)
    for r in range(rows):
        for c in range(cols):
            canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = \
                images[r, c]
    return canvas


def _show_grid(ax, grid: np.ndarray, row_labels: Sequence[str] = (),
               col_labels: Sequence[str] = (), cmap: str = CMAP) -> None:
    """Draw a (rows, cols, H, W[, 3]) grid with labels on the left and on top."""
    rows, cols, h, w = grid.shape[:4]
    if grid.ndim == 4:
        # Dark garments on white, as Fashion-MNIST is usually shown.
        ax.imshow(_mosaic(1 - grid) if cmap == "gray" else _mosaic(grid), cmap=cmap,
                  vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(_mosaic(grid), interpolation="nearest")
    ax.set_xticks([c * (w + 2) + w / 2 for c in range(len(col_labels))], col_labels, fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks([r * (h + 2) + h / 2 for r in range(len(row_labels))], row_labels, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def class_samples(images: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Grid of sample images, one row per class. ``images``: (n_classes, n, H, W[, C])."""
    rows, cols = images.shape[:2]
    grid = _to_display(images, images.shape[2:])
    fig = Figure(figsize=(cols * 0.55 + 1.6, rows * 0.55 + 0.3))
    ax = fig.subplots()
    _show_grid(ax, grid, [class_names[r] if r < len(class_names) else str(r) for r in range(rows)])
    fig.tight_layout()
    return fig


def silhouette_curve(ks: Sequence[int], silhouette: Sequence[float | None], best_k: int,
                     representation: str) -> Figure:
    """Silhouette of the K-Means partition for each k, the highest marked (``--k auto``)."""
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    points = [(k, v) for k, v in zip(ks, silhouette, strict=True) if v is not None]
    ax.plot(*zip(*points, strict=True), "s-", color="#9467bd", ms=4)
    ax.axvline(best_k, color="#d62728", ls="--", lw=1)
    ax.annotate(f"highest: k = {best_k}", (best_k, dict(points)[best_k]), xytext=(10, -20),
                textcoords="offset points", color="#d62728")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("silhouette (no labels)")
    ax.set_title(f"Choosing k: K-Means on the {representation} features")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def elbow_curve(ks: Sequence[int], sse: Sequence[float], best_k: int | None,
                chosen_k: int | None = None) -> Figure:
    """SSE of the best run against k, the knee (and the k used, if different) marked."""
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    ax.plot(ks, sse, "o-", color="#1f77b4", ms=4)
    if best_k is not None and best_k in ks:
        y = sse[list(ks).index(best_k)]
        ax.axvline(best_k, color="#d62728", ls="--", lw=1)
        ax.annotate(f"knee: k = {best_k}", (best_k, y), xytext=(10, 20),
                    textcoords="offset points", color="#d62728")
    if chosen_k is not None and chosen_k != best_k and chosen_k in ks:
        ax.axvline(chosen_k, color="#2ca02c", ls=":", lw=1)
        ax.annotate(f"used: k = {chosen_k}", (chosen_k, sse[list(ks).index(chosen_k)]),
                    xytext=(8, 25), textcoords="offset points", color="#2ca02c")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("sum of squared errors (best run)")
    ax.set_title("Elbow method: K-Means on raw pixels")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def center_images(images: np.ndarray, shape: Sequence[int], titles: Sequence[str],
                  suptitle: str) -> Figure:
    """Cluster centres drawn as images in one row (or rows of 10), each titled."""
    k = len(images)
    cols = min(k, 10)
    rows = int(np.ceil(k / cols))
    fig = Figure(figsize=(cols * 1.15 + 0.2, rows * 1.35 + 0.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    shown = _to_display(images, shape)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < k:
            ax.imshow(shown[i] if shown.ndim == 4 else 1 - shown[i],
                      cmap=None if shown.ndim == 4 else "gray", vmin=0, vmax=1)
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def autoencoder_rows(originals: np.ndarray, codes: np.ndarray, reconstructions: np.ndarray,
                     image_shape: Sequence[int], code_shape: Sequence[int],
                     title: str) -> Figure:
    """Three rows: original images, their codes drawn as small images, reconstructions."""
    n = len(originals)
    fig = Figure(figsize=(n * 0.95 + 1.2, 3.3))
    axes = fig.subplots(3, n, squeeze=False)
    lo, hi = float(codes.min()), float(codes.max())
    shown = [_to_display(originals, image_shape), _to_display(reconstructions, image_shape)]
    for i in range(n):
        for row, images in ((0, shown[0]), (2, shown[1])):
            axes[row, i].imshow(images[i] if images.ndim == 4 else 1 - images[i],
                                cmap=None if images.ndim == 4 else "gray", vmin=0, vmax=1)
        axes[1, i].imshow(codes[i].reshape(code_shape), cmap="viridis", vmin=lo, vmax=hi)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for r, label in enumerate(("original", "code " + "x".join(map(str, code_shape)),
                               "reconstruction")):
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_curves(loss: Sequence[float], val_loss: Sequence[float], title: str,
                loss_name: str = "mse") -> Figure:
    """Training and validation loss per epoch."""
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, label="training", marker="o" if len(loss) < 20 else None, ms=3)
    if val_loss is not None and any(v is not None and v == v for v in val_loss):
        val = np.array([np.nan if v is None else v for v in val_loss], dtype=float)
        ax.plot(epochs, val, label="validation (test set)", marker="o" if len(loss) < 20 else None,
                ms=3)
    ax.set_xlabel("epoch")
    if loss_name == "mse":
        ax.set_ylabel("mean squared error")
        ax.set_yscale("log")
    else:
        ax.set_ylabel(f"{loss_name} loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Confusion matrix (rows: true class, columns: matched cluster) with counts."""
    matrix = np.asarray(matrix)
    n_rows, n_cols = matrix.shape
    fig = Figure(figsize=(1.0 + 0.62 * n_cols, 1.2 + 0.5 * n_rows))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    hi = matrix.max() if matrix.size else 1
    for r in range(n_rows):
        for c in range(n_cols):
            ax.text(c, r, str(matrix[r, c]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[r, c] > 0.6 * hi else "black")
    names = list(class_names)
    col_names = [names[c] if c < len(names) and c < n_rows else f"extra {c - n_rows + 1}"
                 for c in range(n_cols)]
    ax.set_xticks(range(n_cols), col_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), names[:n_rows], fontsize=8)
    ax.set_xlabel("cluster (named by its matched class)")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def cluster_gallery(images: np.ndarray, titles: Sequence[str], suptitle: str) -> Figure:
    """One row of sample member images per cluster. ``images``: (k, n, H, W[, C])."""
    k, n = images.shape[:2]
    grid = _to_display(images, images.shape[2:])
    fig = Figure(figsize=(n * 0.55 + 2.6, k * 0.55 + 0.6))
    ax = fig.subplots()
    _show_grid(ax, grid, titles)
    ax.set_title(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def embedding_map(coords: np.ndarray, clusters: np.ndarray, classes: np.ndarray | None,
                  class_names: Sequence[str], title: str,
                  cluster_classes: Sequence[int] | None = None) -> Figure:
    """2-D map of points, coloured by cluster (left) and by true class (right, if known).

    With ``cluster_classes`` (the class matched to each cluster), a cluster takes the
    colour of its matched class, so the two panels compare at a glance; unmatched
    clusters are grey.
    """
    panels = 2 if classes is not None else 1
    fig = Figure(figsize=(6 * panels, 5.6))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    s = max(0.5, min(6.0, 20000 / max(len(coords), 1)))
    if cluster_classes is not None:
        palette = np.array(list(matplotlib.colormaps["tab10"].colors) + [(0.6, 0.6, 0.6)])
        matched = np.asarray(cluster_classes)
        colour_index = np.where(matched[clusters] >= 0, matched[clusters] % 10, 10)
        axes[0].scatter(coords[:, 0], coords[:, 1], c=palette[colour_index], s=s, linewidths=0)
        axes[0].set_title("coloured by cluster (colour of its matched class)", fontsize=9)
    else:
        cmap = "tab10" if clusters.max(initial=0) < 10 else "tab20"
        axes[0].scatter(coords[:, 0], coords[:, 1], c=clusters, cmap=cmap, s=s, linewidths=0)
        axes[0].set_title("coloured by cluster", fontsize=9)
    if classes is not None:
        sc = axes[1].scatter(coords[:, 0], coords[:, 1], c=classes, cmap="tab10", s=s,
                             linewidths=0, vmin=-0.5, vmax=9.5)
        handles = [axes[1].scatter([], [], color=sc.cmap(sc.norm(i)), s=20, label=name)
                   for i, name in enumerate(class_names[:10])]
        axes[1].legend(handles=handles, fontsize=7, markerscale=1, loc="best", framealpha=0.8)
        axes[1].set_title("coloured by true class", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def seed_spread(names: Sequence[str], values: Sequence[Sequence[float]],
                published: Sequence[float | None], title: str) -> Figure:
    """Test accuracy of each method over the seed sweep, the study's number marked."""
    fig = Figure(figsize=(1.6 + 1.3 * len(names), 4))
    ax = fig.subplots()
    for i, vals in enumerate(values):
        ax.scatter(np.full(len(vals), i) + np.linspace(-0.08, 0.08, len(vals)), vals, s=18,
                   color="#1f77b4", zorder=3)
        if len(vals):
            ax.hlines(np.mean(vals), i - 0.25, i + 0.25, color="#1f77b4", lw=2)
    marked = [(i, p) for i, p in enumerate(published) if p is not None]
    if marked:
        xs, ys = zip(*marked, strict=True)
        ax.scatter(xs, ys, marker="*", s=120, color="#d62728", zorder=4, label="study (published)")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (Hungarian-matched)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ draw all


def _save(fig: Figure, path: Path, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
    written.append(path)


def _titles(cluster_classes: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """``"c: matched class"`` for each cluster."""
    return [f"{c}: {class_names[cls] if 0 <= cls < len(class_names) else 'unmatched'}"
            for c, cls in enumerate(cluster_classes)]


def _gallery_titles(cluster_classes: Sequence[int], class_names: Sequence[str],
                    majority: Sequence[int], purity: Sequence[float]) -> list[str]:
    """Matched class, and the majority class with its share when it differs."""
    titles = []
    for title, cls, top, share in zip(_titles(cluster_classes, class_names), cluster_classes,
                                      majority, purity, strict=True):
        if top == cls:
            titles.append(f"{title} ({share:.0%})")
        else:
            titles.append(f"{title}\nmostly {class_names[top]} ({share:.0%})")
    return titles


def cluster_purity(labels: np.ndarray, clusters: np.ndarray, k: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Most common class of each cluster, and the share of members that belong to it."""
    majority = np.zeros(k, dtype=np.int64)
    purity = np.zeros(k)
    for c in range(k):
        members = labels[clusters == c]
        if len(members):
            counts = np.bincount(members)
            majority[c], purity[c] = counts.argmax(), counts.max() / len(members)
    return majority, purity


def draw_all(out: str | Path, reporter=None, force: bool = False) -> list[Path]:
    """Draw every figure of a finished run from its saved results into ``out/figures``.

    Returns
    -------
    list of Path
        The PNG files written.
    """
    out = Path(out)
    folder = RunFolder(out)
    metrics = read_metrics(folder.metrics)
    figdir = folder.figures
    written: list[Path] = []
    # Figures depend on the results, not on how long the run took: when nothing else
    # changed since they were drawn, drawing them again (about 10 s) is skipped.
    key = config_hash({"figures_version": FIGURES_VERSION,
                       **{k: v for k, v in metrics.items() if k != "timing"}})
    stamp = figdir / ".drawn-from"
    if not force and stamp.exists() and stamp.read_text() == key:
        if reporter is not None:
            reporter.info(f"figures: up to date in {figdir}")
        return sorted(figdir.glob("*.png"))
    dataset = metrics["dataset"]
    shape = tuple(dataset["image_shape"])
    names = dataset["class_names"]
    data = read_arrays(folder.data)

    _save(class_samples(data["sample_images"], names if dataset["labelled"] else
                        [f"#{i}" for i in range(len(data["sample_images"]))]),
          figdir / "samples.png", written)

    if "elbow" in metrics:
        e = metrics["elbow"]
        _save(elbow_curve(e["k"], e["sse"], e.get("best_k"), metrics.get("k")),
              figdir / "elbow.png", written)
    if metrics.get("k_choice") and metrics["k_choice"].get("best_k"):
        c = metrics["k_choice"]
        _save(silhouette_curve(c["k"], c["silhouette"], c["best_k"], c["representation"]),
              figdir / "k_choice.png", written)

    _draw_networks(out, metrics, shape, figdir, written)
    _draw_methods(out, metrics, data, figdir, written)
    methods = metrics.get("methods", {})
    if methods and dataset["labelled"]:
        titles = [m["title"] for m in methods.values()]
        values = [m.get("seeds", {}).get("test", {}).get("accuracy", {}).get("values", [])
                  for m in methods.values()]
        published = [(m.get("published") or {}).get("test") for m in methods.values()]
        _save(seed_spread(titles, values, published, "Test accuracy over seeds"),
              figdir / "seed_spread.png", written)

    _draw_maps(out, metrics, data, figdir, written)
    stamp.write_text(key)
    if reporter is not None:
        reporter.info(f"{len(written)} figures in {figdir}")
    return written


def _draw_networks(out: Path, metrics: dict, shape: tuple, figdir: Path,
                   written: list[Path]) -> None:
    """Each network's loss curves; each autoencoder's reconstructions."""
    networks = {**metrics.get("autoencoders", {}), **metrics.get("representations", {})}
    for kind, ae in networks.items():
        rep = REPRESENTATIONS[kind]
        title = rep.Title
        _save(loss_curves(ae["loss"], ae["val_loss"], f"{title}: loss per epoch",
                          ae.get("loss_function", "mse")),
              figdir / f"{rep.artifact}_loss.png", written)
        if not rep.decodes:
            continue
        try:
            codes = read_arrays(RunFolder(out).codes(rep.artifact))
        except ArtifactError:
            continue
        code_dim = codes["example_codes"].shape[1]
        side = int(round(np.sqrt(code_dim)))
        code_shape = (side, side) if side * side == code_dim else (1, code_dim)
        _save(autoencoder_rows(codes["example_originals"], codes["example_codes"],
                               codes["example_reconstructions"], shape, code_shape,
                               f"{title}: original, code and reconstruction (test images)"),
              figdir / f"{rep.artifact}_reconstructions.png", written)


def _draw_methods(out: Path, metrics: dict, data: dict, figdir: Path,
                  written: list[Path]) -> None:
    """Each method's cluster centres, gallery and confusion matrices."""
    dataset = metrics["dataset"]
    shape, names = tuple(dataset["image_shape"]), dataset["class_names"]
    for name, m in metrics.get("methods", {}).items():
        arrays = read_arrays(RunFolder(out).method(name, ".npz"))
        k = len(arrays["centers"])
        classes = m.get("cluster_classes", [-1] * k)
        if dataset["labelled"]:
            titles = _titles(classes, names)
        else:
            sizes = m["label_free"]["train"]["cluster_sizes"]
            titles = [f"cluster {c} ({sizes[c] if c < len(sizes) else 0})" for c in range(k)]
        kind = ("centroids" if m["representation"] == "raw" else
                "decoded centres" if m.get("centers_decodable", True) else "member means")
        _save(center_images(arrays["center_images"], shape, titles, f"{m['title']}: {kind}"),
              figdir / f"{name}_centers.png", written)
        if dataset["labelled"]:
            majority, purity = cluster_purity(data["train_labels"], arrays["train_labels"], k)
            titles = _gallery_titles(classes, names, majority, purity)
        _save(cluster_gallery(arrays["gallery_images"], titles,
                              f"{m['title']}: random members of each cluster (train)"),
              figdir / f"{name}_gallery.png", written)
        for split in ("train", "test"):
            if split in m:
                acc = m[split]["accuracy"]
                _save(confusion_heatmap(np.array(m[split]["confusion"]), names,
                                        f"{m['title']}, {split} set (accuracy {acc:.1%})"),
                      figdir / f"{name}_confusion_{split}.png", written)


def _draw_maps(out: Path, metrics: dict, data: dict, figdir: Path,
               written: list[Path]) -> None:
    """Each method's 2-D map of the test set, where the run drew maps."""
    dataset, names = metrics["dataset"], metrics["dataset"]["class_names"]
    methods = metrics.get("methods", {})
    maps = RunFolder(out).maps
    if maps.exists():
        coords = read_arrays(maps)
        for name, m in methods.items():
            rep = m["representation"]
            if f"{rep}_coords" not in coords:
                continue
            index = coords[f"{rep}_index"]
            clusters = read_arrays(RunFolder(out).method(name, ".npz"))["test_labels"][index]
            classes = data["test_labels"][index] if dataset["labelled"] else None
            _save(embedding_map(coords[f"{rep}_coords"], clusters, classes, names,
                                f"{m['title']}: 2-D map of the test set",
                                m.get("cluster_classes")),
                  figdir / f"{name}_map.png", written)
